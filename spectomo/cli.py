"""The ``spectomo`` command line.

``spectomo init FILES… [-o CONFIG.toml]`` writes a commented configuration for your files;
``spectomo run CONFIG.toml`` runs the pipeline on them (:class:`spectomo.pipeline.Pipeline`:
maps, alignment, reconstruction, quantification, phases, an HTML report; unchanged stages are
reused). ``spectomo demo`` runs it on a simulated dataset with ground truth (:mod:`spectomo.demo`).
``spectomo info`` reports versions and compute devices.
"""

from __future__ import annotations

import argparse
import sys


def cmd_demo(args) -> int:
    from .demo import format_summary, run_demo

    summary = run_demo(args.out, phantom=args.phantom, size=args.size, seed=args.seed, drift=args.drift,
                       offset=args.offset, rotation=args.rotation, iterations=args.iterations,
                       tgv_iterations=args.tgv_iterations, hebt_iterations=args.hebt_iterations,
                       hebt_alpha=args.hebt_alpha, absorption_size=args.absorption_size,
                       progress=not args.no_progress,
                       log=lambda line: print(line, flush=True))
    print(format_summary(summary))
    print(f"report: {summary['files']['report']}")
    return 0


def cmd_run(args) -> int:
    from .pipeline import ConfigError, Pipeline, StageError

    try:
        pipe = Pipeline(args.config)
    except (ConfigError, FileNotFoundError) as err:
        print(f"spectomo: error: {err}", file=sys.stderr)
        return 2
    if args.status:
        for name, state in pipe.status().items():
            print(f"{name}: {state}")
        return 0
    try:
        out = pipe.run(force=args.force or (), progress=False if args.no_progress else None,
                       log=lambda line: print(line, flush=True))
    except (StageError, ConfigError) as err:
        print(f"spectomo: error: {err}\n(finished stages are kept; fix the configuration and run again)",
              file=sys.stderr)
        return 1
    if out["report"] is not None:
        print(f"open {out['report']} in a browser")
    return 0


def cmd_init(args) -> int:
    from pathlib import Path

    from .pipeline import ConfigError, init_config

    if Path(args.output).exists() and not args.force:
        print(f"spectomo: error: {args.output} exists (use --force to replace it)", file=sys.stderr)
        return 2
    try:
        text = init_config(args.files, output=args.output)
    except ConfigError as err:
        print(f"spectomo: error: {err}", file=sys.stderr)
        return 2
    print(text)
    print(f"wrote {args.output}; edit it, then: spectomo run {args.output}")
    return 0


def cmd_info(args) -> int:
    import astra
    import exspy
    import hyperspy

    from ._version import __version__
    from .opencl.runtime import OpenCLUnavailableError, get_runtime, kernel_dir

    print(f"spectomo {__version__}  hyperspy {hyperspy.__version__}  exspy {exspy.__version__}  "
          f"astra {astra.__version__} (CUDA: {astra.use_cuda()})")
    print(f"kernels: {kernel_dir()}")
    try:
        rt = get_runtime()
        print(f"OpenCL device: {rt.device.name} [{rt.device.platform.version.strip()}]")
    except OpenCLUnavailableError as err:
        print(f"OpenCL: unavailable\n{err}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from ._version import __version__
    from .phantoms import PHANTOMS

    p = argparse.ArgumentParser(prog="spectomo", description=__doc__.splitlines()[0])
    p.add_argument("--version", action="version", version=f"spectomo {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser("demo", help="simulate a multimodal tilt series and write it with a figure")
    d.add_argument("--out", default="spectomo_demo", help="output folder (default: %(default)s)")
    d.add_argument("--size", type=int, default=64, help="voxels per side (default: %(default)s)")
    d.add_argument("--phantom", default="core_shell", choices=sorted(PHANTOMS))
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--drift", type=float, default=1.0, help="random-walk drift step, px")
    d.add_argument("--offset", type=float, default=1.5, help="tilt-axis offset, px")
    d.add_argument("--rotation", type=float, default=0.0, help="tilt-axis rotation, degrees")
    d.add_argument("--iterations", type=int, default=100, help="SIRT iterations (default: %(default)s)")
    d.add_argument("--tgv-iterations", type=int, default=500,
                   help="coupled TGV-KL iterations, 0 to skip (default: %(default)s)")
    d.add_argument("--hebt-iterations", type=int, default=100,
                   help="HEBT iterations, 0 to skip (default: %(default)s)")
    d.add_argument("--hebt-alpha", type=float, default=0.8, help="HEBT weight of the HAADF (default: %(default)s)")
    d.add_argument("--absorption-size", type=int, default=24,
                   help="voxels per side of the absorption-correction stage, 0 to skip (default: %(default)s)")
    d.add_argument("--no-progress", action="store_true", help="hide progress bars")
    d.set_defaults(func=cmd_demo)
    r = sub.add_parser("run", help="run the pipeline on your files as a configuration file describes")
    r.add_argument("config", help="TOML configuration (spectomo init writes one)")
    r.add_argument("--force", action="append", metavar="STAGE",
                   choices=["maps", "align", "reconstruct", "quantify", "phases"],
                   help="recompute this stage (and the later ones) even if unchanged; repeatable")
    r.add_argument("--status", action="store_true", help="only say which stages are cached and which would run")
    r.add_argument("--no-progress", action="store_true", help="hide progress bars")
    r.set_defaults(func=cmd_run)
    n = sub.add_parser("init", help="write a commented configuration for a set of files")
    n.add_argument("files", nargs="+", help="EDS spectrum images (one stack or one per tilt), HAADF series, tilt file")
    n.add_argument("-o", "--output", default="spectomo.toml", help="configuration to write (default: %(default)s)")
    n.add_argument("--force", action="store_true", help="replace an existing configuration")
    n.set_defaults(func=cmd_init)
    i = sub.add_parser("info", help="versions, kernel folder and the OpenCL device in use")
    i.set_defaults(func=cmd_info)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "size", 64) < 8:
        print("spectomo: error: --size must be at least 8", file=sys.stderr)
        return 2
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""The ``spectomo`` command line.

``spectomo demo [--out DIR] [--size N] [--phantom NAME]`` runs the pipeline on a simulated dataset
(see :mod:`spectomo.demo`): simulation with ground truth, element maps, alignment, reconstruction,
figures and scores. ``spectomo info`` reports versions and compute devices.
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

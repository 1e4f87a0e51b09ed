"""The configuration of ``spectomo run``: one TOML file, one table per stage.

:data:`SCHEMA` is the one description of every option (default, allowed values, comment): it
validates a configuration (:func:`check_config`) and writes the commented file of
``spectomo init`` (:func:`config_text`). Relative paths are relative to the configuration file.
TOML has no null, so an option left at its automatic default is simply absent from the file (the
template shows it commented out).
"""

from __future__ import annotations

import glob
from dataclasses import dataclass
from pathlib import Path

__all__ = ["SCHEMA", "ConfigError", "Option", "check_config", "read_config", "config_text", "options_markdown"]


class ConfigError(ValueError):
    """A configuration option is missing, unknown or of the wrong kind; the message names it."""


@dataclass(frozen=True)
class Option:
    """One option: its default (None: automatic, absent from the file), allowed values or kind, comment."""

    default: object
    kind: tuple  # accepted Python types after TOML parsing
    comment: str
    choices: tuple = ()
    example: object = None  # shown (commented out) in the template when the default is None
    required: bool = False


_PATHS = (str, list)
_NUMBER = (int, float)

SCHEMA: dict[str, dict[str, Option]] = {
    "inputs": {
        "eds": Option(None, _PATHS, "EDS spectrum images: one file holding the tilt series (navigation tilt, y, x), "
                      "or one file per tilt (a list, or a glob such as \"tilt_*.bcf\"; sorted by each file's stage tilt)",
                      example="tilt_*.bcf", required=True),
        "haadf": Option(None, _PATHS, "HAADF tilt series (one stack, or one image per tilt); without it the "
                        "alignment uses the EDS sum image", example="haadf.mrc"),
        "tilts": Option(None, (str, list), "tilt angles in degrees: a list (in the order of the files), or a "
                        ".rawtlt/.tlt file; default: from the files (metadata, stage tilts or a tilt file beside "
                        "them). Per-tilt files with stage tilts keep their own, which must agree",
                        example="haadf.rawtlt"),
        "eds_signal": Option("EDS", (str,), "which signal of a multi-signal file holds the spectra (Velox, Bruker)"),
        "haadf_signal": Option(None, (str,), "which signal of a multi-signal file is the HAADF", example="HAADF"),
        "elements": Option(None, (list,), "elements present, when the EDS files do not list them",
                           example=["Ag", "Au"]),
        "lazy": Option(False, (bool,), "read the spectra with dask (stacks larger than memory)"),
    },
    "maps": {
        "method": Option("windows", (str,), "windows: background-subtracted windows; fit: line fit (overlaps "
                         "separated); nmf: NMF of the whole series, then the line fit", ("windows", "fit", "nmf")),
        "lines": Option(None, (list,), "X-ray lines, one per element; default: the files' xray_lines, else one "
                        "alpha line per element", example=["Ag_La", "Au_La"]),
    },
    "align": {
        "shifts": Option("PC", (str,), "per-tilt shifts: PC (phase correlation), COM, COM-CL, StackReg, PM "
                         "(projection matching, also finds the tilt axis) or none",
                         ("PC", "COM", "COM-CL", "StackReg", "PM", "none")),
        "tilt_axis": Option("CoM", (str,), "tilt-axis offset and rotation: CoM, MaxImage or none",
                            ("CoM", "MaxImage", "none")),
    },
    "reconstruct": {
        "solver": Option("sirt", (str,), "sirt or sart (ASTRA, each map on its own), fbp, tgv (coupled TGV-KL "
                         "of HAADF and maps, OpenCL), hebt (HAADF-EDS bimodal SIRT, OpenCL)",
                         ("sirt", "sart", "fbp", "tgv", "hebt")),
        "iterations": Option("auto", (str, int), "iterations, or \"auto\": chosen from the data by Poisson "
                             "data splitting (sirt, sart, hebt); tgv takes a number"),
        "mu": Option("auto", (str, float, int), "tgv: data weight, \"auto\" (data splitting), \"heuristic\" "
                     "(the noise-level rule) or a number for every channel"),
        "alpha": Option("auto", (str, float, int), "hebt: weight of the HAADF, 0 <= alpha < 1, or \"auto\""),
    },
    "quantify": {
        "method": Option("auto", (str,), "zeta, cross_section, hebt (HEBT volumes only) or auto (hebt for HEBT "
                         "volumes, else zeta)", ("auto", "zeta", "cross_section", "hebt")),
        "factors": Option(None, (dict,), "zeta factors (kg/m2), cross sections (barn) or z_A per line or "
                          "element; default: computed from physics for the beam energy",
                          example={"Ag_La": 1.2, "Au_La": 1.9}),
        "beam_energy": Option(None, _NUMBER, "keV; default from the files", example=200.0),
        "dose": Option(None, _NUMBER, "electrons per probe position; default beam current x live time from the "
                       "files (without it: weight fractions only, no densities)", example=1.5e6),
        "voxel_size": Option(None, _NUMBER, "nm; default from the files' pixel size", example=0.5),
        "solid_angle": Option(None, _NUMBER, "EDS collection solid angle (sr), for factors computed from physics; "
                              "default from the files", example=0.7),
        "absorption": Option(False, (bool,), "correct X-ray absorption in 3D (needs the detector geometry in the "
                             "files); the reconstruction is then repeated inside the correction"),
    },
    "phases": {
        "enabled": Option(True, (bool,), "segment the particle into phases from the wt% volumes"),
        "n_phases": Option("auto", (str, int), "number of phases, or \"auto\" (Bayesian information criterion)"),
        "max_phases": Option(4, (int,), "largest number of phases \"auto\" considers"),
        "smooth": Option(1.0, _NUMBER, "Gaussian smoothing (sigma, voxels) of the compositions before "
                         "clustering; 0 for none"),
        "min_separation": Option(10.0, _NUMBER, "phases whose mean compositions differ by less than this "
                                 "(wt%, in every element) are merged"),
        "blur_ratio": Option(2.0, _NUMBER, "a layer between two phases in composition, spread along the line "
                             "joining them more than this many times as widely as either, is the blur across "
                             "their interface, not a phase; 0 keeps it"),
    },
    "output": {
        "folder": Option("spectomo_run", (str,), "results, stage caches and report.html"),
        "report": Option(True, (bool,), "write the HTML report"),
        "progress": Option(True, (bool,), "progress bars"),
    },
}

#: Options whose values are file paths, resolved against the configuration file's folder.
PATH_OPTIONS = (("inputs", "eds"), ("inputs", "haadf"), ("inputs", "tilts"), ("output", "folder"))


def _where(section: str, key: str) -> str:
    return f"[{section}] {key}"


def _check_value(section: str, key: str, opt: Option, value):
    if isinstance(value, bool) and bool not in opt.kind:
        raise ConfigError(f"{_where(section, key)}: expected {_kinds(opt)}, got {value!r}")
    if not isinstance(value, opt.kind):
        raise ConfigError(f"{_where(section, key)}: expected {_kinds(opt)}, got {type(value).__name__} {value!r}")
    if opt.choices and value not in opt.choices:
        raise ConfigError(f"{_where(section, key)}: expected one of {', '.join(map(repr, opt.choices))}, "
                          f"got {value!r}")
    if isinstance(value, str) and opt.default == "auto" and int in opt.kind and value != "auto" and not (
            section == "reconstruct" and key == "mu" and value == "heuristic"):
        raise ConfigError(f"{_where(section, key)}: expected a number or \"auto\", got {value!r}")
    return value


def _kinds(opt: Option) -> str:
    names = {str: "a string", list: "a list", int: "an integer", float: "a number", bool: "true or false",
             dict: "a table"}
    return " or ".join(dict.fromkeys(names[k] for k in opt.kind))


def _expand(value, base: Path, where: str) -> list[Path]:
    """One path, a glob or a list of either → existing files (a glob's matches sorted)."""
    items = value if isinstance(value, list) else [value]
    files = []
    for item in items:
        if not isinstance(item, str):
            raise ConfigError(f"{where}: expected file names, got {item!r}")
        pattern = str(base / Path(item).expanduser())
        if glob.has_magic(item):
            found = sorted(Path(p) for p in glob.glob(pattern))
            if not found:
                raise ConfigError(f"{where}: no file matches {item!r} (in {base})")
            files.extend(found)
        else:
            path = Path(pattern)
            if not path.is_file():
                raise ConfigError(f"{where}: no file {item!r} (looked for {path})")
            files.append(path)
    return files


def check_config(config: dict, *, base=".") -> dict:
    """Validate a configuration and fill in defaults.

    Parameters
    ----------
    config : dict
        Section → option → value, as :func:`tomllib.load` returns it.
    base : path
        Folder that relative paths are relative to (the configuration file's).

    Returns
    -------
    dict
        Every section and option, defaults filled in; ``inputs.eds`` and ``inputs.haadf`` as lists
        of absolute paths, ``inputs.tilts`` as a list of degrees or an absolute path,
        ``output.folder`` absolute.

    Raises
    ------
    ConfigError
        Unknown section or option, wrong kind or value, missing ``inputs.eds``, missing files.
    """
    if not isinstance(config, dict):
        raise ConfigError(f"config: expected a table of sections, got {type(config).__name__}")
    base = Path(base).resolve()
    out = {}
    for section, given in config.items():
        if section not in SCHEMA:
            raise ConfigError(f"[{section}]: unknown section; expected one of {', '.join(SCHEMA)}")
        if not isinstance(given, dict):
            raise ConfigError(f"[{section}]: expected a table of options, got {given!r}")
        for key in given:
            if key not in SCHEMA[section]:
                raise ConfigError(f"{_where(section, key)}: unknown option; [{section}] takes "
                                  f"{', '.join(SCHEMA[section])}")
    for section, options in SCHEMA.items():
        given = config.get(section, {})
        out[section] = {key: (_check_value(section, key, opt, given[key]) if key in given else opt.default)
                        for key, opt in options.items()}
    for section, options in SCHEMA.items():
        for key, opt in options.items():
            if opt.required and out[section][key] is None:
                raise ConfigError(f"{_where(section, key)}: required ({opt.comment.split(':')[0]})")
    inputs = out["inputs"]
    inputs["eds"] = _expand(inputs["eds"], base, "[inputs] eds")
    if inputs["haadf"] is not None:
        inputs["haadf"] = _expand(inputs["haadf"], base, "[inputs] haadf")
    tilts = inputs["tilts"]
    if isinstance(tilts, str):
        inputs["tilts"] = _expand(tilts, base, "[inputs] tilts")[0]
    elif isinstance(tilts, list):
        if not tilts or not all(isinstance(t, _NUMBER) and not isinstance(t, bool) for t in tilts):
            raise ConfigError(f"[inputs] tilts: expected a list of angles in degrees, got {tilts!r}")
        inputs["tilts"] = [float(t) for t in tilts]
    for key in ("elements",):
        if inputs[key] is not None and not all(isinstance(e, str) for e in inputs[key]):
            raise ConfigError(f"[inputs] {key}: expected element symbols, got {inputs[key]!r}")
    if out["maps"]["lines"] is not None and not all(isinstance(ln, str) for ln in out["maps"]["lines"]):
        raise ConfigError(f"[maps] lines: expected X-ray lines such as \"Ag_La\", got {out['maps']['lines']!r}")
    rec = out["reconstruct"]
    if isinstance(rec["iterations"], int) and rec["iterations"] < 1:
        raise ConfigError(f"[reconstruct] iterations: expected a positive number or \"auto\", got {rec['iterations']}")
    if rec["solver"] == "tgv" and rec["iterations"] == "auto":
        raise ConfigError("[reconstruct] iterations: tgv takes a number of iterations (e.g. 500), not \"auto\"")
    if not isinstance(rec["alpha"], str) and not 0 <= rec["alpha"] < 1:
        raise ConfigError(f"[reconstruct] alpha: expected 0 <= alpha < 1 or \"auto\", got {rec['alpha']}")
    factors = out["quantify"]["factors"]
    if factors is not None and not all(isinstance(v, _NUMBER) and not isinstance(v, bool) and v > 0
                                       for v in factors.values()):
        raise ConfigError(f"[quantify] factors: expected positive numbers per line or element, got {factors!r}")
    for key in ("beam_energy", "dose", "voxel_size", "solid_angle"):
        if out["quantify"][key] is not None and out["quantify"][key] <= 0:
            raise ConfigError(f"[quantify] {key}: expected a positive number, got {out['quantify'][key]}")
    ph = out["phases"]
    if ph["max_phases"] < 1 or (isinstance(ph["n_phases"], int) and ph["n_phases"] < 1):
        raise ConfigError("[phases] n_phases, max_phases: expected at least 1")
    for key in ("smooth", "min_separation", "blur_ratio"):
        if ph[key] < 0:
            raise ConfigError(f"[phases] {key}: expected a value >= 0, got {ph[key]}")
    out["output"]["folder"] = (base / Path(out["output"]["folder"]).expanduser()).resolve()
    return out


def read_config(path) -> dict:
    """Read and check a TOML configuration file (:func:`check_config`, paths relative to it)."""
    import tomllib

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config: no file {path}")
    try:
        config = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"config: {path} is not valid TOML: {err}") from err
    return check_config(config, base=path.parent)


def _toml(value) -> str:
    """A TOML literal for the template's values (strings, numbers, booleans, lists, flat tables)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"no TOML literal for {value!r}")


def config_text(values: dict | None = None, *, header: str = "") -> str:
    """A commented configuration: every option of :data:`SCHEMA` with its comment; ``values``
    (section → option → value) set, the automatic ones commented out with an example."""
    values = values or {}
    lines = [f"# {ln}" if ln else "#" for ln in header.splitlines()] + ([""] if header else [])
    for section, options in SCHEMA.items():
        lines.append(f"[{section}]")
        for key, opt in options.items():
            lines.append(f"# {opt.comment}" + (f" ({', '.join(map(str, opt.choices))})" if opt.choices else ""))
            value = values.get(section, {}).get(key, opt.default)
            if value is None:
                example = opt.example if opt.example is not None else ""
                lines.append(f"# {key} = {_toml(example)}")
            else:
                lines.append(f"{key} = {_toml(value)}")
        lines.append("")
    return "\n".join(lines)


def options_markdown() -> str:
    """Every option as a Markdown table (docs/pipeline.md holds this text; a test keeps it current)."""
    rows = ["| option | default | meaning |", "|---|---|---|"]
    for section, options in SCHEMA.items():
        for key, opt in options.items():
            default = ("required" if opt.required else "automatic") if opt.default is None else f"`{_toml(opt.default)}`"
            meaning = opt.comment.replace("|", "/") + (f" ({', '.join(map(str, opt.choices))})" if opt.choices else "")
            rows.append(f"| `[{section}] {key}` | {default} | {meaning} |")
    return "\n".join(rows)

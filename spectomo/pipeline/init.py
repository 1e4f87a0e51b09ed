"""``spectomo init FILES…``: look at a set of files and write a commented configuration."""

from __future__ import annotations

import time
from pathlib import Path

from .config import ConfigError, config_text

__all__ = ["init_config", "classify_files"]

_TILT_FILES = (".rawtlt", ".tlt")
_SIDECARS = (".mdoc", ".spc", ".ipr", ".raw", ".txt", ".xml", ".json")


def _signals(path: Path) -> list:
    import hyperspy.api as hs

    from .. import _exspy  # noqa: F401  (exspy imported quietly first)

    try:
        sig = hs.load(str(path), lazy=True)
    except Exception as err:  # noqa: BLE001 (any reader error: the file is not one HyperSpy reads)
        raise ConfigError(f"files: HyperSpy cannot read {path.name}: {err}") from err
    return sig if isinstance(sig, list) else [sig]


def _is_spectra(sig) -> bool:
    return sig.axes_manager.signal_dimension == 1 and sig.axes_manager.navigation_dimension >= 2


def _is_image(sig) -> bool:
    return sig.axes_manager.signal_dimension == 2


def classify_files(paths) -> dict:
    """Sort files into EDS spectrum images, HAADF images and tilt files.

    Returns a dict with ``eds``, ``haadf``, ``tilts`` (lists of paths), ``haadf_signal`` (the
    title part that picks the HAADF out of multi-signal EDS files, or None), ``elements`` (from
    the EDS metadata) and ``notes`` (lines for the configuration's header).
    """
    out = {"eds": [], "haadf": [], "tilts": [], "haadf_signal": None, "elements": [], "notes": []}
    for p in map(Path, paths):
        if not p.is_file():
            raise ConfigError(f"files: no file {p}")
        suffix = p.suffix.lower()
        if suffix in _TILT_FILES:
            out["tilts"].append(p)
            continue
        if suffix in _SIDECARS:
            out["notes"].append(f"{p.name}: read beside its data file, not listed")
            continue
        sigs = _signals(p)
        spectra = [s for s in sigs if _is_spectra(s)]
        images = [s for s in sigs if _is_image(s)]
        if spectra:
            out["eds"].append(p)
            s = spectra[0]
            els = list(s.metadata.get_item("Sample.elements", []) or [])
            out["elements"] += [e for e in els if e not in out["elements"]]
            haadf = [im for im in images if "haadf" in str(im.metadata.General.title).lower()]
            if haadf:
                out["haadf_signal"] = "HAADF"
        elif images:
            out["haadf"].append(p)
        else:
            out["notes"].append(f"{p.name}: neither spectrum images nor images ({sigs[0]}); left out")
    if not out["eds"]:
        raise ConfigError("files: none holds EDS spectrum images; spectomo run needs them ([inputs] eds)")
    if not out["haadf"] and out["haadf_signal"]:
        out["haadf"] = list(out["eds"])
        out["notes"].append("the HAADF images are taken from the EDS files themselves ([inputs] haadf_signal)")
    elif out["haadf_signal"]:
        out["haadf_signal"] = None
    return out


def _as_glob(names: list, base: Path):
    """One name as it is; several as the shortest ``prefix*suffix`` glob that matches exactly them
    (e.g. ``"tilt_*.bcf"``), else the list."""
    import glob
    import os

    if len(names) == 1:
        return names[0]
    prefix = os.path.commonprefix(names)
    suffix = os.path.commonprefix([n[::-1] for n in names])[::-1]
    if len(prefix) + len(suffix) <= min(map(len, names)) and not glob.has_magic(prefix + suffix):
        pattern = f"{prefix}*{suffix}"
        matched = sorted(os.path.relpath(p, base) if not Path(pattern).is_absolute() else p
                         for p in glob.glob(str(base / pattern)))
        if matched == sorted(names):
            return pattern
    return names


def init_config(paths, *, output=None, base=None) -> str:
    """A commented configuration for ``paths`` (:func:`classify_files`); written to ``output`` when given.

    Paths in the configuration are relative to ``base`` (default: ``output``'s folder, else the
    current folder). Returns the text.
    """
    found = classify_files(paths)
    base = Path(base if base is not None else (Path(output).parent if output else ".")).resolve()

    def rel(p: Path) -> str:
        try:
            return str(p.resolve().relative_to(base))
        except ValueError:
            return str(p.resolve())

    inputs = {"eds": _as_glob([rel(p) for p in found["eds"]], base)}
    if found["haadf"]:
        inputs["haadf"] = _as_glob([rel(p) for p in found["haadf"]], base)
    if found["haadf_signal"]:
        inputs["haadf_signal"] = found["haadf_signal"]
    if found["tilts"]:
        inputs["tilts"] = rel(found["tilts"][0])
    if found["elements"]:
        inputs["elements"] = found["elements"]
    header = (f"spectomo run configuration, written by `spectomo init` on {time.strftime('%Y-%m-%d')}.\n"
              "Run it with `spectomo run THIS_FILE`; results, stage caches and report.html go to [output] folder.\n"
              "Options left commented out are chosen automatically (from the files' metadata or the data).\n"
              + "".join(f"note: {n}\n" for n in found["notes"]))
    text = config_text({"inputs": inputs}, header=header)
    if output is not None:
        from ..io import atomic_path

        with atomic_path(output) as tmp:
            tmp.write_text(text)
    return text

"""Validation of quantification inputs and lookup of acquisition parameters in signal metadata."""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np

from .. import physics, validation
from ..signals import LazyTomoStack, TomoStack

METHODS = ("zeta", "cross_section", "hebt")


class QuantificationWarning(UserWarning):
    """A quantity could not be computed (e.g. no dose: densities are left out)."""


def element_of(name: str) -> str:
    """``'Ag_La'`` → ``'Ag'``; a bare element symbol is returned as is (both checked)."""
    el = name.split("_", 1)[0]
    physics.atomic_number(el)
    return el


def check_volumes(volumes) -> tuple[dict, object]:
    """``(dict name → RecStack, source)``; shapes, NaN and element uniqueness checked.

    ``source`` is ``volumes`` itself when it carries reconstruction attributes (a
    :class:`~spectomo.RecStacks`: ``ratios``, ``haadf``), read by duck typing, else None.
    """
    source = volumes if hasattr(volumes, "ratios") and hasattr(volumes, "haadf") else None
    if not isinstance(volumes, Mapping) or not volumes:
        raise TypeError(f"volumes: expected a non-empty dict of X-ray line → RecStack (or the RecStacks of a "
                        f"reconstruction), got {type(volumes).__name__}")
    shape, seen = None, {}
    for name, vol in volumes.items():
        if isinstance(vol, (TomoStack, LazyTomoStack)):
            raise TypeError(f"volumes[{name!r}]: a TomoStack of projections {vol.data.shape}, not a volume; "
                            "reconstruct it first (e.g. stack.reconstruct('SIRT'))")
        if not hasattr(vol, "data") or np.ndim(vol.data) != 3:
            raise ValueError(f"volumes[{name!r}]: expected a 3D RecStack (nx, ny, nz), got "
                             f"{type(vol).__name__} of shape {np.shape(getattr(vol, 'data', vol))}")
        try:
            el = element_of(name)
        except ValueError:
            raise ValueError(f"volumes: key {name!r} is neither an X-ray line like 'Ag_La' nor an element") from None
        if el in seen:
            raise ValueError(f"volumes: {seen[el]!r} and {name!r} are both {el}; quantify one line per element")
        seen[el] = name
        if shape is None:
            shape, first = vol.data.shape, name
        elif vol.data.shape != shape:
            raise ValueError(f"volumes[{name!r}]: shape {vol.data.shape} differs from volumes[{first!r}] {shape}; "
                             "all volumes must come from one reconstruction grid")
        _check_values(name, vol)
        if not np.all(np.isfinite(np.asarray(vol.data))):
            raise ValueError(f"volumes[{name!r}]: contains NaN or infinite values")
    return dict(volumes), source


def _check_values(name: str, vol) -> None:
    """Refuse volumes whose spectral metadata say their maps were not line net counts."""
    values = vol.metadata.get_item("Spectral.values")
    method = vol.metadata.get_item("Spectral.method")
    if values is None and method == "nmf":  # files from before metadata.Spectral.values: raw NMF components
        values = "NMF component counts (continuum included)"
    if values is not None and values != "net counts":
        raise ValueError(
            f"volumes[{name!r}]: reconstructed from maps of {values} (metadata.Spectral.values), not X-ray line net "
            "counts; quantification needs net counts: extract the maps with method='windows' (background "
            "subtracted), 'fit', or 'nmf' with lines=[...]")


def default_method(method, source) -> str:
    """``method``, or by default 'hebt' for volumes that carry HEBT response ratios, else 'zeta'."""
    if method is None:
        method = "hebt" if getattr(source, "ratios", None) else "zeta"
    if method not in METHODS:
        raise ValueError(f"method: expected one of {METHODS}, got {method!r}")
    return method


def metadata_value(volumes: dict, path: str):
    """The first value found at ``path`` in the volumes' metadata (or None)."""
    for vol in volumes.values():
        if vol.metadata.has_item(path):
            return vol.metadata.get_item(path)
    return None


def resolve_beam_energy(beam_energy, volumes: dict) -> float | None:
    if beam_energy is None:
        beam_energy = metadata_value(volumes, "Acquisition_instrument.TEM.beam_energy")
    return None if beam_energy is None else validation.beam_energy(beam_energy, "beam_energy")


def resolve_voxel_size(voxel_size, volumes: dict) -> float | None:
    """Voxel size in nm: the argument, else the volumes' axis scale when its units are nm."""
    if voxel_size is not None:
        return validation.positive(voxel_size, "voxel_size", "the voxel size in nm")
    ax = next(iter(volumes.values())).axes_manager.signal_axes[0]
    if str(ax.units) == "nm" and ax.scale > 0:
        return float(ax.scale)
    if str(ax.units) in ("µm", "um"):
        return float(ax.scale) * 1e3
    if str(ax.units) == "Å":
        return float(ax.scale) / 10
    return None


def eds_dose(dose, volumes: dict) -> float | None:
    """Electrons per probe position: the argument, else beam current × live time (exspy's keys)."""
    if dose is not None:
        return validation.positive(dose, "dose", "the electron dose per probe position (electrons)")
    current = metadata_value(volumes, "Acquisition_instrument.TEM.beam_current")
    live = metadata_value(volumes, "Acquisition_instrument.TEM.Detector.EDS.live_time")
    if current is None or live is None:
        return None
    return physics.electron_dose(validation.positive(current, "beam_current (metadata)", "nA"),
                                 validation.positive(live, "live_time (metadata)", "s"))


def haadf_dose(dose, source) -> float | None:
    """HAADF electrons per probe position: the argument, else beam current × HAADF dwell time."""
    if dose is not None:
        return validation.positive(dose, "dose", "the HAADF electron dose per probe position (electrons)")
    if getattr(source, "haadf", None) is None:
        return None
    md = source.haadf.metadata
    current = md.get_item("Acquisition_instrument.TEM.beam_current")
    dwell = md.get_item("Acquisition_instrument.TEM.Detector.HAADF.dwell_time")
    if current is None or dwell is None:
        return None
    return physics.electron_dose(float(current), float(dwell))


def haadf_angles(angles, source) -> tuple[float, float] | None:
    if angles is not None:
        inner, outer = (float(a) for a in angles)
        if not 0 <= inner < outer:
            raise ValueError(f"haadf_angles: expected (inner, outer) in mrad with inner < outer, got {angles}")
        return inner, outer
    if getattr(source, "haadf", None) is not None:
        md = source.haadf.metadata
        inner = md.get_item("Acquisition_instrument.TEM.Detector.HAADF.inner_angle")
        outer = md.get_item("Acquisition_instrument.TEM.Detector.HAADF.outer_angle")
        if inner is not None and outer is not None:
            return float(inner), float(outer)
    return None


def solid_angle(value, volumes: dict) -> float | None:
    if value is None:
        value = metadata_value(volumes, "Acquisition_instrument.TEM.Detector.EDS.solid_angle")
    return None if value is None else validation.positive(value, "solid_angle", "the EDS solid angle in sr")


def hebt_ratios(ratios, volumes: dict, source) -> dict:
    """Response ratio per volume name: the argument, the reconstruction's, or each volume's metadata."""
    if ratios is None:
        ratios = getattr(source, "ratios", None)
    out = {}
    for name, vol in volumes.items():
        r = None
        if ratios is not None:
            r = ratios.get(name, ratios.get(element_of(name)))
        elif vol.metadata.has_item("Reconstruction.ratio"):
            r = vol.metadata.get_item("Reconstruction.ratio")
        if r is None:
            raise ValueError(f"ratios: no HEBT response ratio for {name!r}; pass the RecStacks of reconstruct_hebt, ratios=, or "
                             "volumes from reconstruct_hebt (metadata.Reconstruction.ratio)")
        out[name] = validation.positive(r, f"ratios[{name!r}]", "a positive response ratio")
    return out


def warn_missing(what: str, how: str):
    warnings.warn(f"{what} is unknown ({how}): weight fractions are computed, densities are left out",
                  QuantificationWarning, stacklevel=4)

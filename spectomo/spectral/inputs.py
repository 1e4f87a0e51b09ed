"""Validation of spectrum-image tilt series and memory-bounded block reading.

Everything the spectral stage needs from its input is gathered once, at the boundary, into a
:class:`SpectralInput`: the data array (NumPy or dask) of shape ``(n_tilts, ny, nx, n_channels)``,
the tilt angles, the energy axis and the metadata to carry forward. Values are checked
(NaN/inf, negative counts) block by block while the data are read, so a lazy stack is never
loaded whole just to be validated.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

from ..signals import NODE, TiltMismatchError
from ..validation import beam_energy, fits_float32

__all__ = ["SpectralInputError", "SpectralInput", "as_spectral_input", "iter_blocks"]

#: Upper bound on the bytes of raw data read at once (per block), before conversion to float64.
BLOCK_BYTES = 128 * 2**20

_ENERGY_UNITS = {"keV": 1.0, "eV": 1000.0}


class SpectralInputError(ValueError):
    """The spectrum images cannot be turned into maps as given (shape, axes, tilts or values)."""


@dataclass
class SpectralInput:
    """A validated spectrum-image tilt series.

    Attributes
    ----------
    signal : exspy.signals.EDSSpectrum
        The (possibly stacked) input signal, navigation ``(tilt, y, x)``.
    data : ndarray or dask array (n_tilts, ny, nx, n_channels)
    tilts : ndarray (n_tilts,)
        Degrees.
    energy : ndarray (n_channels,)
        Channel centres in the units of the energy axis.
    units_per_keV : float
        1 for a keV axis, 1000 for an eV axis.
    """

    signal: object
    data: object
    tilts: np.ndarray
    energy: np.ndarray
    units_per_keV: float
    lazy: bool
    elements: list = field(default_factory=list)
    xray_lines: list = field(default_factory=list)

    @property
    def shape(self) -> tuple:
        return tuple(self.data.shape)

    @property
    def energy_units(self) -> str:
        return "keV" if self.units_per_keV == 1.0 else "eV"

    def _microscope_item(self, key: str):
        """``Acquisition_instrument.TEM.<key>`` (or ``SEM``) from the metadata, else None."""
        for mic in ("TEM", "SEM"):
            v = self.signal.metadata.get_item(f"Acquisition_instrument.{mic}.{key}")
            if v is not None:
                return float(v)
        return None

    @property
    def energy_resolution(self) -> float:
        """EDS FWHM at Mn Kα in eV (metadata, else exspy's default of 130 eV)."""
        v = self._microscope_item("Detector.EDS.energy_resolution_MnKa")
        return 130.0 if v is None else v

    @property
    def beam_energy(self) -> float | None:
        """keV, or None when the metadata do not say (checked: 1–1000 keV)."""
        v = self._microscope_item("beam_energy")
        return None if v is None else beam_energy(v, "spectra.metadata.Acquisition_instrument.TEM.beam_energy")

    def image_axes(self) -> list[dict]:
        """Calibration of the ``(y, x)`` navigation axes, as HyperSpy axis dicts for the maps."""
        nav = self.signal.axes_manager.navigation_axes  # (x, y, tilt) in HyperSpy order
        out = []
        for ax, default in ((nav[1], "y"), (nav[0], "x")):
            name = ax.name if isinstance(ax.name, str) and ax.name not in ("", "<undefined>") else default
            units = ax.units if isinstance(ax.units, str) and ax.units != "<undefined>" else ""
            out.append({"name": name, "size": ax.size, "scale": float(getattr(ax, "scale", 1.0)),
                        "offset": float(getattr(ax, "offset", 0.0)), "units": units, "navigate": False})
        return out

    def acquisition_metadata(self) -> dict:
        """``metadata.Acquisition_instrument`` as a plain dict (beam current, live time, …), with a
        vendor file's detector set recorded first (:func:`spectomo.geometry.record_vendor_geometry`)."""
        from ..geometry.detector import record_vendor_geometry

        record_vendor_geometry(self.signal)
        node = self.signal.metadata.get_item("Acquisition_instrument")
        return node.as_dictionary() if node is not None else {}

    @property
    def title(self) -> str:
        return str(self.signal.metadata.get_item("General.title", "") or "")


def _stack_list(spectra, tilts):
    """Stack a list of per-tilt spectrum images; tilts from ``tilts`` or each item's stage tilt."""
    import hyperspy.api as hs

    if not spectra:
        raise SpectralInputError("spectra: the list of spectrum images is empty")
    shapes = set()
    for k, s in enumerate(spectra):
        if not hasattr(s, "axes_manager"):
            raise SpectralInputError(f"spectra[{k}]: expected an exspy EDS spectrum image, got {type(s).__name__}")
        if s.axes_manager.navigation_dimension != 2:
            raise SpectralInputError(
                f"spectra[{k}]: each spectrum image in a list needs navigation (y, x); got navigation "
                f"shape {s.axes_manager.navigation_shape[::-1]} (y, x order)")
        shapes.add((s.data.shape, tuple(s.axes_manager.signal_axes[0].axis[[0, -1]].round(9))))
    if len(shapes) != 1:
        raise SpectralInputError(f"spectra: the spectrum images differ in shape or energy axis: {sorted(shapes)}")
    from ..geometry.detector import record_vendor_geometry

    for s in spectra:  # before stacking: the stack keeps metadata, not original_metadata
        record_vendor_geometry(s)
    if tilts is None:
        stage = [s.metadata.get_item("Acquisition_instrument.TEM.Stage.tilt_alpha") for s in spectra]
        if any(v is None for v in stage):
            raise SpectralInputError(
                "tilts: not given and not every spectrum image has "
                "metadata.Acquisition_instrument.TEM.Stage.tilt_alpha; pass tilts=[...] (degrees)")
        tilts = np.asarray(stage, dtype=float)
        if len(tilts) > 1 and np.unique(tilts).size < len(tilts):
            raise SpectralInputError(
                f"tilts: the stage tilts in the metadata repeat ({tilts.tolist()}; exspy's default is 0); "
                "pass tilts=[...] (degrees, one per spectrum image)")
    if len(spectra) == 1:
        first = spectra[0]
        tilt_axis = {"name": "Projections", "size": 1, "units": "degrees", "navigate": True}
        axes = [tilt_axis] + [ax.get_axis_dictionary() for ax in first.axes_manager._axes]
        stacked = type(first)(first.data[None], axes=axes, metadata=first.metadata.as_dictionary(),
                              original_metadata=first.original_metadata.as_dictionary())
    else:
        stacked = hs.stack(list(spectra), new_axis_name="Projections", show_progressbar=False)
    return stacked, tilts


def _energy_axis(signal) -> tuple[np.ndarray, float]:
    am = signal.axes_manager
    if am.signal_dimension != 1:
        raise SpectralInputError(
            f"spectra: expected one signal (energy) axis, got signal shape {am.signal_shape}; "
            "load the data as an exspy EDS spectrum (signal_type='EDS_TEM')")
    ax = am.signal_axes[0]
    units = ax.units if isinstance(ax.units, str) else "<undefined>"
    energy = np.asarray(ax.axis, dtype=float)
    scale, offset = float(getattr(ax, "scale", 1.0)), float(getattr(ax, "offset", 0.0))
    if units not in _ENERGY_UNITS:
        if units in ("", "<undefined>") and ax.is_uniform and scale == 1.0 and offset == 0.0:
            raise SpectralInputError(
                "spectra: the energy axis is not calibrated (scale 1, offset 0, no units); set "
                "spectra.axes_manager.signal_axes[0].scale, .offset and .units = 'keV'")
        raise SpectralInputError(
            f"spectra: energy axis units must be 'keV' or 'eV', got {units!r}; set "
            "spectra.axes_manager.signal_axes[0].units")
    if energy.size < 2 or not np.all(np.diff(energy) > 0):
        raise SpectralInputError("spectra: the energy axis must increase with channel index")
    return energy, _ENERGY_UNITS[units]


def _tilts_for(signal, tilts, n: int) -> np.ndarray:
    if tilts is None:
        tilts = signal.metadata.get_item(f"{NODE}.tilts")
        if tilts is None:
            raise SpectralInputError(
                f"tilts: not given and spectra.metadata.{NODE}.tilts is missing; pass tilts=[...] "
                f"(degrees, one per projection, {n} here)")
    t = np.asarray(tilts, dtype=float).reshape(-1)
    if len(t) != n:
        raise TiltMismatchError(f"tilts: {len(t)} angles for {n} projections (navigation axis 'tilt')")
    if not np.all(np.isfinite(t)):
        raise SpectralInputError("tilts: contain NaN or inf")
    return t


def as_spectral_input(spectra, tilts=None) -> SpectralInput:
    """Validate ``spectra`` (an EDS spectrum-image tilt series, or a list of spectrum images).

    Raises
    ------
    SpectralInputError
        Wrong navigation shape, missing or uncalibrated energy axis, empty input.
    TiltMismatchError
        The number of tilts differs from the number of projections.
    """
    if isinstance(spectra, (list, tuple)):
        spectra, tilts = _stack_list(spectra, tilts)
    if not hasattr(spectra, "axes_manager"):
        raise SpectralInputError(
            f"spectra: expected an exspy EDSTEMSpectrum (or a list of them), got {type(spectra).__name__}")
    am = spectra.axes_manager
    energy, per_kev = _energy_axis(spectra)
    if am.navigation_dimension != 3:
        raise SpectralInputError(
            "spectra: navigation must be (tilt, y, x) (HyperSpy navigation_shape (x, y, tilt)); got "
            f"navigation shape {am.navigation_shape} with data shape {tuple(spectra.data.shape)}. "
            "For a single tilt pass a list of spectrum images, or stack them with hs.stack")
    n = int(spectra.data.shape[0])
    t = _tilts_for(spectra, tilts, n)
    md = spectra.metadata
    elements = list(md.get_item("Sample.elements", []) or [])
    lines = list(md.get_item("Sample.xray_lines", []) or [])
    return SpectralInput(signal=spectra, data=spectra.data, tilts=t, energy=energy,
                         units_per_keV=per_kev, lazy=bool(spectra._lazy), elements=elements,
                         xray_lines=lines)


def _check_values(block: np.ndarray, inp: SpectralInput, ts: slice, ys: slice) -> None:
    def where(mask):
        t, y, x, c = np.argwhere(mask)[0]
        t = ts.start + int(t)
        return (f"first at projection {t} (tilt {inp.tilts[t]:g}°), pixel (y {ys.start + int(y)}, x {int(x)}), "
                f"channel {int(c)} of the block")

    if block.dtype.kind == "f":
        bad = ~np.isfinite(block)
        if bad.any():
            raise SpectralInputError(f"spectra: {int(bad.sum())} NaN/inf values, {where(bad)}; counts must be finite")
        if block.size:
            try:
                fits_float32(block.max(), "spectra")
            except ValueError as err:
                raise SpectralInputError(f"{err}; {where(block == block.max())}") from None
    if block.dtype.kind in "fi":
        neg = block < 0
        if neg.any():
            raise SpectralInputError(
                f"spectra: {int(neg.sum())} negative counts (minimum {block.min()}), {where(neg)}; EDS "
                "spectra must be raw, non-negative counts")


def block_plan(shape, itemsize: int, n_channels: int | None = None, block_bytes: int = BLOCK_BYTES):
    """Split ``(n_tilts, ny)`` into blocks of whole rows holding at most ``block_bytes`` each."""
    n, ny, nx, ne = shape
    ne = ne if n_channels is None else n_channels
    row = nx * ne * itemsize
    image = row * ny
    if image <= block_bytes:
        per = max(1, block_bytes // image)
        return [(slice(t, min(t + per, n)), slice(0, ny)) for t in range(0, n, per)]
    rows = max(1, block_bytes // row)
    return [(slice(t, t + 1), slice(y, min(y + rows, ny))) for t in range(n) for y in range(0, ny, rows)]


def iter_blocks(inp: SpectralInput, *, channels: slice = slice(None), progress: bool = True,
                desc: str = "spectra", block_bytes: int = BLOCK_BYTES, check: bool = True,
                projections=None):
    """Yield ``((tilt_slice, y_slice), block)`` with ``block`` a NumPy array ``(t, y, nx, c)``.

    The same blocks are produced for eager and lazy data, so results do not depend on laziness.
    Values are checked for NaN/inf and negative counts as they are read. ``projections`` (indices)
    restricts the read to those projections, one at a time.
    """
    c0, c1, _ = channels.indices(inp.shape[3])
    itemsize = np.dtype(inp.data.dtype).itemsize
    if projections is None:
        plan = block_plan(inp.shape, itemsize, c1 - c0, block_bytes)
    else:
        one = (1,) + tuple(inp.shape[1:])
        plan = [(slice(int(t), int(t) + 1), ys) for t in projections
                for _, ys in block_plan(one, itemsize, c1 - c0, block_bytes)]
    for ts, ys in tqdm(plan, desc=desc, disable=not progress, leave=False, unit="block"):
        block = np.asarray(inp.data[ts, ys, :, c0:c1])
        if check:
            _check_values(block, inp, ts, ys)
        yield (ts, ys), block

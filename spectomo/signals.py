"""HyperSpy signal classes for tilt series (:class:`TomoStack`) and volumes (:class:`RecStack`).

Conventions follow ETSpy:

* A :class:`TomoStack` holds a tilt series with data shape ``(n_tilts, ny, nx)``: the navigation
  axis is the tilt, the signal axes are the image ``(y, x)``. The tilt axis is parallel to the image
  ``x`` axis, so the sinogram of slice ``i`` is ``stack.data[:, :, i]`` with shape ``(n_tilts, ny)``.
* A :class:`RecStack` holds a volume with data shape ``(nx, ny, nz)``: index 0 runs along the tilt
  axis, so ``rec.data[i]`` (shape ``(ny, nz)``) is the slice reconstructed from sinogram
  ``stack.data[:, :, i]``; ``z`` is the beam direction at 0° tilt.

Tilt angles (degrees, shape ``(n_tilts,)``) and per-projection shifts (pixels, shape
``(n_tilts, 2)``, ordered ``(y, x)``) live in one metadata node, ``metadata.Tomography``, so that they
travel with the data through slicing, copying and saving. The tilts in ``metadata.Tomography`` are
the true angles used by alignment and reconstruction; the navigation axis calibration is only for
display (as in ETSpy).
"""

from __future__ import annotations

import numpy as np

from hyperspy.signals import BaseSignal, LazySignal, Signal2D

from . import _exspy  # noqa: F401  (HyperSpy may import exspy for EDS signals: quietly first)
from .validation import check_tilt_series, tilt_angles

__all__ = ["TomoStack", "LazyTomoStack", "RecStack", "LazyRecStack", "TiltMismatchError", "check_stack",
           "vacuum_level", "offset_vacuum", "warn_vacuum_offset"]

NODE = "Tomography"


class TiltMismatchError(ValueError):
    """The number of tilt angles (or shifts) does not match the number of projections."""


def _n_projections(signal) -> int:
    """Number of projections of a tilt series (1 for a single projection image)."""
    nav = signal.axes_manager.navigation_dimension
    if nav == 0:
        return 1
    if nav > 1:
        raise ValueError(
            f"a TomoStack has one navigation axis (tilt); this signal has {nav}: "
            f"{signal.axes_manager.navigation_shape}"
        )
    return int(signal.axes_manager.navigation_shape[0])


def _as_tilts(tilts, name: str = "tilts") -> np.ndarray:
    """Validated tilt angles; implausible series (radians, all equal, repeats) warn here and are
    refused where they would be used (:func:`check_stack`)."""
    arr = tilt_angles(tilts, name)
    check_tilt_series(arr, name, strict=False)
    return arr


def _as_shifts(shifts) -> np.ndarray:
    arr = np.asarray(shifts, dtype=float)
    if arr.ndim == 1 and arr.size == 2:
        arr = arr.reshape(1, 2)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise TiltMismatchError(f"shifts must have shape (n_tilts, 2) as (y, x), got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError("shifts contain NaN or inf")
    return arr


def _signal_kwargs(args, kwargs, cls):
    """Turn ETSpy-style ``(ndarray | Signal2D, tilts)`` arguments into HyperSpy keyword arguments."""
    args = list(args)
    tilts = kwargs.pop("tilts", None)
    shifts = kwargs.pop("shifts", None)
    if args and isinstance(args[0], BaseSignal):
        sig = args.pop(0)
        if sig._lazy != cls._lazy:
            want = "LazyTomoStack/LazyRecStack" if sig._lazy else "TomoStack/RecStack"
            raise TypeError(
                f"signal: a {'lazy' if sig._lazy else 'non-lazy'} signal needs {want}; "
                "call signal.compute() or use the lazy class"
            )
        d = sig._to_dictionary(add_models=False)
        d.pop("models", None)
        d.pop("learning_results", None)
        d.update(kwargs)
        kwargs = d
    elif args:
        kwargs["data"] = args.pop(0)
    data = kwargs.get("data")
    # (HyperSpy's deepcopy builds the class around a placeholder array([None]) first)
    if data is not None and kwargs.get("full_initialisation", True) and getattr(data, "dtype", None) != object:
        shape = np.shape(data)
        if len(shape) not in cls._data_ndims:
            raise ValueError(f"data: a {cls.__name__} holds {cls._data_layout}, got shape {shape}")
        if 0 in shape:
            raise ValueError(f"data: a {cls.__name__} cannot be empty, got shape {shape}")
    if args:
        if tilts is not None:
            raise TypeError("tilts given twice (positionally and as keyword)")
        tilts = args.pop(0)
    if args:
        raise TypeError(f"unexpected positional arguments: {args!r}")
    return kwargs, tilts, shifts


def check_stack(stack, name: str = "stack", *, min_tilts: int = 3) -> None:
    """Validate a tilt series at a public boundary; raise an error naming ``name`` and the problem.

    Checks: a (lazy) :class:`TomoStack` with data ``(n_tilts, ny, nx)``, at least ``min_tilts``
    projections, tilts (if set) matching the projection count and plausible (not all equal, not
    radians: :func:`spectomo.validation.check_tilt_series`), and finite values — for lazy stacks by
    one streamed dask reduction (the first bad projection and pixel are named).
    """
    if not isinstance(stack, (TomoStack, LazyTomoStack)):
        owner = type(stack).__module__.split(".")[0]
        if owner != "spectomo" and type(stack).__name__ in ("TomoStack", "RecStack"):
            raise TypeError(f"{name}: an {owner} {type(stack).__name__}, not spectomo's; convert it once with "
                            f"spectomo.from_etspy({name}) (tilts, shifts and tilt axis are carried over)")
        raise TypeError(f"{name}: expected a spectomo TomoStack, got {type(stack).__module__}.{type(stack).__name__}")
    shape = stack.data.shape
    if len(shape) != 3:
        raise ValueError(f"{name}: expected data of shape (n_tilts, ny, nx), got {shape}")
    if shape[0] < min_tilts:
        raise ValueError(f"{name}: need at least {min_tilts} projections, got {shape[0]}")
    if stack.metadata.has_item(f"{NODE}.tilts"):
        check_tilt_series(stack.tilts, f"{name}.tilts", strict=True)  # .tilts checks the count
    data = stack.data
    finite = bool(data.map_blocks(np.isfinite, dtype=bool).all().compute()) if hasattr(data, "map_blocks") \
        else bool(np.isfinite(data).all())
    if not finite:
        bad = np.isfinite(np.asarray(data))
        i, y, x = np.argwhere(~bad)[0]
        raise ValueError(f"{name}: NaN or inf at projection {i}, pixel (y={y}, x={x}); "
                         "replace or remove bad projections first")


def vacuum_level(data, *, width: int = 2) -> tuple[float, float]:
    """The detector level of vacuum in a projection stack and its noise, from the image borders.

    Raw HAADF files often store a detector offset (the NIST SRM-2135c series in ETSpy's test data
    is int16 with vacuum near −31 890). The level is the median of the ``width``-pixel border of
    every projection, which is vacuum as long as the specimen covers less than half of the border;
    the noise is the distance from that median down to the 15.9th percentile of the border (one
    standard deviation for Gaussian noise, unaffected by specimen pixels, which are brighter).

    Parameters
    ----------
    data : array_like (n_tilts, ny, nx)
        Projections (numpy or dask); only the borders are read.
    width : int
        Border width in pixels.

    Returns
    -------
    (level, noise) : (float, float)
        In the units of ``data``.
    """
    shape = data.shape
    if len(shape) != 3 or min(shape[1:]) <= 2 * width:
        raise ValueError(f"data: expected projections (n_tilts, ny, nx) larger than twice the border "
                         f"width {width}, got shape {tuple(shape)}")
    parts = [data[:, :width, :], data[:, -width:, :], data[:, width:-width, :width], data[:, width:-width, -width:]]
    border = np.concatenate([np.asarray(p, dtype=np.float64).reshape(-1) for p in parts])
    level = float(np.median(border))
    return level, float(level - np.percentile(border, 15.87))


def offset_vacuum(data) -> float | None:
    """The vacuum level of ``data`` when it is clearly not 0 (beyond 5 noise levels and 2 % of the
    signal range), else None: a non-negative reconstruction of such data is wrong. None also when
    the images are too narrow to have a border (e.g. a slab of a few columns). Reads only the
    borders and the middle row and column of each projection (cheap on lazy stacks)."""
    if len(data.shape) != 3 or min(data.shape[1:]) <= 8:
        return None
    level, noise = vacuum_level(data)
    n, ny, nx = data.shape
    top = max(float(np.max(np.asarray(data[:, ny // 2, :], dtype=np.float64))),
              float(np.max(np.asarray(data[:, :, nx // 2], dtype=np.float64))))
    if abs(level) > 5 * noise and abs(level) > 0.02 * max(top - level, 1e-30):
        return level
    return None


def warn_vacuum_offset(data, name: str, consequence: str) -> None:
    """An :class:`~spectomo.validation.InputWarning` naming ``name`` when :func:`offset_vacuum`
    finds a detector offset, saying ``consequence`` and the remedy (``subtract_vacuum``)."""
    level = offset_vacuum(data)
    if level is not None:
        import warnings

        from .validation import InputWarning

        warnings.warn(f"{name}: vacuum reads {level:.4g} ({data.dtype}), not 0 — a detector offset. "
                      f"{consequence} Call stack.subtract_vacuum() first.", InputWarning, stacklevel=4)


def _select_projections(signal, index) -> None:
    """Slice the per-projection metadata arrays (tilts, shifts) of ``signal`` in place with a numpy
    index on the projection axis."""
    for key in ("tilts", "shifts"):
        arr = signal.metadata.get_item(f"{NODE}.{key}")
        if arr is None:
            continue
        arr = np.asarray(arr)[index]
        arr = np.atleast_1d(arr) if key == "tilts" else arr.reshape(-1, 2)
        signal.metadata.set_item(f"{NODE}.{key}", arr)


class _TomographyBase:
    """Shared constructor: ETSpy-style arguments, then a ``metadata.Tomography`` node."""

    def __init__(self, *args, **kwargs):
        kwargs, tilts, shifts = _signal_kwargs(args, kwargs, type(self))
        user_axes = "axes" in kwargs
        super().__init__(**kwargs)
        if not kwargs.get("full_initialisation", True) or self.data is None:
            return  # HyperSpy internals: re-classing, or copying with data=None then assigning it
        if not self.metadata.has_item(NODE):
            self.metadata.add_node(NODE)
        self._init_tomography(tilts, shifts, user_axes)


class _TomoMixin(_TomographyBase):
    """Tilt/shift bookkeeping shared by the eager and lazy tilt-series classes."""

    _signal_type = "spectomo_TomoStack"
    _data_ndims = (2, 3)
    _data_layout = "projections (n_tilts, ny, nx), or one image (ny, nx)"

    def _init_tomography(self, tilts, shifts, user_axes):
        n = _n_projections(self)
        self._default_axes(only_unnamed=user_axes)
        if tilts is not None:
            self.tilts = tilts
        if shifts is not None:
            self.shifts = shifts
        elif not self.metadata.has_item(f"{NODE}.shifts"):
            self.metadata.set_item(f"{NODE}.shifts", np.zeros((n, 2)))
        for key, default in (("tilt_axis_rotation", 0.0), ("tilt_axis_offset", 0.0)):
            if not self.metadata.has_item(f"{NODE}.{key}"):
                self.metadata.set_item(f"{NODE}.{key}", default)

    def _default_axes(self, only_unnamed: bool = False):
        """Name the axes x, y and Projections (ETSpy's names); with ``only_unnamed``, only axes that
        have no name yet (axes given by the user or copied from a signal keep theirs)."""
        import traits.api as t

        am = self.axes_manager
        pairs = list(zip(am.signal_axes, ("x", "y")))
        if am.navigation_dimension == 1:
            pairs.append((am.navigation_axes[0], "Projections"))
        for ax, name in pairs:
            if not only_unnamed or ax.name is t.Undefined or not ax.name:
                ax.name = name

    def _sync_nav_axis(self):
        """Calibrate the (display-only) navigation axis from the tilts when they are uniform."""
        am = self.axes_manager
        if am.navigation_dimension != 1 or not self.metadata.has_item(f"{NODE}.tilts"):
            return
        t = np.asarray(self.metadata.get_item(f"{NODE}.tilts"))
        ax = am.navigation_axes[0]
        if len(t) > 1 and np.allclose(np.diff(t), t[1] - t[0]) and ax.is_uniform:
            ax.offset, ax.scale, ax.units = float(t[0]), float(t[1] - t[0]), "degrees"

    # -- tilts and shifts -------------------------------------------------------------------
    @property
    def n_projections(self) -> int:
        """Number of projections in the tilt series."""
        return _n_projections(self)

    def _checked(self, arr: np.ndarray, what: str) -> np.ndarray:
        """Raise TiltMismatchError unless ``arr`` has one entry per projection."""
        n = self.n_projections
        if len(arr) != n:
            raise TiltMismatchError(
                f"{what}: {len(arr)} entries for a stack of {n} projections (data shape {self.data.shape})")
        return arr

    @property
    def tilts(self) -> np.ndarray:
        """Tilt angles in degrees, shape ``(n_tilts,)`` (a copy; assign to change them)."""
        t = self.metadata.get_item(f"{NODE}.tilts")
        if t is None:
            raise AttributeError(
                "this TomoStack has no tilt angles: set them with `stack.tilts = angles` "
                "(degrees, one per projection) or pass `tilts=` when creating or loading it"
            )
        return self._checked(tilt_angles(t, f"metadata.{NODE}.tilts"), f"metadata.{NODE}.tilts").copy()

    @tilts.setter
    def tilts(self, value):
        self.metadata.set_item(f"{NODE}.tilts", self._checked(_as_tilts(value), "tilts"))
        self._sync_nav_axis()

    @property
    def shifts(self) -> np.ndarray:
        """Per-projection image shifts in pixels, shape ``(n_tilts, 2)`` ordered ``(y, x)``."""
        s = self.metadata.get_item(f"{NODE}.shifts")
        s = np.zeros((self.n_projections, 2)) if s is None else _as_shifts(s)
        return self._checked(s, f"metadata.{NODE}.shifts").copy()

    @shifts.setter
    def shifts(self, value):
        self.metadata.set_item(f"{NODE}.shifts", self._checked(_as_shifts(value), "shifts"))

    def _slicer(self, slices, isNavigation=None, out=None):
        nav_before = self.axes_manager.navigation_dimension
        array_slices = self._get_array_slices(slices, isNavigation)
        result = super()._slicer(slices, isNavigation=isNavigation, out=out)
        target = out if out is not None else result
        if nav_before == 1 and target is not None:
            # the tilts follow a navigation slice; signal slices (isig) leave them whole, and the
            # result may be another class (isig[i] is the sinogram of slice i, a Signal1D)
            _select_projections(target, array_slices[0])
        return result

    def remove_projections(self, projections) -> "TomoStack":
        """Return a copy without the given projections (tilts and shifts follow).

        Parameters
        ----------
        projections : sequence of int
            Indices of the projections to drop (negative indices allowed).

        Returns
        -------
        TomoStack
            A new stack with ``n_tilts - len(set(projections))`` projections.
        """
        n = self.n_projections
        idx = np.asarray(list(projections), dtype=int).reshape(-1)
        if idx.size and (idx.min() < -n or idx.max() >= n):
            raise IndexError(f"projections: indices must lie in [-{n}, {n - 1}], got {idx.tolist()}")
        keep = np.setdiff1d(np.arange(n), np.mod(idx, n))
        if keep.size == 0:
            raise ValueError("projections: cannot remove every projection")
        new = self._deepcopy_with_new_data(self.data[keep])
        new.get_dimensions_from_data()
        _select_projections(new, keep)
        new._sync_nav_axis()
        return new

    def subtract_vacuum(self, level: float | None = None) -> "TomoStack":
        """A float32 copy with the vacuum level subtracted, so that vacuum reads 0.

        Needed before a non-negative reconstruction of raw detector data with an offset (negative
        values clip the volume to zero; a positive offset fills it with haze).

        Parameters
        ----------
        level : float, optional
            The vacuum level in data units; default: estimated by :func:`vacuum_level`.

        Returns
        -------
        TomoStack
            ``metadata.Tomography.vacuum_level`` records the level subtracted (added to any
            subtracted before).
        """
        if level is None:
            level = vacuum_level(self.data)[0]
        elif not np.isfinite(level):
            raise ValueError(f"level: expected a finite vacuum level in data units, got {level!r}")
        new = self._deepcopy_with_new_data((self.data - np.float32(level)).astype(np.float32))
        before = float(new.metadata.get_item(f"{NODE}.vacuum_level", 0.0))
        new.metadata.set_item(f"{NODE}.vacuum_level", before + float(level))
        return new

    def __repr__(self):
        base = super().__repr__()
        t = self.metadata.get_item(f"{NODE}.tilts")
        if t is not None and len(t):
            return f"{base[:-1]}, tilts: {np.min(t):.1f}° to {np.max(t):.1f}°>"
        return base


class _TomoMethods:
    """Thin ETSpy-style methods over :mod:`spectomo.align` and :mod:`spectomo.recon.astra_recon`."""

    def stack_register(self, method: str = "PC", **kwargs) -> "TomoStack":
        """Register the projections by translations; see :func:`spectomo.align.stack_register`."""
        from .align import stack_register

        return stack_register(self, method, **kwargs)

    def tilt_align(self, method: str = "CoM", **kwargs) -> "TomoStack":
        """Correct the tilt-axis offset and rotation; see :func:`spectomo.align.tilt_align`."""
        from .align import tilt_align

        return tilt_align(self, method, **kwargs)

    def alignment_residual(self, **kwargs) -> float:
        """Re-projection residual of this series as aligned (lower is better); see
        :func:`spectomo.align.alignment_residual`."""
        from .align import alignment_residual

        return alignment_residual(self, **kwargs)

    def trans_stack(self, xshift: float = 0.0, yshift: float = 0.0, angle: float = 0.0, **kwargs) -> "TomoStack":
        """Shift and rotate every projection; see :func:`spectomo.align.trans_stack`."""
        from .align import trans_stack

        return trans_stack(self, xshift=xshift, yshift=yshift, angle=angle, **kwargs)

    def align_other(self, other, **kwargs):
        """Apply this stack's alignment to another stack or a dict of them; see
        :func:`spectomo.align.align_other`."""
        from .align import align_other

        return align_other(self, other, **kwargs)

    def reconstruct(self, method: str = "FBP", **kwargs) -> "RecStack":
        """Reconstruct slice by slice with ASTRA; see :func:`spectomo.recon.reconstruct`."""
        from .recon.astra import reconstruct

        return reconstruct(self, method, **kwargs)

    def recon_error(self, slice_index: int, **kwargs):
        """Per-iteration residual and slices for one slice; see :func:`spectomo.recon.recon_error`."""
        from .recon.astra import recon_error

        return recon_error(self, slice_index, **kwargs)

    # -- ETSpy's preprocessing and inspection methods (docs/etspy.md) --------------------------
    def filter(self, method: str = "median", size: int = 5, taper: float = 0.1) -> "TomoStack":
        """Filter every projection; see :func:`spectomo.align.preprocess.filter_stack`."""
        from .align.preprocess import filter_stack

        return filter_stack(self, method, size=size, taper=taper)

    def normalize(self, width: float = 3) -> "TomoStack":
        """Per-projection contrast normalisation; see :func:`spectomo.align.preprocess.normalize`."""
        from .align.preprocess import normalize

        return normalize(self, width)

    def invert(self) -> "TomoStack":
        """Contrast inversion per projection; see :func:`spectomo.align.preprocess.invert`."""
        from .align.preprocess import invert

        return invert(self)

    def test_align(self, tilt_shift: float = 0.0, tilt_rotation: float = 0.0, **kwargs):
        """Reconstruct three slices under a trial shift/rotation; see :func:`spectomo.recon.preview.test_align`."""
        from .recon.preview import test_align

        return test_align(self, tilt_shift, tilt_rotation, **kwargs)

    def set_tilts(self, start: float, increment: float) -> None:
        """Set evenly spaced tilts ``start, start + increment, …`` (degrees), in place (as ETSpy)."""
        if not np.isfinite(start) or not np.isfinite(increment) or increment == 0:
            raise ValueError(f"start/increment: finite degrees and a non-zero step expected, got {start}, {increment}")
        self.tilts = start + increment * np.arange(self.n_projections)
        ax = self.axes_manager.navigation_axes[0]
        ax.name, ax.units, ax.offset, ax.scale = "Projections", "degrees", float(start), float(increment)

    def stats(self) -> None:
        """Print the mean, standard deviation, maximum and minimum of the data (as ETSpy)."""
        d = np.asarray(self.data)
        print(f"Mean: {d.mean():.1f}\nStd: {d.std():.2f}\nMax: {d.max():.1f}\nMin: {d.min():.1f}\n")

    def extract_sinogram(self, column):
        """The sinogram of one column: a ``Signal2D`` ``(n_tilts, ny)``, axes ``y`` and ``Projections``.

        Parameters
        ----------
        column : int or float
            Pixel index along ``x`` (int) or calibrated position in the axis units (float), as ETSpy.
        """
        from hyperspy.signals import Signal2D

        if isinstance(column, bool) or not isinstance(column, (int, float, np.integer, np.floating)):
            raise TypeError(f'"column" argument must be either a float or an integer (was {type(column)})')
        ax_x, ax_y = self.axes_manager.signal_axes
        i = int(column) if isinstance(column, (int, np.integer)) else int(ax_x.value2index(float(column)))
        if not 0 <= i < self.data.shape[2]:
            raise IndexError(f"column: index {i} outside [0, {self.data.shape[2] - 1}]")
        nav = self.axes_manager.navigation_axes[0]
        sino = Signal2D(np.asarray(self.data[:, :, i]))
        for ax, src, name in zip(sino.axes_manager.signal_axes, (ax_y, nav), ("y", "Projections")):
            ax.name, ax.scale, ax.offset, ax.units = name, src.scale, src.offset, src.units
        title = (f"Sinogram at column {column}" if isinstance(column, (int, np.integer))
                 else f"Sinogram at x = {column} {ax_x.units}")
        sino.metadata.General.title = title
        sino.metadata.set_item("Tomography.tilts", self.tilts)
        return sino

    def plot_sinos(self, *args, **kwargs):
        """Browse the sinograms (one per column ``x``) with HyperSpy's plot; arguments are passed on."""
        from hyperspy.signals import Signal2D

        s = Signal2D(np.asarray(self.data).transpose(2, 0, 1))
        nav = self.axes_manager.navigation_axes[0]
        ax_x, ax_y = self.axes_manager.signal_axes
        for ax, src, name in zip(s.axes_manager.navigation_axes + s.axes_manager.signal_axes,
                                 (ax_x, ax_y, nav), ("x", "y", "Projections")):
            ax.name, ax.scale, ax.offset, ax.units = name, src.scale, src.offset, src.units
        s.metadata.General.title = f"Sinograms of {self.metadata.General.title or 'stack'}"
        s.plot(*args, **kwargs)
        return s


class TomoStack(_TomoMethods, _TomoMixin, Signal2D):
    """A tilt series: ``data`` of shape ``(n_tilts, ny, nx)``, tilt axis parallel to ``x``.

    Parameters
    ----------
    data : numpy.ndarray or hyperspy.signals.Signal2D
        The projections, shape ``(n_tilts, ny, nx)``. A HyperSpy signal keeps its axes and metadata.
    tilts : array_like, shape (n_tilts,), optional
        Tilt angles in degrees (may be non-uniform and in any order).
    shifts : array_like, shape (n_tilts, 2), optional
        Per-projection image shifts ``(y, x)`` in pixels. Default zeros.

    Raises
    ------
    TiltMismatchError
        If the number of tilts or shifts differs from the number of projections.

    Examples
    --------
    >>> import numpy as np, spectomo
    >>> s = spectomo.TomoStack(np.zeros((3, 8, 8)), tilts=[-10, 0, 10])
    >>> s.tilts
    array([-10.,   0.,  10.])
    """


class LazyTomoStack(_TomoMethods, _TomoMixin, LazySignal, Signal2D):
    """Lazy (dask-backed) :class:`TomoStack`; the methods read the data block by block or compute
    what they need, and return eager results."""


class _RecMixin(_TomographyBase):
    _signal_type = "spectomo_RecStack"
    _data_ndims = (2, 3)
    _data_layout = "a volume (nx, ny, nz), or one slice (ny, nz)"

    def _init_tomography(self, tilts, shifts, user_axes):
        if shifts is not None:
            raise TypeError("shifts: a RecStack has no per-projection shifts")
        if not user_axes and self.data.ndim == 3:
            am = self.axes_manager
            am.navigation_axes[0].name = "x"
            am.signal_axes[0].name = "z"
            am.signal_axes[1].name = "y"
        if tilts is not None:
            self.metadata.set_item(f"{NODE}.tilts", _as_tilts(tilts))

    def forward_project(self, tilts, cuda=None) -> "TomoStack":
        """Projections of this volume at ``tilts`` (degrees); see :func:`spectomo.recon.preview.project_volume`
        (ETSpy's name; ``cuda`` is accepted for its signature, the projection runs on the CPU)."""
        from .recon.preview import project_volume

        return project_volume(self, tilts)

    def plot_slices(self, *, index=None, cmap="inferno", figsize=(10, 3.4)):
        """Show three orthogonal central slices (y–z, x–z, x–y); returns the matplotlib figure.

        Parameters
        ----------
        index : tuple of int (ix, iy, iz), optional
            Where to cut; default the centre of the volume.
        """
        import matplotlib.pyplot as plt

        vol = np.asarray(self.data)
        ix, iy, iz = index if index is not None else tuple(n // 2 for n in vol.shape)
        fig, axes = plt.subplots(1, 3, figsize=figsize, constrained_layout=True)
        cuts = ((vol[ix], f"x = {ix}", "z", "y"), (vol[:, iy, :], f"y = {iy}", "z", "x"),
                (vol[:, :, iz], f"z = {iz}", "y", "x"))
        vmin, vmax = float(np.min(vol)), float(np.max(vol))
        for ax, (img, title, xl, yl) in zip(axes, cuts):
            im = ax.imshow(img, cmap=cmap, vmin=vmin, vmax=vmax, origin="lower")
            ax.set(title=title, xlabel=xl, ylabel=yl)
        fig.colorbar(im, ax=axes, shrink=0.8)
        fig.suptitle(self.metadata.General.title or "RecStack")
        return fig


class RecStack(_RecMixin, Signal2D):
    """A reconstructed volume: ``data`` of shape ``(nx, ny, nz)``, ``data[i]`` a ``(y, z)`` slice.

    Parameters
    ----------
    data : numpy.ndarray or hyperspy.signals.Signal2D
        The volume, shape ``(nx, ny, nz)``; ``x`` runs along the tilt axis, ``z`` is the beam
        direction at 0° tilt.
    tilts : array_like, optional
        The tilt angles (degrees) the volume was reconstructed from, kept as provenance.
    """


class LazyRecStack(_RecMixin, LazySignal, Signal2D):
    """Lazy (dask-backed) :class:`RecStack`."""


# The names HyperSpy's extension registry knows these classes by (hyperspy_extension.yaml): distinct
# from ETSpy's "TomoStack"/"RecStack" registry entries, so the two packages can be installed together.
SpectomoTomoStack, SpectomoLazyTomoStack = TomoStack, LazyTomoStack
SpectomoRecStack, SpectomoLazyRecStack = RecStack, LazyRecStack

"""The alignment model, its composition, and applying it to stacks (``trans_stack``, ``align_other``).

An alignment maps a raw projection to an aligned one in three steps, all in pixels of the stack's
image, vectors ordered ``(y, x)``, ``c = ((ny − 1)/2, (nx − 1)/2)`` the image centre:

1. translate projection ``i`` by ``shifts[i]`` (content at ``p`` moves to ``p + shifts[i]``, the
   ``scipy.ndimage.shift`` / ETSpy convention: shifts are the *corrections applied*);
2. rotate about ``c`` by ``tilt_axis_rotation`` degrees: content at ``q`` moves to
   ``R(q − c) + c`` with ``R = [[cos, sin], [−sin, cos]]`` acting on ``(y, x)`` (counter-clockwise
   with ``y`` pointing up, i.e. for ``origin='lower'`` displays);
3. translate by ``tilt_axis_offset`` along ``y`` (perpendicular to the now horizontal tilt axis).

The three values live in ``metadata.Tomography`` and always describe the *whole* transform from the
raw data, whatever sequence of ``stack_register``, ``tilt_align`` and ``trans_stack`` produced it;
:func:`align_other` applies it to a raw stack in a single resampling.

A specimen drawn by :func:`spectomo.datasets.simulate` with drift ``d``, axis offset ``δ`` and axis
rotation ``φ`` is exactly undone by ``shifts = −d``, ``tilt_axis_rotation = −φ``,
``tilt_axis_offset = −δ``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ..geometry.convention import rotation_matrix
from ..signals import NODE, LazyTomoStack, TiltMismatchError, TomoStack, check_stack, offset_vacuum

__all__ = ["AlignmentWarning", "Alignment", "warp", "vacuum_fill", "trans_stack", "align_other", "alignment_of", "aligned_copy"]

_LENGTH_UNITS = {"pm": 1e-3, "Å": 0.1, "A": 0.1, "angstrom": 0.1, "nm": 1.0, "µm": 1e3, "um": 1e3,
                 "μm": 1e3, "mm": 1e6}


class AlignmentWarning(UserWarning):
    """An alignment estimate was refused, replaced by a safer candidate, or did not converge."""


@dataclass(frozen=True)
class Alignment:
    """Per-projection shifts plus a global rotation and axis offset (see the module docstring).

    Attributes
    ----------
    shifts : ndarray (n_tilts, 2)
        ``(y, x)`` pixels, applied first.
    rotation : float
        Degrees, applied about the image centre after the shifts.
    offset : float
        Pixels along ``y``, applied last.
    """

    shifts: np.ndarray
    rotation: float = 0.0
    offset: float = 0.0

    def then(self, *, shifts=None, rotation: float = 0.0, translation=(0.0, 0.0)) -> "Alignment":
        """The alignment obtained by applying, after this one, per-projection translations
        ``shifts`` (n_tilts, 2), then a rotation about the centre (degrees), then a global
        ``translation`` ``(y, x)``.

        Rotations about the same centre add; everything that is not a ``y`` translation after the
        rotation is folded back into the per-projection shifts, so the result keeps the same form.
        """
        n = len(self.shifts)
        each = np.zeros((n, 2)) if shifts is None else np.asarray(shifts, dtype=float).reshape(n, 2)
        r_new = rotation_matrix(rotation)
        total = self.rotation + float(rotation)
        # T_t R_new T_e T_(o,0) R_old T_s = T_{t + R_new (e + (o,0))} R_total T_s
        glob = np.asarray(translation, dtype=float) + r_new @ np.array([self.offset, 0.0])
        post = glob + each @ r_new.T
        offset = float(glob[0])
        rest = post - np.array([offset, 0.0])
        back = rest @ rotation_matrix(total)  # R_total⁻¹ v for each row v (R is orthogonal)
        return Alignment(self.shifts + back, total, offset)

    def scaled(self, ratio: float) -> "Alignment":
        """The same alignment in pixels ``ratio`` times smaller (``ratio`` = this pixel / other pixel)."""
        return Alignment(self.shifts * ratio, self.rotation, self.offset * ratio)

    @property
    def is_identity(self) -> bool:
        return not (np.any(self.shifts) or self.rotation or self.offset)


def alignment_of(stack) -> Alignment:
    """The alignment recorded in ``stack.metadata.Tomography``."""
    md = stack.metadata
    return Alignment(stack.shifts, float(md.get_item(f"{NODE}.tilt_axis_rotation", 0.0)),
                     float(md.get_item(f"{NODE}.tilt_axis_offset", 0.0)))


def vacuum_fill(data) -> float:
    """The value for pixels an alignment brings in from outside the image: the vacuum level of
    raw data with a detector offset (so the borders do not light up), else 0."""
    level = offset_vacuum(data)
    return 0.0 if level is None else float(level)


def warp(images: np.ndarray, alignment: Alignment, *, order: int = 1, fill: float = 0.0) -> np.ndarray:
    """Apply an alignment to a stack of images in one resampling per projection.

    Parameters
    ----------
    images : ndarray (n_tilts, ny, nx)
    alignment : Alignment
        In pixels of ``images``.
    order : int
        Spline order of the interpolation. The default 1 (bilinear) keeps counts non-negative and
        approximately conserved; 3 is sharper but can ring below zero.
    fill : float
        Value of pixels that come from outside the raw image (vacuum).

    Returns
    -------
    ndarray (n_tilts, ny, nx), float32
    """
    images = np.asarray(images)
    n, ny, nx = images.shape
    for i, s in enumerate(alignment.shifts):
        if abs(s[0]) >= ny or abs(s[1]) >= nx:
            raise ValueError(f"shifts: projection {i} would move by ({s[0]:.1f}, {s[1]:.1f}) px, more than "
                             f"the image ({ny} × {nx} px); the alignment does not belong to this stack")
    c = (np.array([ny, nx], dtype=float) - 1) / 2
    rot = rotation_matrix(alignment.rotation)
    inv = rot.T
    post = np.array([alignment.offset, 0.0])
    out = np.empty(images.shape, dtype=np.float32)
    for i in range(n):
        s = alignment.shifts[i]
        if not alignment.rotation and float(s[0]).is_integer() and float(s[1]).is_integer() \
                and not alignment.offset:
            out[i] = ndimage.shift(images[i].astype(np.float32), s, order=0, mode="constant", cval=fill)
            continue
        # aligned(q) = raw(R⁻¹(q − c − post) + c − s)
        offset = c - s - inv @ (c + post)
        out[i] = ndimage.affine_transform(images[i].astype(np.float32), inv, offset=offset,
                                          order=order, mode="constant", cval=fill)
    return out


def _provenance(step: str, **params) -> dict:
    return {"operation": step, **{k: (v.tolist() if isinstance(v, np.ndarray) else v)
                                  for k, v in params.items()}}


def aligned_copy(stack: TomoStack, data: np.ndarray, alignment: Alignment, step: str, **params) -> TomoStack:
    """A new stack with ``data``, ``alignment`` recorded in metadata and ``step`` appended to the log."""
    new = stack._deepcopy_with_new_data(np.asarray(data, dtype=np.float32))
    if new._lazy:  # the data of a lazy input were computed: hand back the eager class
        new._lazy = False
        new._assign_subclass()
    new.shifts = alignment.shifts
    md = new.metadata
    md.set_item(f"{NODE}.tilt_axis_rotation", float(alignment.rotation))
    md.set_item(f"{NODE}.tilt_axis_offset", float(alignment.offset))
    log = md.get_item(f"{NODE}.Alignment_log")
    k = 0 if log is None else len(log.keys())
    md.set_item(f"{NODE}.Alignment_log.step_{k}", _provenance(step, **params))
    return new


_INTERPOLATION = {"nearest": 0, "none": 0, "linear": 1, "cubic": 3}


def trans_stack(stack: TomoStack, *, xshift: float = 0.0, yshift: float = 0.0, angle: float = 0.0,
                order: int = 1, interpolation: str | None = None) -> TomoStack:
    """Shift and rotate every projection by the same amount (manual global correction).

    Parameters
    ----------
    stack : TomoStack (n_tilts, ny, nx)
    xshift, yshift : float
        Translation in pixels, applied after the rotation, with ETSpy's signs: ``xshift > 0`` moves
        the content right (towards larger ``x``), ``yshift > 0`` moves it **up** (towards smaller
        row index ``y``), as ``etspy.TomoStack.trans_stack`` does.
    angle : float
        Rotation about the image centre in degrees (sign as in the module docstring).
    order : int
        Interpolation order (see :func:`warp`).
    interpolation : {'linear', 'cubic', 'nearest', 'none'}, optional
        ETSpy's name for the order (1, 3, 0, 0); overrides ``order``.

    Returns
    -------
    TomoStack
        A new stack; ``tilt_axis_rotation``, ``tilt_axis_offset`` and ``shifts`` describe the whole
        transform from the raw data, so :func:`align_other` reproduces it.
    """
    check_stack(stack, "stack", min_tilts=1)
    if interpolation is not None:
        if str(interpolation).lower() not in _INTERPOLATION:
            raise ValueError(f"interpolation: expected one of {list(_INTERPOLATION)}, got {interpolation!r}")
        order = _INTERPOLATION[str(interpolation).lower()]
    move = (-float(yshift), float(xshift))  # (y, x) in row/column order: ETSpy's +yshift is up
    step = Alignment(np.zeros((stack.n_projections, 2)), float(angle), 0.0).then(translation=move)
    data = warp(np.asarray(stack.data), step, order=order, fill=vacuum_fill(stack.data))
    total = alignment_of(stack).then(rotation=float(angle), translation=move)
    return aligned_copy(stack, data, total, "trans_stack", xshift=float(xshift), yshift=float(yshift),
                        angle=float(angle))


def _pixel_size_nm(stack) -> tuple[float, float] | None:
    """Calibrated (y, x) pixel size in nm, or None when the signal axes carry no length unit."""
    ax_x, ax_y = stack.axes_manager.signal_axes
    sizes = []
    for ax in (ax_y, ax_x):
        factor = _LENGTH_UNITS.get(str(ax.units).strip())
        if factor is None or not ax.is_uniform:
            return None
        sizes.append(float(ax.scale) * factor)
    return sizes[0], sizes[1]


def pixel_ratio(source, other, *, name: str = "other", source_shape=None) -> float:
    """``source`` pixel size / ``other`` pixel size, checked against the fields of view.

    Calibrated axes (nm, µm, Å, pm) give the ratio; without calibration the image sizes must be
    equal or in the same ratio along both axes. ``source_shape`` ``(ny, nx)`` replaces the
    source's image size (a cropped source: its size before the crop).
    """
    sy, sx = source.axes_manager.signal_shape[::-1] if source_shape is None else source_shape
    oy, ox = other.axes_manager.signal_shape[::-1]
    ps, po = _pixel_size_nm(source), _pixel_size_nm(other)
    if ps is not None and po is not None:
        ry, rx = ps[0] / po[0], ps[1] / po[1]
        if not np.isclose(ry, rx, rtol=1e-3):
            raise ValueError(f"{name}: pixel sizes are not in the same ratio along y and x "
                             f"({ps} nm vs {po} nm); resample to square pixels first")
        for label, n_s, n_o, p_s, p_o in (("y", sy, oy, ps[0], po[0]), ("x", sx, ox, ps[1], po[1])):
            if abs(n_s * p_s - n_o * p_o) > 1.01 * max(p_s, p_o):
                raise ValueError(
                    f"{name}: incompatible field of view along {label}: {n_o} px × {p_o:.4g} nm = "
                    f"{n_o * p_o:.4g} nm, but the aligned stack spans {n_s} px × {p_s:.4g} nm = "
                    f"{n_s * p_s:.4g} nm")
        return float(ry)
    if (sy, sx) == (oy, ox):
        return 1.0
    ry, rx = oy / sy, ox / sx
    if not np.isclose(ry, rx):
        raise ValueError(f"{name}: image size {oy} × {ox} px is not a scaled copy of {sy} × {sx} px and "
                         "the pixel sizes are not calibrated (set the signal axes' scale and units)")
    return float(ry)


def _align_one(source: TomoStack, other, alignment: Alignment, order: int, name: str) -> TomoStack:
    if not isinstance(other, (TomoStack, LazyTomoStack)):
        raise TypeError(f"{name}: expected a TomoStack (or a dict of them), got {type(other).__name__}")
    if other._lazy:
        other = other.deepcopy()
        other.compute(show_progressbar=False)
    check_stack(other, name, min_tilts=1)
    if other.n_projections != source.n_projections:
        raise TiltMismatchError(f"{name}: {other.n_projections} projections, but the aligned stack has "
                                f"{source.n_projections}")
    try:
        t_other = other.tilts
    except AttributeError:
        t_other = None
    if t_other is not None and not np.allclose(t_other, source.tilts, atol=0.05):
        bad = int(np.argmax(np.abs(t_other - source.tilts)))
        raise TiltMismatchError(f"{name}: tilts differ from the aligned stack's (projection {bad}: "
                                f"{t_other[bad]:.2f}° vs {source.tilts[bad]:.2f}°)")
    if not alignment_of(other).is_identity:
        raise ValueError(f"{name}: already carries an alignment (shifts, tilt_axis_rotation or "
                         "tilt_axis_offset in metadata.Tomography); pass the unaligned stack")
    crop = source.metadata.get_item(f"{NODE}.cropped")
    crop = crop.as_dictionary() if hasattr(crop, "as_dictionary") else crop
    if crop and (not np.isclose(crop["tilt_axis_rotation"], alignment.rotation)
                 or not np.isclose(crop["tilt_axis_offset"], alignment.offset)):
        raise ValueError(f"{name}: the aligned stack was cropped (stack_register(crop=True)) and then rotated or "
                         "offset about the cropped centre, which align_other cannot replay on the full frame; "
                         "crop as the last step (align_other crops the other stacks alike)")
    ratio = pixel_ratio(source, other, name=name, source_shape=crop["shape"] if crop else None)
    scaled = alignment.scaled(ratio)
    data = warp(np.asarray(other.data), scaled, order=order, fill=vacuum_fill(other.data))
    new = aligned_copy(other, data, scaled, "align_other", source=source.metadata.General.title,
                       pixel_ratio=ratio)
    if t_other is None:
        new.tilts = source.tilts
    if crop:  # the source was cropped after registration (stack_register(crop=True)): crop alike
        (y0, y1), (x0, x1) = [[int(round(v * ratio)) for v in crop[k]] for k in ("rows", "columns")]
        new = new.isig[x0:x1, y0:y1]
        new.metadata.set_item(f"{NODE}.cropped", {"rows": [y0, y1], "columns": [x0, x1],
                                                  "shape": list(other.data.shape[1:])})
    return new


def align_other(stack: TomoStack, other, *, order: int = 1):
    """Apply ``stack``'s alignment (per-tilt shifts and tilt-axis correction) to other stacks.

    Parameters
    ----------
    stack : TomoStack
        An aligned stack (e.g. the HAADF or the spectral sum image after ``stack_register`` and
        ``tilt_align``).
    other : TomoStack or dict[str, TomoStack]
        Unaligned stacks acquired with it (e.g. the element maps of
        :func:`spectomo.extract_maps`), same tilts. The pixel size may differ (e.g. EDS maps at half
        the HAADF resolution): shifts and offset are scaled by the calibrated pixel-size ratio.
    order : int
        Interpolation order (see :func:`warp`).

    Returns
    -------
    TomoStack or dict
        Aligned copies (a dict of the same type for a dict input, e.g. :class:`spectomo.MapStacks`
        with its attributes kept); the inputs are untouched.

    Raises
    ------
    TiltMismatchError
        Different tilt count or angles.
    ValueError
        Incompatible fields of view, or ``other`` already aligned.
    """
    check_stack(stack, "stack", min_tilts=1)
    alignment = alignment_of(stack)
    if not isinstance(other, (dict, TomoStack, LazyTomoStack)):
        raise TypeError(f"other: expected a TomoStack (or a dict of them), got {type(other).__name__}")
    if isinstance(other, dict) and not other:
        raise ValueError("other: an empty dict; expected stacks to align")
    if alignment.is_identity and not stack.metadata.has_item(f"{NODE}.Alignment_log"):
        # as ETSpy: a stack that never went through an alignment step is align_other called on the raw
        # stack by mistake (an alignment step that found nothing to correct is replayed as it is)
        raise ValueError("stack: No transformations have been applied to this stack (no alignment step in "
                         "metadata.Tomography); call align_other on the aligned stack")
    if isinstance(other, dict):
        if type(other) is dict:
            out = {}
        else:  # a dict subclass such as MapStacks: same class, its attributes kept
            out = type(other).__new__(type(other))
            dict.__init__(out)
            out.__dict__.update(getattr(other, "__dict__", {}))
        if not other:
            raise ValueError("other: an empty dict; expected stacks to align")
        for key, value in other.items():
            out[key] = _align_one(stack, value, alignment, order, f"other[{key!r}]")
        return out
    return _align_one(stack, other, alignment, order, "other")

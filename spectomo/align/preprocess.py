"""Image preprocessing of a tilt series with ETSpy's names and meanings: ``filter``, ``normalize``,
``invert`` and the crop of ``stack_register(crop=True)``.

Each returns a new stack (tilts, shifts and metadata kept) and leaves the input untouched.
Differences from ETSpy 1.3, where its code does not do what its documentation says, are noted in
each docstring and in docs/etspy.md.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..signals import TomoStack, check_stack

__all__ = ["filter_stack", "normalize", "invert", "shift_crop", "weighting_filter", "FILTERS", "WEIGHTING_FILTERS"]

FILTERS = ("median", "bpf", "both", "sobel")
#: Windows of :func:`weighting_filter` (ETSpy's ``utils.filter_stack`` names)
WEIGHTING_FILTERS = ("ram-lak", "shepp-logan", "hanning", "hann", "cosine", "cos")


def _new(stack: TomoStack, data: np.ndarray, step: str, **params) -> TomoStack:
    out = stack._deepcopy_with_new_data(np.asarray(data, dtype=np.float32))
    if out.metadata.has_item("Spectral.noise_model"):
        # the pixel variances of the spectral stage no longer describe the filtered values
        # (data splitting and the response-ratio fit would use them)
        out.metadata.Spectral.__delattr__("noise_model")
    log = list(out.metadata.get_item("Tomography.Preprocessing_log", []))
    out.metadata.set_item("Tomography.Preprocessing_log", log + [{"step": step, **params}])
    return out


def _sobel(images: np.ndarray) -> np.ndarray:
    return np.stack([np.hypot(ndimage.sobel(im, 0), ndimage.sobel(im, 1)) for im in images])


def _bandpass(images: np.ndarray) -> np.ndarray:
    """Butterworth band-pass (ETSpy's: low-pass at 0.1, high-pass at 0.05 cycles/px, order 1.5)
    and a square-root Hamming window."""
    _, rows, cols = images.shape
    fy = (np.arange(rows) - rows // 2) / rows
    fx = (np.arange(cols) - cols // 2) / cols
    r = np.hypot(*np.meshgrid(fx, fy))
    with np.errstate(divide="ignore"):
        low = 1 / (1 + (r / 0.1) ** 3.0)
        high = 1 - 1 / (1 + (r / 0.05) ** 3.0)
    band = np.fft.ifftshift(low * high)
    out = np.fft.ifft2(np.fft.fft2(images) * band).real
    return out * np.sqrt(np.outer(np.hamming(rows), np.hamming(cols)))


def _taper(images: np.ndarray, fraction: float) -> np.ndarray:
    """Blend the outer ``fraction`` of each image smoothly into its mean (cosine ramp)."""
    if fraction <= 0:
        return images
    out = images.copy()
    ny, nx = images.shape[1:]
    ramps = []
    for n in (ny, nx):
        w = max(1, int(round(fraction * n)))
        r = np.ones(n)
        edge = 0.5 - 0.5 * np.cos(np.pi * (np.arange(w) + 0.5) / w)
        r[:w], r[n - w:] = edge, edge[::-1]
        ramps.append(r)
    win = np.outer(*ramps)
    means = images.mean(axis=(1, 2), keepdims=True)
    return means + (out - means) * win


def filter_stack(stack: TomoStack, method: str = "median", *, size: int = 5, taper: float = 0.1) -> TomoStack:
    """Filter every projection (ETSpy's ``TomoStack.filter``).

    Parameters
    ----------
    stack : TomoStack (n_tilts, ny, nx)
    method : {'median', 'bpf', 'both', 'sobel'}
        Median filter of ``size`` px; Butterworth band-pass; median then Sobel gradient magnitude;
        Sobel gradient magnitude.
    size : int
        Median neighbourhood, px.
    taper : float
        Fraction of the image size over which the borders are blended into the image mean
        (ETSpy's documented meaning; ETSpy 1.3's code pads the array instead). 0 turns it off.

    Returns
    -------
    TomoStack
        Same shape, float32.
    """
    check_stack(stack, "stack", min_tilts=1)
    if method not in FILTERS:
        raise ValueError(f'Invalid filter method "{method}". Must be one of ' + ", ".join(f'"{m}"' for m in FILTERS))
    if int(size) < 1 or not 0 <= float(taper) < 0.5:
        raise ValueError(f"size/taper: size ≥ 1 px and 0 ≤ taper < 0.5 expected, got {size}, {taper}")
    images = np.asarray(stack.data, dtype=np.float64)
    if method in ("median", "both"):
        images = ndimage.median_filter(images, size=(1, int(size), int(size)))
    if method in ("sobel", "both"):
        images = _sobel(images)
    if method == "bpf":
        images = _bandpass(images)
    return _new(stack, _taper(images, float(taper)), "filter", method=method, size=int(size), taper=float(taper))


def normalize(stack: TomoStack, width: float = 3.0) -> TomoStack:
    """Per projection ``(p − min) / (mean + width · std)`` of ``p − min`` (ETSpy's
    ``normalize``): the minimum becomes 0 and ``width`` standard deviations above the mean about
    1. (ETSpy 1.3 takes the std of the per-row stds; here the projection's own std.)"""
    check_stack(stack, "stack", min_tilts=1)
    if not np.isfinite(width) or width < 0:
        raise ValueError(f"width: a non-negative number of standard deviations expected, got {width!r}")
    p = np.asarray(stack.data, dtype=np.float64)
    p = p - p.min(axis=(1, 2), keepdims=True)
    scale = p.mean(axis=(1, 2), keepdims=True) + width * p.std(axis=(1, 2), keepdims=True)
    return _new(stack, p / np.where(scale > 0, scale, 1.0), "normalize", width=float(width))


def invert(stack: TomoStack) -> TomoStack:
    """Invert the contrast of each projection within its own range: ``max + min − p`` (bright
    field ↔ dark field; ETSpy's ``invert``, whose 1.3 code also shifts by the mean)."""
    check_stack(stack, "stack", min_tilts=1)
    p = np.asarray(stack.data, dtype=np.float64)
    return _new(stack, p.max(axis=(1, 2), keepdims=True) + p.min(axis=(1, 2), keepdims=True) - p, "invert")


def shift_crop(stack: TomoStack) -> TomoStack:
    """Crop a registered stack to the pixels every projection covers (``stack_register(crop=True)``).

    A projection shifted by ``(dy, dx)`` has no data in its first ``dy`` rows (``dy > 0``) or last
    ``−dy`` rows (``dy < 0``), and likewise for columns. Calibrated offsets follow the crop;
    ``metadata.Tomography.cropped`` records the rows and columns kept and the size before the crop,
    so :func:`spectomo.align_other` crops the other stacks alike.
    """
    s = stack.shifts
    ny, nx = stack.data.shape[1:]
    y0, y1 = int(np.ceil(max(s[:, 0].max(), 0))), ny + int(np.floor(min(s[:, 0].min(), 0)))
    x0, x1 = int(np.ceil(max(s[:, 1].max(), 0))), nx + int(np.floor(min(s[:, 1].min(), 0)))
    if y1 - y0 < 2 or x1 - x0 < 2:
        raise ValueError(f"crop: the shifts ({np.abs(s).max():.1f} px at most) leave no common field of view")
    out = stack.isig[x0:x1, y0:y1]
    tomo = stack.metadata.Tomography
    out.metadata.set_item("Tomography.cropped", {
        "rows": [y0, y1], "columns": [x0, x1], "shape": [ny, nx],
        "tilt_axis_rotation": float(tomo.get_item("tilt_axis_rotation", 0.0)),
        "tilt_axis_offset": float(tomo.get_item("tilt_axis_offset", 0.0))})
    return out


def weighting_filter(stack: TomoStack, filter_name: str = "shepp-logan", cutoff: float = 0.5) -> TomoStack:
    """The ramp filter of filtered back-projection, windowed, applied to every projection along the
    detector direction (ETSpy's ``utils.filter_stack``; spectomo's ``filter_stack`` is ETSpy's
    ``TomoStack.filter``).

    With ``f`` in cycles per pixel and ``f_c = cutoff × 0.5`` (``cutoff`` as a fraction of Nyquist),
    the filter is ``|f| · w(f)`` for ``|f| ≤ f_c`` and 0 above, with ``w`` = 1 (``'ram-lak'``),
    ``sinc(f / 2f_c)`` (``'shepp-logan'``), ``cos(π f / 2f_c)`` (``'cosine'``, ``'cos'``) or
    ``½ + ½ cos(π f / f_c)`` (``'hanning'``, ``'hann'``). Projections are zero-padded to at
    least twice their length first, so the filter does not wrap around.

    Parameters
    ----------
    stack : TomoStack (n_tilts, ny, nx) or one projection (ny, nx)
        ``y`` is the detector direction (spectomo's convention: sinograms are ``data[:, :, x]``).
    filter_name : str
        One of :data:`WEIGHTING_FILTERS`.
    cutoff : float
        0 < cutoff ≤ 1.

    Returns
    -------
    TomoStack
        Same shape, float32, the step in ``metadata.Tomography.Preprocessing_log``.
    """
    if filter_name not in WEIGHTING_FILTERS:
        raise ValueError(f'Invalid filter type "{filter_name}". Must be one of '
                         + ", ".join(f'"{m}"' for m in WEIGHTING_FILTERS))
    if not 0 < float(cutoff) <= 1:
        raise ValueError(f"cutoff: expected a fraction of the Nyquist frequency, 0 < cutoff ≤ 1, got {cutoff!r}")
    data = np.asarray(stack.data, dtype=np.float64)
    if data.ndim not in (2, 3):
        raise ValueError(f"stack: Method can only be applied to 2 or 3-dimensional stacks (projections "
                         f"(n_tilts, ny, nx) or one (ny, nx)), got shape {data.shape}")
    axis = data.ndim - 2  # y
    n = data.shape[axis]
    n_pad = int(2 ** np.ceil(np.log2(2 * n)))
    f = np.abs(np.fft.rfftfreq(n_pad))
    fc = 0.5 * float(cutoff)
    windows = {"ram-lak": lambda: np.ones_like(f), "shepp-logan": lambda: np.sinc(f / (2 * fc)),
               "cosine": lambda: np.cos(np.pi * f / (2 * fc)), "hanning": lambda: 0.5 + 0.5 * np.cos(np.pi * f / fc)}
    windows["cos"], windows["hann"] = windows["cosine"], windows["hanning"]
    response = np.where(f <= fc, f * windows[filter_name](), 0.0)
    shape = [1] * data.ndim
    shape[axis] = response.size
    spectrum = np.fft.rfft(data, n=n_pad, axis=axis) * response.reshape(shape)
    out = np.take(np.fft.irfft(spectrum, n=n_pad, axis=axis), np.arange(n), axis=axis)
    return _new(stack, out, "weighting_filter", filter=filter_name, cutoff=float(cutoff))

"""Public entry points of the spectral stage: :func:`extract_maps` and :func:`sum_image`."""

from __future__ import annotations

import warnings

import numpy as np

from .._version import __version__
from ..signals import TomoStack
from .inputs import SpectralInput, SpectralInputError, as_spectral_input, iter_blocks
from .fit import FitModel, fit_spectra, plan_fit, series_spectrum
from .lines import Line, select_lines
from .nmf import nmf_decompose
from .windows import OverlapWarning, net_counts, plan_windows

__all__ = ["extract_maps", "sum_image", "MapStacks", "name_components", "METHODS", "VALUES"]

METHODS = ("windows", "fit", "nmf")
#: What a map's values are (``metadata.Spectral.values``); only ``'net counts'`` can be quantified.
VALUES = {"net": "net counts", "window": "window counts (no background subtracted)",
          "component": "NMF component counts (continuum included)", "sum": "summed counts"}


class MapStacks(dict):
    """Element map stacks keyed by X-ray line (``'Ni_Ka'``), each a :class:`TomoStack` of counts.

    A plain ``dict`` with the run's context attached.

    Attributes
    ----------
    method : str
        ``'windows'``, ``'fit'`` or ``'nmf'``.
    parameters : dict
        The options of the run (also in each map's ``metadata.Spectral``).
    components : MapStacks or None
        NMF only: the raw component maps (counts each component contributes, continuum included),
        named after the line each carries most of, else ``component_k``. Not quantifiable.
    quality : TomoStack or None
        ``'fit'`` only: reduced Pearson χ² of each spectrum's fit (≈ 1 when the model explains it).
    model : FitModel or None
        ``'fit'`` and ``'nmf'``: the line-fit model (regions, clusters, background degrees, operator).
    factors : exspy.signals.EDSTEMSpectrum or None
        NMF only: the unit-sum spectral factors, navigation = component (in the order of
        ``components``); ``components[key] × factor`` is that component's spectrum.
    scree : ndarray or None
        NMF only: squared singular values of the Poisson-normalised data (descending).
    noise_edge : float or None
        NMF only: the threshold on ``scree`` used to count components (from pure Poisson noise).
    """

    def __init__(self, *args, method: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        self.method = method
        self.parameters: dict = {}
        self.factors = None
        self.components = None
        self.quality = None
        self.model = None
        self.scree = None
        self.noise_edge = None

    def plot(self, index: int | None = None, *, ax=None):
        """Show every map at one projection (default: the tilt nearest 0°). Returns the figure."""
        import matplotlib.pyplot as plt

        if not self:
            raise ValueError("no maps to plot")
        first = next(iter(self.values()))
        i = int(np.argmin(np.abs(first.tilts))) if index is None else int(index)
        fig, axes = plt.subplots(1, len(self), figsize=(3 * len(self), 3.2), squeeze=False,
                                 constrained_layout=True)
        for a, (key, stack) in zip(axes[0], self.items()):
            im = a.imshow(stack.data[i], cmap="viridis")
            a.set_title(f"{key} ({self.method})", fontsize=9)
            a.set_xticks([])
            a.set_yticks([])
            fig.colorbar(im, ax=a, shrink=0.8, label="counts")
        fig.suptitle(f"tilt {first.tilts[i]:g}°", fontsize=10)
        return fig

    def plot_scree(self, ax=None):
        """NMF only: the scree with the noise edge used to estimate the number of components."""
        import matplotlib.pyplot as plt

        if self.scree is None:
            raise ValueError("plot_scree: only NMF results have a scree")
        if ax is None:
            _, ax = plt.subplots(figsize=(4.5, 3.2), constrained_layout=True)
        k = np.arange(1, len(self.scree) + 1)
        ax.semilogy(k, self.scree, "o-", ms=3)
        ax.axhline(self.noise_edge, color="tab:red", lw=0.8, label="noise threshold (parallel analysis)")
        ax.set(xlabel="component", ylabel="squared singular value", title="scree (Poisson-normalised)")
        ax.legend(fontsize=8)
        return ax


def _map_stack(inp: SpectralInput, data: np.ndarray, *, title: str, line: str | None,
               spectral_md: dict) -> TomoStack:
    s = TomoStack(np.asarray(data, dtype=np.float32), tilts=inp.tilts)
    for ax, spec in zip(s.axes_manager.signal_axes, inp.image_axes()[::-1]):  # HyperSpy order (x, y)
        ax.name, ax.scale, ax.offset, ax.units = spec["name"], spec["scale"], spec["offset"], spec["units"]
    acq = inp.acquisition_metadata()
    if acq:
        s.metadata.add_dictionary({"Acquisition_instrument": acq})
    s.metadata.General.title = title
    s.metadata.Signal.quantity = "X-ray counts"
    if line is not None:
        s.metadata.set_item("Sample.elements", [line.split("_")[0]])
        s.metadata.set_item("Sample.xray_lines", [line])
    s.metadata.set_item("Spectral", spectral_md)
    return s


def noise_model(values: np.ndarray, variances: np.ndarray) -> dict:
    """Per-pixel Poisson variances summarised as ``var ≈ a · max(value, 0) + b`` (least squares).

    Stored in ``metadata.Spectral.noise_model``: what the reconstruction stage needs to split the
    maps into independent parts (:mod:`spectomo.recon.thinning`) without the spectra.
    """
    x = np.maximum(np.asarray(values, dtype=np.float64).ravel(), 0)
    v = np.asarray(variances, dtype=np.float64).ravel()
    design = np.stack([x, np.ones_like(x)], axis=1)
    (a, b), *_ = np.linalg.lstsq(design, v, rcond=None)
    if b < 0:  # keep the model positive: refit through the origin
        a, b = float(x @ v / max(x @ x, 1e-300)), 0.0
    return {"a": float(max(a, 0.0)), "b": float(max(b, 0.0)), "form": "var = a * max(value, 0) + b",
            "source": "Poisson variance of each pixel's net count from its spectrum"}


def _common_md(inp: SpectralInput, method: str, clip_negative: bool, values: str = VALUES["net"]) -> dict:
    return {"method": method, "values": values, "source": inp.title, "source_shape": list(inp.shape),
            "energy_units": inp.energy_units, "energy_resolution_MnKa_eV": inp.energy_resolution,
            "clip_negative": bool(clip_negative), "spectomo_version": __version__}


def _windows(inp, lines, *, integration_windows, background_windows, background, clip_negative, progress):
    plans = plan_windows(inp, lines, integration_windows=integration_windows,
                         background_windows=background_windows, background=background)
    counts, variances = net_counts(inp, plans, progress=progress, variance=True)
    out = MapStacks(method="windows")
    for plan, c, v in zip(plans, counts, variances):
        if clip_negative:
            c = np.clip(c, 0, None)
        values = VALUES["window"] if plan.background == "none" else VALUES["net"]
        md = (_common_md(inp, "windows", clip_negative, values) | plan.as_metadata(inp.energy_units)
              | {"noise_model": noise_model(c, v)})
        out[plan.line.name] = _map_stack(inp, c, title=f"{plan.line.name} {values} (windows)",
                                         line=plan.line.name, spectral_md=md)
    out.parameters = {"integration_windows": integration_windows if np.ndim(integration_windows) == 0
                      else np.asarray(integration_windows).tolist(),
                      "background_windows": background_windows if isinstance(background_windows, str)
                      or background_windows is None else np.asarray(background_windows).tolist(),
                      "background": background, "clip_negative": clip_negative}
    return out


def name_components(inp: SpectralInput, factors: np.ndarray, totals: np.ndarray,
                    lines: list[Line]) -> list[str]:
    """Name each NMF component by the candidate line it carries most of, else ``component_k``.

    The net intensity of every candidate line in every unit-sum factor is measured with the same
    windows as ``method='windows'`` (linear background). Line ``l`` belongs to the component
    carrying the majority of its total counts (``totals[k] ×`` net fraction); a component is named
    after the line it owns that is most prominent in its own spectrum.
    """
    k = len(factors)
    names = [f"component_{i}" for i in range(k)]
    if not lines:
        return names
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OverlapWarning)  # overlaps matter for windows maps, not naming
        plans = plan_windows(inp, lines, background="linear")
    frac = np.stack([p.net(factors) for p in plans], axis=1)  # (k, n_lines)
    carried = np.clip(frac, 0, None) * totals[:, None]
    owned = {}
    for j in range(len(lines)):
        col = carried[:, j]
        if col.sum() > 0 and col.max() > 0.5 * col.sum():
            owner = int(np.argmax(col))
            if owner not in owned or frac[owner, j] > frac[owner, owned[owner]]:
                owned[owner] = j
    for i, j in owned.items():
        names[i] = lines[j].name
    return names


def _fit_model(inp, lines, spectrum, projections, fit_options) -> FitModel:
    opts = dict(fit_options or {})
    degree = opts.pop("background_degree", None)
    opts.pop("sample_projections", None)  # used by the caller (fit) or meaningless (NMF: the whole series)
    if opts:
        raise SpectralInputError(f"fit_options: unknown keys {sorted(opts)}; expected 'background_degree', "
                                 "'sample_projections'")
    return plan_fit(inp, lines, spectrum, sample_projections=projections, background_degree=degree)


def _fit(inp, lines, *, clip_negative, progress, fit_options):
    opts = dict(fit_options or {})
    spectrum, projections = series_spectrum(inp, projections=opts.pop("sample_projections", None),
                                            progress=progress)
    if spectrum.sum() <= 0:
        raise SpectralInputError("spectra: the sample projections hold no counts; nothing to fit")
    model = _fit_model(inp, lines, spectrum, projections, opts)
    counts, variances, chi2 = fit_spectra(inp, model, progress=progress)
    out = MapStacks(method="fit")
    for k, ln in enumerate(lines):
        c = np.clip(counts[k], 0, None) if clip_negative else counts[k]
        md = (_common_md(inp, "fit", clip_negative) | model.line_metadata(k)
              | {"noise_model": noise_model(counts[k], variances[k])})
        out[ln.name] = _map_stack(inp, c, title=f"{ln.name} net counts (fit)", line=ln.name, spectral_md=md)
    out.quality = _map_stack(inp, chi2, title="fit quality (reduced χ²)", line=None,
                             spectral_md=_common_md(inp, "fit", False, "reduced chi-square of the line fit"))
    out.quality.metadata.Signal.quantity = "reduced χ²"
    out.model = model
    out.parameters = {"background_degree": [r.degree for r in model.regions],
                      "regions": [[r.lo, r.hi] for r in model.regions],
                      "sample_projections": model.sample_projections, "clip_negative": clip_negative,
                      "warnings": list(model.warnings)}
    return out


def _nmf(inp, lines, *, n_components, clip_negative, progress, nmf_options, fit_options):
    import exspy

    try:
        candidates = select_lines(inp, lines)
    except SpectralInputError:
        if lines is not None:
            raise
        warnings.warn("NMF maps are raw components ('component_k', continuum included, not quantifiable): no "
                      "lines given and no elements in spectra.metadata.Sample; pass lines=[...] for line net "
                      "counts", UserWarning, stacklevel=3)
        candidates = []
    elements = {ln.element for ln in candidates}
    opts = {"min_components": len(elements) + 1 if elements else 1} | dict(nmf_options or {})
    res = nmf_decompose(inp, n_components, progress=progress, **opts)
    totals = res.maps.reshape(res.n_components, -1).sum(axis=1)
    names = name_components(inp, res.factors, totals, candidates)
    order = sorted(range(res.n_components), key=lambda i: (names[i].startswith("component_"), i))
    common = {"n_components": res.n_components, "n_components_estimated": res.estimated,
              "min_components": int(opts["min_components"]), "loss": res.loss, "n_samples": res.n_samples,
              "noise_edge": res.noise_edge, "scree": res.scree}
    components = MapStacks(method="nmf")
    for i in order:
        md = _common_md(inp, "nmf", False, VALUES["component"]) | common | {
            "component": i, "factor": res.factors[i], "factor_energy_offset": float(inp.energy[0]),
            "factor_energy_scale": float(inp.energy[1] - inp.energy[0])}
        line = names[i] if not names[i].startswith("component_") else None
        components[names[i]] = _map_stack(inp, res.maps[i], title=f"{names[i]} (NMF component {i}, counts)",
                                          line=line, spectral_md=md)
    factors = exspy.signals.EDSTEMSpectrum(res.factors[order])
    eax = factors.axes_manager.signal_axes[0]
    src = inp.signal.axes_manager.signal_axes[0]
    eax.scale, eax.offset, eax.units, eax.name = src.scale, src.offset, src.units, src.name
    factors.axes_manager.navigation_axes[0].name = "component"
    factors.metadata.General.title = "NMF spectral factors (unit sum): " + ", ".join(names[i] for i in order)
    parameters = {"n_components": res.n_components, "estimated": res.estimated,
                  "reconstruction_error": res.reconstruction_error, **opts}
    components.factors, components.scree, components.noise_edge = factors, res.scree, res.noise_edge
    components.parameters = parameters
    if not candidates:
        return components
    # line net counts: the line fit of every unit-sum factor, weighted by the component maps
    model = _fit_model(inp, candidates, res.spectrum, list(range(inp.shape[0])), fit_options)
    per_count = model.line_counts(model.coefficients(res.factors))  # (n_lines, k): line counts per component count
    line_maps = np.tensordot(per_count, res.maps, axes=([1], [0]))
    out = MapStacks(method="nmf")
    for k, ln in enumerate(candidates):
        c = np.clip(line_maps[k], 0, None) if clip_negative else line_maps[k]
        md = _common_md(inp, "nmf", clip_negative) | common | model.line_metadata(k) | {
            "line_counts_per_component_count": per_count[k]}
        out[ln.name] = _map_stack(inp, c, title=f"{ln.name} net counts (NMF + fit)", line=ln.name,
                                  spectral_md=md)
    out.factors, out.scree, out.noise_edge, out.components, out.model = (
        factors, res.scree, res.noise_edge, components, model)
    out.parameters = parameters | {"background_degree": [r.degree for r in model.regions]}
    return out


def extract_maps(spectra, lines=None, *, method: str = "windows", tilts=None, background_windows="auto",
                 integration_windows=2.0, background: str = "linear", n_components: int | None = None,
                 clip_negative: bool = False, nmf_options: dict | None = None, fit_options: dict | None = None,
                 progress: bool = True) -> MapStacks:
    """Per-line map stacks (counts) from an EDS spectrum-image tilt series.

    Parameters
    ----------
    spectra : exspy.signals.EDSTEMSpectrum or list of them
        Navigation ``(tilt, y, x)`` (data shape ``(n_tilts, ny, nx, n_channels)``), eager or lazy;
        or a list of per-tilt spectrum images, navigation ``(y, x)``. Energy axis in keV or eV.
        Raw counts: NaN, inf or negative values raise.
    lines : list of str, optional
        X-ray lines such as ``['Ni_Ka', 'Pt_La']``. Default: ``metadata.Sample.xray_lines``, else one
        α line per element of ``metadata.Sample.elements`` (exspy's choice).
    method : {'windows', 'fit', 'nmf'}
        ``'windows'``: integrate each line's peak window and subtract the background estimated
        from two side windows (window-truncated: about 2 % below the whole peak at ±1 FWHM).
        ``'fit'``: linear fit of every spectrum with line-cluster shapes and a smooth background,
        weighted by the series' Poisson model (:mod:`spectomo.spectral.fit`); whole-peak net counts,
        overlapping lines separated, a per-pixel fit quality in ``maps.quality``.
        ``'nmf'``: NMF of the whole series at once (:mod:`spectomo.spectral.nmf`, Poisson loss by
        default), then the line fit of each spectral factor: each line map is
        ``Σ_k component_k × (line counts per count of factor k)``, the continuum contributing
        nothing. Raw component maps are in ``maps.components``.
    tilts : array_like (n_tilts,), optional
        Degrees; default ``metadata.Tomography.tilts`` (for a list: each item's
        ``Acquisition_instrument.TEM.Stage.tilt_alpha``).
    background_windows : 'auto', None or array_like (n_lines, 4)
        ``'auto'`` places side windows clear of the other lines of the elements present
        (:func:`~spectomo.spectral.windows.auto_background_windows`); None subtracts nothing; an
        array gives ``[l0, l1, r0, r1]`` per line in energy-axis units (exspy's
        ``estimate_background_windows`` format).
    integration_windows : float or array_like (n_lines, 2)
        Window width in FWHM of each line (2.0: ±1 FWHM, exspy's default), or explicit windows.
    background : {'linear', 'flat'}
        ``'linear'`` interpolates between the side windows across the peak; ``'flat'`` subtracts
        their mean, as exspy does (biased when the windows are not symmetric about the peak).
    n_components : int, optional
        NMF components; default: estimated from the scree against the Poisson noise level.
    clip_negative : bool
        Clip negative net counts (noise on a background-only pixel) to zero. Off by default.
    nmf_options : dict, optional
        Passed to :func:`~spectomo.spectral.nmf.nmf_decompose` (``loss``, ``min_components`` —
        default one per element of ``lines`` plus one —, ``max_samples``, ``epochs``,
        ``batch_size``, ``max_iter``, ``seed``).
    fit_options : dict, optional
        ``'fit'`` and ``'nmf'``: ``background_degree`` (force one Legendre degree instead of choosing
        it from the data), and for ``'fit'`` ``sample_projections`` (indices of the projections whose
        summed spectrum sets the weights; default 8 evenly spaced).
    progress : bool
        Show progress bars.

    Returns
    -------
    MapStacks
        dict line → :class:`~spectomo.TomoStack` ``(n_tilts, ny, nx)``, float32 counts, carrying the
        tilts, the acquisition metadata and ``metadata.Spectral``: ``values`` (``'net counts'``, or
        what else the maps hold), method, windows in energy-axis units and channels and background
        model; fit: region, cluster, background degree, series uncertainty, variance inflation;
        NMF: number of components, loss, scree.

    Raises
    ------
    SpectralInputError
        Navigation not ``(tilt, y, x)``; energy axis missing, uncalibrated or not keV/eV; a line
        unknown to exspy or outside the energy range; NaN/inf/negative counts.
    TiltMismatchError
        Tilt count differs from the number of projections.

    Warns
    -----
    OverlapWarning
        A window of one line collects another line's counts (both named).

    Examples
    --------
    >>> sim = spectomo.datasets.simulate("core_shell", size=32)
    >>> maps = spectomo.extract_maps(sim.eds, ["Ag_La", "Au_La"])
    >>> maps["Au_La"].data.shape
    (29, 32, 32)
    """
    if method not in METHODS:
        raise SpectralInputError(f"method: expected one of {METHODS}, got {method!r}")
    inp = as_spectral_input(spectra, tilts)
    if method == "fit":
        return _fit(inp, select_lines(inp, lines), clip_negative=clip_negative, progress=progress,
                    fit_options=fit_options)
    if method == "windows":
        return _windows(inp, select_lines(inp, lines), integration_windows=integration_windows,
                        background_windows=background_windows, background=background,
                        clip_negative=clip_negative, progress=progress)
    return _nmf(inp, lines, n_components=n_components, clip_negative=clip_negative, progress=progress,
                nmf_options=nmf_options, fit_options=fit_options)


def sum_image(spectra, *, energy_range=None, tilts=None, progress: bool = True) -> TomoStack:
    """The spectral sum-image series: counts per pixel summed over ``energy_range``.

    Used for alignment when there is no HAADF series.

    Parameters
    ----------
    spectra : exspy.signals.EDSTEMSpectrum or list of them
        As for :func:`extract_maps`.
    energy_range : (float, float), optional
        ``(low, high)`` in energy-axis units; default the whole axis.
    tilts : array_like (n_tilts,), optional
        As for :func:`extract_maps`.

    Returns
    -------
    TomoStack (n_tilts, ny, nx)
        float32 counts with the tilts and ``metadata.Spectral`` (method ``'sum'``, energy range).
    """
    inp = as_spectral_input(spectra, tilts)
    e = inp.energy
    if energy_range is None:
        chans = slice(0, len(e))
    else:
        lo, hi = map(float, energy_range)
        if not hi > lo:
            raise SpectralInputError(f"energy_range: need low < high, got {energy_range!r}")
        a, b = int(np.searchsorted(e, lo, "left")), int(np.searchsorted(e, hi, "right"))
        if b <= a:
            raise SpectralInputError(
                f"energy_range: {lo:g}–{hi:g} {inp.energy_units} holds no channel of the axis "
                f"({e[0]:g}–{e[-1]:g})")
        chans = slice(a, b)
    n, ny, nx, _ = inp.shape
    out = np.zeros((n, ny, nx))
    for (ts, ys), block in iter_blocks(inp, channels=chans, progress=progress, desc="sum image"):
        out[ts, ys] = block.sum(axis=-1, dtype=np.float64)
    md = _common_md(inp, "sum", False, VALUES["sum"]) | {"energy_range": [float(e[chans.start]), float(e[chans.stop - 1])],
                                          "channels": [chans.start, chans.stop]}
    return _map_stack(inp, out, title=f"sum image {md['energy_range'][0]:g}–{md['energy_range'][1]:g} "
                      f"{inp.energy_units}", line=None, spectral_md=md)

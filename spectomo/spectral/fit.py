"""Linear line fitting (MLLS) of every spectrum: whole-peak net counts that separate overlapping lines.

The model of a spectrum over a few energy *regions* is linear,

    ``x(E) ≈ Σ_c a_c g_c(E) + Σ_j b_j p_j(E)``,

* ``g_c`` — the peak shape of a *cluster*: the lines of one element and family (exspy energies and
  weights) that lie closer than :data:`CLUSTER_SEPARATION` FWHM, each a Gaussian of the detector's
  FWHM (exspy's model) integrated over the channels; the cluster's area is 1, so ``a_c`` is the
  cluster's whole-peak count and a line's count is ``a_c ×`` its share of the exspy weights.
  Clusters farther apart are fitted independently (no family ratio is imposed where the data can
  measure it).
* ``p_j`` — a smooth background per region: Legendre polynomials of a degree chosen from the data
  (below), or cubic B-splines when a region is wider than :data:`KNOT_SPACING` FWHM.

Regions start at the requested lines (±:data:`PEAK_HALF_WIDTH` + :data:`BACKGROUND_MARGIN` FWHM), take
in every other line of the elements present that reaches them, grow to cover those, and merge
when they meet. A mapped line's region therefore contains all its interferers.

The series model ``μ`` (the same fit of the summed spectrum of a subsample of projections, solved as
a Poisson maximum-likelihood problem by iteratively reweighted least squares) fixes the weights
``W = 1/μ`` and each region's background degree (the smallest degree whose next increase does
not improve the Poisson deviance significantly: likelihood ratio below :data:`LR_THRESHOLD`, the
χ²₁ 0.1 % point). Every spectrum is then fitted with the same weighted least-squares operator
``P = (BᵀWB)⁻¹BᵀW``. Why one operator rather than a Poisson fit per pixel: a per-pixel fit at a
few counts per spectrum is biased (weights from the data, or non-negativity), while ``P`` is
linear, hence unbiased wherever the model holds, streams block by block as one matrix product,
and keeps the counts: because ``μ`` lies in the span of the basis, every spectrum's fitted model
holds exactly its counts in the fitted channels (up to the floor on tiny ``μ``). Per-pixel
estimates can be negative on empty pixels, as window net counts can.

No library provides this linear, streamed, count-conserving fit (exspy's model fitting is per
pixel and non-linear), hence the hand-written code.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy.special import erf

from .inputs import SpectralInput, SpectralInputError, iter_blocks
from .lines import Line, interferers
from .windows import OverlapWarning, channel_edges

__all__ = ["Cluster", "FitModel", "plan_fit", "fit_spectra", "series_spectrum"]

#: Lines of one element and family closer than this (FWHM) share one coefficient.
CLUSTER_SEPARATION = 1.0
#: A cluster's peak is taken to extend this far (FWHM) beyond its outermost lines.
PEAK_HALF_WIDTH = 2.5
#: Background-only channels kept beyond each peak (FWHM).
BACKGROUND_MARGIN = 1.5
#: A line whose centre is within this many FWHM of a region's edge is fitted in that region.
REACH = 1.5
#: Regions wider than this (FWHM at their centre) get a cubic B-spline background instead of one polynomial.
KNOT_SPACING = 24.0
MAX_DEGREE = 3
#: χ²₁ 0.1 % point: a higher background degree must lower the Poisson deviance by more than this.
LR_THRESHOLD = 10.83
#: Nothing below this energy (keV) is fitted: the detector's zero (noise) peak.
LOW_ENERGY_KEV = 0.1
#: Projections (evenly spaced) whose summed spectrum fixes the weights and the background degrees.
SAMPLE_PROJECTIONS = 8
#: Warn when overlap inflates a mapped line's variance by more than this factor.
VIF_WARN = 10.0


@dataclass(frozen=True)
class Cluster:
    """Lines of one element and family fitted with one coefficient (their area; shares measured on the
    summed spectrum when it can, else exspy's weights)."""

    lines: tuple
    shares: tuple
    measured: bool = False  # shares measured on the summed spectrum (else exspy's weights)

    @property
    def name(self) -> str:
        return "+".join(ln.name for ln in self.lines)

    @property
    def lo(self) -> float:
        return min(ln.energy for ln in self.lines)

    @property
    def hi(self) -> float:
        return max(ln.energy for ln in self.lines)

    @property
    def fwhm(self) -> float:
        return max(ln.fwhm for ln in self.lines)

    def shape(self, edges: np.ndarray) -> np.ndarray:
        """Counts per channel of a unit-area cluster (channel boundaries ``edges``)."""
        out = np.zeros(len(edges) - 1)
        for ln, share in zip(self.lines, self.shares):
            s = np.sqrt(2) * ln.sigma
            cdf = 0.5 * erf((edges - ln.energy) / s)
            out += share * np.diff(cdf)
        return out


def make_clusters(lines: list[Line]) -> list[Cluster]:
    """Group lines by element and family, merging neighbours closer than :data:`CLUSTER_SEPARATION` FWHM."""
    groups: dict[tuple, list[Line]] = {}
    for ln in lines:
        groups.setdefault((ln.element, ln.name.split("_")[1][0]), []).append(ln)
    out = []
    for members in groups.values():
        members = sorted(members, key=lambda ln: ln.energy)
        run = [members[0]]
        for ln in members[1:]:
            if ln.energy - run[-1].energy < CLUSTER_SEPARATION * max(ln.fwhm, run[-1].fwhm):
                run.append(ln)
            else:
                out.append(run)
                run = [ln]
        out.append(run)
    clusters = []
    for run in out:
        w = np.array([max(ln.weight, 1e-6) for ln in run])
        clusters.append(Cluster(tuple(run), tuple((w / w.sum()).tolist())))
    return sorted(clusters, key=lambda c: c.lo)


#: A cluster's line ratios are measured on the summed spectrum when each line's area is known to this
#: relative standard error; otherwise exspy's weights are kept.
SHARE_REL_ERROR = 0.25


def _line_shape(ln: Line, edges: np.ndarray) -> np.ndarray:
    return np.diff(0.5 * erf((edges - ln.energy) / (np.sqrt(2) * ln.sigma)))


def measured_shares(clusters: list, members: list, edges: np.ndarray, energy: np.ndarray, y: np.ndarray,
                    fwhm: float) -> dict:
    """Line ratios inside the multi-line clusters of one region, measured on the summed spectrum ``y``.

    Each line of a cluster gets its own Gaussian, the region its highest-degree background, and the
    Poisson fit gives every line's area with its standard error. A cluster whose areas are all
    positive and known to :data:`SHARE_REL_ERROR` gets shares from them; the others keep exspy's
    weights. exspy's weights are rough for some families: for Cu L they put Lβ1 at 3 % of Lα, where
    Bote–Salvat ionisation with Coster–Kronig transfers and xraylib's rates give 26 %. Measuring the
    ratio on the data avoids trusting either table. Returns ``{cluster index: shares}``.
    """
    cols, owner = [], []
    for i in members:
        c = clusters[i]
        if len(c.lines) > 1:
            for j, ln in enumerate(c.lines):
                cols.append(_line_shape(ln, edges))
                owner.append((i, j))
        else:
            cols.append(c.shape(edges))
            owner.append((i, None))
    if not any(j is not None for _, j in owner):
        return {}
    bg = _background(energy, MAX_DEGREE, fwhm)
    basis = np.hstack([np.array(cols).T, bg])
    if basis.shape[0] < basis.shape[1] + 2:
        return {}
    coef, mu, _ = _poisson_fit(basis, y)
    w = 1 / np.maximum(mu, 1e-3 * max(float(np.mean(np.abs(mu))), 1e-12))
    cov = np.linalg.pinv((basis * w[:, None]).T @ basis, hermitian=True)
    err = np.sqrt(np.clip(np.diag(cov), 0, None))
    out = {}
    for i in {i for i, j in owner if j is not None}:
        k = [n for n, (ii, j) in enumerate(owner) if ii == i]
        a, e = coef[k], err[k]
        if np.all(a > 0) and np.all(e < SHARE_REL_ERROR * a):
            out[i] = tuple((a / a.sum()).tolist())
    return out


def _touches(c: Cluster, lo: float, hi: float) -> bool:
    return c.hi + REACH * c.fwhm > lo and c.lo - REACH * c.fwhm < hi


def _span(c: Cluster) -> tuple[float, float]:
    d = (PEAK_HALF_WIDTH + BACKGROUND_MARGIN) * c.fwhm
    return c.lo - d, c.hi + d


def plan_regions(clusters: list[Cluster], seeds: list[int], bounds: tuple[float, float]) -> list[tuple]:
    """Energy intervals ``(lo, hi)`` around the seed clusters, grown over every cluster that reaches them."""
    spans = sorted(_span(clusters[i]) for i in seeds)
    while True:
        merged = []
        for lo, hi in spans:
            if merged and lo <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
            else:
                merged.append((lo, hi))
        grown = []
        for lo, hi in merged:
            for c in clusters:
                if _touches(c, lo, hi):
                    a, b = _span(c)
                    lo, hi = min(lo, a), max(hi, b)
            grown.append((max(lo, bounds[0]), min(hi, bounds[1])))
        if grown == spans:
            return grown
        spans = grown


def _background(energy: np.ndarray, degree: int, fwhm: float) -> np.ndarray:
    """Background basis on a region's channel energies: Legendre up to ``degree``, or cubic B-splines."""
    lo, hi = float(energy[0]), float(energy[-1])
    x = 2 * (energy - lo) / max(hi - lo, 1e-12) - 1
    pieces = int(np.ceil((hi - lo) / (KNOT_SPACING * fwhm)))
    if pieces <= 1:
        return np.polynomial.legendre.legvander(x, degree)
    from scipy.interpolate import BSpline

    k = 3
    inner = np.linspace(-1, 1, pieces + 1)
    knots = np.concatenate([[-1] * k, inner, [1] * k])
    return BSpline.design_matrix(np.clip(x, -1, 1), knots, k).toarray()


def _poisson_fit(basis: np.ndarray, y: np.ndarray, n_iter: int = 30):
    """Poisson maximum-likelihood coefficients of a linear model (IRLS); returns ``(coef, μ, deviance)``."""
    scale = max(float(y.mean()), 1e-12)
    floor = 1e-3 * scale
    w = 1 / np.maximum(y, max(scale * 0.01, 1e-12))
    coef = np.zeros(basis.shape[1])
    for _ in range(n_iter):
        sw = np.sqrt(w)
        new = np.linalg.lstsq(basis * sw[:, None], y * sw, rcond=None)[0]
        mu = basis @ new
        w = 1 / np.maximum(mu, floor)
        done = np.allclose(new, coef, rtol=1e-6, atol=1e-9 * scale)
        coef = new
        if done:
            break
    mu = basis @ coef
    m = np.maximum(mu, floor)
    with np.errstate(divide="ignore", invalid="ignore"):
        term = np.where(y > 0, y * np.log(y / m), 0.0)
    return coef, mu, float(2 * np.sum(term - (y - m)))


@dataclass
class Region:
    """Channels ``start:stop`` fitted together, their clusters and their background."""

    lo: float
    hi: float
    start: int
    stop: int
    clusters: list
    degree: int
    n_background: int


@dataclass
class FitModel:
    """The linear fit: basis, weights and operator, and which coefficient is which mapped line."""

    clusters: list
    regions: list
    lines: list  # requested Line objects
    line_cluster: list  # cluster index per requested line
    line_share: list
    channels: np.ndarray  # absolute channel indices fitted (ascending)
    basis: np.ndarray  # (n_channels_fitted, n_coef)
    series_model: np.ndarray  # μ on the fitted channels (the sample's summed spectrum model)
    operator: np.ndarray  # (n_coef, n_channels_fitted)
    covariance: np.ndarray  # (BᵀWB)⁻¹
    sample_counts: float
    sample_projections: list
    energy_units: str
    warnings: list = field(default_factory=list)

    @property
    def span(self) -> slice:
        return slice(int(self.channels[0]), int(self.channels[-1]) + 1)

    @property
    def n_coef(self) -> int:
        return self.basis.shape[1]

    def __post_init__(self):
        # the operator and the weights on the whole channel span (zero on channels not fitted), in
        # float32, so that a block of raw spectra is fitted by one BLAS product without copies
        span = self.span
        self._operator_span = np.zeros((self.n_coef, span.stop - span.start), dtype=np.float32)
        self._operator_span[:, self.channels - span.start] = self.operator
        self._weights_span = np.zeros(span.stop - span.start, dtype=np.float32)
        self._weights_span[self.channels - span.start] = 1 / self.series_model
        self._gram = (self.basis / self.series_model[:, None]).T @ self.basis  # BᵀWB (covariance = its pinv)
        rows = [c for c in self.line_cluster]
        self._variance_span = (self._operator_span[rows].astype(np.float64) ** 2
                               * np.asarray(self.line_share, dtype=np.float64)[:, None] ** 2).astype(np.float32)

    def _span_rows(self, spectra: np.ndarray, offset: int) -> np.ndarray:
        span = self.span
        x = spectra[..., span.start - offset:span.stop - offset]
        return x if x.dtype == np.float32 else x.astype(np.float32)

    def coefficients(self, spectra: np.ndarray, offset: int = 0) -> np.ndarray:
        """Coefficients ``(..., n_coef)`` (float64) of spectra whose channel ``c`` is ``spectra[..., c - offset]``."""
        return (self._span_rows(spectra, offset) @ self._operator_span.T).astype(np.float64)

    def line_counts(self, coef: np.ndarray) -> np.ndarray:
        """Whole-peak net counts of each mapped line, shape ``(n_lines, ...)``."""
        return np.stack([coef[..., c] * s for c, s in zip(self.line_cluster, self.line_share)])

    def line_variances(self, spectra: np.ndarray, offset: int = 0) -> np.ndarray:
        """Poisson variance of each mapped line's net counts, ``Σ_c P_lc² x_c``, shape ``(n_lines, ...)``."""
        v = self._span_rows(spectra, offset) @ self._variance_span.T
        return np.moveaxis(v.astype(np.float64), -1, 0)

    def quality(self, spectra: np.ndarray, coef: np.ndarray, offset: int = 0) -> np.ndarray:
        """Reduced χ² of each spectrum's fit: its weighted residual over the degrees of freedom.

        The variance of channel ``c`` is the series model scaled to the spectrum's counts,
        ``s μ_c`` with ``s = Σ x / Σ μ`` — the weights the fit itself uses. Then
        ``χ² = (Σ x²/μ − cᵀ G c) / s`` with ``G = BᵀWB`` (the normal equations make the cross term
        equal ``cᵀGc``), so no model spectrum is formed. About 1 where the model and Poisson noise
        explain the spectrum and its composition is near the series average; larger where lines
        or background are missing from the model.
        """
        x = self._span_rows(spectra, offset)
        sq = ((x * x) @ self._weights_span).astype(np.float64)
        explained = np.einsum("...i,ij,...j->...", coef, self._gram, coef)
        counts = x.sum(axis=-1, dtype=np.float64)
        s = counts / float(self.series_model.sum())
        dof = max(len(self.channels) - self.n_coef, 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            chi2 = np.where(counts > 0, np.clip(sq - explained, 0, None) / s, 0.0)
        return chi2 / dof

    def variance_inflation(self, j: int) -> float:
        """Variance of coefficient ``j`` relative to fitting its column alone (1: no overlap or background)."""
        return float(self.covariance[j, j] * self._gram[j, j])

    def line_metadata(self, k: int) -> dict:
        """``metadata.Spectral`` entries of mapped line ``k``."""
        c = self.line_cluster[k]
        reg = next(r for r in self.regions if c in r.clusters)
        j = c
        se = float(np.sqrt(max(self.covariance[j, j], 0.0)))
        total = float(self.operator[j] @ self.series_model)
        vif = self.variance_inflation(j)
        return {"line": self.lines[k].name, "line_energy": float(self.lines[k].energy),
                "fwhm": float(self.lines[k].fwhm), "energy_units": self.energy_units,
                "cluster": self.clusters[c].name, "cluster_share": float(self.line_share[k]),
                "cluster_shares_from": "summed spectrum" if self.clusters[c].measured else "exspy weights",
                "region": [float(reg.lo), float(reg.hi)], "region_channels": [reg.start, reg.stop],
                "region_lines": [self.clusters[i].name for i in reg.clusters],
                "background_basis": "legendre" if reg.n_background == reg.degree + 1 else "cubic B-spline",
                "background_degree": int(reg.degree), "background_terms": int(reg.n_background),
                "weights": "Poisson, from the series model of the sample projections",
                "sample_projections": list(map(int, self.sample_projections)),
                "sample_counts": float(self.sample_counts),
                "sample_line_counts": total * float(self.line_share[k]),
                "sample_relative_error": float(se / total) if total > 0 else float("inf"),
                "variance_inflation": vif}


def series_spectrum(inp: SpectralInput, *, projections=None, progress: bool = True) -> tuple[np.ndarray, list]:
    """Summed spectrum over ``projections`` (default: up to :data:`SAMPLE_PROJECTIONS`, evenly spaced)."""
    n = inp.shape[0]
    if projections is None:
        projections = np.unique(np.linspace(0, n - 1, min(n, SAMPLE_PROJECTIONS)).round().astype(int))
    total = np.zeros(inp.shape[3])
    for _, block in iter_blocks(inp, projections=projections, progress=progress, desc="fit: series spectrum"):
        total += block.sum(axis=(0, 1, 2), dtype=np.float64)
    return total, [int(p) for p in projections]


def plan_fit(inp: SpectralInput, lines: list[Line], spectrum: np.ndarray, *, sample_projections=(),
             background_degree: int | None = None) -> FitModel:
    """The fit model of ``lines`` on ``inp``'s energy axis, weighted by the summed ``spectrum``.

    Parameters
    ----------
    lines : list of Line
        Lines to map (validated by :func:`~spectomo.spectral.lines.select_lines`).
    spectrum : ndarray (n_channels,)
        Summed counts of a subsample of the series (or of all of it).
    background_degree : int, optional
        Force this Legendre degree in every region instead of choosing it from ``spectrum``.
    """
    if background_degree is not None and (int(background_degree) != background_degree
                                          or not 0 <= background_degree <= 6):
        raise SpectralInputError(f"background_degree: expected an integer 0…6 or None, got {background_degree!r}")
    e = inp.energy
    edges = channel_edges(e)
    all_lines = {ln.name: ln for ln in interferers(inp, lines)}
    for ln in lines:
        all_lines.setdefault(ln.name, ln)
    clusters = make_clusters(list(all_lines.values()))
    where = {ln.name: i for i, c in enumerate(clusters) for ln in c.lines}
    seeds = sorted({where[ln.name] for ln in lines})
    bounds = (max(float(edges[0]), LOW_ENERGY_KEV * inp.units_per_keV), float(edges[-1]))
    intervals = plan_regions(clusters, seeds, bounds)

    regions, columns, used, chans = [], [], set(), []
    for lo, hi in intervals:
        a = int(np.searchsorted(e, lo, "left"))
        b = int(np.searchsorted(e, hi, "right"))
        members = [i for i, c in enumerate(clusters) if i not in used and _touches(c, lo, hi)
                   and clusters[i].shape(edges[a:b + 1]).sum() > 1e-3]
        used.update(members)
        fw = float(np.median([clusters[c].fwhm for c in members])) if members else 1.0
        for i, shares in measured_shares(clusters, members, edges[a:b + 1], e[a:b], spectrum[a:b], fw).items():
            clusters[i] = Cluster(clusters[i].lines, shares, measured=True)
        regions.append(Region(float(lo), float(hi), a, b, members, 0, 0))
        chans.append(np.arange(a, b))
    channels = np.concatenate(chans)
    missing = [ln.name for ln in lines if where[ln.name] not in used]
    if missing:
        raise SpectralInputError(f"lines: {missing} fall outside the fitted energy range {bounds[0]:g}–{bounds[1]:g} "
                                 f"{inp.energy_units}")
    order = [i for r in regions for i in r.clusters]
    index = {c: k for k, c in enumerate(order)}
    n_peaks = len(order)
    peak_cols = np.zeros((len(channels), n_peaks))
    row = 0
    for r in regions:
        n = r.stop - r.start
        for c in r.clusters:
            peak_cols[row:row + n, index[c]] = clusters[c].shape(edges[r.start:r.stop + 1])
        row += n

    # background per region: degree from the spectrum's Poisson deviance (likelihood-ratio steps)
    bg_blocks = []
    row = 0
    for r in regions:
        n = r.stop - r.start
        rows = slice(row, row + n)
        er = e[r.start:r.stop]
        fw = float(np.median([clusters[c].fwhm for c in r.clusters]))
        peaks = peak_cols[rows][:, [index[c] for c in r.clusters]]
        y = spectrum[r.start:r.stop]
        if background_degree is not None:
            deg = int(background_degree)
        else:
            deg, prev = 0, None
            for d in range(MAX_DEGREE + 1):
                bg = _background(er, d, fw)
                dev = _poisson_fit(np.hstack([peaks, bg]), y)[2]
                if prev is not None and prev - dev < LR_THRESHOLD:
                    break
                deg, prev = d, dev
                if bg.shape[1] > d + 1:  # a B-spline basis does not depend on the degree
                    break
        bg = _background(er, deg, fw)
        if n < peaks.shape[1] + bg.shape[1] + 2:
            raise SpectralInputError(
                f"spectra: the fit region {r.lo:g}–{r.hi:g} {inp.energy_units} has {n} channels for "
                f"{peaks.shape[1] + bg.shape[1]} coefficients; the energy axis is too coarse for method='fit'")
        r.degree, r.n_background = deg, bg.shape[1]
        bg_blocks.append((rows, bg))
        row += n
    n_bg = sum(b.shape[1] for _, b in bg_blocks)
    basis = np.zeros((len(channels), n_peaks + n_bg))
    basis[:, :n_peaks] = peak_cols
    col = n_peaks
    for rows, bg in bg_blocks:
        basis[rows, col:col + bg.shape[1]] = bg
        col += bg.shape[1]

    y = spectrum[channels]
    _, mu, _ = _poisson_fit(basis, y)
    if not np.any(mu > 0):
        mu = np.ones_like(mu)
    floor = 1e-3 * max(float(np.mean(np.clip(mu, 0, None))), 1e-300)
    model = np.maximum(mu, floor)
    sw = 1 / np.sqrt(model)
    a = basis * sw[:, None]
    gram = a.T @ a
    cov = np.linalg.pinv(gram, rcond=1e-12, hermitian=True)
    operator = cov @ (a.T * sw[None, :])

    fit = FitModel(clusters=[clusters[i] for i in order],
                   regions=[Region(r.lo, r.hi, r.start, r.stop, [index[c] for c in r.clusters], r.degree,
                                   r.n_background) for r in regions],
                   lines=list(lines), line_cluster=[index[where[ln.name]] for ln in lines],
                   line_share=[clusters[where[ln.name]].shares[[x.name for x in clusters[where[ln.name]].lines]
                                                               .index(ln.name)] for ln in lines],
                   channels=channels, basis=basis, series_model=model, operator=operator, covariance=cov,
                   sample_counts=float(y.sum()), sample_projections=list(sample_projections),
                   energy_units=inp.energy_units)
    _warn_overlaps(fit)
    return fit


def _warn_overlaps(fit: FitModel) -> None:
    for k, ln in enumerate(fit.lines):
        c = fit.line_cluster[k]
        vif = fit.variance_inflation(c)
        if vif > VIF_WARN:
            corr = fit.covariance[c] / np.sqrt(np.abs(fit.covariance[c, c] * np.diag(fit.covariance)) + 1e-300)
            corr[c] = 0
            corr[len(fit.clusters):] = 0
            j = int(np.argmax(np.abs(corr)))
            msg = (f"{ln.name}: overlaps {fit.clusters[j].name} so closely that the fit's per-pixel noise on "
                   f"{ln.name} is {np.sqrt(vif):.1f}× that of an isolated peak (correlation {corr[j]:+.2f}); "
                   "series totals stay unbiased, single-pixel values are noisy")
            fit.warnings.append(msg)
            warnings.warn(msg, OverlapWarning, stacklevel=4)


def fit_spectra(inp: SpectralInput, fit: FitModel, *, progress: bool = True):
    """Net counts ``(n_lines, n_tilts, ny, nx)``, their Poisson variances (same shape) and the reduced χ²
    ``(n_tilts, ny, nx)`` of every spectrum."""
    n, ny, nx, _ = inp.shape
    counts = np.zeros((len(fit.lines), n, ny, nx))
    var = np.zeros_like(counts)
    chi2 = np.zeros((n, ny, nx))
    span = fit.span
    for (ts, ys), block in iter_blocks(inp, channels=span, progress=progress, desc="fit maps"):
        block = block.astype(np.float32, copy=False)
        coef = fit.coefficients(block, span.start)
        counts[:, ts, ys] = fit.line_counts(coef)
        var[:, ts, ys] = fit.line_variances(block, span.start)
        chi2[ts, ys] = fit.quality(block, coef, span.start)
    return counts, var, chi2

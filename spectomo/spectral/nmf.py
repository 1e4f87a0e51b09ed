"""Poisson-normalised NMF of a whole spectrum-image tilt series, memory-bounded.

The tilt series is one matrix ``X`` (spectra × channels) with tilt as just another navigation
axis. As in HyperSpy's ``decomposition(normalize_poissonian_noise=True)``, it is weighted to
``X' = X / (√a ⊗ √b)`` with ``a`` the counts per spectrum and ``b`` the counts per channel, so that
Poisson noise becomes roughly uniform (variance ≈ 1/Σ X per entry). Then:

1. **Statistics pass** (one read): ``a``, ``b`` and a seeded random subsample of spectra.
2. **Rank** (when not given): parallel analysis. The subsample's singular values are compared
   with those of pure Poisson noise drawn around the rank-one expectation ``a_i b_j / Σ b`` and
   normalised the same way; components above 1.15× the largest noise value count.
3. **Spectral factors** ``H``: scikit-learn ``NMF`` (Frobenius loss, NNDSVDa start) on the
   subsample — the whole series when it is no larger than ``max_samples``.
4. **Refinement** (optional, ``epochs``): scikit-learn ``MiniBatchNMF.partial_fit`` over every
   block of the full series, starting from ``H``.
5. **Loadings pass** (one read): ``W`` per block with ``H`` fixed.

Memory is bounded by one block of raw data plus the subsample, whatever the size of the series.
Un-weighting ``W`` and ``H`` and scaling each spectral factor to unit sum makes each map the number
of counts its component contributes to each spectrum: counts stay counts.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from .inputs import SpectralInput, SpectralInputError, iter_blocks

__all__ = ["NMFResult", "nmf_decompose", "estimate_rank"]

#: Singular values must exceed this multiple of the largest pure-noise singular value to count.
RANK_MARGIN = 1.15
MAX_COMPONENTS = 12


@dataclass
class NMFResult:
    """Loadings in counts and unit-sum spectral factors.

    Attributes
    ----------
    maps : ndarray (n_components, n_tilts, ny, nx)
        Counts contributed by each component to each spectrum.
    factors : ndarray (n_components, n_channels)
        Spectral factors scaled to unit sum (``maps[k, …] * factors[k]`` is the component's spectrum).
    scree : ndarray
        Squared singular values of the normalised subsample (descending).
    noise_edge : float
        Threshold on ``scree`` (squared): 1.15× the largest pure-noise singular value.
    n_components : int
    estimated : bool
        True when ``n_components`` was estimated from ``scree``.
    n_samples : int
        Spectra used to learn the factors.
    """

    maps: np.ndarray
    factors: np.ndarray
    scree: np.ndarray
    noise_edge: float
    n_components: int
    estimated: bool
    n_samples: int
    reconstruction_error: float


def _statistics(inp: SpectralInput, max_samples: int, rng, progress: bool):
    n, ny, nx, ne = inp.shape
    total = n * ny * nx
    take = np.sort(rng.choice(total, size=min(max_samples, total), replace=False))
    a = np.zeros((n, ny, nx))
    b = np.zeros(ne)
    sample = np.empty((len(take), ne), dtype=np.float32)
    filled = 0
    for (ts, ys), block in iter_blocks(inp, progress=progress, desc="NMF statistics"):
        a[ts, ys] = block.sum(axis=-1, dtype=np.float64)
        b += block.sum(axis=(0, 1, 2), dtype=np.float64)
        t_idx, y_idx = np.arange(n)[ts], np.arange(ny)[ys]
        flat = (t_idx[:, None, None] * ny * nx + y_idx[None, :, None] * nx
                + np.arange(nx)[None, None, :]).reshape(-1)
        sel = np.searchsorted(flat, take)
        hit = (sel < flat.size) & (flat[np.minimum(sel, flat.size - 1)] == take)
        rows = block.reshape(-1, ne)[sel[hit]]
        sample[filled:filled + len(rows)] = rows
        filled += len(rows)
    return a, b, sample[:filled], take[:filled]


def _normalised(rows: np.ndarray, wa_rows: np.ndarray, wb: np.ndarray) -> np.ndarray:
    """Poisson-normalised spectra ``X / (√a ⊗ √b)`` as float64, shape (n_spectra, n_channels)."""
    return rows.astype(np.float64) * wa_rows[:, None] * wb[None, :]


def _weights(a, b):
    with np.errstate(divide="ignore"):
        wa = np.where(a > 0, 1 / np.sqrt(np.where(a > 0, a, 1)), 0.0)
        wb = np.where(b > 0, 1 / np.sqrt(np.where(b > 0, b, 1)), 0.0)
    return wa, wb


def _loadings(xb: np.ndarray, h: np.ndarray, n_iter: int = 100, tol: float = 1e-6):
    """Non-negative ``W`` minimising ``‖xb − W h‖_F`` with ``h`` fixed, and that squared residual.

    Hierarchical alternating least squares (exact coordinate descent on each column of ``W``),
    vectorised over rows, from the clipped unconstrained solution. ``xb @ h.T`` is formed once, so
    the cost after that is ``O(n k²)`` per sweep (scikit-learn's solver re-forms it every sweep).
    """
    xht = xb @ h.T  # (n, k)
    hht = h @ h.T  # (k, k)
    diag = np.maximum(np.diag(hht), np.finfo(float).tiny)
    w = np.clip(np.linalg.lstsq(hht, xht.T, rcond=None)[0].T, 0, None)
    for _ in range(n_iter):
        change = 0.0
        for j in range(h.shape[0]):
            new = np.maximum(w[:, j] + (xht[:, j] - w @ hht[:, j]) / diag[j], 0)
            change = max(change, float(np.abs(new - w[:, j]).max(initial=0)))
            w[:, j] = new
        if change <= tol * max(float(w.max(initial=0)), np.finfo(float).tiny):
            break
    # ‖X − WH‖² = ‖X‖² − 2⟨W, XHᵀ⟩ + ⟨WᵀW, HHᵀ⟩, without forming the residual matrix
    residual = float(np.sum(xb * xb) - 2 * np.sum(w * xht) + np.sum((w.T @ w) * hht))
    return w, max(residual, 0.0)


def estimate_rank(xs: np.ndarray, row_counts: np.ndarray, channel_counts: np.ndarray, weights, rng, *,
                  max_components: int = MAX_COMPONENTS):
    """Scree of a normalised sample and the number of components that stand above Poisson noise.

    Parallel analysis: the same rows are redrawn as pure Poisson noise around the rank-one
    expectation ``a_i b_j / Σ b`` and normalised identically; the largest noise singular value
    (after the mean component) times :data:`RANK_MARGIN` is the threshold.

    Returns
    -------
    scree : ndarray
        Squared singular values of ``xs`` (descending).
    edge : float
        Squared threshold.
    rank : int
    """
    from sklearn.utils.extmath import randomized_svd

    k = min(max_components + 8, min(xs.shape) - 1)
    _, s, _ = randomized_svd(xs.astype(np.float64), k, n_iter=7, random_state=0)
    wa_rows, wb = weights
    expected = row_counts[:, None] * (channel_counts / channel_counts.sum())[None, :]
    noise = rng.poisson(expected) * wa_rows[:, None] * wb[None, :]
    _, s_noise, _ = randomized_svd(noise, 3, n_iter=7, random_state=0)
    threshold = RANK_MARGIN * s_noise[1]
    rank = 1 + int(np.sum(s[1:] > threshold))
    return s**2, float(threshold**2), int(np.clip(rank, 1, max_components))


def nmf_decompose(inp: SpectralInput, n_components: int | None = None, *, max_samples: int = 20000,
                  epochs: int = 0, batch_size: int = 2048, max_iter: int = 200, tol: float = 1e-4,
                  solver: str = "cd", seed: int = 0, progress: bool = True) -> NMFResult:
    """Poisson-normalised NMF of the whole tilt series (see module docstring).

    Parameters
    ----------
    inp : SpectralInput
    n_components : int, optional
        Number of components; estimated from the scree when None.
    max_samples : int
        Spectra in the subsample that learns the factors (all of them for smaller series).
    epochs : int
        Mini-batch passes over the full series refining the factors (0: subsample only).
    batch_size : int
        Spectra per mini-batch in the refinement.
    max_iter, tol, solver : int, float, str
        Iteration limit, tolerance and solver (``'cd'`` or ``'mu'``) of the subsample NMF.
    seed : int
        Seed of the subsample and the mini-batch order.
    """
    from sklearn.decomposition import NMF, MiniBatchNMF

    rng = np.random.default_rng(seed)
    n, ny, nx, ne = inp.shape
    a, b, sample, take = _statistics(inp, max_samples, rng, progress)
    total = float(b.sum())
    if total <= 0:
        raise SpectralInputError("spectra: every count is zero; nothing to decompose")
    wa, wb = _weights(a, b)
    wa_rows = wa.reshape(-1)[take]
    xs = _normalised(sample, wa_rows, wb)
    scree, edge, rank = estimate_rank(xs, a.reshape(-1)[take], b, (wa_rows, wb), rng)
    estimated = n_components is None
    k = rank if estimated else int(n_components)
    if k < 1 or k > min(xs.shape):
        raise SpectralInputError(f"n_components: expected 1 … {min(xs.shape)}, got {n_components!r}")

    model = NMF(n_components=k, init="nndsvda", solver=solver, beta_loss="frobenius", max_iter=max_iter,
                tol=tol, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=Warning)  # ConvergenceWarning at max_iter is expected
        model.fit(xs.astype(np.float32))
    h = model.components_.astype(np.float64)
    if epochs > 0:
        mb = MiniBatchNMF(n_components=k, init="custom", batch_size=batch_size, beta_loss="frobenius",
                          random_state=seed, max_no_improvement=None)
        first = True
        for ep in range(int(epochs)):
            for (ts, ys), block in iter_blocks(inp, progress=progress, desc=f"NMF refine {ep + 1}/{epochs}",
                                               check=False):
                xb = _normalised(block.reshape(-1, ne), wa[ts, ys].reshape(-1), wb)
                xb = xb[rng.permutation(len(xb))]
                for s in range(0, len(xb), batch_size):
                    chunk = xb[s:s + batch_size]
                    if first:
                        mb.partial_fit(chunk, W=_loadings(chunk, h)[0], H=h.copy())
                        first = False
                    else:
                        mb.partial_fit(chunk)
        h = mb.components_
    h = np.maximum(h, 0)
    # un-weight: X ≈ (W √a)(H √b); each spectrum's component counts = W_k √a · Σ_c H_k √b
    hb = h * np.sqrt(np.maximum(b, 0))[None, :]
    sums = hb.sum(axis=1, keepdims=True)
    maps = np.zeros((k, n, ny, nx))
    err = 0.0
    for (ts, ys), block in iter_blocks(inp, progress=progress, desc="NMF loadings", check=False):
        w, residual = _loadings(_normalised(block.reshape(-1, ne), wa[ts, ys].reshape(-1), wb), h)
        err += residual
        w_counts = w * np.sqrt(a[ts, ys].reshape(-1))[:, None] * sums.T
        maps[:, ts, ys] = w_counts.T.reshape(k, ts.stop - ts.start, ys.stop - ys.start, nx)
    factors = np.divide(hb, sums, out=np.zeros_like(hb), where=sums > 0)
    return NMFResult(maps=maps, factors=factors, scree=scree, noise_edge=float(edge), n_components=k,
                     estimated=estimated, n_samples=len(xs), reconstruction_error=float(np.sqrt(err)))

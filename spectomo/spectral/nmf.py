"""NMF of a whole spectrum-image tilt series for counts, memory-bounded.

The tilt series is one matrix ``X`` (spectra × channels) with tilt as just another navigation
axis. Then:

1. **Statistics pass** (one read): the counts per spectrum ``a`` and per channel ``b``, and a
   seeded random subsample of spectra.
2. **Rank** (when not given): parallel analysis on the Poisson-normalised subsample
   ``X / (√a ⊗ √b)`` (HyperSpy's ``normalize_poissonian_noise``). Its singular values are compared
   with those of pure Poisson noise drawn around the rank-one expectation ``a_i b_j / Σ b`` and
   normalised the same way; components above 1.15× the largest noise value count. The caller may
   raise the floor (``min_components``: one per known element plus the continuum).
3. **Spectral factors** ``H``: scikit-learn ``NMF`` on the subsample (the whole series when it is no
   larger than ``max_samples``). Default loss: the Poisson likelihood (generalised KL divergence,
   multiplicative updates) on the raw counts, which is right for counts at any level, sparse
   spectra included (they are passed as CSR matrices). ``loss='frobenius'`` keeps least squares on
   the Poisson-normalised data.
4. **Refinement** (optional, ``epochs``): scikit-learn ``MiniBatchNMF.partial_fit`` over every
   block of the full series, starting from ``H``.
5. **Loadings pass** (one read): ``W`` per block with ``H`` fixed (multiplicative KL updates with
   unit-sum factors: each spectrum's component counts add up to its counts exactly).

Memory is bounded by one block of raw data plus the subsample, whatever the size of the series.
With each spectral factor scaled to unit sum, each map is the number of counts its component
contributes to each spectrum: counts stay counts. Line net counts are then measured on the factors
by :mod:`spectomo.spectral.fit` (see :func:`spectomo.extract_maps`).
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
    reconstruction_error : float
        Poisson deviance (KL) or Frobenius norm of the normalised residual.
    loss : str
    spectrum : ndarray (n_channels,)
        Counts per channel summed over the series.
    """

    maps: np.ndarray
    factors: np.ndarray
    scree: np.ndarray
    noise_edge: float
    n_components: int
    estimated: bool
    n_samples: int
    reconstruction_error: float
    loss: str = "kl"
    spectrum: np.ndarray | None = None  # counts per channel summed over the whole series


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


def _kl_loadings(x, h: np.ndarray, n_iter: int = 100, tol: float = 1e-3):
    """Non-negative ``W`` minimising the Poisson deviance of ``x ≈ W h`` with unit-sum rows of ``h`` fixed.

    Multiplicative updates ``W ← W ⊙ (x / Wh) hᵀ`` from the clipped least-squares start, until the
    largest change is below ``tol`` × the largest loading (on the demo, maps within 2 % of the
    converged ones' maximum in 60 % of the time). With unit-sum rows of ``h`` every update keeps
    each row's total: ``Σ_c (Wh)_c = Σ_c x_c`` exactly,
    so counts are conserved whether or not the iterations have converged. ``x`` may be a SciPy
    CSR matrix (sparse spectra: only non-zero channels are evaluated). Returns ``(W, deviance)``.
    """
    import scipy.sparse as sp

    sparse = sp.issparse(x)
    totals = np.asarray(x.sum(axis=1)).reshape(-1)
    k = h.shape[0]
    xht = np.asarray(x @ h.T)
    w = np.clip(np.linalg.lstsq(h @ h.T, xht.T, rcond=None)[0].T, 0, None)
    w = np.maximum(w, 1e-3 * totals[:, None] / k)  # strictly positive where the spectrum has counts
    w[totals <= 0] = 0
    if sparse:  # only the non-zero entries: predictions there and row-wise sums of ratio × h
        rows = np.repeat(np.arange(x.shape[0]), np.diff(x.indptr))
        vals = x.data.astype(np.float64)
        hc = np.ascontiguousarray(h[:, x.indices].T)  # (nnz, k)
        starts = x.indptr[:-1][np.diff(x.indptr) > 0]
        filled = np.diff(x.indptr) > 0

    def predict(w):
        return np.einsum("nk,nk->n", w[rows], hc) if sparse else w @ h

    for _ in range(n_iter):
        pred = predict(w)
        if sparse:
            grad = np.zeros_like(w)
            grad[filled] = np.add.reduceat(hc * (vals / np.maximum(pred, 1e-300))[:, None], starts, axis=0)
        else:
            grad = (x / np.maximum(pred, 1e-300)) @ h.T
        new = w * grad
        change = float(np.abs(new - w).max(initial=0))
        w = new
        if change <= tol * max(float(w.max(initial=0)), 1e-300):
            break
    pred = predict(w)
    with np.errstate(divide="ignore", invalid="ignore"):
        if sparse:
            dev = 2 * float(np.sum(vals * np.log(vals / np.maximum(pred, 1e-300))))
        else:
            dev = 2 * float(np.sum(np.where(x > 0, x * np.log(x / np.maximum(pred, 1e-300)), 0.0)))
    return w, dev


def _as_counts(rows: np.ndarray):
    """Raw count rows as float64, as a SciPy CSR matrix when fewer than a quarter of the entries are non-zero."""
    import scipy.sparse as sp

    x = rows.astype(np.float64)
    return sp.csr_matrix(x) if np.count_nonzero(x) < 0.25 * x.size else x


def nmf_decompose(inp: SpectralInput, n_components: int | None = None, *, loss: str = "kl",
                  min_components: int = 1, max_samples: int = 20000, epochs: int = 0, batch_size: int = 2048,
                  max_iter: int = 300, tol: float = 1e-4, solver: str | None = None, seed: int = 0,
                  progress: bool = True) -> NMFResult:
    """NMF of the whole tilt series (see module docstring).

    Parameters
    ----------
    inp : SpectralInput
    n_components : int, optional
        Number of components; estimated from the scree when None (at least ``min_components``).
    loss : {'kl', 'frobenius'}
        ``'kl'`` (default): the Poisson likelihood (generalised Kullback–Leibler divergence) on the raw
        counts, multiplicative updates; each spectrum's components add up to its counts exactly.
        ``'frobenius'``: least squares on the Poisson-normalised data (HyperSpy's
        ``normalize_poissonian_noise``), coordinate descent.
    min_components : int
        Lower bound on the estimated number of components (e.g. one per known element plus the continuum).
    max_samples : int
        Spectra in the subsample that learns the factors (all of them for smaller series).
    epochs : int
        Mini-batch passes over the full series refining the factors (0: subsample only).
    batch_size : int
        Spectra per mini-batch in the refinement.
    max_iter, tol, solver : int, float, str
        Iteration limit, tolerance and scikit-learn solver of the subsample NMF (default ``'mu'`` for
        KL, ``'cd'`` for Frobenius).
    seed : int
        Seed of the subsample and the mini-batch order.
    """
    from sklearn.decomposition import NMF, MiniBatchNMF

    if loss not in ("kl", "frobenius"):
        raise SpectralInputError(f"nmf_options['loss']: expected 'kl' or 'frobenius', got {loss!r}")
    kl = loss == "kl"
    beta = "kullback-leibler" if kl else "frobenius"
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
    k = max(rank, int(min_components)) if estimated else int(n_components)
    if k < 1 or k > min(xs.shape):
        raise SpectralInputError(f"n_components: expected 1 … {min(xs.shape)}, got {n_components if not estimated else k!r}")

    model = NMF(n_components=k, init="nndsvda", solver=solver or ("mu" if kl else "cd"), beta_loss=beta,
                max_iter=max_iter, tol=tol, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=Warning)  # ConvergenceWarning at max_iter is expected
        model.fit(_as_counts(sample) if kl else xs.astype(np.float32))
    h = model.components_.astype(np.float64)
    if epochs > 0:
        mb = MiniBatchNMF(n_components=k, init="custom", batch_size=batch_size, beta_loss=beta,
                          random_state=seed, max_no_improvement=None)
        first = True
        for ep in range(int(epochs)):
            for (ts, ys), block in iter_blocks(inp, progress=progress, desc=f"NMF refine {ep + 1}/{epochs}",
                                               check=False):
                order = rng.permutation(block.shape[0] * block.shape[1] * nx)
                rows = block.reshape(-1, ne)[order]
                xb = rows.astype(np.float64) if kl else _normalised(rows, wa[ts, ys].reshape(-1)[order], wb)
                for s in range(0, len(xb), batch_size):
                    chunk = xb[s:s + batch_size]
                    if first:
                        if kl:  # loadings against unit-sum factors, rescaled to h's row sums
                            hs = np.maximum(h.sum(axis=1), 1e-300)
                            w0 = _kl_loadings(chunk, h / hs[:, None])[0] / hs
                        else:
                            w0 = _loadings(chunk, h)[0]
                        mb.partial_fit(chunk, W=w0, H=h.copy())
                        first = False
                    else:
                        mb.partial_fit(chunk)
        h = mb.components_
    h = np.maximum(h, 0)
    maps = np.zeros((k, n, ny, nx))
    err = 0.0
    if kl:
        sums = h.sum(axis=1, keepdims=True)
        factors = np.divide(h, sums, out=np.full_like(h, 1 / ne), where=sums > 0)
        # a channel where every factor is exactly zero (none of its counts in the subsample) would
        # drop its counts; a negligible floor keeps every count representable
        factors = np.maximum(factors, 1e-6 / ne)
        factors /= factors.sum(axis=1, keepdims=True)
        for (ts, ys), block in iter_blocks(inp, progress=progress, desc="NMF loadings", check=False):
            w, dev = _kl_loadings(_as_counts(block.reshape(-1, ne)), factors)
            err += dev
            maps[:, ts, ys] = w.T.reshape(k, ts.stop - ts.start, ys.stop - ys.start, nx)
        return NMFResult(maps=maps, factors=factors, scree=scree, noise_edge=float(edge), n_components=k,
                         estimated=estimated, n_samples=len(xs), reconstruction_error=float(err), loss=loss,
                         spectrum=b)
    # un-weight: X ≈ (W √a)(H √b); each spectrum's component counts = W_k √a · Σ_c H_k √b
    hb = h * np.sqrt(np.maximum(b, 0))[None, :]
    sums = hb.sum(axis=1, keepdims=True)
    for (ts, ys), block in iter_blocks(inp, progress=progress, desc="NMF loadings", check=False):
        w, residual = _loadings(_normalised(block.reshape(-1, ne), wa[ts, ys].reshape(-1), wb), h)
        err += residual
        w_counts = w * np.sqrt(a[ts, ys].reshape(-1))[:, None] * sums.T
        maps[:, ts, ys] = w_counts.T.reshape(k, ts.stop - ts.start, ys.stop - ys.start, nx)
    factors = np.divide(hb, sums, out=np.zeros_like(hb), where=sums > 0)
    return NMFResult(maps=maps, factors=factors, scree=scree, noise_edge=float(edge), n_components=k,
                     estimated=estimated, n_samples=len(xs), reconstruction_error=float(np.sqrt(err)), loss=loss,
                     spectrum=b)

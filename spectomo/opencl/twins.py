"""NumPy twins of the OpenCL kernels in ``kernels/`` (the specification each kernel is tested against).

Arrays use the batched layout of :mod:`spectomo.opencl.layout`: volumes ``(ny, nz, bp)``, vector
fields ``(k, ny, nz, bp)``, sinograms ``(n_angles, n_det, bp)``, with ``b = x·nc + c`` and zero
padding for ``b ≥ nx·nc``. The projector is :func:`spectomo.geometry.convention.radon_matrix`.
"""

from __future__ import annotations

import numpy as np

from ..geometry.convention import radon_matrix


def axpby(x: np.ndarray, y: np.ndarray, a: float, b: float) -> np.ndarray:
    """``a * x + b * y`` (kernel ``utils.cl:axpby``)."""
    return (a * x + b * y).astype(x.dtype, copy=False)


def clip_min(x: np.ndarray, lo: float) -> np.ndarray:
    """``max(x, lo)`` (kernel ``utils.cl:clip_min``)."""
    return np.maximum(x, np.asarray(lo, dtype=x.dtype))


# --- operator layer (kernels/projector.cl, gradient.cl) ---------------------------------------------

def radon(vol: np.ndarray, tilts, n_det: int | None = None) -> np.ndarray:
    """``T vol`` for a batch ``(ny, nz, B)`` → ``(n_angles, n_det, B)`` (``projector.cl:radon_fwd``)."""
    ny, nz, b = vol.shape
    a = radon_matrix(tilts, ny, nz, n_det)
    return (a @ vol.reshape(ny * nz, b).astype(np.float64)).reshape(len(np.atleast_1d(tilts)), -1, b)


def radon_adj(sino: np.ndarray, tilts, ny: int, nz: int) -> np.ndarray:
    """``Tᵀ sino`` for ``(n_angles, n_det, B)`` → ``(ny, nz, B)`` (``projector.cl:radon_adj``)."""
    n_ang, n_det, b = sino.shape
    a = radon_matrix(tilts, ny, nz, n_det)
    return (a.T @ sino.reshape(n_ang * n_det, b).astype(np.float64)).reshape(ny, nz, b)


def _split(v: np.ndarray, nx: int, nc: int) -> np.ndarray:
    """(…, ny, nz, bp) → (…, ny, nz, nx, nc) view of the valid entries."""
    return v[..., : nx * nc].reshape(*v.shape[:-1], nx, nc)


def _join(v: np.ndarray, bp: int) -> np.ndarray:
    out = np.zeros((*v.shape[:-2], bp), dtype=np.float64)
    out[..., : v.shape[-2] * v.shape[-1]] = v.reshape(*v.shape[:-2], -1)
    return out


def _pair(x, axis):
    """Index tuples (lower, upper) selecting entries 0..n−2 and 1..n−1 along ``axis``."""
    lo = [slice(None)] * x.ndim
    hi = list(lo)
    lo[axis], hi[axis] = slice(0, x.shape[axis] - 1), slice(1, x.shape[axis])
    return tuple(lo), tuple(hi)


def _diff(u, axis, dims, forward: bool):
    """Forward δ+ u = u[i+1] − u[i] (i < n−1; 0 on the last entry, replicate boundary), or backward
    δ− u = u[i] − u[i−1] (i ≥ 1; 0 on the first entry). No differences along x when ``dims == 2``."""
    d = np.zeros_like(u)
    if not (axis == 2 and dims == 2):
        lo, hi = _pair(u, axis)
        d[lo if forward else hi] = u[hi] - u[lo]
    return d


def _diff_adj(p, axis, dims, forward: bool):
    """Adjoint of :func:`_diff`: (δ+)ᵀ p = p[i−1] (i ≥ 1) − p[i] (i < n−1); (δ−)ᵀ p = p[i] (i ≥ 1) − p[i+1]."""
    out = np.zeros_like(p)
    if not (axis == 2 and dims == 2):
        lo, hi = _pair(p, axis)
        src = p[lo] if forward else p[hi]
        out[hi] += src
        out[lo] -= src
    return out


def grad(u: np.ndarray, nx: int, nc: int, dims: int = 3) -> np.ndarray:
    """Forward-difference gradient ``(3, ny, nz, bp)`` of ``(ny, nz, bp)``: directions y, z, x."""
    v = _split(u.astype(np.float64), nx, nc)
    return np.stack([_join(_diff(v, ax, dims, True), u.shape[-1]) for ax in (0, 1, 2)])


def grad_adj(p: np.ndarray, nx: int, nc: int, dims: int = 3) -> np.ndarray:
    """``∇ᵀp = −div p`` for ``(3, ny, nz, bp)`` → ``(ny, nz, bp)``."""
    v = _split(p.astype(np.float64), nx, nc)
    return _join(sum(_diff_adj(v[d], d, dims, True) for d in range(3)), p.shape[-1])


_SYM = ((0, 0), (1, 1), (2, 2), (0, 1), (0, 2), (1, 2))  # (component of w, direction) pairs per entry


def symgrad(w: np.ndarray, nx: int, nc: int, dims: int = 3) -> np.ndarray:
    """Symmetrised gradient ``(6, ny, nz, bp)`` (yy, zz, xx, yz, yx, zx) with backward differences."""
    v = _split(w.astype(np.float64), nx, nc)
    e = [_diff(v[i], i, dims, False) for i in range(3)]
    e += [0.5 * (_diff(v[i], j, dims, False) + _diff(v[j], i, dims, False)) for i, j in _SYM[3:]]
    return np.stack([_join(x, w.shape[-1]) for x in e])


def symgrad_adj(q: np.ndarray, nx: int, nc: int, dims: int = 3) -> np.ndarray:
    """Adjoint of :func:`symgrad` for the inner product with off-diagonals weighted twice."""
    v = _split(q.astype(np.float64), nx, nc)
    out = [_diff_adj(v[i], i, dims, False) for i in range(3)]
    for k, (i, j) in enumerate(_SYM[3:], start=3):
        out[i] = out[i] + _diff_adj(v[k], j, dims, False)
        out[j] = out[j] + _diff_adj(v[k], i, dims, False)
    return np.stack([_join(x, q.shape[-1]) for x in out])


SYM_WEIGHTS = np.array([1.0, 1.0, 1.0, 2.0, 2.0, 2.0])


# --- TGV-KL iteration (kernels/tgv.cl) -----------------------------------------------------------

def _project_frobenius(x: np.ndarray, nx: int, nc: int, bound: float, weights, coupled: bool):
    """Scale each voxel's entries (components × channels if coupled) into the ball of radius bound."""
    v = _split(x, nx, nc)  # (k, ny, nz, nx, nc)
    sq = (np.asarray(weights)[:, None, None, None, None] * v**2).sum(axis=0)  # (ny, nz, nx, nc)
    if coupled:
        sq = np.repeat(sq.sum(axis=-1, keepdims=True), nc, axis=-1)
    return _join(v / np.maximum(1.0, np.sqrt(sq) / bound), x.shape[-1])


def tgv_dual(p, q, ubar, wbar, sigma, alpha0, alpha1, nx, nc, dims=3, coupled=True):
    """``(p, q)`` after line 6–7 of Algorithm 1 (``tgv.cl:tgv_dual``)."""
    p = p + sigma * (grad(ubar, nx, nc, dims) - wbar)
    q = q + sigma * symgrad(wbar, nx, nc, dims)
    return (_project_frobenius(p, nx, nc, alpha1, np.ones(3), coupled),
            _project_frobenius(q, nx, nc, alpha0, SYM_WEIGHTS, coupled))


def kl_dual_prox(r, f, mu, sigma):
    """Proximal map of σ(μ D_KL(·, f))* (Huber et al. 2019)."""
    d = r - mu
    return r - 0.5 * (d + np.sqrt(d * d + 4 * sigma * mu * f))


def tgv_data(r, f, ubar, tilts, mu, sigma, scale, nx, nc, shift=None):
    """``r`` after line 8 of Algorithm 1 with ``T`` scaled by ``scale`` and the data term
    KL(T'u + s, f) for shifted data ``f`` and per-channel shifts ``s`` (``tgv.cl:tgv_data``)."""
    bp = r.shape[-1]
    m, s = np.zeros(bp), np.zeros(bp)
    m[: nx * nc] = np.tile(np.asarray(mu, dtype=float), nx)
    if shift is not None:
        s[: nx * nc] = np.tile(np.asarray(shift, dtype=float), nx)
    return kl_dual_prox(r + sigma * (scale * radon(ubar, tilts, r.shape[1]) + s), f, m, sigma)


def tgv_primal(u, w, p, q, r, tilts, tau, scale, nx, nc, dims=3):
    """``(u, ubar, w, wbar)`` after lines 9–12 of Algorithm 1 (``tgv.cl:tgv_primal``)."""
    ny, nz, bp = u.shape
    valid = np.zeros(bp, dtype=bool)
    valid[: nx * nc] = True
    un = np.maximum(0.0, u - tau * (grad_adj(p, nx, nc, dims) + scale * radon_adj(r, tilts, ny, nz)))
    un[..., ~valid] = 0
    wn = w - tau * (symgrad_adj(q, nx, nc, dims) - p)
    wn[..., ~valid] = 0
    return un, 2 * un - u, wn, 2 * wn - w


def tgv_norms(u, w, alpha0, alpha1, nx, nc, dims=3, coupled=True):
    """Per-voxel ``α1|∇u − w| + α0|Ew|`` ``(ny, nz, nx)`` (``tgv.cl:tgv_norms``)."""
    a = (_split(grad(u, nx, nc, dims) - w, nx, nc) ** 2).sum(axis=0)  # (ny, nz, nx, nc)
    b = (SYM_WEIGHTS[:, None, None, None, None] * _split(symgrad(w, nx, nc, dims), nx, nc) ** 2).sum(axis=0)
    if coupled:
        return alpha1 * np.sqrt(a.sum(-1)) + alpha0 * np.sqrt(b.sum(-1))
    return (alpha1 * np.sqrt(a) + alpha0 * np.sqrt(b)).sum(-1)


# --- HEBT stacked SIRT (kernels/hebt.cl) -------------------------------------------------------------


def hebt_residual(x, d, ih, tilts, inv_row, a, h, q, nc, share: bool = False):
    """``(g, sums)`` of ``hebt.cl:hebt_residual``: with ``P = T x`` per channel,
    ``g_c = inv_row · (a_c (d_c − P_c) + h_c (I_H − Σ_e q_e P_e))``; ``sums`` holds the squared
    residual norms ``‖d_c − P_c‖²`` (``nc`` entries) and ``‖I_H − Σ q P‖²``.
    ``share``: ``h_c → (Σ h) q_c max(P_c, 0) / Σ_e q_e max(P_e, 0)`` per ray (equal ``h_c`` where
    that sum is 0). ``d``: ``(n_angles, n_det, bp)``; ``ih``: ``(n_angles, n_det, bp // nc)``."""
    p = radon(x, tilts, d.shape[1])
    na, nd, bp = p.shape
    pc = p.reshape(na, nd, bp // nc, nc)
    dc = d.reshape(na, nd, bp // nc, nc).astype(np.float64)
    re = dc - pc
    q = np.asarray(q, dtype=float)
    rh = ih - (pc * q).sum(-1)
    hc = np.broadcast_to(np.asarray(h, dtype=float), pc.shape)
    if share:
        pos = q * np.maximum(pc, 0)
        tot = pos.sum(-1, keepdims=True)
        hc = np.where(tot > 0, np.sum(h) * pos / np.where(tot > 0, tot, 1), hc)
    g = inv_row[:, :, None, None] * (np.asarray(a, dtype=float) * re + hc * rh[..., None])
    sums = np.append((re ** 2).sum(axis=(0, 1, 2)), (rh ** 2).sum())
    return g.reshape(na, nd, bp), sums


def hebt_update(x, g, tilts, inv_col, s, lo, nc):
    """``x ← max(lo, x + inv_col · s_c · Tᵀ g_c)`` (``hebt.cl:hebt_update``)."""
    ny, nz, bp = x.shape
    step = inv_col[:, :, None] * np.tile(np.asarray(s, dtype=float), bp // nc) * radon_adj(g, tilts, ny, nz)
    return np.maximum(lo, x + step)


# --- attenuation (kernels/attenuation.cl) ------------------------------------------------------------

def plane_sample(plane: np.ndarray, off_b: float, off_c: float, nb: int, nc: int) -> np.ndarray:
    """``plane[..., i + off_b, j + off_c]`` for ``i < nb``, ``j < nc``, bilinear, 0 outside
    (``attenuation.cl:plane_sample`` for a whole plane at one constant offset)."""
    fb0, fc0 = np.floor(off_b), np.floor(off_c)
    fb, fc = off_b - fb0, off_c - fc0
    out = np.zeros(plane.shape[:-2] + (nb, nc))
    pb, pc = plane.shape[-2:]
    for di, wb in ((0, 1 - fb), (1, fb)):
        for dj, wc in ((0, 1 - fc), (1, fc)):
            bi, cj = np.arange(nb) + int(fb0) + di, np.arange(nc) + int(fc0) + dj
            okb, okc = (bi >= 0) & (bi < pb), (cj >= 0) & (cj < pc)
            if okb.any() and okc.any() and wb * wc:
                out[..., np.flatnonzero(okb)[:, None], np.flatnonzero(okc)[None, :]] += (
                    wb * wc * plane[..., bi[okb][:, None], cj[okc][None, :]])
    return out


def path_sheared(mu_t: np.ndarray, plan) -> np.ndarray:
    """Sheared path integrals ``G (n_ch, na, nu, nv)`` of ``mu_t (n_ch, na, nb, nc)`` (main axis
    first) for one :class:`~spectomo.opencl.attenuation.ShearPlan` (``attenuation.cl:path_sheared``)."""
    nch, na = mu_t.shape[:2]
    g = np.zeros((nch, na, plan.nu, plan.nv))
    acc = np.zeros((nch, plan.nu, plan.nv))
    order = range(na - 1, -1, -1) if plan.sig > 0 else range(na)
    for k in order:
        here = plane_sample(mu_t[:, k], plan.u0 + plan.sb * k, plan.v0 + plan.sc * k, plan.nu, plan.nv)
        g[:, k] = plan.h * (acc + 0.5 * here)
        acc += here
    return g


def sinhc(q: np.ndarray) -> np.ndarray:
    """``sinh(q)/q`` (1 at q = 0)."""
    q = np.asarray(q, dtype=float)
    safe = np.where(q > 1e-4, q, 1.0)
    return np.where(q > 1e-4, np.sinh(np.minimum(safe, 700.0)) / safe, 1 + q * q / 6)


def attenuation_add(g: np.ndarray, mu_t: np.ndarray, plan, w: float) -> np.ndarray:
    """``w exp(−τ) sinh(q)/q`` per voxel, ``(n_ch, na, nb, nc)`` (``attenuation.cl:attenuation_add``)."""
    out = np.empty(mu_t.shape)
    nb, nc = mu_t.shape[2:]
    for k in range(mu_t.shape[1]):
        tau = plane_sample(g[:, k], -plan.sb * k - plan.u0, -plan.sc * k - plan.v0, nb, nc)
        out[:, k] = w * np.exp(-tau) * sinhc(0.5 * plan.h * mu_t[:, k])
    return out


def attenuation_factors(mu: np.ndarray, directions, weights) -> np.ndarray:
    """``A (n_ch, n0, n1, n2)`` summed over directions (the NumPy twin of
    :func:`spectomo.opencl.attenuation.attenuation_factors`)."""
    from .attenuation import shear_plan

    mu = np.asarray(mu, dtype=np.float64)
    out = np.zeros(mu.shape)
    for d, w in zip(np.asarray(directions, dtype=float).reshape(-1, 3), np.asarray(weights, dtype=float).reshape(-1)):
        if w == 0:
            continue
        p = shear_plan(mu.shape[1:], d)
        perm = (0, 1 + p.a, 1 + p.b, 1 + p.c)
        mu_t = mu.transpose(perm)
        out += attenuation_add(path_sheared(mu_t, p), mu_t, p, w).transpose(np.argsort(perm))
    return out

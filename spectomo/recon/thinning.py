"""Data splitting for choosing reconstruction parameters from the data (Poisson thinning).

A tilt series ``y`` is split into two independent parts with the same signal: a **training** part
carrying a fraction ``p`` of the information and a **test** part carrying the rest. A solver is run
on the training part; every check, its volume is projected and compared with the test part. The
parameter (iterations, α, μ) whose prediction of the test part is best is chosen and transferred
to the full data (:func:`transfer_iterations`).

* **Counts** (non-negative integers, e.g. raw EDS or electron counts): binomial thinning,
  ``train ~ Binomial(y, p)``, ``test = y − train``. For Poisson data the two parts are exactly
  independent Poisson variables with means ``p λ`` and ``(1 − p) λ``. The score is the Poisson
  deviance of ``test`` against ``(1 − p)/p ×`` the training prediction.
* **Anything else** (net counts after background subtraction, which are neither integer nor
  non-negative; HAADF in detector units): Gaussian data fission (Leiner, Duan, Wasserman &
  Ramdas 2023). With ``Z ~ N(0, σ²)`` per pixel and ``τ = √((1 − p)/p)``,
  ``train = y + τ Z`` and ``test = y − Z/τ`` are independent when ``y`` is Gaussian with variance
  ``σ²``, both with mean ``E y``; ``train`` then carries the fraction ``p`` of the information. The
  variance ``σ² = a · max(m, 0) + b`` comes from a variance–mean model fitted to the data itself
  (:func:`noise_model`: local means ``m`` from a 3 × 3 box, robust variances of the residual per
  intensity bin). The score is the weighted squared error ``Σ (test − prediction)² / var(test)``.
  At a few counts per pixel the Gaussian approximation is rough; the ranking of parameters is
  what is used.

Nothing here is spectomo-specific numerics that a dependency provides (scikit-learn's
cross-validation splits rows, not Poisson counts), hence the hand-written code.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import uniform_filter

__all__ = ["Split", "split", "noise_model", "transfer_iterations", "TRANSFER_EXPONENT", "stack_noise",
           "HeldoutStop", "AUTO_DEFAULTS", "auto_options", "plot_heldout"]

#: Defaults of the automatic parameter choice (``auto_options=`` of the reconstruction functions).
AUTO_DEFAULTS = {"fraction": 0.5, "folds": 2, "seed": 0, "max_iterations": 600, "check_every": 2}

#: Training iterations → full-data iterations: ``k_full = k_train · p^(−TRANSFER_EXPONENT)``
#: (see :func:`transfer_iterations`).
TRANSFER_EXPONENT = 0.75


@dataclass
class Split:
    """Training and test parts of one stack of projections, and how to score a prediction."""

    train: np.ndarray
    test: np.ndarray
    kind: str  # 'binomial' or 'fission'
    fraction: float
    variance: np.ndarray | None  # variance of the test part (fission only)

    def swapped(self) -> "Split":
        """The same split with the parts exchanged (p = ½ only: both parts then carry half the information)."""
        if self.fraction != 0.5:
            raise ValueError("swapped: only a split with fraction 0.5 is symmetric")
        return Split(self.test, self.train, self.kind, 0.5, self.variance)

    def train_variance(self) -> np.ndarray:
        """Per-pixel noise variance of the training part: its own counts (binomial: Poisson) or
        ``var / p`` (fission, ``var`` the data's model)."""
        if self.kind == "binomial":
            return self.train.astype(np.float64)
        return self.variance * (1 - self.fraction) / self.fraction

    @property
    def test_per_train(self) -> float:
        """Expected test part per unit of expected training part."""
        return (1 - self.fraction) / self.fraction if self.kind == "binomial" else 1.0

    def score(self, prediction: np.ndarray) -> dict:
        """Held-out scores of a prediction of the training part ``(n_tilts, ny, nx)`` (lower is better).

        * ``'heldout'``: the volume-domain score, ``Σ |f| · |FFT_y(test − prediction)|²`` (the test
          residual filtered along the detector by √|f|, as filtered back-projection would weigh it).
          For parallel-beam tomography this ``H^½`` norm of the sinogram is the ``L²`` norm of the
          volume it back-projects to, so its expectation is the volume error (restricted to what
          the tilts see) plus a constant from the test part's noise. It is what the parameters are
          chosen by: on four phantoms the projection-domain deviance chose 2–20× too many SIRT
          iterations (docs/parameters.md).
        * ``'heldout_deviance'``: the projection-domain score, Poisson deviance (binomial) or
          weighted squared error (fission) of the test part. Reported, not used.
        """
        m = np.asarray(prediction, dtype=np.float64) * self.test_per_train
        y = self.test.astype(np.float64)
        r = y - m
        weight = np.abs(np.fft.rfftfreq(r.shape[1]))[None, :, None]
        volume = float(np.sum(np.abs(np.fft.rfft(r, axis=1)) ** 2 * weight))
        if self.kind == "binomial":
            mm = np.maximum(m, 1e-9)
            with np.errstate(divide="ignore", invalid="ignore"):
                term = np.where(y > 0, y * np.log(y / mm), 0.0)
            dev = float(2 * np.sum(term - (y - mm)))
        else:
            dev = float(np.sum(r**2 / self.variance))
        return {"heldout": volume, "heldout_deviance": dev}


def _is_counts(data: np.ndarray) -> bool:
    return bool(np.all(data >= 0) and np.allclose(data, np.round(data), atol=1e-3))


def _local_mean(y: np.ndarray) -> np.ndarray:
    """3 × 3 box mean within each projection."""
    return uniform_filter(y, size=(1, 3, 3), mode="nearest")


def noise_model(data: np.ndarray, *, bins: int = 12, local=None) -> tuple[float, float]:
    """``(a, b)`` of the variance–mean model ``var = a · max(mean, 0) + b`` of a stack of images.

    Local means are 3 × 3 box averages within each projection; the residual ``y − mean`` of
    independent noise has variance ``σ² (1 − 1/9)``. The mean squared residual in intensity bins
    (quantiles of the local mean) is fitted by non-negative least squares. Not a robust (MAD)
    estimate: at a few counts per pixel the median absolute deviation of discrete data is 0. Signal
    structure inside a 3 × 3 box adds to the estimate; an overestimate makes the split parts
    slightly anti-correlated, which errs towards fewer iterations (smoother volumes).
    """
    from scipy.optimize import nnls

    y = np.asarray(data, dtype=np.float64)
    mean = _local_mean(y) if local is None else local
    resid = (y - mean).ravel()
    m = mean.ravel()
    edges = np.unique(np.quantile(m, np.linspace(0, 1, bins + 1)))
    rows, target, weight = [], [], []
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (m >= lo) & (m <= hi)
        if sel.sum() < 50:
            continue
        rows.append([max(float(np.mean(m[sel])), 0.0), 1.0])
        target.append(float(np.mean(resid[sel] ** 2)) / (8 / 9))
        weight.append(np.sqrt(sel.sum()))
    if not rows:
        v = float(np.var(resid)) / (8 / 9)
        return 0.0, max(v, 1e-12)
    a_mat = np.asarray(rows) * np.asarray(weight)[:, None]
    coef, _ = nnls(a_mat, np.asarray(target) * np.asarray(weight))
    a, b = float(coef[0]), float(coef[1])
    if a == 0 and b == 0:
        b = max(float(np.var(resid)) / (8 / 9), 1e-12)
    return a, b


def split(data, *, fraction: float = 0.5, seed: int = 0, kind: str = "auto", noise=None) -> Split:
    """Split projections into independent training and test parts (see the module docstring).

    Parameters
    ----------
    data : ndarray (n_tilts, ny, nx)
    fraction : float
        Share ``p`` of the information in the training part, 0 < p < 1.
    seed : int
    kind : {'auto', 'binomial', 'fission'}
        ``'auto'``: binomial for non-negative integer data, fission otherwise.
    noise : (a, b), optional
        Fission only: the variance model ``var = a · max(mean, 0) + b`` when it is known (the
        spectral stage stores it in ``metadata.Spectral.noise_model``); else :func:`noise_model`.
    """
    if not 0 < float(fraction) < 1:
        raise ValueError(f"fraction: expected 0 < p < 1 (the training share), got {fraction!r}")
    p = float(fraction)
    y = np.asarray(data, dtype=np.float64)
    if kind == "auto":
        kind = "binomial" if _is_counts(y) else "fission"
    rng = np.random.default_rng(seed)
    if kind == "binomial":
        if not _is_counts(y):
            raise ValueError("kind='binomial' needs non-negative integer counts; use kind='fission' for other data")
        n = np.round(y).astype(np.int64)
        train = rng.binomial(n, p)
        return Split(train.astype(np.float32), (n - train).astype(np.float32), "binomial", p, None)
    if kind != "fission":
        raise ValueError(f"kind: expected 'auto', 'binomial' or 'fission', got {kind!r}")
    local = _local_mean(y)
    a, b = noise_model(y, local=local) if noise is None else (float(noise[0]), float(noise[1]))
    var = a * np.maximum(local, 0) + b
    tau = np.sqrt((1 - p) / p)
    z = rng.normal(size=y.shape) * np.sqrt(var)
    return Split((y + tau * z).astype(np.float32), (y - z / tau).astype(np.float32), "fission", p,
                 (var * (1 + 1 / tau**2)).astype(np.float64))


def transfer_iterations(k_train: int, fraction: float, *, exponent: float = TRANSFER_EXPONENT) -> int:
    """Iterations for the full data from the best iteration on a training part of share ``fraction``.

    The full data carry ``1/p`` times the information of the training part (noise variance × p).
    An iterative method stopped early regularises like Tikhonov with ``λ ≈ 1/k``; for a white
    signal spectrum the best ``λ`` scales with the noise variance (exponent 1), for smooth objects
    more slowly. Measured on five phantoms (docs/parameters.md): exponent 1 keeps the EDS maps
    within 0.5 dB of their best-iteration PSNR but overshoots them by ~1.4×, 0.5 undershoots the
    HAADF by up to 1.1 dB; 0.75 gives at most 0.26 dB on every EDS map and 0.79 dB on the HAADF
    series (whose PSNR curve is flat over hundreds of iterations).
    """
    return max(1, int(round(k_train * float(fraction) ** (-exponent))))


def auto_options(options, extra: dict | None = None) -> dict:
    """:data:`AUTO_DEFAULTS` (plus a solver's ``extra`` defaults) updated with ``options`` (validated)."""
    from ..validation import whole_number

    opts = dict(AUTO_DEFAULTS) | dict(extra or {})
    unknown = set(options or {}) - set(opts)
    if unknown:
        raise ValueError(f"auto_options: unknown keys {sorted(unknown)}; expected {sorted(opts)}")
    opts.update(options or {})
    if not 0 < float(opts["fraction"]) < 1:
        raise ValueError(f"auto_options['fraction']: expected 0 < p < 1, got {opts['fraction']!r}")
    for key in ("max_iterations", "check_every"):
        opts[key] = whole_number(opts[key], f"auto_options[{key!r}]")
    if opts["folds"] not in (1, 2) or (opts["folds"] == 2 and float(opts["fraction"]) != 0.5):
        raise ValueError(f"auto_options['folds']: expected 1, or 2 with fraction 0.5 (each half trains once and "
                         f"tests once), got {opts['folds']!r} with fraction {opts['fraction']!r}")
    return opts


def mean_curve(histories: list, key: str = "heldout") -> tuple[np.ndarray, np.ndarray]:
    """Iterations and the mean held-out score over folds, on the iterations every fold reached."""
    n = min(len(h["iteration"]) for h in histories)
    its = np.asarray(histories[0]["iteration"][:n])
    return its, np.mean([np.asarray(h[key][:n]) / np.min(h[key][:n]) for h in histories], axis=0)


def stack_noise(stack, name: str):
    """The noise model ``(a, b)`` a stack's metadata carries, or None (then estimated, with a warning).

    Integer count data need none (binomial thinning). Maps from ``extract_maps`` carry
    ``metadata.Spectral.noise_model``; NMF line maps are denoised jointly, so their pixels are not
    independent and splitting them is only approximate (warned).
    """
    import warnings

    from ..validation import InputWarning

    data = np.asarray(stack.data)
    md = stack.metadata
    if md.get_item("Spectral.method") == "nmf":
        warnings.warn(f"{name}: NMF maps are denoised jointly (their pixel noise is correlated), so splitting them "
                      "into independent parts is approximate; prefer maps from method='windows' or 'fit' for "
                      "automatic parameters", InputWarning, stacklevel=4)
    model = md.get_item("Spectral.noise_model")
    if model is not None:
        return float(model["a"]), float(model["b"])
    if _is_counts(data):
        return None
    warnings.warn(f"{name}: not integer counts and no metadata.Spectral.noise_model; the variance–mean model is "
                  "estimated from the images (fine structure inflates it, which errs towards fewer iterations)",
                  InputWarning, stacklevel=4)
    return None


class HeldoutStop:
    """Driver callback on a training run: stop once the held-out score is past its minimum.

    Stops at the first check where the score exceeds its minimum and the iteration is at least
    ``max(2 k_best, k_best + 10 · check_every)``: SIRT's held-out curves are smooth and single-minimum
    on every phantom tried, so this saves most of the run without missing the minimum.
    """

    def __init__(self, key: str = "heldout", check_every: int = 5):
        self.key, self.every = key, int(check_every)
        self.best, self.best_iteration = np.inf, 0

    def __call__(self, info) -> bool:
        value = float(info.metrics[self.key])
        if value < self.best:
            self.best, self.best_iteration = value, info.iteration
            return False
        return info.iteration >= max(2 * self.best_iteration, self.best_iteration + 10 * self.every)


def plot_heldout(rec, ax=None):
    """The held-out curve behind an automatic choice (``metadata.Reconstruction.auto``). Returns the axes."""
    import matplotlib.pyplot as plt

    auto = rec.metadata.get_item("Reconstruction.auto")
    if auto is None:
        raise ValueError("plot_heldout: this reconstruction did not choose its parameters automatically")
    auto = auto.as_dictionary() if hasattr(auto, "as_dictionary") else dict(auto)
    if ax is None:
        _, ax = plt.subplots(figsize=(4.8, 3.4), constrained_layout=True)
    if "scores" in auto:  # TGV–KL: one held-out score per channel, multiplier of the μ heuristic and Bregman step
        mult = np.asarray(auto["multipliers"])
        breg = np.asarray(auto.get("bregman_multipliers", []))
        for name, score in auto["scores"].items():
            steps = {k: np.asarray(v) for k, v in (auto.get("bregman_scores") or {}).get(name, {}).items()}
            low = min([np.min(score)] + [np.min(v) for v in steps.values()])
            line, = ax.semilogx(mult, np.asarray(score) / low, "o-", ms=3, label=name)
            for j, (k, v) in enumerate(sorted(steps.items())):
                ax.semilogx(breg, v / low, ("s--", "^--", "v--", "d--")[j % 4], ms=3, lw=0.8, color=line.get_color(),
                            label=f"{name}, Bregman {k}")
            ax.axvline(auto["chosen_multiplier"][name], color=line.get_color(), lw=0.8, ls=":")
        ax.set(xlabel="multiplier of the μ heuristic (training part)", ylabel="held-out score / minimum",
               title="mu: chosen multipliers (dotted); dashed: Bregman steps")
        ax.legend(fontsize=7)
        return ax
    for label, curve in auto["curves"].items():
        k = np.asarray(curve["iteration"])
        score = np.asarray(curve["heldout"])
        ax.plot(k, score / score.min(), label=label)
    ax.axvline(auto["train_best"], color="k", lw=0.8, ls=":", label=f"best on the training part ({auto['train_best']})")
    ax.set(xlabel="iteration (training part)", ylabel="held-out score / minimum",
           title=f"{auto['parameter']}: chose {auto['chosen']} for the full data")
    ax.legend(fontsize=7)
    return ax

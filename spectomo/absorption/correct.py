"""``correct_absorption``: X-ray absorption and holder shadowing in 3D, with any reconstruction method.

Model. Map ``l`` at tilt ``t`` holds ``y_l(t) = g(t) · P_t[A_{t,l} f_l]``: the projection ``P_t``
of the line's emission ``f_l`` (what a thin-film reconstruction would give) weighted by its
transmission to the detectors ``A_{t,l}(r)``
(:func:`spectomo.opencl.attenuation.attenuation_factors`: ``μ_l`` from the composition and
density, detectors from :class:`~spectomo.geometry.Detector`, geometric holder shadowing from
:class:`~spectomo.geometry.HolderShadow`), times an empirical per-tilt curve ``g(t)`` for what the
geometric model misses (dose drift, shadowing).

Iteration (a fixed point of ``y = g P(A f)``), starting from the uncorrected reconstruction:

1. quantify the volumes (:func:`spectomo.quantify`) → partial densities ``ρ_A = C_A ρ``;
2. ``μ_l = Σ_A (μ/ρ)_A(E_l) ρ_A`` → ``A_{t,l}`` for every tilt;
3. ``m_l(t) = P_t[A_{t,l} f_l]``, ``p_l(t) = P_t[f_l]`` and, with ``shadow_curve='auto'``,
   ``g(t) = Σ_l Σ y_l(t) / Σ_l Σ m_l(t)`` (scaled to 1 at the least-shadowed tilts);
4. corrected maps ``y'_l(t) = y_l(t) p_l(t) / (g(t) m_l(t))`` (ray by ray; a small floor keeps vacuum
   rays at ratio ~1), reconstructed with the chosen method → ``f_l``;

until the largest change of a region's mean weight fraction falls below ``tol`` wt%. Correcting
the projections (not the forward model inside the solver) is what lets every method — ASTRA
FBP/SIRT/SART, TGV–KL, HEBT — be corrected the same way.

Limits: only the measured elements absorb (carbon support, oxide shells or an unlisted element
are not counted); the detector geometry and spectomo's beam-direction convention
(:mod:`spectomo.geometry.detector`) must match the microscope; secondary fluorescence is not
modelled; the ratio correction assumes the transmission varies slowly across a ray's footprint.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

from .. import physics
from ..geometry.convention import radon_matrix
from ..geometry.detector import Detector, HolderShadow
from ..opencl.attenuation import attenuation_factors
from ..quantify import quantify
from ..recon import reconstruct, reconstruct_hebt, reconstruct_tgv
from ..recon.channels import check_channels

__all__ = ["correct_absorption", "AbsorptionCorrection", "estimate_shadow_curve", "mirrored"]

ASTRA_METHODS = ("FBP", "SIRT", "SART")
METHODS = ASTRA_METHODS + ("tgv", "hebt")
#: Floor of the ray-wise ratio's denominators, relative to the largest projected value of a map
RATIO_FLOOR = 1e-3
#: The per-tilt curve is scaled so that the mean of its this-many largest values is 1
CURVE_TOP = 3


@dataclass
class AbsorptionCorrection:
    """The result of :func:`correct_absorption`.

    Attributes
    ----------
    volumes : dict[str, RecStack] or RecStacks
        The corrected reconstructions (counts per voxel path length, as emitted).
    quantification : Quantification
        Of the corrected volumes.
    uncorrected : Quantification
        Of the first (thin-film) reconstruction, for comparison.
    maps : dict[str, TomoStack]
        The corrected projections that were reconstructed.
    transmission : dict[str, ndarray (n_tilts,)]
        Per line and tilt: detected / emitted counts of the final model, ``Σ m_l(t) / Σ p_l(t)``
        (shadow curve not included).
    shadow_curve : ndarray (n_tilts,)
        ``g(t)``: estimated (``'auto'``), given, or ones.
    history : list[dict]
        Per outer iteration: largest change of a region mean (wt%), mean transmission per line.
    parameters : dict
        Every option, the detector and shadowing, iterations run (also in each volume's
        ``metadata.Absorption``).
    """

    volumes: dict
    quantification: object
    uncorrected: object
    maps: dict
    transmission: dict
    shadow_curve: np.ndarray
    history: list = field(default_factory=list)
    parameters: dict = field(default_factory=dict)

    def plot(self, ax=None):
        """Transmission of each line and the shadow curve against tilt. Returns the axes."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(5.5, 3.5))
        tilts = np.asarray(self.parameters["tilts"])
        for line, tr in self.transmission.items():
            ax.plot(tilts, tr, marker="o", ms=3, label=f"{line} transmission")
        ax.plot(tilts, self.shadow_curve, "k--", label="shadow curve g(t)")
        ax.set_xlabel("tilt (degrees)")
        ax.set_ylabel("fraction of counts detected")
        ax.set_ylim(0, 1.05)
        ax.legend(fontsize=8)
        return ax


def _check_method(method: str) -> str:
    if method not in METHODS:
        raise ValueError(f"method: expected one of {list(METHODS)}, got {method!r}")
    return method


def _reconstruct(stacks: dict, method: str, haadf, options: dict, progress: bool):
    if method == "tgv":
        return reconstruct_tgv(haadf, stacks, progress=progress, **options)
    if method == "hebt":
        return reconstruct_hebt(haadf, stacks, progress=progress, **options)
    return {n: reconstruct(s, method, progress=False, **options) for n, s in stacks.items()}


def _relative_mass(q, vols) -> np.ndarray:
    """The mass per voxel up to one factor, ``Σ_A k_A X_A`` with the quantification's factors."""
    k = {n: v for n, v in q.factors.items()}
    method = q.parameters["method"]
    mass = 0.0
    for el, name in q.lines.items():
        x = np.clip(np.asarray(vols[name].data, dtype=np.float64), 0, None)
        if method == "cross_section":
            mass = mass + x * physics.atomic_weight(el) / k[name]
        elif method == "hebt":
            mass = mass + x * q.parameters["ratios"][name] / k[name]
        else:
            mass = mass + x * k[name]
    return np.asarray(mass)


def _densities(q, vols, density: float | None) -> dict:
    """Partial densities ``ρ_A`` (g/cm³): from the quantification's density volume, or, without a dose,
    the relative mass scaled so that its median inside the particle mask is ``density`` (the median:
    edge voxels, part vacuum, would pull a mean below the material's density)."""
    if q.density is not None:
        rho = np.asarray(q.density.data, dtype=np.float64)
    elif density is not None:
        mass = _relative_mass(q, vols)
        inside = np.asarray(q.mask.data, dtype=bool)
        typical = float(np.median(mass[inside])) if inside.any() else 0.0
        if not typical > 0:
            raise ValueError("density: the volumes hold no mass inside the particle mask to scale")
        rho = density * mass / typical * inside
    else:
        raise ValueError("density: absorption needs absolute densities. Give the dose (quantify_options={'dose': …} "
                         "or beam current and live time in the metadata) and the voxel size, or density= (the "
                         "specimen's mean density in g/cm³)")
    return {el: rho * np.asarray(w.data, dtype=np.float64) / 100.0 for el, w in q.weight_percent.items()}


def _region_means(q, regions) -> np.ndarray:
    """Mean wt% of each element over each region (rows: regions, columns: elements)."""
    inside = np.asarray(q.mask.data, dtype=bool)
    out = []
    for reg in regions:
        sel = inside & reg
        out.append([float(np.asarray(w.data)[sel].mean()) if sel.any() else 0.0 for w in q.weight_percent.values()])
    return np.asarray(out)


def _default_regions(q) -> list:
    """The particle, and where each element is the majority (the phases a user would report)."""
    inside = np.asarray(q.mask.data, dtype=bool)
    wt = np.stack([np.asarray(w.data) for w in q.weight_percent.values()])
    top = np.argmax(wt, axis=0)
    return [inside] + [inside & (top == i) for i in range(len(wt)) if np.any(inside & (top == i))]


def estimate_shadow_curve(observed, model) -> np.ndarray:
    """Per-tilt curve ``g(t) = Σ_l Σ y_l(t) / Σ_l Σ m_l(t)``, scaled so that the mean of its
    ``CURVE_TOP`` largest values is 1.

    Parameters
    ----------
    observed, model : dict[str, ndarray (n_tilts, ny, nx)]
        Measured maps and the (unshadowed) attenuated model of the same lines.
    """
    num = sum(np.asarray(observed[n], dtype=np.float64).sum(axis=(1, 2)) for n in observed)
    den = sum(np.asarray(model[n], dtype=np.float64).sum(axis=(1, 2)) for n in observed)
    if np.any(den <= 0):
        raise ValueError("model: a tilt without modelled counts; cannot estimate the shadow curve")
    g = num / den
    top = np.sort(g)[-min(CURVE_TOP, g.size):].mean()
    return g / top


def _project(vols: list, tilts, ny: int) -> list:
    """``P_t`` (spectomo's projector, :func:`~spectomo.geometry.convention.radon_matrix`) of each volume
    ``(nx, ny, nz)`` at each tilt → ``(n_tilts, ny, nx)`` per volume."""
    nx, nyv, nz = vols[0].shape
    stacked = np.concatenate([v.reshape(nx, nyv * nz).T for v in vols], axis=1)  # (ny·nz, nx·k)
    out = []
    for t in np.atleast_1d(tilts):
        a = radon_matrix([t], nyv, nz, ny)
        out.append((a @ stacked).reshape(ny, len(vols), nx).transpose(1, 0, 2))
    return [np.stack([o[k] for o in out]) for k in range(len(vols))]


def _model(f: list, mu: np.ndarray, det: Detector, shadowing, tilts, shape, engine: str) -> tuple[dict, dict]:
    """``p_l(t) = P_t[f_l]`` and ``m_l(t) = P_t[A_{t,l} f_l]`` for every tilt, as lists per line."""
    n_t, ny, nx = shape
    vis = shadowing.visible(det, tilts) if shadowing is not None else np.ones((n_t, det.n_detectors))
    weights = det.weights[None, :] * vis
    dirs = det.directions(tilts)
    plain = [np.empty((n_t, ny, nx)) for _ in f]
    model = [np.empty((n_t, ny, nx)) for _ in f]
    for i in range(n_t):
        a = attenuation_factors(mu, dirs[i], weights[i], engine=engine)
        proj = _project(f + [fk * ak for fk, ak in zip(f, a)], [tilts[i]], ny)
        for k in range(len(f)):
            plain[k][i], model[k][i] = proj[k][0], proj[len(f) + k][0]
    return plain, model


def _misfit(observed: dict, model: dict, curve) -> float:
    """Weighted squared misfit ``Σ (y − g m)² / (g m + 1)`` of the attenuated model over every map."""
    total = 0.0
    for n, y in observed.items():
        gm = curve[:, None, None] * model[n]
        total += float(np.sum((y - gm) ** 2 / (np.abs(gm) + 1.0)))
    return total


def mirrored(det: Detector) -> Detector:
    """The same detectors seen from the other side of the specimen (elevations negated): what the
    detectors are in a reconstruction mirrored along the beam, e.g. from tilts stored with the
    opposite sign (docs/absorption.md, orientation)."""
    return Detector(-det.elevation, det.azimuth, det.solid_angle, name=f"{det.name} (mirrored)")


def correct_absorption(maps: dict, *, haadf=None, detector: Detector | None = None,
                       shadowing: HolderShadow | None = None, method: str = "SIRT", recon_options: dict | None = None,
                       quantify_options: dict | None = None, shadow_curve="auto", iterations: int = 6,
                       tol: float = 0.2, regions=None, orientation: str = "auto", density: float | None = None,
                       engine: str = "auto", progress: bool = True) -> AbsorptionCorrection:
    """Correct EDS maps for X-ray absorption (and holder shadowing) in 3D and reconstruct them.

    Parameters
    ----------
    maps : dict[str, TomoStack (n_tilts, ny, nx)]
        Aligned net-count maps, one line per element (e.g. :func:`spectomo.extract_maps` after
        :func:`spectomo.align_other`). Every element that absorbs must be among them.
    haadf : TomoStack, optional
        Aligned HAADF, for ``method='tgv'`` (optional there) and ``'hebt'`` (required).
    detector : Detector, optional
        Default: from the maps' metadata (:meth:`~spectomo.geometry.Detector.from_metadata`);
        without one there, an error (pass ``Detector.super_x()`` or your detector).
    shadowing : HolderShadow, optional
        Geometric holder shadowing, applied per detector.
    method : {'FBP', 'SIRT', 'SART', 'tgv', 'hebt'}
        Reconstruction of every pass, with ``recon_options`` (e.g. ``{"iterations": "auto"}`` for
        SIRT: chosen once on the first pass and reused, since the noise does not change).
    quantify_options : dict, optional
        For :func:`spectomo.quantify` (method, factors, dose, voxel_size, mask, …). Densities are
        needed: the dose and voxel size must be known.
    shadow_curve : 'auto', None or array_like (n_tilts,)
        ``'auto'``: estimate ``g(t)`` from the data (module docstring); None: no per-tilt curve; an
        array: a curve you measured (e.g. on a standard).
    iterations : int
        Most outer iterations (each a reconstruction and a quantification).
    tol : float
        Stop when no region mean weight fraction moves by more than this (wt%).
    regions : list of bool arrays (nx, ny, nz), optional
        Regions whose mean composition decides convergence; default the particle and each
        majority-element phase of the uncorrected quantification.
    orientation : {'auto', 'standard', 'mirrored'}
        Which side of the reconstructed volume the detectors look from. ``'standard'``: spectomo's
        convention (electrons along +z at 0° tilt, detectors on the −z side); ``'mirrored'``: the
        other side, as in a volume reconstructed from tilts stored with the opposite sign.
        ``'auto'``: on the first pass, the model of both is compared with the measured maps and the
        one that fits better is kept (both misfits in ``parameters['orientation_misfit']``).
    density : float, optional
        The specimen's typical density (g/cm³; the median inside the particle mask), for data without
        a known dose (many files lack the beam current): the density volume is then the quantified
        relative mass scaled to it. Ignored when the dose is known.
    engine : {'auto', 'opencl', 'numpy'}
        For the attenuation factors.
    progress : bool
        Progress bars.

    Returns
    -------
    AbsorptionCorrection
    """
    stacks = check_channels(maps, arg="maps")
    for name, s in stacks.items():
        values = s.metadata.get_item("Spectral.values", "net counts")
        if values != "net counts":
            raise ValueError(f"maps[{name!r}]: holds {values!r}; absorption correction needs line net counts")
    method = _check_method(method)
    if method == "hebt" and haadf is None:
        raise ValueError("haadf: method='hebt' needs the aligned HAADF series")
    first = next(iter(stacks.values()))
    det = detector if detector is not None else Detector.from_metadata(first)
    if not isinstance(det, Detector):
        raise TypeError(f"detector: expected a spectomo.geometry.Detector, got {type(det).__name__}")
    if shadowing is not None and not isinstance(shadowing, HolderShadow):
        raise TypeError(f"shadowing: expected a spectomo.geometry.HolderShadow, got {type(shadowing).__name__}")
    tilts = first.tilts
    n_t, ny, _ = first.data.shape
    given_curve = None
    if shadow_curve is not None and not (isinstance(shadow_curve, str) and shadow_curve == "auto"):
        given_curve = np.asarray(shadow_curve, dtype=float).reshape(-1)
        if given_curve.shape != (n_t,) or not np.all(np.isfinite(given_curve)) or np.any(given_curve <= 0):
            raise ValueError(f"shadow_curve: 'auto', None or {n_t} positive values expected, got {shadow_curve!r}")
    elif isinstance(shadow_curve, str) and shadow_curve != "auto":
        raise ValueError(f"shadow_curve: 'auto', None or an array expected, got {shadow_curve!r}")
    iterations = int(iterations)
    if iterations < 1:
        raise ValueError(f"iterations: at least 1 outer iteration expected, got {iterations}")
    ropts = dict(recon_options or {})
    qopts = dict(quantify_options or {})
    qopts.setdefault("progress", False)
    if density is not None and not (np.isfinite(density) and 0.05 <= float(density) <= 25):
        raise ValueError(f"density: a mean density in g/cm³ (0.05–25) expected, got {density!r}")

    if orientation not in ("auto", "standard", "mirrored"):
        raise ValueError(f"orientation: expected 'auto', 'standard' or 'mirrored', got {orientation!r}")
    names = list(stacks)
    observed = {n: np.asarray(s.data, dtype=np.float64) for n, s in stacks.items()}
    shape = (n_t, ny, first.data.shape[2])

    vols = _reconstruct(stacks, method, haadf, ropts, progress)
    if ropts.get("iterations") == "auto" and method in ("SIRT", "SART"):
        ropts["iterations"] = int(round(np.median([v.metadata.Reconstruction.iterations for v in vols.values()])))
    q = quantify(vols, **qopts)
    uncorrected = q
    regs = [np.asarray(getattr(r, "data", r), dtype=bool) for r in regions] if regions is not None else _default_regions(q)
    means = _region_means(q, regs)
    history, curve, transmission, corrected = [], np.ones(n_t), {}, stacks
    energies = {n: physics.line_energy(n) for n in names}
    vox_cm = float(q.parameters["voxel_size_nm"]) * 1e-7
    misfits = {}

    def curve_for(model):
        if given_curve is not None:
            return given_curve
        return estimate_shadow_curve(observed, model) if shadow_curve is not None else np.ones(n_t)

    for it in tqdm(range(iterations), desc="Absorption correction", disable=not progress, leave=False):
        rho = _densities(q, vols, density)
        mu = physics.attenuation_volumes([energies[n] for n in names], rho, vox_cm)
        f = [np.clip(np.asarray(vols[n].data, dtype=np.float64), 0, None) for n in names]
        if it == 0 and orientation == "auto":
            candidates = {}
            for label, d in (("standard", det), ("mirrored", mirrored(det))):
                p_, m_ = _model(f, mu, d, shadowing, tilts, shape, engine)
                m_ = dict(zip(names, m_))
                misfits[label] = _misfit(observed, m_, curve_for(m_))
                candidates[label] = (d, dict(zip(names, p_)), m_)
            orientation = min(misfits, key=misfits.get)
            det, plain, model = candidates[orientation]
        else:
            if it == 0 and orientation == "mirrored":
                det = mirrored(det)
            p_, m_ = _model(f, mu, det, shadowing, tilts, shape, engine)
            plain, model = dict(zip(names, p_)), dict(zip(names, m_))
        curve = curve_for(model)
        transmission = {n: model[n].sum(axis=(1, 2)) / np.maximum(plain[n].sum(axis=(1, 2)), 1e-30) for n in names}
        corrected = {}
        for n in names:
            floor = RATIO_FLOOR * max(float(plain[n].max()), 1e-30)
            ratio = (plain[n] + floor) / (curve[:, None, None] * model[n] + floor)
            corrected[n] = stacks[n]._deepcopy_with_new_data((observed[n] * ratio).astype(np.float32))
            corrected[n].metadata.set_item("Absorption.corrected", True)
        vols = _reconstruct(corrected, method, haadf, ropts, progress)
        q = quantify(vols, **qopts)
        new = _region_means(q, regs)
        change = float(np.abs(new - means).max())
        means = new
        history.append({"iteration": it + 1, "max_region_change_wt%": change,
                        "mean_transmission": {n: float(transmission[n].mean()) for n in names}})
        if change < tol:
            break

    params = {"method": method, "recon_options": {k: v for k, v in ropts.items() if np.isscalar(v) or v is None},
              "detector": det.as_dict(), "shadowing": None if shadowing is None else shadowing.as_dict(),
              "shadow_curve": "auto" if given_curve is None and shadow_curve is not None else
              ("given" if given_curve is not None else "none"), "iterations_run": len(history),
              "iterations": iterations, "tol_wt%": float(tol), "tilts": np.asarray(tilts, dtype=float),
              "converged": bool(history and history[-1]["max_region_change_wt%"] < tol),
              "orientation": orientation, "orientation_misfit": misfits or None,
              "density_from": "quantification (dose known)" if q.density is not None else f"density={density} g/cm³",
              "beam_direction": "+z at 0° tilt; detectors on the −z side (spectomo.geometry.detector)"
              + (" — mirrored: detectors on the +z side" if orientation == "mirrored" else "")}
    for v in list(vols.values()) + list(q.weight_percent.values()) + [q.density, q.mask]:
        if v is not None:
            v.metadata.set_item("Absorption", {k: val for k, val in params.items() if val is not None})
    return AbsorptionCorrection(volumes=vols, quantification=q, uncorrected=uncorrected, maps=corrected,
                                transmission=transmission, shadow_curve=np.asarray(curve, dtype=float),
                                history=history, parameters=params)

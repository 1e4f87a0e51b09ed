"""``quantify``: reconstructed volumes → weight-fraction, density and atom-density volumes.

Each reconstruction voxel ``X_A`` holds the line's counts per voxel path length. With the
thin-film model (Yuan 2020 eq. 4–10) ``X_A = D (Ω/4π) N_A f_A C_A ρ Δ``, so the element's mass in
the voxel is proportional to ``w_A = k_A X_A`` with

* ``'zeta'``:           ``k_A = ζ_A`` (exspy's ζ-factor method, voxel by voxel: ``ρΔ = Σ ζ X / D``),
* ``'cross_section'``:  ``k_A = M_A / σ_A`` (exspy's cross-section method; atoms ``N = X/(σ D/a)``,
  equivalent to Yuan eq. 12, ``C_A ∝ X_A / f_A``),
* ``'hebt'``:           ``k_A = r_A / z_A`` on HEBT volumes (Yuan eq. 18: the HEBT unknowns in HAADF
  units are ``r_A X_A = D_H N_A z_A C_A ρ Δ``),

and ``C_A = w_A / Σ_B w_B``. With the dose ``D`` (electrons per probe position) and the voxel size
``Δ`` the absolute density ``ρ`` and the atom densities ``n_A = C_A ρ N_A / M_A`` follow. The
zeta and cross-section arithmetic is exspy's (``exspy.utils.eds.quantification_zeta_factor`` and
``quantification_cross_section``), applied to blocks of slices.
"""

from __future__ import annotations

import numpy as np
from .. import _exspy  # noqa: F401  (exspy imported quietly first)
from exspy._misc.eds.utils import quantification_cross_section, quantification_zeta_factor  # exspy <0.4: not public
from tqdm.auto import tqdm

from .. import physics
from ..signals import RecStack
from . import inputs as inp
from .factors import UNITS, resolve_factors
from .mask import esf_threshold
from .result import Quantification

_BLOCK = 16  # slices per block


def _block(method, x, k, masses, dose, voxel):
    """Weight fractions ``(n, ...)``, unnormalised mass ``w`` and density (g/cm³ or None) of a block."""
    if method == "zeta":
        with np.errstate(divide="ignore", invalid="ignore"):
            comp, mt = quantification_zeta_factor(x, k, dose or 1.0)
        mass = mt * (dose or 1.0)
        rho = mt / (voxel * 1e-6) if dose and voxel else None  # kg/m² per voxel length → g/cm³
    elif method == "cross_section":
        dose_area = (dose or 1.0) / (voxel or 1.0) ** 2  # electrons per nm² (exspy's convention)
        with np.errstate(divide="ignore", invalid="ignore"):
            _, atoms = quantification_cross_section(x, k, dose_area)
        grams = atoms * masses[(slice(None),) + (None,) * (x.ndim - 1)]
        mass = grams.sum(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            comp = grams / mass
        rho = mass / physics.AVOGADRO / (voxel**3 * 1e-21) if dose and voxel else None
    else:
        w = x * np.asarray(k)[(slice(None),) + (None,) * (x.ndim - 1)]
        mass = w.sum(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            comp = w / mass
        rho = mass / (physics.AVOGADRO * physics.BARN_CM2 * dose * voxel * 1e-7) if dose and voxel else None
    return np.nan_to_num(comp, nan=0.0, posinf=0.0), mass, rho


def _mask(mask, mass, shape, *, search_max):
    if isinstance(mask, str):
        if mask != "auto":
            raise ValueError(f"mask: expected 'auto', an array of shape {shape}, or None, got {mask!r}")
        curve = esf_threshold(mass, search_max=search_max)
        return mass >= curve.threshold, curve
    if mask is None:
        return np.ones(shape, dtype=bool), None
    arr = np.asarray(getattr(mask, "data", mask))
    if arr.shape != shape:
        raise ValueError(f"mask: shape {arr.shape} differs from the volumes' {shape}")
    if not arr.any():
        raise ValueError("mask: selects no voxel; give a mask with the particle's voxels, 'auto' or None")
    return arr.astype(bool), None


def quantify(volumes, *, method: str | None = None, factors=None, beam_energy=None, dose=None, voxel_size=None,
             mask="auto", solid_angle=None, haadf_angles=None, ratios=None, search_max: float = 0.5,
             progress: bool = True) -> Quantification:
    """Quantify reconstructed volumes into weight-fraction, density and atom-density volumes.

    Parameters
    ----------
    volumes : dict[str, RecStack] or RecStacks
        One volume ``(nx, ny, nz)`` per X-ray line (``'Ag_La'``), in counts per voxel path length,
        from any reconstruction path (:func:`~spectomo.reconstruct`, TGV–KL, HEBT), all of one
        shape. One line per element. The :class:`~spectomo.RecStacks` of
        :func:`~spectomo.reconstruct_hebt` bring their response ratios and HAADF.
    method : {'zeta', 'cross_section', 'hebt'}, optional
        See the module docstring. ``'hebt'`` needs HEBT volumes and their response ratios.
        Default: ``'hebt'`` for volumes that carry response ratios (HEBT), else ``'zeta'``.
    factors : dict, optional
        ζ-factors (kg/m²), partial cross sections (barn) or HAADF factors ``z_A`` (barn·mol/g),
        keyed by line or element. Default: computed by :mod:`spectomo.physics` for ``beam_energy``.
    beam_energy : float, optional
        keV; default ``metadata.Acquisition_instrument.TEM.beam_energy``.
    dose : float, optional
        Electrons per probe position (EDS, or HAADF for ``'hebt'``); default beam current × live
        time (HAADF dwell time for ``'hebt'``) from the metadata, as exspy does. Without a dose the
        weight fractions are still computed; densities are left out (with a warning).
    voxel_size : float, optional
        nm; default the volumes' axis scale.
    mask : 'auto', array of bool, or None
        ``'auto'``: the particle is where the summed mass ``Σ w_A`` exceeds the edge-spread-
        function threshold (:func:`~spectomo.quantify.esf_threshold`); an array: your mask;
        None: every voxel.
    solid_angle : float, optional
        EDS collection solid angle in sr (for theoretical factors); default
        ``metadata.Acquisition_instrument.TEM.Detector.EDS.solid_angle``.
    haadf_angles : (float, float), optional
        HAADF inner/outer angles in mrad (for ``z_A``); default from the HEBT reconstruction's HAADF.
    ratios : dict, optional
        HEBT response ratios by volume name or element; default from the HEBT reconstruction or the metadata.
    search_max : float
        Upper end of the automatic threshold search (fraction of the robust maximum).
    progress : bool
        Progress bar over blocks of slices.

    Returns
    -------
    Quantification
        ``.weight_percent`` (dict element → RecStack, summing to 100 inside the mask, 0 outside),
        ``.density`` (g/cm³), ``.atom_density`` (dict element → atoms/nm³), ``.mask``, ``.factors``,
        ``.threshold_curve``; :meth:`Quantification.save` writes them to one ``.hspy`` file.
    """
    vols, recon = inp.check_volumes(volumes)
    method = inp.default_method(method, recon)
    names = list(vols)
    elements = [inp.element_of(n) for n in names]
    shape = next(iter(vols.values())).data.shape
    energy = inp.resolve_beam_energy(beam_energy, vols)
    voxel = inp.resolve_voxel_size(voxel_size, vols)
    omega = inp.solid_angle(solid_angle, vols) if method != "hebt" else None
    angles = inp.haadf_angles(haadf_angles, recon) if method == "hebt" else None
    fac, source = resolve_factors(method, factors, names, beam_energy=energy, solid_angle=omega, haadf_angles=angles)
    r = inp.hebt_ratios(ratios, vols, recon) if method == "hebt" else None
    d = inp.haadf_dose(dose, recon) if method == "hebt" else inp.eds_dose(dose, vols)
    if d is None:
        inp.warn_missing("the dose", "pass dose= or set beam_current and live_time in the metadata")
    elif voxel is None:
        inp.warn_missing("the voxel size", "pass voxel_size= in nm or calibrate the volumes' axes in nm")
    masses = np.array([physics.atomic_weight(el) for el in elements])
    k = [r[n] / fac[n] for n in names] if method == "hebt" else [fac[n] for n in names]

    comp = np.zeros((len(names), *shape), dtype=np.float32)
    mass = np.zeros(shape, dtype=np.float32)
    rho = np.zeros(shape, dtype=np.float32) if d and voxel else None
    negative = 0
    starts = range(0, shape[0], _BLOCK)
    for s in tqdm(starts, desc=f"Quantify ({method})", disable=not progress, leave=False):
        sl = slice(s, min(s + _BLOCK, shape[0]))
        x = np.stack([np.asarray(vols[n].data[sl], dtype=np.float64) for n in names])
        negative += int(np.count_nonzero(x < 0))
        c, m, p = _block(method, np.clip(x, 0, None), k, masses, d, voxel)
        comp[:, sl], mass[sl] = c, m
        if rho is not None:
            rho[sl] = p
    inside, curve = _mask(mask, mass, shape, search_max=search_max)
    comp *= 100 * inside
    if rho is not None:
        rho *= inside

    params = {"method": method, "beam_energy_keV": energy, "dose_electrons": d, "voxel_size_nm": voxel,
              "solid_angle_sr": omega, "haadf_angles_mrad": angles, "ratios": r, "factor_source": source,
              "factor_units": UNITS[method], "negative_voxels_clipped": negative,
              "mask": "auto (ESF threshold)" if isinstance(mask, str) else ("none" if mask is None else "given"),
              "threshold": None if curve is None else curve.threshold, "search_max": search_max,
              "sources": {n: str(vols[n].metadata.get_item("General.title", n)) for n in names}}
    ref = next(iter(vols.values()))

    def volume(data, title, quantity):
        return _like(ref, data, title, quantity, params)

    wt = {el: volume(comp[i], f"{el} weight percent ({method})", "Weight percent (wt%)")
          for i, el in enumerate(elements)}
    density = atoms = None
    if rho is not None:
        density = volume(rho, f"Density ({method})", "Density (g/cm³)")
        atoms = {el: volume(comp[i] / 100 * rho * physics.AVOGADRO / masses[i] * 1e-21,
                            f"{el} atom density ({method})", "Atom density (atoms/nm³)")
                 for i, el in enumerate(elements)}
    return Quantification(weight_percent=wt, density=density, atom_density=atoms,
                          mask=volume(inside.astype(np.uint8), f"Particle mask ({method})", "Mask"),
                          factors={n: float(fac[n]) for n in names}, lines=dict(zip(elements, names)),
                          threshold_curve=curve, parameters=params)


def _like(ref, data, title: str, quantity: str, params: dict) -> RecStack:
    out = RecStack(np.asarray(data, dtype=np.float32), tilts=ref.metadata.get_item("Tomography.tilts"))
    for ax, src in zip(out.axes_manager._axes, ref.axes_manager._axes):
        ax.scale, ax.units, ax.offset, ax.name = src.scale, src.units, src.offset, src.name
    out.metadata.General.title = title
    out.metadata.set_item("Signal.quantity", quantity)
    if ref.metadata.has_item("Acquisition_instrument"):
        out.metadata.add_dictionary({"Acquisition_instrument": ref.metadata.Acquisition_instrument.as_dictionary()})
    if ref.metadata.has_item("Reconstruction"):
        out.metadata.set_item("Reconstruction", ref.metadata.Reconstruction.as_dictionary())
    out.metadata.set_item("Quantification", {k: v for k, v in params.items() if v is not None})
    return out

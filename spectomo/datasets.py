"""Simulated multimodal (HAADF + EDS) tilt series with full ground truth.

Signal model (thin-film approximation by default, no secondary fluorescence; Yuan et al. 2020
eq. 4–10 and 13–14; optional X-ray absorption and holder shadowing, below). For a probe position with dose ``D`` (electrons) and areal densities
``m_A = ∫ C_A ρ dt`` (g/cm², line integrals through the phantom along the beam):

* HAADF counts: ``I_H = D_H · N_A · Σ_A (σ_el,A / M_A) · m_A``, Poisson-distributed.
* Net counts of X-ray line ``l`` of element ``A``:
  ``I_l = D_E · (Ω/4π) · N_A · (σ_ion ω p ε / M_A) · m_A`` (``f_A`` of Yuan eq. 7 times the dose),
  with Bote–Salvat ionization, Coster–Kronig cascades, xraylib yields and radiative rates
  (:func:`spectomo.physics.eds_factor`).
* Bremsstrahlung per channel of width ``ΔE`` at energy ``E``:
  ``B(E) = D_E · (Ω/4π) · N_A · ε(E) · ΔE · Σ_A (m_A / M_A) · dσ_brems/dE(Z_A, E)``.
* Spectrum: each line is a Gaussian (FWHM from exspy's detector model) integrated over each
  channel, plus ``B(E)``; channel counts are Poisson-distributed.

All factors come from :mod:`spectomo.physics` and are returned in ``truth.factors``.

Absorption and shadowing (``absorption=True``, ``shadowing=HolderShadow(...)``): each voxel's
X-rays of line ``l`` reach the detectors with the weighted transmission ``A_{t,l}(r)`` of
:func:`spectomo.opencl.attenuation.attenuation_factors` (``μ_l`` from the phantom's partial densities
and :mod:`spectomo.physics.attenuation`; detector directions and visible fractions from
:mod:`spectomo.geometry.detector`), so the net counts are the projections of ``ρ_A A_{t,l}``
instead of ``ρ_A``. The continuum is attenuated at reference energies and interpolated linearly in
log-energy between them. ``truth.absorption`` holds the detector, the shadowing and the true
per-tilt shadow curve ``Σ_j w_j v_j(t)`` and each line's per-tilt transmission.

Projection geometry: volumes ``[x, y, z]`` are projected along ``z`` rotated about the tilt axis
``x`` (see :mod:`spectomo.recon.astra_ops`). Misalignment is then applied identically to every
modality as an image transform of each ideal projection ``P``:
``observed(r) = P(R⁻¹(r − c − d_i − δ·n) + c)`` with ``c`` the image centre, ``R`` the in-plane
rotation by ``tilt_axis_rotation`` (degrees, counter-clockwise from +x, ``(y, x)`` index order),
``n = (cos φ, −sin φ)`` the unit normal of the rotated axis, ``δ = tilt_axis_offset`` (pixels) and
``d_i = shifts[i]`` the drift ``(dy, dx)`` of projection ``i`` (pixels): the content of projection
``i`` appears displaced by ``d_i``. The areal densities are resampled with cubic splines (order 3,
small negative ringing clipped to 0): real drift does not blur an image, and bilinear resampling
here cost the drifted data ~0.5 dB of reconstruction PSNR before any alignment was applied.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import ndimage
from scipy.special import erf
from tqdm.auto import tqdm

from . import physics, validation
from .geometry.astra import forward_project
from .geometry.detector import Detector, HolderShadow
from .opencl.attenuation import attenuation_factors
from .phantoms import PHANTOMS, Phantom, alloy_gradient, core_shell, make_phantom, needle
from .signals import TomoStack

__all__ = ["simulate", "SimulatedTiltSeries", "Phantom", "make_phantom", "PHANTOMS", "core_shell",
           "needle", "alloy_gradient", "default_tilts", "misalign"]

_LAZY_BYTES = 512 * 2**20


def default_tilts(tilt_range=(-70.0, 70.0), tilt_step: float = 5.0) -> np.ndarray:
    """Uniform tilt angles in degrees from ``tilt_range[0]`` to ``tilt_range[1]`` inclusive."""
    lo, hi = map(float, tilt_range)
    if not hi > lo or tilt_step <= 0:
        raise ValueError(f"tilt_range/tilt_step: need lo < hi and step > 0, got {tilt_range}, {tilt_step}")
    n = int(round((hi - lo) / tilt_step)) + 1
    return lo + tilt_step * np.arange(n)


def misalign(images: np.ndarray, shifts: np.ndarray, *, tilt_axis_offset: float = 0.0,
             tilt_axis_rotation: float = 0.0, order: int = 1) -> np.ndarray:
    """Apply drift, tilt-axis offset and tilt-axis rotation to a projection stack (see module).

    Parameters
    ----------
    images : ndarray (n_tilts, ny, nx)
    shifts : ndarray (n_tilts, 2)
        Drift ``(dy, dx)`` in pixels.
    tilt_axis_offset : float
        Axis displacement perpendicular to itself, pixels.
    tilt_axis_rotation : float
        In-plane rotation of the tilt axis, degrees.
    """
    phi = np.deg2rad(tilt_axis_rotation)
    rot = np.array([[np.cos(phi), np.sin(phi)], [-np.sin(phi), np.cos(phi)]])
    inv = rot.T
    centre = (np.asarray(images.shape[1:], dtype=float) - 1) / 2
    normal = np.array([np.cos(phi), -np.sin(phi)])
    out = np.empty_like(images, dtype=np.float32)
    for i, img in enumerate(images):
        d = np.asarray(shifts[i], dtype=float) + tilt_axis_offset * normal
        offset = centre - inv @ (centre + d)
        out[i] = ndimage.affine_transform(img, inv, offset=offset, order=order, mode="constant")
    return out


@dataclass
class SimulatedTiltSeries:
    """A simulated acquisition and everything needed to score a reconstruction of it.

    Attributes
    ----------
    haadf : TomoStack (n_tilts, ny, nx)
        Noisy HAADF counts (electrons per pixel), float32.
    eds : exspy.signals.EDSTEMSpectrum
        Spectrum images, navigation ``(tilt, y, x)``, energy in keV; counts (unsigned ints when
        noisy). Lazy (dask) for large sizes.
    phantom : Phantom
        The specimen: partial densities (g/cm³), weight fractions, density, voxel size (nm).
    tilts : ndarray (n_tilts,)
        Degrees.
    shifts : ndarray (n_tilts, 2)
        Drift ``(dy, dx)`` applied to each projection, pixels (see module docstring).
    tilt_axis_offset, tilt_axis_rotation : float
        Pixels and degrees.
    net_counts : dict[str, TomoStack]
        Noise-free net counts of every simulated X-ray line per pixel (whole Gaussian peak).
    haadf_expected : TomoStack
        Noise-free HAADF.
    areal_density : dict[str, ndarray (n_tilts, ny, nx)]
        ``∫ C_A ρ dt`` per element in g/cm², misaligned like the data.
    lines : list[str]
        Principal analytical lines (exspy's choice for these elements and beam energy).
    factors : dict
        Per line: energy (keV), main subshell, the emitting subshells (σ_ion and vacancy cross
        section in b, ω, p), emission cross section (b), ε, M (g/mol), f (b·mol/g); per element:
        Z, M, σ_el (b), z (b·mol/g); plus the bremsstrahlung model.
    acquisition : dict
        Beam energy (keV), current (nA), dwell times (s), doses (electrons per pixel), solid angle
        (sr), HAADF angles (mrad), energy axis, voxel size (nm), seed.
    absorption : dict
        Empty for a thin-film simulation; else ``absorption`` (bool), ``detector`` and ``shadowing``
        (as dicts), ``shadow_curve`` (n_tilts,), the true fraction of the unshadowed counts that
        reaches the detectors at each tilt, and ``transmission`` (line → (n_tilts,)), the fraction
        of each line's emitted counts detected at each tilt (shadowing included).
    """

    haadf: TomoStack
    eds: object
    phantom: Phantom
    tilts: np.ndarray
    shifts: np.ndarray
    tilt_axis_offset: float
    tilt_axis_rotation: float
    net_counts: dict
    haadf_expected: TomoStack
    areal_density: dict
    lines: list
    factors: dict
    acquisition: dict = field(default_factory=dict)
    absorption: dict = field(default_factory=dict)

    def count_volume(self, line: str) -> np.ndarray:
        """The true volume of line ``line`` in net counts per voxel path length, ``(nx, ny, nz)``.

        This is what a reconstruction of the noise-free, aligned net-count maps approaches:
        ``D_E (Ω/4π) N_A f_l ρ_A Δ`` with ``Δ`` the voxel size.
        """
        if line not in self.factors["lines"]:
            raise KeyError(f"line: {line!r} was not simulated; known {sorted(self.factors['lines'])}")
        acq = self.acquisition
        k = (acq["eds_dose_electrons"] * acq["solid_angle_sr"] / (4 * np.pi) * physics.AVOGADRO
             * physics.BARN_CM2 * self.factors["lines"][line]["f"])
        el = line.split("_")[0]
        return (k * self.phantom.partial_densities[el] * self.phantom.voxel_size * 1e-7).astype(np.float32)

    def haadf_volume(self) -> np.ndarray:
        """The true HAADF volume in electrons per voxel path length, ``(nx, ny, nz)``:
        ``D_H N_A Σ_A z_A ρ_A Δ`` (what a reconstruction of the noise-free HAADF approaches)."""
        acq = self.acquisition
        k = acq["haadf_dose_electrons"] * physics.AVOGADRO * physics.BARN_CM2 * self.phantom.voxel_size * 1e-7
        return sum(k * self.factors["elements"][el]["z"] * self.phantom.partial_densities[el]
                   for el in self.phantom.elements).astype(np.float32)

    def response_ratios(self, lines=None) -> dict:
        """The true HEBT response ratios ``r_l = D_H z_A / (D_E (Ω/4π) f_l)`` (HAADF units per net
        count of line ``l`` of element ``A``; what :func:`spectomo.fit_response_ratios` estimates),
        for ``lines`` (default the principal lines)."""
        acq = self.acquisition
        eds = acq["eds_dose_electrons"] * acq["solid_angle_sr"] / (4 * np.pi)
        return {ln: float(acq["haadf_dose_electrons"] * self.factors["elements"][ln.split("_")[0]]["z"]
                          / (eds * self.factors["lines"][ln]["f"])) for ln in (lines or self.lines)}

    def save(self, folder, *, truth: bool = True) -> dict:
        """Write ``haadf.hspy``, ``eds.hspy`` and (``truth=True``) ``truth/*.hspy`` atomically.

        The truth folder holds the weight-fraction (wt%) and density volumes and the net counts of
        the principal lines and every Kα/Lα/Mα line. Returns a dict name → path of files written.
        """
        from .io import save

        folder = Path(folder)
        paths = {"haadf": save(self.haadf, folder / "haadf.hspy"),
                 "eds": save(self.eds, folder / "eds.hspy")}
        if truth:
            for name, sig in self.phantom.to_signals().items():
                paths[name] = save(sig, folder / "truth" / f"{name}.hspy")
            alpha = [ln for ln in self.net_counts if ln in self.lines or ln[-2:] in ("Ka", "La", "Ma")]
            for line in alpha:
                sig = self.net_counts[line]
                paths[f"net_{line}"] = save(sig, folder / "truth" / f"net_counts_{line}.hspy")
        return paths


def _drift_shifts(rng, tilts: np.ndarray, drift: float) -> np.ndarray:
    """Random-walk drift with per-step standard deviation ``drift`` px, zero at the tilt nearest 0°."""
    order = np.argsort(tilts)
    steps = rng.normal(0.0, drift, size=(len(tilts), 2))
    walk = np.empty_like(steps)
    walk[order] = np.cumsum(steps, axis=0)
    return walk - walk[np.argmin(np.abs(tilts))]


def _simulated_lines(elements, beam_energy: float, e_lo: float, e_hi: float) -> list[str]:
    """Every exspy line of ``elements`` inside the energy range that the beam excites (``f > 0``)."""
    lines = []
    for el in elements:
        for line in physics.element_lines(el):
            e = physics.line_energy(line)
            if not (e_lo <= e <= e_hi and e > 0.1):
                continue
            try:
                if physics.eds_factor(line, beam_energy) > 0:
                    lines.append(line)
            except ValueError:  # no Bote–Salvat subshell or no xraylib yield: the line is not modelled
                continue
    return lines


def _peak_basis(lines, energies: np.ndarray, scale: float, resolution: float) -> np.ndarray:
    """Unit-area Gaussian peaks integrated over each channel, shape (n_lines, n_channels)."""
    lo, hi = energies - scale / 2, energies + scale / 2
    basis = np.empty((len(lines), len(energies)))
    for k, line in enumerate(lines):
        e0 = physics.line_energy(line)
        sigma = physics.peak_fwhm(e0, resolution) / (2 * np.sqrt(2 * np.log(2)))
        basis[k] = 0.5 * (erf((hi - e0) / (np.sqrt(2) * sigma)) - erf((lo - e0) / (np.sqrt(2) * sigma)))
    return basis


def _factors(elements, lines, beam_energy: float, haadf_angles) -> dict:
    """Every physical factor the simulation uses, from :mod:`spectomo.physics` (see SimulatedTiltSeries)."""
    inner, outer = haadf_angles
    out = {"elements": {}, "lines": {}, "bremsstrahlung":
           "thin-target Kramers dσ/dE = (16/3) α r_e² Z² (m0c²/T)/E, isotropic (barn/keV)"}
    for el in elements:
        out["elements"][el] = {
            "Z": physics.atomic_number(el), "M": physics.atomic_weight(el),
            "sigma_elastic_barn": physics.elastic_cross_section(el, beam_energy, inner_angle=inner,
                                                                outer_angle=outer),
            "z": physics.haadf_factor(el, beam_energy, inner_angle=inner, outer_angle=outer)}
    for line in lines:
        el = line.split("_")[0]
        comps, source = physics.line_components(line)
        e = physics.line_energy(line)
        out["lines"][line] = {
            "energy_keV": e, "shell": comps[0][0], "data_source": source,
            "components": [{"shell": sh, "p": p, "omega": physics.fluorescence_yield(el, sh),
                            "sigma_ion_barn": physics.ionization_cross_section(el, sh, beam_energy),
                            "sigma_vacancy_barn": physics.vacancy_cross_section(el, sh, beam_energy)}
                           for sh, p in comps],
            "sigma_emission_barn": physics.emission_cross_section(line, beam_energy),
            "efficiency": float(physics.detector_efficiency(e)), "M": physics.atomic_weight(el),
            "f": physics.eds_factor(line, beam_energy)}
    return out


#: Continuum reference energies with absorption: this many, log-spaced over the energy axis
_CONTINUUM_ENERGIES = 8


def _continuum_hats(energies: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Linear interpolation weights in log-energy, ``(n_ref, n_channels)``, summing to 1 per channel."""
    le = np.log(np.clip(energies, ref[0], ref[-1]))
    lr = np.log(ref)
    eye = np.eye(len(ref))
    return np.stack([np.interp(le, lr, eye[j]) for j in range(len(ref))])


def _attenuated(ph: Phantom, sources: list, channel_energies: list, t: np.ndarray, detector: Detector,
                weights: np.ndarray, progress: bool) -> list:
    """Projections ``∫ s_c A_{t,c} dt`` (voxel units, ``(n_tilts, ny, nx)`` each) of each source
    volume ``s_c`` at its energy, detectors weighted per tilt by ``weights (n_tilts, n_det)``."""
    mu = physics.attenuation_volumes(channel_energies, ph.partial_densities, ph.voxel_size * 1e-7)
    dirs = detector.directions(t)
    nx, ny, _ = ph.shape
    out = [np.empty((len(t), ny, nx), dtype=np.float32) for _ in sources]
    for i in tqdm(range(len(t)), desc="absorption", disable=not progress, leave=False):
        a = attenuation_factors(mu, dirs[i], weights[i])
        for c, p in enumerate(forward_project([src * a[c] for c, src in enumerate(sources)], [t[i]])):
            out[c][i] = p[0]
    return out


def simulate(phantom="core_shell", *, size: int = 32, tilts=None, tilt_range=(-70.0, 70.0),
             tilt_step: float = 5.0, beam_energy: float = 200.0, beam_current: float = 0.5,
             eds_dwell_time: float = 0.02, haadf_dwell_time: float = 5e-6,
             solid_angle: float = 0.7, energy_resolution: float = 130.0,
             energy_channels: int = 1024, energy_scale: float = 0.02, energy_offset: float = 0.0,
             haadf_angles=(60.0, 200.0), drift: float = 0.0, shifts=None,
             tilt_axis_offset: float = 0.0, tilt_axis_rotation: float = 0.0, noise: bool = True,
             absorption: bool = False, detector: Detector | None = None, shadowing: HolderShadow | None = None,
             seed: int = 0, lazy: bool | None = None, phantom_kwargs: dict | None = None,
             progress: bool = True) -> SimulatedTiltSeries:
    """Simulate a HAADF + EDS spectrum-image tilt series of a phantom, with ground truth.

    Parameters
    ----------
    phantom : str or Phantom
        ``'core_shell'`` (Au/Ag), ``'needle'`` (Si/Ni/Cr/Pt), ``'alloy_gradient'`` (Fe/Ni/Pt), or a
        :class:`Phantom`.
    size : int
        Voxels per side of the phantom (images are ``size × size`` pixels).
    tilts : array_like (n_tilts,), optional
        Tilt angles in degrees; default ``tilt_range`` in steps of ``tilt_step`` (±70° step 5°).
        A narrower range (e.g. ``(-50, 50)``) gives a limited-angle case.
    beam_energy : float
        keV.
    beam_current : float
        nA.
    eds_dwell_time, haadf_dwell_time : float
        Seconds per pixel (EDS live time; HAADF dwell).
    solid_angle : float
        EDS detector solid angle Ω in sr (the total of ``detector`` when one is given).
    energy_resolution : float
        EDS FWHM at Mn Kα in eV.
    energy_channels, energy_scale, energy_offset : int, float, float
        Energy axis: number of channels, keV per channel, keV of channel 0.
    haadf_angles : (float, float)
        HAADF inner and outer collection semi-angles in mrad.
    drift : float
        Per-step standard deviation (pixels) of a random-walk drift, zero at the tilt nearest 0°.
    shifts : array_like (n_tilts, 2), optional
        Explicit drift ``(dy, dx)`` per projection in pixels (overrides ``drift``).
    tilt_axis_offset : float
        Tilt-axis displacement perpendicular to the axis, pixels.
    tilt_axis_rotation : float
        In-plane rotation of the tilt axis, degrees.
    noise : bool
        Poisson noise on HAADF and spectra; False returns expected counts (float32).
    absorption : bool
        Attenuate every X-ray line (and the continuum) on its way to the detectors (module docstring).
    detector : Detector, optional
        EDS detector geometry for absorption and shadowing; default a Super-X of ``solid_angle``.
        Written to the spectra's metadata (``Detector.EDS.geometry``).
    shadowing : HolderShadow, optional
        Holder shadowing of the detectors (tilt-dependent), with or without absorption.
    seed : int
        Seed of every random draw (drift and noise): same seed, same data, eager or lazy.
    lazy : bool, optional
        Return the spectra as a lazy (dask) signal, generated one tilt at a time on demand.
        Default: lazy when the spectra would exceed 512 MiB.
    phantom_kwargs : dict, optional
        Passed to the phantom builder (e.g. ``voxel_size``, ``oversample``).
    progress : bool
        Show progress bars.

    Returns
    -------
    SimulatedTiltSeries
    """
    import exspy

    ph = phantom if isinstance(phantom, Phantom) else make_phantom(phantom, size, **(phantom_kwargs or {}))
    beam_energy = validation.beam_energy(beam_energy)
    for name, v in dict(beam_current=beam_current, eds_dwell_time=eds_dwell_time, haadf_dwell_time=haadf_dwell_time,
                        solid_angle=solid_angle, energy_resolution=energy_resolution,
                        energy_scale=energy_scale).items():
        validation.positive(v, name, "a positive number")
    if solid_angle > 4 * np.pi:
        raise ValueError(f"solid_angle: at most 4π sr, got {solid_angle}")
    if int(energy_channels) < 16:
        raise ValueError(f"energy_channels: need at least 16, got {energy_channels}")
    t = default_tilts(tilt_range, tilt_step) if tilts is None else np.asarray(tilts, dtype=float).reshape(-1)
    if t.size < 2 or not np.all(np.isfinite(t)):
        raise ValueError(f"tilts: need at least two finite angles, got {t!r}")
    n = len(t)
    rng = np.random.default_rng([seed, 0])
    if shifts is None:
        sh = _drift_shifts(rng, t, float(drift)) if drift else np.zeros((n, 2))
    else:
        sh = np.asarray(shifts, dtype=float)
        if sh.shape != (n, 2):
            raise ValueError(f"shifts: expected shape ({n}, 2) for {n} tilts, got {sh.shape}")

    if detector is not None and not isinstance(detector, Detector):
        raise TypeError(f"detector: expected a spectomo.geometry.Detector, got {type(detector).__name__}")
    if shadowing is not None and not isinstance(shadowing, HolderShadow):
        raise TypeError(f"shadowing: expected a spectomo.geometry.HolderShadow, got {type(shadowing).__name__}")
    if detector is not None:
        solid_angle = float(detector.solid_angle.sum())
    physical = bool(absorption) or shadowing is not None
    det = detector or Detector.super_x(solid_angle=solid_angle)

    els = ph.elements
    nx, ny, _ = ph.shape
    vox_cm = ph.voxel_size * 1e-7
    ideal = forward_project([ph.partial_densities[el] for el in els], t, progress=progress)
    areal = {}
    for el, p in zip(els, ideal):
        p = p * np.float32(vox_cm)
        if np.any(sh) or tilt_axis_offset or tilt_axis_rotation:
            p = misalign(p, sh, tilt_axis_offset=tilt_axis_offset, tilt_axis_rotation=tilt_axis_rotation,
                         order=3)
        areal[el] = np.clip(p, 0, None)

    # doses and factors
    dose_e = physics.electron_dose(beam_current, eds_dwell_time)
    dose_h = physics.electron_dose(beam_current, haadf_dwell_time)
    geom = solid_angle / (4 * np.pi)
    energies = energy_offset + energy_scale * np.arange(int(energy_channels))
    fw_max = physics.peak_fwhm(max(energies[-1], 1.0), energy_resolution)
    lines = _simulated_lines(els, beam_energy, energies[0] - 3 * fw_max, energies[-1] + 3 * fw_max)
    inner, outer = haadf_angles
    factors = _factors(els, lines, beam_energy, haadf_angles)

    # HAADF
    n_av_b = physics.AVOGADRO * physics.BARN_CM2
    h_exp = sum(dose_h * n_av_b * factors["elements"][el]["z"] * areal[el] for el in els).astype(np.float32)
    h_obs = rng.poisson(h_exp).astype(np.float32) if noise else h_exp.copy()

    # EDS: net line counts, bremsstrahlung map and spectral basis
    brems_spec = (dose_e * geom * n_av_b * physics.detector_efficiency(energies)
                  * energy_scale * physics.bremsstrahlung_cross_section(1, energies, beam_energy))
    zz = {el: physics.atomic_number(el) ** 2 / physics.atomic_weight(el) for el in els}
    absorption_truth: dict = {}
    if physical:
        vis = shadowing.visible(det, t) if shadowing is not None else np.ones((n, det.n_detectors))
        weights = det.weights[None, :] * vis
        curve = weights.sum(axis=1)
        if absorption:
            ref = np.geomspace(max(0.2, energies[0] + energy_scale), energies[-1], _CONTINUUM_ENERGIES)
            brems_density = sum(ph.partial_densities[el] * zz[el] for el in els)
            sources = [ph.partial_densities[line.split("_")[0]] for line in lines] + [brems_density] * len(ref)
            emitted = _attenuated(ph, sources, [physics.line_energy(ln) for ln in lines] + list(ref), t, det,
                                  weights, progress)
            if np.any(sh) or tilt_axis_offset or tilt_axis_rotation:
                emitted = [misalign(p, sh, tilt_axis_offset=tilt_axis_offset,
                                    tilt_axis_rotation=tilt_axis_rotation, order=3) for p in emitted]
            emitted = [np.clip(p * np.float32(vox_cm), 0, None) for p in emitted]
            line_areal = dict(zip(lines, emitted[: len(lines)]))
            brems_maps = emitted[len(lines):]
            brems_rows = brems_spec[None, :] * _continuum_hats(energies, ref)
        else:  # shadowing only: every line and the continuum scale alike
            scale = curve.astype(np.float32)[:, None, None]
            line_areal = {line: areal[line.split("_")[0]] * scale for line in lines}
            brems_maps = [sum(areal[el] * zz[el] for el in els) * scale]
            brems_rows = brems_spec[None, :]
        absorption_truth = {
            "absorption": bool(absorption), "detector": det.as_dict(),
            "shadowing": None if shadowing is None else shadowing.as_dict(), "shadow_curve": curve,
            "transmission": {ln: line_areal[ln].sum(axis=(1, 2)) / np.maximum(
                areal[ln.split("_")[0]].sum(axis=(1, 2)), 1e-30) for ln in lines}}
    else:
        line_areal = {line: areal[line.split("_")[0]] for line in lines}
        brems_maps = [sum(areal[el] * zz[el] for el in els)]
        brems_rows = brems_spec[None, :]
    net = {line: (dose_e * geom * n_av_b * factors["lines"][line]["f"] * line_areal[line]).astype(np.float32)
           for line in lines}
    basis = np.vstack([_peak_basis(lines, energies, energy_scale, energy_resolution), brems_rows])
    maps = np.stack([net[line] for line in lines] + [m.astype(np.float32) for m in brems_maps])  # (k, n, ny, nx)
    bound = float((maps.reshape(len(maps), -1).max(axis=1) * basis.max(axis=1)).sum())
    dtype = np.float32 if not noise else (np.uint16 if bound + 10 * np.sqrt(bound) + 10 < 65535 else np.uint32)

    def tilt_block(i: int) -> np.ndarray:
        expected = np.tensordot(maps[:, i], basis, axes=(0, 0))  # (ny, nx, n_channels)
        if not noise:
            return expected.astype(np.float32)
        g = np.random.default_rng([seed, 1, i])
        return g.poisson(np.clip(expected, 0, None)).astype(dtype)

    shape = (n, ny, nx, len(energies))
    nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
    lazy = nbytes > _LAZY_BYTES if lazy is None else bool(lazy)
    if lazy:
        import dask
        import dask.array as da

        data = da.stack([da.from_delayed(dask.delayed(tilt_block)(i), shape=shape[1:], dtype=dtype)
                         for i in range(n)])
        eds_cls = exspy.signals.LazyEDSTEMSpectrum
    else:
        data = np.empty(shape, dtype=dtype)
        for i in tqdm(range(n), desc="EDS spectra", disable=not progress, leave=False):
            data[i] = tilt_block(i)
        eds_cls = exspy.signals.EDSTEMSpectrum

    uniform = bool(np.allclose(np.diff(t), t[1] - t[0]))
    tilt_axis = {"name": "Projections", "size": n, "units": "degrees", "navigate": True,
                 "offset": float(t[0]) if uniform else 0.0, "scale": float(t[1] - t[0]) if uniform else 1.0}
    space = [{"name": nm, "size": sz, "scale": ph.voxel_size, "offset": 0.0, "units": "nm", "navigate": True}
             for nm, sz in (("y", ny), ("x", nx))]
    energy_axis = {"name": "Energy", "size": len(energies), "scale": energy_scale,
                   "offset": energy_offset, "units": "keV", "navigate": False}
    eds = eds_cls(data, axes=[tilt_axis, *space, energy_axis])
    eds.metadata.General.title = f"EDS ({ph.name}, simulated)"
    eds.set_microscope_parameters(beam_energy=beam_energy, live_time=eds_dwell_time,
                                  beam_current=beam_current, probe_area=ph.voxel_size**2,
                                  energy_resolution_MnKa=energy_resolution, real_time=eds_dwell_time)
    eds.metadata.set_item("Acquisition_instrument.TEM.Detector.EDS.solid_angle", solid_angle)
    if physical or detector is not None:
        eds.metadata.set_item("Acquisition_instrument.TEM.Detector.EDS.geometry", det.as_dict())
    eds.add_elements(els)
    eds.add_lines()
    principal = list(eds.metadata.Sample.xray_lines)
    eds.metadata.set_item("Tomography.tilts", t.copy())
    eds.metadata.set_item("Tomography.shifts", np.zeros((n, 2)))

    acquisition = {"phantom": ph.name, "beam_energy_keV": beam_energy, "beam_current_nA": beam_current,
                   "eds_dwell_time_s": eds_dwell_time, "haadf_dwell_time_s": haadf_dwell_time,
                   "eds_dose_electrons": dose_e, "haadf_dose_electrons": dose_h,
                   "solid_angle_sr": solid_angle, "energy_resolution_MnKa_eV": energy_resolution,
                   "haadf_inner_angle_mrad": inner, "haadf_outer_angle_mrad": outer,
                   "voxel_size_nm": ph.voxel_size, "noise": bool(noise), "seed": int(seed),
                   "drift_step_px": float(drift), "tilt_axis_offset_px": float(tilt_axis_offset),
                   "tilt_axis_rotation_deg": float(tilt_axis_rotation), "absorption": bool(absorption),
                   "shadowing": shadowing is not None}
    eds.metadata.set_item("Simulation", dict(acquisition))

    def stack(data_, title, quantity):
        s = TomoStack(np.asarray(data_, dtype=np.float32), tilts=t)
        for ax in s.axes_manager.signal_axes:
            ax.scale, ax.units = ph.voxel_size, "nm"
        s.metadata.General.title = title
        s.metadata.Signal.quantity = quantity
        s.metadata.set_item("Acquisition_instrument.TEM.beam_energy", beam_energy)
        s.metadata.set_item("Acquisition_instrument.TEM.beam_current", beam_current)
        s.metadata.set_item("Simulation", dict(acquisition))
        return s

    def eds_map(data_, line):
        s = stack(data_, f"{line} net counts (truth)", "X-ray counts")
        s.metadata.set_item("Acquisition_instrument.TEM.Detector.EDS.live_time", eds_dwell_time)
        s.metadata.set_item("Acquisition_instrument.TEM.Detector.EDS.solid_angle", solid_angle)
        if physical or detector is not None:
            s.metadata.set_item("Acquisition_instrument.TEM.Detector.EDS.geometry", det.as_dict())
        s.metadata.set_item("Sample.xray_lines", [line])
        return s

    haadf = stack(h_obs, f"HAADF ({ph.name}, simulated)", "Electrons (counts)")
    haadf.metadata.set_item("Acquisition_instrument.TEM.Detector.HAADF.inner_angle", inner)
    haadf.metadata.set_item("Acquisition_instrument.TEM.Detector.HAADF.outer_angle", outer)
    haadf.metadata.set_item("Acquisition_instrument.TEM.Detector.HAADF.dwell_time", haadf_dwell_time)
    return SimulatedTiltSeries(
        haadf=haadf, eds=eds, phantom=ph, tilts=t, shifts=sh, tilt_axis_offset=float(tilt_axis_offset),
        tilt_axis_rotation=float(tilt_axis_rotation),
        net_counts={line: eds_map(net[line], line) for line in lines},
        haadf_expected=stack(h_exp, "HAADF expected (truth)", "Electrons (counts)"),
        areal_density=areal, lines=principal, factors=factors, acquisition=acquisition,
        absorption=absorption_truth)

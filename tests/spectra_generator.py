"""A second EDS tilt-series generator for the spectral tests, independent of ``spectomo.datasets``.

Deliberately different from the built-in simulator: three Gaussian blobs projected analytically
(no voxel phantom), a diffuse light-element matrix (Mg) under a localised Si particle and a
localised W particle whose M lines overlap Si Kα, a power-law background with a soft cut-off
(not bremsstrahlung × detector efficiency), line intensities from exspy's weights perturbed by
±20 % (the fit must not rely on them), lines down to weight 0.001, and an energy axis that starts
below zero with a detector noise peak at 0 keV.
"""

from __future__ import annotations

import numpy as np
from scipy.special import erf

#: element → (blob centre (z, y, x) in pixels from the centre, sigma in pixels, peak areal density)
BLOBS = {"Mg": ((0.0, 0.0, 0.0), 7.0, 1.0), "Si": ((2.0, -3.0, 3.0), 2.5, 1.6), "W": ((-2.0, 2.5, -2.0), 2.0, 1.2)}
#: counts of each family's α line per unit areal density at dose 1
YIELD = {("Mg", "K"): 150.0, ("Si", "K"): 220.0, ("W", "M"): 260.0, ("W", "L"): 90.0}
LINES = ["Mg_Ka", "Si_Ka", "W_Ma", "W_La"]


def _fwhm(energy_kev, resolution_ev):
    """Detector FWHM in keV: Fiori–Newbury, FWHM² = 2.5 eV · (E − E_MnKα) + FWHM_MnKα²."""
    return np.sqrt(2.5 * (energy_kev * 1000 - 5898.7) + resolution_ev**2) / 1000


def family_lines():
    """(line, energy keV, relative intensity) for every simulated line, weights perturbed ±20 %."""
    import exspy

    rng = np.random.default_rng(123)
    out = []
    for (el, fam), _ in YIELD.items():
        table = exspy.material.elements[el]["Atomic_properties"]["Xray_lines"]
        for name, row in table.as_dictionary().items():
            if name[0] != fam or row["weight"] < 1e-3:
                continue
            w = row["weight"] * (1.0 if row["weight"] == 1.0 else rng.uniform(0.8, 1.2))
            out.append((f"{el}_{name}", float(row["energy (keV)"]), w, (el, fam)))
    return out


def projected_density(el, tilts, size):
    """Areal density of element ``el`` per projection, shape (n_tilts, size, size)."""
    (z, y, x), sigma, peak = BLOBS[el]
    g = np.arange(size) - (size - 1) / 2
    out = []
    for t in np.radians(tilts):
        xp = x * np.cos(t) + z * np.sin(t)
        img = np.exp(-((g[:, None] - y) ** 2 + (g[None, :] - xp) ** 2) / (2 * sigma**2))
        out.append(peak * img)
    return np.array(out)


def make_series(*, n_tilts=5, size=24, dose=1.0, noise=True, seed=0, n_channels=1100, scale=0.01,
                offset=-0.2, resolution=135.0):
    """An exspy EDSTEMSpectrum tilt series (navigation tilt, y, x) and the true net counts per line."""
    import exspy

    tilts = np.linspace(-60, 60, n_tilts)
    energy = offset + scale * np.arange(n_channels)
    edges = np.concatenate([energy - scale / 2, [energy[-1] + scale / 2]])
    dens = {el: projected_density(el, tilts, size) for el in BLOBS}
    expected = np.zeros((n_tilts, size, size, n_channels))
    truth = {}
    for name, e0, w, (el, fam) in family_lines():
        s = _fwhm(e0, resolution) / (2 * np.sqrt(2 * np.log(2)))
        shape = np.diff(0.5 * erf((edges - e0) / (np.sqrt(2) * s)))
        counts = dose * YIELD[(el, fam)] * w * dens[el]
        if name in LINES:
            truth[name] = counts
        expected += counts[..., None] * shape
    mass = sum(d for d in dens.values())
    e = np.clip(energy, 1e-3, None)
    background = 0.8 * e ** -1.3 * (1 - np.exp(-(e / 0.9) ** 3)) * (energy > 0.05) * scale / 0.01
    expected += dose * (mass[..., None] + 0.05) * background
    noise_peak = np.exp(-energy**2 / (2 * 0.025**2))
    expected += dose * 0.3 * noise_peak / noise_peak.sum()
    data = np.random.default_rng(seed).poisson(expected).astype(np.float32) if noise else expected.astype(np.float32)
    s = exspy.signals.EDSTEMSpectrum(data)
    ax = s.axes_manager.signal_axes[0]
    ax.scale, ax.offset, ax.units, ax.name = scale, offset, "keV", "Energy"
    for a, name in zip(s.axes_manager.navigation_axes, ("x", "y", "tilt")):
        a.name = name
    s.metadata.set_item("Acquisition_instrument.TEM.beam_energy", 200.0)
    s.metadata.set_item("Acquisition_instrument.TEM.Detector.EDS.energy_resolution_MnKa", resolution)
    s.metadata.set_item("Sample.elements", sorted(BLOBS))
    s.metadata.set_item("Tomography.tilts", tilts.tolist())
    return s, truth

"""3D phantoms with known per-voxel composition and density.

A phantom is defined analytically as partial densities ``ρ_A(x, y, z) = C_A ρ`` (g/cm³) in physical
coordinates (nm, origin at the volume centre), evaluated on a grid ``oversample`` times finer than the
voxel grid and block-averaged. Averaging partial densities (mass per volume) is the physically right
partial-volume model: each voxel holds the true mass of each element it contains.

Layout: ``volume[x, y, z]``; ``x`` runs along the tilt axis, ``z`` is the beam direction at 0° tilt.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


__all__ = ["Phantom", "make_phantom", "PHANTOMS", "core_shell", "needle", "alloy_gradient", "nanoparticles",
           "precipitates"]



def _physics():
    """:mod:`spectomo.physics`, imported on first use (it imports exspy, which the command line's
    ``--help`` should not wait for)."""
    from . import physics

    return physics

@dataclass
class Phantom:
    """A voxelised specimen.

    Attributes
    ----------
    name : str
        Phantom name.
    partial_densities : dict[str, ndarray (nx, ny, nz)]
        Mass of each element per volume, ``C_A ρ``, in g/cm³ (float32).
    voxel_size : float
        Voxel edge length in nm.
    description : str
        What the phantom represents.
    """

    name: str
    partial_densities: dict
    voxel_size: float
    description: str = ""
    parameters: dict = field(default_factory=dict)

    @property
    def elements(self) -> list[str]:
        return list(self.partial_densities)

    @property
    def shape(self) -> tuple[int, int, int]:
        return next(iter(self.partial_densities.values())).shape

    @property
    def density(self) -> np.ndarray:
        """Density ρ in g/cm³, shape (nx, ny, nz); 0 in vacuum."""
        return sum(self.partial_densities.values())

    @property
    def weight_fractions(self) -> dict:
        """Weight fractions ``C_A`` (0–1) per element, shape (nx, ny, nz); 0 in vacuum."""
        rho = self.density
        with np.errstate(invalid="ignore", divide="ignore"):
            return {el: np.where(rho > 0, p / np.where(rho > 0, rho, 1), 0).astype(np.float32)
                    for el, p in self.partial_densities.items()}

    def majority_regions(self, *, erosion: int = 1) -> dict:
        """Element → where it is the majority element inside the particle, for region-wise scores.

        Inside means a density above half the highest density among the voxels where that element
        is the majority (so a light support under dense particles counts as inside its own region);
        each region is eroded by ``erosion`` voxels so that partial-volume edges and interfaces are
        left out (core_shell: Au → core, Ag → shell; catalyst: Ce → support, Pt → particles).
        """
        from scipy.ndimage import binary_erosion

        pd = self.partial_densities
        rho = self.density
        out = {}
        for el, p in pd.items():
            major = np.all([p > q for other, q in pd.items() if other != el], axis=0) & (rho > 0)
            if not major.any():
                continue
            region = major & (rho > 0.5 * float(rho[major].max()))
            out[el] = binary_erosion(region, iterations=erosion) if erosion else region
        return {el: r for el, r in out.items() if r.any()}

    def to_signals(self) -> dict:
        """Ground truth as RecStacks: ``'wt_<El>'`` in wt% and ``'density'`` in g/cm³."""
        from .signals import RecStack

        def rec(data, title, quantity):
            r = RecStack(np.asarray(data, dtype=np.float32))
            for ax in (r.axes_manager.navigation_axes + r.axes_manager.signal_axes):
                ax.scale, ax.units = self.voxel_size, "nm"
            r.metadata.General.title = title
            r.metadata.Signal.quantity = quantity
            r.metadata.set_item("Simulation.phantom", self.name)
            return r

        out = {f"wt_{el}": rec(100 * c, f"{el} weight fraction (truth)", "Weight fraction (wt%)")
               for el, c in self.weight_fractions.items()}
        out["density"] = rec(self.density, "Density (truth)", "Density (g/cm^3)")
        return out


def _sample(fn, size: int, voxel_size: float, oversample: int) -> dict:
    """Evaluate ``fn(x, y, z) -> {el: partial density}`` with sub-voxel averaging, slab by slab."""
    n, s = size, oversample
    sub = (np.arange(n * s) + 0.5) / s - n / 2  # sub-voxel centres in voxel units
    coords = sub * voxel_size
    out: dict = {}
    for i in range(n):
        xs = coords[i * s:(i + 1) * s]
        x, y, z = np.meshgrid(xs, coords, coords, indexing="ij")
        for el, val in fn(x, y, z).items():
            arr = out.setdefault(el, np.zeros((n, n, n), dtype=np.float32))
            val = np.broadcast_to(val, x.shape)
            arr[i] = val.reshape(s, n, s, n, s).mean(axis=(0, 2, 4))
    return out


def _mix(weights: dict, occupancy) -> dict:
    """Partial densities of a local composition ``weights`` (fractions) filling ``occupancy``."""
    rho = _physics().mixture_density(weights)
    return {el: occupancy * c * rho for el, c in weights.items()}


def core_shell(size: int = 32, *, voxel_size: float | None = None, oversample: int = 2,
               core=(("Au", 0.8), ("Ag", 0.2)), shell=(("Au", 0.2), ("Ag", 0.8)),
               interface_width: float = 1.5) -> Phantom:
    """Bimetallic core–shell particle with a graded interface (after Yuan et al. 2020).

    A sphere of radius 0.36·FOV with an eccentric core of radius 0.55 of the particle radius.
    Composition changes from ``core`` to ``shell`` across a tanh profile of half-width
    ``interface_width`` nm. Default field of view 40 nm.
    """
    vs = voxel_size or 40.0 / size
    fov = size * vs
    rp, rc = 0.36 * fov, 0.55 * 0.36 * fov
    centre = np.array([0.05, -0.08, 0.06]) * rp
    core, shell = dict(core), dict(shell)
    els = sorted(set(core) | set(shell))

    def fn(x, y, z):
        r = np.sqrt(x**2 + y**2 + z**2)
        d = np.sqrt((x - centre[0]) ** 2 + (y - centre[1]) ** 2 + (z - centre[2]) ** 2)
        w = 0.5 * (1 - np.tanh((d - rc) / interface_width))
        comp = {el: w * core.get(el, 0.0) + (1 - w) * shell.get(el, 0.0) for el in els}
        return _mix(comp, (r <= rp).astype(float))

    return Phantom("core_shell", _sample(fn, size, vs, oversample), vs,
                   "core–shell particle, Au-rich core (80/20 wt%), Ag-rich shell (20/80 wt%)",
                   {"particle_radius_nm": rp, "core_radius_nm": rc, "core_centre_nm": centre.tolist(),
                    "interface_width_nm": interface_width, "core": core, "shell": shell})


def needle(size: int = 32, *, voxel_size: float | None = None, oversample: int = 2,
           n_layers: int = 6) -> Phantom:
    """Needle with alternating Ni / Cr layers on Si, capped with Pt (like NIST SRM-2135c).

    The needle axis is the tilt axis ``x``: Si substrate at low ``x``, ``n_layers`` alternating
    Ni/Cr layers, then a Pt cap up to a rounded tip. Tapered circular cross-section. Default field of
    view 120 nm.
    """
    vs = voxel_size or 120.0 / size
    fov = size * vs
    x0, x_si, x_pt, x_tip = -0.5 * fov, -0.2 * fov, 0.22 * fov, 0.42 * fov
    r_base, r_tip = 0.3 * fov, 0.12 * fov
    layer = (x_pt - x_si) / n_layers

    def fn(x, y, z):
        radius = r_base - (r_base - r_tip) * (x - x0) / (x_tip - x0)
        rr = np.sqrt(y**2 + z**2)
        inside = (rr <= radius) & (x <= x_tip - r_tip) | (
            (x > x_tip - r_tip) & ((x - (x_tip - r_tip)) ** 2 + rr**2 <= r_tip**2))
        k = np.floor((x - x_si) / layer)
        is_ni = (x >= x_si) & (x < x_pt) & (k % 2 == 0)
        is_cr = (x >= x_si) & (x < x_pt) & (k % 2 == 1)
        occ = inside.astype(float)
        return {"Si": occ * (x < x_si) * _physics().element_density("Si"),
                "Ni": occ * is_ni * _physics().element_density("Ni"),
                "Cr": occ * is_cr * _physics().element_density("Cr"),
                "Pt": occ * (x >= x_pt) * _physics().element_density("Pt")}

    return Phantom("needle", _sample(fn, size, vs, oversample), vs,
                   "needle along the tilt axis: Si substrate, alternating Ni/Cr layers, Pt cap",
                   {"n_layers": n_layers, "layer_thickness_nm": layer, "base_radius_nm": r_base,
                    "tip_radius_nm": r_tip})


# Pt particle directions on the host surface (unit vectors, fixed so the phantom is deterministic)
_PT_DIRS = np.array([[0.3, 0.8, 0.5], [-0.6, 0.2, 0.77], [0.1, -0.9, 0.4], [0.7, -0.3, -0.6],
                     [-0.4, -0.5, -0.75], [-0.2, 0.95, -0.2]])
_PT_RADII = np.array([0.045, 0.03, 0.04, 0.025, 0.035, 0.02])  # × FOV


def alloy_gradient(size: int = 32, *, voxel_size: float | None = None, oversample: int = 2,
                   ni_range=(0.1, 0.9)) -> Phantom:
    """Fe–Ni ellipsoid with a linear Ni gradient along ``x``, decorated with six small Pt particles.

    Tests gradual concentration changes and small features (Pt particle radii 1.2–2.7 nm at the
    default 60 nm field of view).
    """
    vs = voxel_size or 60.0 / size
    fov = size * vs
    ax = np.array([0.34, 0.24, 0.2]) * fov
    dirs = _PT_DIRS / np.linalg.norm(_PT_DIRS, axis=1, keepdims=True)
    scale = 1 / np.sqrt(((dirs / ax) ** 2).sum(axis=1))  # distance to the ellipsoid surface
    centres = dirs * scale[:, None]
    radii = _PT_RADII * fov

    def fn(x, y, z):
        host = (x / ax[0]) ** 2 + (y / ax[1]) ** 2 + (z / ax[2]) ** 2 <= 1
        t = np.clip((x + ax[0]) / (2 * ax[0]), 0, 1)
        ni = ni_range[0] + (ni_range[1] - ni_range[0]) * t
        pt = np.zeros(x.shape, dtype=bool)
        for c, r in zip(centres, radii):
            pt |= (x - c[0]) ** 2 + (y - c[1]) ** 2 + (z - c[2]) ** 2 <= r**2
        out = _mix({"Fe": 1 - ni, "Ni": ni}, (host & ~pt).astype(float))
        out["Pt"] = pt * _physics().element_density("Pt")
        return out

    return Phantom("alloy_gradient", _sample(fn, size, vs, oversample), vs,
                   "Fe–Ni ellipsoid, Ni 10→90 wt% along x, six 1–3 nm Pt particles on its surface",
                   {"semi_axes_nm": ax.tolist(), "pt_centres_nm": centres.tolist(),
                    "pt_radii_nm": radii.tolist(), "ni_range": list(ni_range)})


# nanoparticle centres (× FOV) and radii (× FOV): spread through the volume, off the tilt axis
_NP_CENTRES = np.array([[-0.28, 0.05, 0.1], [-0.12, -0.22, -0.05], [0.02, 0.18, 0.2], [0.15, -0.08, -0.22],
                        [0.3, 0.25, 0.0], [0.22, -0.28, 0.12], [-0.3, 0.28, -0.18], [0.05, -0.02, 0.02]])
_NP_RADII = np.array([0.06, 0.05, 0.07, 0.045, 0.05, 0.04, 0.055, 0.08])


def nanoparticles(size: int = 32, *, voxel_size: float | None = None, oversample: int = 2) -> Phantom:
    """Eight Au and Pd nanoparticles (radii 2–4 nm at the default 50 nm field of view) spread
    through the volume, as on a porous support that is not imaged.

    Particles off the tilt axis trace long paths during tilting: the case for centre-of-mass
    registration and the maximum-image tilt-axis method.
    """
    vs = voxel_size or 50.0 / size
    fov = size * vs
    centres, radii = _NP_CENTRES * fov, _NP_RADII * fov
    dens = {"Au": _physics().element_density("Au"), "Pd": _physics().element_density("Pd")}

    def fn(x, y, z):
        out = {"Au": np.zeros(x.shape), "Pd": np.zeros(x.shape)}
        for k, (c, r) in enumerate(zip(centres, radii)):
            el = "Au" if k % 2 == 0 else "Pd"
            inside = (x - c[0]) ** 2 + (y - c[1]) ** 2 + (z - c[2]) ** 2 <= r**2
            out[el] = np.where(inside, dens[el], out[el])
        return out

    return Phantom("nanoparticles", _sample(fn, size, vs, oversample), vs,
                   "eight Au and Pd nanoparticles spread through the volume",
                   {"centres_nm": centres.tolist(), "radii_nm": radii.tolist()})


# precipitate centres (× FOV, x along the needle) and radii (× FOV); even: Yb-rich, odd: Si-rich
_PR_CENTRES = np.array([[-0.28, 0.08, -0.1], [-0.12, -0.12, 0.12], [0.05, 0.1, 0.05], [0.2, -0.06, -0.12],
                        [0.33, 0.05, 0.1], [-0.02, -0.14, -0.1]])
_PR_RADII = np.array([0.07, 0.09, 0.06, 0.08, 0.05, 0.065])


def precipitates(size: int = 32, *, voxel_size: float | None = None, oversample: int = 2,
                 si_range=(0.02, 0.12)) -> Phantom:
    """Al–Si needle with Yb- and Si-rich precipitates, after the phantom of Huber et al. (2019).

    A cylinder along the tilt axis (radius 0.33·FOV) of Al with a gradual Si content rising from
    ``si_range[0]`` to ``si_range[1]`` along ``y`` (a gradual change), holding three Yb-rich
    precipitates (Yb 70 / Si 30 wt%) and three Si precipitates (abrupt changes), radii 2–3.6 nm
    at the default 40 nm field of view. Three elements with very different signals: the case for
    a coupled multi-channel reconstruction.
    """
    vs = voxel_size or 40.0 / size
    fov = size * vs
    centres, radii = _PR_CENTRES * fov, _PR_RADII * fov
    r_needle = 0.33 * fov

    def fn(x, y, z):
        inside = (y**2 + z**2 <= r_needle**2) & (np.abs(x) <= 0.45 * fov)
        si = si_range[0] + (si_range[1] - si_range[0]) * np.clip((y + r_needle) / (2 * r_needle), 0, 1)
        comp = {"Al": 1 - si, "Si": si, "Yb": np.zeros_like(si)}
        for k, (c, r) in enumerate(zip(centres, radii)):
            ball = (x - c[0]) ** 2 + (y - c[1]) ** 2 + (z - c[2]) ** 2 <= r**2
            new = {"Al": 0.0, "Si": 0.3, "Yb": 0.7} if k % 2 == 0 else {"Al": 0.0, "Si": 1.0, "Yb": 0.0}
            for el in comp:
                comp[el] = np.where(ball, new[el], comp[el])
        return _mix(comp, inside.astype(float))

    return Phantom("precipitates", _sample(fn, size, vs, oversample), vs,
                   "Al–Si needle (Si graded along y) with three Yb-rich and three Si precipitates",
                   {"needle_radius_nm": r_needle, "precipitate_centres_nm": centres.tolist(),
                    "precipitate_radii_nm": radii.tolist(), "si_range": list(si_range)})


def satellite(size: int = 32, *, voxel_size: float | None = None, oversample: int = 2) -> Phantom:
    """Ag-shell / Au-core particle with a small Cu-rich satellite particle: a minor element.

    The core–shell particle (radius 0.3·FOV, Au 80 / Ag 20 wt% core of 0.55 of the radius, Ag 85 /
    Au 15 wt% shell) touches a satellite of radius 0.09·FOV of Cu 90 / Ag 10 wt%, off the tilt axis.
    Cu is a few per cent of the EDS signal: the case where a joint reconstruction must not let a
    minor element absorb the other channels' residual. Default field of view 40 nm.
    """
    vs = voxel_size or 40.0 / size
    fov = size * vs
    rp, rc, rs = 0.3 * fov, 0.55 * 0.3 * fov, 0.09 * fov
    centre = np.array([0.0, -0.06, 0.0]) * fov
    sat = centre + np.array([0.1, 0.3 + 0.09 - 0.01, 0.05]) * fov
    core, shell, cu = {"Au": 0.8, "Ag": 0.2, "Cu": 0.0}, {"Au": 0.15, "Ag": 0.85, "Cu": 0.0}, {"Au": 0.0, "Ag": 0.1, "Cu": 0.9}

    def fn(x, y, z):
        r = np.sqrt((x - centre[0]) ** 2 + (y - centre[1]) ** 2 + (z - centre[2]) ** 2)
        in_sat = (x - sat[0]) ** 2 + (y - sat[1]) ** 2 + (z - sat[2]) ** 2 <= rs**2
        comp = {el: np.where(r <= rc, core[el], np.where(in_sat, cu[el], shell[el])) for el in core}
        return _mix(comp, ((r <= rp) | in_sat).astype(float))

    return Phantom("satellite", _sample(fn, size, vs, oversample), vs,
                   "Au-core / Ag-shell particle with a small Cu-rich satellite (minor element)",
                   {"particle_radius_nm": rp, "core_radius_nm": rc, "satellite_radius_nm": rs,
                    "satellite_centre_nm": sat.tolist()})


def alcu_particle(size: int = 32, *, voxel_size: float | None = None, oversample: int = 2,
                  core=(("Al", 0.50), ("Cu", 0.40), ("Mg", 0.10)),
                  shell=(("Al", 0.20), ("Cu", 0.75), ("Mg", 0.05))) -> Phantom:
    """Al–Cu–Mg particle: an Al-rich core in a Cu-rich shell, large enough for X-ray absorption.

    A sphere of radius 0.36·FOV; an off-centre core of radius 0.55 of it. Default field of view
    480 nm (15 nm voxels at 32³, a particle of ~350 nm): towards a Super-X the soft Al Kα
    (1.49 keV) and Mg Kα (1.25 keV) lines lose ~20–25 % on their way out through the Cu-rich shell
    (attenuation length of Al Kα ~250 nm in Cu), Cu Kα (8.05 keV) almost nothing. The case for
    :func:`spectomo.correct_absorption`.
    """
    vs = voxel_size or 480.0 / size
    fov = size * vs
    rp, rc = 0.36 * fov, 0.55 * 0.36 * fov
    centre = np.array([0.04, 0.1, -0.08]) * rp
    core, shell = dict(core), dict(shell)
    els = sorted(set(core) | set(shell))

    def fn(x, y, z):
        r = np.sqrt(x**2 + y**2 + z**2)
        in_core = (x - centre[0]) ** 2 + (y - centre[1]) ** 2 + (z - centre[2]) ** 2 <= rc**2
        comp = {el: np.where(in_core, core.get(el, 0.0), shell.get(el, 0.0)) for el in els}
        return _mix(comp, (r <= rp).astype(float))

    return Phantom("alcu_particle", _sample(fn, size, vs, oversample), vs,
                   "Al–Cu–Mg particle, Al-rich core (Al 50 / Cu 40 / Mg 10 wt%) in a Cu-rich shell "
                   "(Al 20 / Cu 75 / Mg 5): soft Al and Mg K lines absorbed",
                   {"particle_radius_nm": rp, "core_radius_nm": rc, "core_centre_nm": centre.tolist(),
                    "core": core, "shell": shell})


def catalyst(size: int = 32, *, voxel_size: float | None = None, oversample: int = 2, n_particles: int = 12,
             seed: int = 0) -> Phantom:
    """Heterogeneous catalyst: Pt particles on the surface of a CeO₂ support (after ETSpy's catalyst model).

    A CeO₂ sphere (Ce 81.4 / O 18.6 wt%, 7.2 g/cm³) of radius 0.34·FOV carries ``n_particles`` Pt
    particles of radius 0.03–0.05·FOV, centred on its surface (half embedded), at positions drawn
    with ``seed`` and kept apart. Default field of view 60 nm. Three elements with very different
    signals: a light element (O Kα at 0.52 keV), a heavy support and a minor element in small
    particles.
    """
    vs = voxel_size or 60.0 / size
    fov = size * vs
    rs = 0.34 * fov
    rng = np.random.default_rng(seed)
    centres, radii = [], []
    while len(centres) < int(n_particles):
        v = rng.normal(size=3)
        c = rs * v / np.linalg.norm(v)
        r = rng.uniform(0.03, 0.05) * fov
        if all(np.linalg.norm(c - q) > r + rq + 0.01 * fov for q, rq in zip(centres, radii)):
            centres.append(c)
            radii.append(r)
    support = {"Ce": 0.814, "O": 0.186, "Pt": 0.0}
    pt = {"Ce": 0.0, "O": 0.0, "Pt": 1.0}

    def fn(x, y, z):
        in_support = x**2 + y**2 + z**2 <= rs**2
        in_pt = np.zeros(np.broadcast(x, y, z).shape, dtype=bool)
        for c, r in zip(centres, radii):
            in_pt |= (x - c[0]) ** 2 + (y - c[1]) ** 2 + (z - c[2]) ** 2 <= r**2
        out = {}
        for el in support:
            rho_s = support[el] * 7.2
            rho_p = pt[el] * _physics().element_density("Pt")
            out[el] = np.where(in_pt, rho_p, np.where(in_support, rho_s, 0.0))
        return out

    return Phantom("catalyst", _sample(fn, size, vs, oversample), vs,
                   "CeO2 support sphere with Pt particles on its surface (ETSpy's catalyst model, in 3 elements)",
                   {"support_radius_nm": rs, "particle_centres_nm": np.array(centres).tolist(),
                    "particle_radii_nm": radii, "seed": int(seed)})


PHANTOMS = {"core_shell": core_shell, "needle": needle, "alloy_gradient": alloy_gradient,
            "nanoparticles": nanoparticles, "precipitates": precipitates, "satellite": satellite,
            "alcu_particle": alcu_particle, "catalyst": catalyst}


def make_phantom(name: str = "core_shell", size: int = 32, **kwargs) -> Phantom:
    """Build a phantom by name (``'core_shell'``, ``'needle'``, ``'alloy_gradient'``,
    ``'nanoparticles'``, ``'precipitates'``, ``'satellite'``, ``'alcu_particle'``, ``'catalyst'``)."""
    if name not in PHANTOMS:
        raise ValueError(f"phantom: expected one of {sorted(PHANTOMS)}, got {name!r}")
    if int(size) < 8:
        raise ValueError(f"size: need at least 8 voxels per side, got {size}")
    return PHANTOMS[name](int(size), **kwargs)

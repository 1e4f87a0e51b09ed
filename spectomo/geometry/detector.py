"""EDS detector geometry and holder shadowing, in the frame of spectomo's volumes.

Frame
-----
Volumes are ``(nx, ny, nz)`` with ``x`` the tilt axis and ``z`` the beam direction at 0° tilt
(:mod:`spectomo.geometry.convention`). spectomo's convention for absorption: **the electrons travel
along +z at 0° tilt, and the X-ray detectors look at the specimen from the −z side** (they sit
above the specimen, on the gun side). At tilt ``θ`` the microscope axes seen from the specimen are
``ŷ_m = (0, cos θ, −sin θ)`` (the projection's detector coordinate) and ``ẑ_m = (0, sin θ, cos θ)``
(the beam). A detector of elevation ``ε`` and azimuth ``φ`` lies along

    d = cos ε sin φ · x̂  +  cos ε cos φ · ŷ_m  −  sin ε · ẑ_m

with exspy's meaning of the angles: ``φ = 0`` is perpendicular to the tilt axis, and a positive
tilt turns the specimen towards a detector at ``φ = 0`` — its take-off angle above the holder
plane is ``arcsin(−d_z) = ε + θ``, exspy's ``take_off_angle``. A microscope whose stored tilt has
the opposite sign is described by ``φ → 180° − φ`` (the Super-X preset is unchanged by it).

A negative elevation is a detector below the specimen (Thermo Fisher's Ultra-X), looking at it
from the +z side.

Shadowing
---------
:class:`HolderShadow`: a detector whose line of sight rises less than ``angle`` above the
holder plane (on the detector's side of it) is hidden by the holder, with a linear ramp of ``width`` degrees (the detector's
angular size): visible fraction ``clip((ε_eff − angle)/width + ½, 0, 1)``, ``ε_eff = arcsin(−d_z)``.
Anything the model misses is left to the empirical per-tilt curve of
:func:`spectomo.correct_absorption`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Detector", "HolderShadow", "detector_directions", "record_vendor_geometry"]

_EDS = "Acquisition_instrument.TEM.Detector.EDS"


def _angles(values, name: str, lo: float, hi: float) -> np.ndarray:
    a = np.atleast_1d(np.asarray(values, dtype=float)).reshape(-1)
    if a.size == 0 or not np.all(np.isfinite(a)) or np.any(a < lo) or np.any(a > hi):
        raise ValueError(f"{name}: angles in degrees within [{lo:g}, {hi:g}] expected, got {values!r}")
    return a


@dataclass(frozen=True, eq=False)
class Detector:
    """One or more EDS detectors: elevation, azimuth and solid angle of each.

    Parameters
    ----------
    elevation : float or array_like (n_det,)
        Degrees above the plane perpendicular to the beam (−90 < ε < 90); negative for a detector
        below the specimen (the Ultra-X has three above and three below).
    azimuth : float or array_like (n_det,)
        Degrees, exspy's convention (0: perpendicular to the tilt axis; see the module docstring).
    solid_angle : float or array_like (n_det,), optional
        Steradians per detector; the detectors' counts add in proportion to it. None: equal
        weights (all absorption needs; vendor files often leave the solid angle out).
    name : str
        A label for metadata and plots.
    """

    elevation: np.ndarray
    azimuth: np.ndarray
    solid_angle: np.ndarray | None = None
    name: str = "EDS"

    def __post_init__(self):
        el = _angles(self.elevation, "elevation", -90.0, 90.0)
        if np.any(np.abs(el) >= 90):
            raise ValueError(f"elevation: degrees strictly between −90 and 90 expected, got {self.elevation!r}")
        az = _angles(self.azimuth, "azimuth", -360.0, 360.0)
        given = self.solid_angle is not None
        om = np.atleast_1d(np.asarray(self.solid_angle if given else 1.0, dtype=float)).reshape(-1)
        n = max(el.size, az.size, om.size)
        try:
            el, az, om = (np.broadcast_to(v, (n,)).copy() for v in (el, az, om))
        except ValueError as err:
            raise ValueError(f"elevation, azimuth, solid_angle: one value per detector or one for all, got "
                             f"{el.size}, {az.size}, {om.size}") from err
        if given and (not np.all(np.isfinite(om)) or np.any(om <= 0) or om.sum() > 4 * np.pi):
            raise ValueError(f"solid_angle: positive steradians per detector (≤ 4π in all) expected, got "
                             f"{self.solid_angle!r}")
        object.__setattr__(self, "elevation", el)
        object.__setattr__(self, "azimuth", az)
        object.__setattr__(self, "solid_angle", om if given else None)

    def __eq__(self, other) -> bool:
        if not isinstance(other, Detector):
            return NotImplemented
        return self.name == other.name and all(
            np.array_equal(getattr(self, k), getattr(other, k)) if getattr(self, k) is not None
            else getattr(other, k) is None for k in ("elevation", "azimuth", "solid_angle"))

    __hash__ = None

    @property
    def n_detectors(self) -> int:
        return int(self.elevation.size)

    @property
    def weights(self) -> np.ndarray:
        """Each detector's share of the counts without absorption or shadowing (sums to 1)."""
        if self.solid_angle is None:
            return np.full(self.n_detectors, 1.0 / self.n_detectors)
        return self.solid_angle / self.solid_angle.sum()

    @classmethod
    def super_x(cls, *, solid_angle: float = 0.7, elevation: float = 18.0) -> "Detector":
        """Thermo Fisher Super-X (ChemiSTEM): four SDDs at azimuths 45°, 135°, 225°, 315°, elevation
        18°, 0.7 sr in all (the vendor's figures; pass your own where they differ)."""
        return cls(elevation, [45.0, 135.0, 225.0, 315.0], solid_angle / 4.0, name="Super-X")

    @classmethod
    def from_metadata(cls, signal, *, default: "Detector | None" = None) -> "Detector":
        """The detectors of ``signal``'s metadata: spectomo's ``Detector.EDS.geometry`` (several
        detectors, written by :meth:`as_dict`) if present, else a Velox file's enabled analytical
        detectors (``original_metadata.Detectors``), else exspy's ``Detector.EDS.elevation_angle``
        and ``azimuth_angle`` (and ``solid_angle`` when given): a Super-X preset at that elevation when
        ``detector_type`` names a Super-X (Bruker and Velox files do), else one detector. Missing
        angles raise, naming them, unless ``default`` is given."""
        md = signal.metadata
        geo = md.get_item(f"{_EDS}.geometry")
        if geo is not None:
            geo = geo.as_dictionary() if hasattr(geo, "as_dictionary") else dict(geo)
            return cls(geo["elevation_deg"], geo["azimuth_deg"], geo.get("solid_angle_sr"), name=geo.get("name", "EDS"))
        velox = _velox_detectors(signal)
        if velox is not None:
            return velox
        vals = {k: md.get_item(f"{_EDS}.{k}") for k in ("elevation_angle", "azimuth_angle")}
        missing = [k for k, v in vals.items() if v is None]
        if missing:
            if default is not None:
                return default
            raise ValueError(f"detector: the metadata lacks {_EDS}.{', '.join(missing)}; pass detector="
                             "spectomo.geometry.Detector(...) or Detector.super_x()")
        omega = md.get_item(f"{_EDS}.solid_angle")
        kind = str(md.get_item(f"{_EDS}.detector_type", "")).lower().replace("-", "").replace(" ", "")
        if "superx" in kind:
            return cls.super_x(elevation=float(vals["elevation_angle"]),
                               solid_angle=float(omega) if omega is not None else 0.7)
        return cls(vals["elevation_angle"], vals["azimuth_angle"], omega)

    def as_dict(self) -> dict:
        return {"name": self.name, "elevation_deg": self.elevation.tolist(), "azimuth_deg": self.azimuth.tolist(),
                "solid_angle_sr": None if self.solid_angle is None else self.solid_angle.tolist()}

    def directions(self, tilts) -> np.ndarray:
        """Unit vectors towards each detector in volume axes ``(x, y, z)``, shape ``(n_tilts, n_det, 3)``."""
        return detector_directions(tilts, self.elevation, self.azimuth)

    def take_off_angles(self, tilts) -> np.ndarray:
        """Elevation of each detector above the holder plane, degrees, ``(n_tilts, n_det)`` (negative
        below it)."""
        return np.rad2deg(np.arcsin(np.clip(-self.directions(tilts)[..., 2], -1, 1)))


def record_vendor_geometry(signal) -> bool:
    """Copy a vendor file's detector set (Velox: ``original_metadata.Detectors``) into
    ``metadata…Detector.EDS.geometry``, where it follows the maps and volumes made from ``signal``
    (they keep ``metadata`` only). Returns True if it wrote one."""
    md = getattr(signal, "metadata", None)
    if md is None or md.has_item(f"{_EDS}.geometry"):
        return False
    det = _velox_detectors(signal)
    if det is None:
        return False
    md.set_item(f"{_EDS}.geometry", det.as_dict())
    return True


def _velox_detectors(signal) -> "Detector | None":
    """The enabled analytical detectors of a Velox file (``original_metadata.Detectors``: elevation
    and azimuth in radians, collection angle in sr), or None. RosettaSciIO's ``metadata`` gives one
    placeholder detector for these files; the per-detector entries are the real geometry."""
    om = getattr(signal, "original_metadata", None)
    dets = om.get_item("Detectors") if om is not None else None
    if dets is None:
        return None
    el, az, om_sr, names = [], [], [], []
    for d in dets.as_dictionary().values():
        if not isinstance(d, dict) or d.get("DetectorType") != "AnalyticalDetector":
            continue
        if str(d.get("Enabled", "true")).lower() != "true":
            continue
        try:
            el.append(np.rad2deg(float(d["ElevationAngle"])))
            az.append(np.rad2deg(float(d["AzimuthAngle"])))
            om_sr.append(float(d.get("CollectionAngle", "nan")))
        except (KeyError, TypeError, ValueError):
            return None
        names.append(str(d.get("DetectorName", "")))
    if not el:
        return None
    om_arr = np.asarray(om_sr)
    # equal collection angles are shares, not a total we can trust (Velox repeats the total per detector)
    solid = None if not np.all(np.isfinite(om_arr)) or np.allclose(om_arr, om_arr[0]) else om_arr
    return Detector(el, az, solid, name="Velox " + "+".join(names))


def detector_directions(tilts, elevation, azimuth) -> np.ndarray:
    """``d`` of the module docstring for each tilt and detector, shape ``(n_tilts, n_det, 3)``."""
    th = np.deg2rad(np.asarray(tilts, dtype=float).reshape(-1))[:, None]
    el = np.deg2rad(np.asarray(elevation, dtype=float).reshape(-1))[None, :]
    az = np.deg2rad(np.asarray(azimuth, dtype=float).reshape(-1))[None, :]
    across = np.cos(el) * np.cos(az)  # along ŷ_m
    up = np.sin(el)                   # along −ẑ_m
    dx = np.broadcast_to(np.cos(el) * np.sin(az), (th.shape[0], el.shape[1]))
    dy = across * np.cos(th) - up * np.sin(th)
    dz = -across * np.sin(th) - up * np.cos(th)
    return np.stack([dx, dy, dz], axis=-1)


@dataclass(frozen=True)
class HolderShadow:
    """Geometric holder shadow (module docstring): hidden below ``angle`` degrees above the holder
    plane, a linear ramp of ``width`` degrees."""

    angle: float = 0.0
    width: float = 4.0

    def __post_init__(self):
        if not np.isfinite(self.angle) or not -45 <= self.angle <= 60:
            raise ValueError(f"angle: the holder's shadow angle in degrees (−45 to 60) expected, got {self.angle!r}")
        if not np.isfinite(self.width) or not 0 < self.width <= 45:
            raise ValueError(f"width: a ramp width in degrees (0 to 45) expected, got {self.width!r}")

    def visible(self, detector: Detector, tilts) -> np.ndarray:
        """Visible fraction of each detector at each tilt, ``(n_tilts, n_det)`` in [0, 1]. A detector
        below the specimen is measured from the holder plane on its own side."""
        side = np.where(detector.elevation < 0, -1.0, 1.0)[None, :]
        toa = detector.take_off_angles(tilts) * side
        return np.clip((toa - self.angle) / self.width + 0.5, 0.0, 1.0)

    def as_dict(self) -> dict:
        return {"angle_deg": float(self.angle), "width_deg": float(self.width)}

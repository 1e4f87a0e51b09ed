"""The stages of ``spectomo run``: maps → align → reconstruct → quantify → phases.

Each stage is a :class:`Stage`: the configuration it depends on (:meth:`Stage.options`), the input
files it reads (:meth:`Stage.files`), :meth:`Stage.compute` (upstream results → this stage's
results, the files it wrote and a JSON summary for the report) and :meth:`Stage.load` (the same
results back from those files, when the stage is reused). The work itself is the library's public
functions; this module only connects them and checks that the user's files fit together.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from .config import ConfigError

__all__ = ["STAGES", "Stage"]


def _rel(folder: Path, path: Path) -> str:
    return str(Path(path).resolve().relative_to(folder))


class Stage:
    """One step of the pipeline; subclasses set ``name``, ``sections`` and the methods below."""

    name = ""
    sections: tuple = ()

    def options(self, cfg: dict) -> dict:
        """The part of the configuration this stage's result depends on."""
        return {s: cfg[s] for s in self.sections}

    def files(self, cfg: dict) -> list:
        """Input files this stage reads (their identity enters the key)."""
        return []

    def compute(self, cfg: dict, folder: Path, upstream, *, progress: bool):
        """(results, {name: path written}, summary dict); ``upstream`` maps each earlier stage's
        name to its results (loaded from its files on first access when that stage was reused)."""
        raise NotImplementedError

    def load(self, folder: Path, manifest: dict):
        """The results of :meth:`compute`, read back from the files the manifest lists."""
        raise NotImplementedError


def _load(path):
    from ..io import load

    return load(path)


# -- 1. element maps -------------------------------------------------------------------------------

class MapsStage(Stage):
    name = "maps"
    sections = ("maps",)

    def options(self, cfg):
        inp = cfg["inputs"]
        return {"maps": cfg["maps"], "eds_signal": inp["eds_signal"], "elements": inp["elements"],
                "tilts": inp["tilts"] if isinstance(inp["tilts"], list) else None, "haadf": bool(inp["haadf"])}

    def files(self, cfg):
        tilts = cfg["inputs"]["tilts"]
        return list(cfg["inputs"]["eds"]) + ([tilts] if isinstance(tilts, Path) else [])

    def compute(self, cfg, folder, upstream, *, progress):
        from ..spectral import extract_maps, sum_image

        eds = read_eds(cfg)
        maps = extract_maps(eds, cfg["maps"]["lines"], method=cfg["maps"]["method"], progress=progress)
        from ..io import save

        files = {line: save(m, folder / "maps" / f"{line}.hspy") for line, m in maps.items()}
        results = {"maps": dict(maps), "sum": None}
        if not cfg["inputs"]["haadf"]:
            results["sum"] = sum_image(eds, progress=progress)
            files["sum_image"] = save(results["sum"], folder / "maps" / "sum_image.hspy")
        tilts = np.asarray(next(iter(maps.values())).tilts)
        summary = {"lines": list(maps), "method": maps.method, "eds_shape": list(eds.data.shape),
                   "eds_files": [p.name for p in cfg["inputs"]["eds"]],
                   "tilts_deg": tilts.tolist(), "tilts_source": str(eds.metadata.get_item("Tomography.tilts_source", "")),
                   "total_counts": {k: float(np.asarray(m.data).sum()) for k, m in maps.items()},
                   "parameters": {k: v for k, v in maps.parameters.items() if isinstance(v, (int, float, str, bool))}}
        return results, files, summary

    def load(self, folder, manifest):
        f = manifest["files"]
        return {"maps": {k: _load(folder / v) for k, v in f.items() if k != "sum_image"},
                "sum": _load(folder / f["sum_image"]) if "sum_image" in f else None}


def read_eds(cfg: dict):
    """The EDS spectrum-image series of ``[inputs]`` (one file or one per tilt), with its tilts."""
    from ..io import TiltsNotFoundError, load, read_tilt_file

    inp = cfg["inputs"]
    tilts = read_tilt_file(inp["tilts"]) if isinstance(inp["tilts"], Path) else inp["tilts"]
    paths = inp["eds"]
    eds = None
    if len(paths) > 1 and tilts is not None:
        # per-tilt files that carry their stage tilt are sorted by it; the given tilts must agree
        # (a tilt file sorted by angle would otherwise be paired with the files in list order)
        try:
            eds = load(paths, signal=inp["eds_signal"], lazy=inp["lazy"])
        except TiltsNotFoundError:
            pass
        else:
            found, given = np.sort(eds.metadata.Tomography.tilts), np.sort(np.asarray(tilts, dtype=float))
            if found.shape != given.shape or np.abs(found - given).max() > 0.1:
                raise ConfigError(f"[inputs] tilts: {len(given)} angles ({given.min():g}° to {given.max():g}°) "
                                  f"disagree with the stage tilts of the {len(paths)} EDS files ({found.min():g}° "
                                  f"to {found.max():g}°); remove [inputs] tilts to use the files' own")
    if eds is None:
        eds = load(paths if len(paths) > 1 else paths[0], tilts=tilts, signal=inp["eds_signal"], lazy=inp["lazy"])
    if eds.axes_manager.signal_dimension != 1 or eds.axes_manager.navigation_dimension != 3:
        raise ConfigError(f"[inputs] eds: expected spectrum images with navigation (tilt, y, x); "
                          f"{paths[0].name} gives {eds}")
    if inp["elements"]:
        eds.set_elements(inp["elements"])
    return eds


# -- 2. alignment ----------------------------------------------------------------------------------

class AlignStage(Stage):
    name = "align"
    sections = ("align",)

    def options(self, cfg):
        return {"align": cfg["align"], "haadf_signal": cfg["inputs"]["haadf_signal"]}

    def files(self, cfg):
        return list(cfg["inputs"]["haadf"] or [])

    def compute(self, cfg, folder, upstream, *, progress):
        from ..io import save

        maps = upstream["maps"]["maps"]
        first = next(iter(maps.values()))
        if cfg["inputs"]["haadf"]:
            reference, source = read_haadf(cfg, first), "HAADF"
        else:
            reference, source = upstream["maps"]["sum"], "EDS sum image"
        a = cfg["align"]
        ali = reference
        if a["shifts"] == "PM":
            from ..align import projection_match

            ali = projection_match(reference, progress=progress)
        elif a["shifts"] != "none":
            ali = ali.stack_register(a["shifts"], progress=progress)
        if a["tilt_axis"] != "none" and a["shifts"] != "PM":
            ali = ali.tilt_align(a["tilt_axis"], progress=progress)
        aligned = ali.align_other(maps) if ali is not reference else dict(maps)
        files = {"reference": save(ali, folder / "align" / "reference.hspy")}
        files.update({k: save(m, folder / "align" / f"{k}.hspy") for k, m in aligned.items()})
        md = ali.metadata.Tomography
        summary = {"reference": source, "shifts_method": a["shifts"], "tilt_axis_method": a["tilt_axis"],
                   "shifts_px": np.asarray(ali.shifts).tolist(), "tilts_deg": np.asarray(ali.tilts).tolist(),
                   "tilt_axis_offset_px": float(md.get_item("tilt_axis_offset", 0.0)),
                   "tilt_axis_rotation_deg": float(md.get_item("tilt_axis_rotation", 0.0)),
                   "reference_shape": list(ali.data.shape),
                   "resampled": reference.metadata.get_item("Pipeline.resampled_from", None)}
        return {"reference": ali, "maps": aligned, "haadf": source == "HAADF"}, files, summary

    def load(self, folder, manifest):
        f = manifest["files"]
        return {"reference": _load(folder / f["reference"]),
                "maps": {k: _load(folder / v) for k, v in f.items() if k != "reference"},
                "haadf": manifest["summary"]["reference"] == "HAADF"}


def read_haadf(cfg: dict, like):
    """The HAADF series of ``[inputs]``, checked against the maps ``like`` (tilts, field of view)
    and resampled onto their pixel grid when it is finer."""
    from skimage.transform import resize

    from ..io import load, read_tilt_file

    inp = cfg["inputs"]
    tilts = read_tilt_file(inp["tilts"]) if isinstance(inp["tilts"], Path) else inp["tilts"]
    paths = inp["haadf"]
    haadf = load(paths if len(paths) > 1 else paths[0], tilts=tilts, signal=inp["haadf_signal"])
    if not hasattr(haadf, "tilts") or haadf.data.ndim != 3:
        raise ConfigError(f"[inputs] haadf: expected an image tilt series, {paths[0].name} gives {haadf}")
    t_maps, t_haadf = np.asarray(like.tilts), np.asarray(haadf.tilts)
    if t_maps.shape != t_haadf.shape or np.abs(t_maps - t_haadf).max() > 0.1:
        raise ConfigError(f"[inputs] haadf: its {len(t_haadf)} tilts ({t_haadf.min():g}° to {t_haadf.max():g}°) "
                          f"differ from the EDS series' {len(t_maps)} ({t_maps.min():g}° to {t_maps.max():g}°); "
                          "give both the same tilts (or [inputs] tilts)")
    shape, target = haadf.data.shape[1:], like.data.shape[1:]
    if shape == target:
        return haadf
    h_ax, m_ax = haadf.axes_manager.signal_axes, like.axes_manager.signal_axes
    fov_h, fov_m = _field_of_view_nm(h_ax), _field_of_view_nm(m_ax)
    if fov_h is not None and fov_m is not None and not np.allclose(fov_h, fov_m, rtol=0.02):
        raise ConfigError(f"[inputs] haadf: field of view {fov_h[0]:g} × {fov_h[1]:g} nm differs from the EDS "
                          f"maps' {fov_m[0]:g} × {fov_m[1]:g} nm; crop or bin them alike first")
    if any(s < t for s, t in zip(shape, target)):
        raise ConfigError(f"[inputs] haadf: {shape[1]} × {shape[0]} px is coarser than the EDS maps' "
                          f"{target[1]} × {target[0]} px; bin the EDS series to the HAADF's grid first")
    data = np.stack([resize(np.asarray(im, dtype=np.float32), target, order=1, anti_aliasing=True,
                            preserve_range=True) for im in haadf.data])
    out = type(haadf)(data, tilts=haadf.tilts)
    for ax, src in zip(out.axes_manager.signal_axes, m_ax):
        ax.scale, ax.offset, ax.units = src.scale, src.offset, src.units
    out.metadata.add_dictionary({k: v for k, v in haadf.metadata.as_dictionary().items() if k != "Signal"})
    out.metadata.set_item("Pipeline.resampled_from", list(shape))
    return out


_NM = {"nm": 1.0, "µm": 1e3, "um": 1e3, "Å": 0.1, "A": 0.1, "pm": 1e-3}


def _field_of_view_nm(axes):
    """Width and height of the image in nm, or None when uncalibrated."""
    units = str(axes[0].units)
    return None if units not in _NM else [a.size * a.scale * _NM[units] for a in axes]


# -- 3. reconstruction -----------------------------------------------------------------------------

class ReconstructStage(Stage):
    name = "reconstruct"
    sections = ("reconstruct",)

    def compute(self, cfg, folder, upstream, *, progress):
        from ..io import save

        r = cfg["reconstruct"]
        solver, its = r["solver"], r["iterations"]
        aligned = upstream["align"]
        maps, ref = aligned["maps"], aligned["reference"]
        t = time.perf_counter()
        summary = {"solver": solver}
        if solver in ("sirt", "sart", "fbp"):
            stacks = {**maps, "HAADF" if aligned["haadf"] else "sum_image": ref}
            vols = {k: m.reconstruct(solver.upper(), **({} if solver == "fbp" else {"iterations": its}),
                                     progress=progress) for k, m in stacks.items()}
            summary["iterations"] = {k: v.metadata.get_item("Reconstruction.iterations") for k, v in vols.items()}
        else:
            if not aligned["haadf"]:
                raise ConfigError(f"[reconstruct] solver: {solver} needs a HAADF series ([inputs] haadf)")
            from ..recon import reconstruct_hebt, reconstruct_tgv

            if solver == "tgv":
                mu = None if r["mu"] == "heuristic" else r["mu"]
                if isinstance(mu, (int, float)):
                    mu = {k: float(mu) for k in ("HAADF", *maps)}
                res = reconstruct_tgv(ref, dict(maps), iterations=its, mu=mu, progress=progress)
            else:
                res = reconstruct_hebt(ref, dict(maps), alpha=r["alpha"], iterations=its, progress=progress)
            vols = {**res, "HAADF": res.haadf}
            summary.update(method=res.method, iterations=res.parameters.get("iterations"), ratios=res.ratios,
                           r2=res.r2, history={k: np.asarray(v).tolist() for k, v in res.history.items()},
                           residuals=None if res.residuals is None else
                           {k: np.asarray(v).tolist() for k, v in res.residuals.items()},
                           parameters={k: v for k, v in res.parameters.items()
                                       if isinstance(v, (int, float, str, bool, type(None)))})
        summary["seconds"] = time.perf_counter() - t
        files = {k: save(v, folder / "reconstruct" / f"{k}.hspy") for k, v in vols.items()}
        return _recstacks(vols, summary, maps), files, summary

    def load(self, folder, manifest):
        vols = {k: _load(folder / v) for k, v in manifest["files"].items()}
        return _recstacks(vols, manifest["summary"], [k for k in vols if k not in ("HAADF", "sum_image")])


def _recstacks(vols: dict, summary: dict, names):
    """The volumes as quantification takes them: a RecStacks (HAADF attached) for the joint solvers,
    else a dict of the element volumes; ``"all"`` keeps every volume for the report."""
    elements = {k: vols[k] for k in names}
    if summary["solver"] in ("tgv", "hebt"):
        from ..recon import RecStacks

        history = {k: np.asarray(v) for k, v in (summary.get("history") or {}).items()}
        residuals = summary.get("residuals")
        elements = RecStacks(elements, method=summary["method"], history=history, parameters=summary["parameters"],
                             haadf=vols["HAADF"], ratios=summary["ratios"], r2=summary["r2"],
                             residuals=None if residuals is None else {k: np.asarray(v) for k, v in residuals.items()})
    return {"elements": elements, "all": vols}


# -- 4. quantification -----------------------------------------------------------------------------

class QuantifyStage(Stage):
    name = "quantify"
    sections = ("quantify",)

    def compute(self, cfg, folder, upstream, *, progress):
        qc = cfg["quantify"]
        method = None if qc["method"] == "auto" else qc["method"]
        opts = {"method": method, "factors": qc["factors"], "beam_energy": qc["beam_energy"], "dose": qc["dose"],
                "voxel_size": qc["voxel_size"], "solid_angle": qc["solid_angle"]}
        summary = {"absorption": qc["absorption"]}
        if qc["absorption"]:
            from ..absorption import correct_absorption

            rc = cfg["reconstruct"]
            solver = {"sirt": "SIRT", "sart": "SART", "fbp": "SIRT", "tgv": "tgv", "hebt": "hebt"}[rc["solver"]]
            aligned = upstream["align"]
            recon_options = {} if rc["solver"] in ("tgv", "hebt") or rc["iterations"] == "auto" else {
                "iterations": rc["iterations"]}
            res = correct_absorption(aligned["maps"], haadf=aligned["reference"] if aligned["haadf"] else None,
                                     method=solver, recon_options=recon_options,
                                     quantify_options={k: v for k, v in opts.items() if v is not None},
                                     progress=progress)
            q = res.quantification
            summary["mean_transmission"] = {k: float(np.mean(v)) for k, v in res.transmission.items()}
            summary["thin_film_wt%"] = res.uncorrected.mean_composition()
        else:
            from ..quantify import quantify

            q = quantify(upstream["reconstruct"]["elements"], progress=progress, **opts)
        path = q.save(folder / "quantify" / "quantification.hspy")
        summary.update(parameters={k: v for k, v in q.parameters.items() if isinstance(v, (int, float, str, bool))},
                       mean_wt_percent=q.mean_composition(), mean_density_g_cm3=q.mean_density(),
                       mask_voxels=int(np.sum(q.mask.data)), factors={k: float(v) for k, v in q.factors.items()})
        return q, {"quantification": path}, summary

    def load(self, folder, manifest):
        from ..quantify import Quantification

        return Quantification.load(folder / manifest["files"]["quantification"])


# -- 5. phases -------------------------------------------------------------------------------------

class PhasesStage(Stage):
    name = "phases"
    sections = ("phases",)

    def compute(self, cfg, folder, upstream, *, progress):
        from ..quantify import segment_phases

        p = cfg["phases"]
        if not p["enabled"]:
            return None, {}, {"skipped": "[phases] enabled = false"}
        ph = segment_phases(upstream["quantify"], n_phases=p["n_phases"], max_phases=p["max_phases"], smooth=p["smooth"],
                            min_separation=p["min_separation"], blur_ratio=p["blur_ratio"])
        return ph, {"phases": ph.save(folder / "phases" / "phases.hspy")}, ph.to_dict()

    def load(self, folder, manifest):
        from ..quantify import Phases

        f = manifest["files"]
        return Phases.load(folder / f["phases"]) if "phases" in f else None


#: The stages in order; each one's results feed the next (:class:`spectomo.pipeline.Pipeline`).
STAGES = (MapsStage(), AlignStage(), ReconstructStage(), QuantifyStage(), PhasesStage())

"""``Pipeline``: the whole chain on the user's files, each stage cached and reused (``spectomo run``)."""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from .cache import read_manifest, stage_key, write_manifest
from .config import check_config, read_config
from .stages import STAGES

__all__ = ["Pipeline", "StageRecord", "StageError"]


class StageError(RuntimeError):
    """A stage failed; ``stage`` names it. The stages before it stay cached for the next run."""

    def __init__(self, stage: str, error: Exception):
        from .stages import STAGES

        from .config import ConfigError

        sections = next(s.sections for s in STAGES if s.name == stage)
        hint = ("; its options are in " + ", ".join(f"[{s}]" for s in sections)
                if sections and not isinstance(error, ConfigError) else "")  # a ConfigError names its option
        super().__init__(f"the {stage} stage failed: {type(error).__name__}: {error}{hint}")
        self.stage, self.error = stage, error


@dataclass
class StageRecord:
    """What one stage did in a run."""

    name: str
    status: str  # 'computed' or 'reused'
    key: str
    seconds: float
    files: dict
    summary: dict = field(default_factory=dict)


class _Results(dict):
    """Stage name → results; a reused stage's results are read from its files on first access."""

    def __init__(self, folder: Path):
        super().__init__()
        self.folder, self.loaders = folder, {}

    def __missing__(self, name):
        stage, manifest = self.loaders[name]
        value = self[name] = stage.load(self.folder, manifest)
        return value


class Pipeline:
    """The pipeline of one configuration: element maps → alignment → reconstruction →
    quantification → phases, then the HTML report.

    Parameters
    ----------
    config : path or dict
        A TOML file (:func:`spectomo.pipeline.read_config`; ``spectomo init`` writes one) or a
        configuration dict (section → option → value, relative paths against ``base``).
    base : path
        Folder for relative paths of a dict configuration.

    Notes
    -----
    Every stage saves its results (``.hspy`` with the processing parameters in the metadata) in
    ``<output.folder>/<stage>/`` with a manifest, ``stage.json``, written last. A stage whose
    options, input files and earlier stages are unchanged is reused, so a run resumes after a crash
    at the stage that did not finish, and changing (say) only ``[quantify]`` recomputes only
    quantification and what follows it (phases, report).
    """

    def __init__(self, config, *, base="."):
        if isinstance(config, (str, Path)):
            self.path = Path(config).resolve()
            self.config = read_config(self.path)
        else:
            self.path = None
            self.config = check_config(config, base=base)
        self.folder = Path(self.config["output"]["folder"])

    def keys(self) -> dict:
        """Stage name → its cache key for this configuration and the input files as they are now."""
        keys, upstream = {}, None
        for stage in STAGES:
            upstream = keys[stage.name] = stage_key(stage.name, stage.options(self.config),
                                                    files=stage.files(self.config), upstream=upstream)
        return keys

    def status(self) -> dict:
        """Stage name → ``'cached'`` (a run would reuse it) or ``'stale'``."""
        return {name: "cached" if read_manifest(self.folder, name, key) else "stale"
                for name, key in self.keys().items()}

    def run(self, *, force=(), progress: bool | None = None, log=print) -> dict:
        """Run every stage that is not cached, then write the report.

        Parameters
        ----------
        force : sequence of str
            Stage names to recompute even when cached (later stages follow).
        progress : bool, optional
            Progress bars; default ``[output] progress``.
        log : callable or None
            Receives one line per stage.

        Returns
        -------
        dict
            Stage name → :class:`StageRecord`, and ``'report'`` → the report's path (or None).
        """
        names = [s.name for s in STAGES]
        unknown = [f for f in force if f not in names]
        if unknown:
            raise ValueError(f"force: unknown stage(s) {unknown}; the stages are {', '.join(names)}")
        say = log or (lambda *_: None)
        progress = self.config["output"]["progress"] if progress is None else progress
        self.folder.mkdir(parents=True, exist_ok=True)
        keys = self.keys()
        results = _Results(self.folder)
        records, stale = {}, False
        for stage in STAGES:
            key = keys[stage.name]
            manifest = None if (stale or stage.name in force) else read_manifest(self.folder, stage.name, key)
            if manifest is not None:
                results.loaders[stage.name] = (stage, manifest)
                records[stage.name] = StageRecord(stage.name, "reused", key, 0.0, manifest["files"],
                                                  manifest["summary"])
                say(f"{stage.name}: unchanged, reusing {self.folder / stage.name}")
                continue
            stale = True
            say(f"{stage.name}: computing ...")
            t = time.perf_counter()
            try:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    value, files, summary = stage.compute(self.config, self.folder, results, progress=progress)
            except (ValueError, OSError, RuntimeError) as err:
                raise StageError(stage.name, err) from err
            # the stage's warnings go to the log and the report (once each), not to stderr
            summary["warnings"] = list(dict.fromkeys(f"{w.category.__name__}: {w.message}" for w in caught
                                                     if not issubclass(w.category, (DeprecationWarning, ResourceWarning,
                                                                                    PendingDeprecationWarning))))
            for w in summary["warnings"]:
                say(f"{stage.name}: {w}")
            seconds = time.perf_counter() - t
            rel = {k: str(Path(p).resolve().relative_to(self.folder)) for k, p in files.items()}
            write_manifest(self.folder, stage.name, {"stage": stage.name, "key": key, "files": rel,
                                                     "summary": summary, "seconds": seconds,
                                                     "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
            results[stage.name] = value
            records[stage.name] = StageRecord(stage.name, "computed", key, seconds, rel, summary)
            say(f"{stage.name}: done in {seconds:.1f} s")
        report = None
        if self.config["output"]["report"]:
            from .report import write_report

            report = write_report(self, records, results)
            say(f"report: {report}")
        return {**records, "report": report}

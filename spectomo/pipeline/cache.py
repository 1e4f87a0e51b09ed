"""Stage caching for ``spectomo run``: each stage's key, and its manifest beside its outputs.

A stage's key is a hash of its options, the identity of the input files it reads (path, size,
modification time — as ``make`` decides, without reading gigabytes), the key of the stage before
it and the spectomo version. A stage is reused when ``<folder>/<stage>/stage.json`` holds the same
key and every file it lists exists. The manifest is written last and atomically, so a stage that
crashed half-way is recomputed on the next run; a later stage whose input changed is recomputed,
and every stage after it, because the keys chain.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

__all__ = ["file_identity", "stage_key", "read_manifest", "write_manifest", "MANIFEST"]

MANIFEST = "stage.json"


def file_identity(path) -> dict:
    """Path, size and modification time of a file (what a changed input changes)."""
    p = Path(path).resolve()
    st = p.stat()
    return {"path": str(p), "bytes": st.st_size, "mtime_ns": st.st_mtime_ns}


def _plain(value):
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def stage_key(stage: str, options: dict, *, files=(), upstream: str | None = None) -> str:
    """The hex key of one stage run: its options, input files, upstream key and spectomo's version."""
    from .._version import __version__

    payload = {"stage": stage, "options": _plain(options), "files": [file_identity(f) for f in files],
               "upstream": upstream, "spectomo": __version__}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def read_manifest(folder, stage: str, key: str) -> dict | None:
    """The stage's manifest if it matches ``key`` and all its files exist, else None."""
    path = Path(folder) / stage / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if manifest.get("key") != key:
        return None
    files = manifest.get("files", {})
    if not all((Path(folder) / rel).is_file() for rel in files.values()):
        return None
    return manifest


def write_manifest(folder, stage: str, manifest: dict) -> Path:
    """Write ``<folder>/<stage>/stage.json`` atomically (after the stage's outputs)."""
    from ..io import atomic_path

    path = Path(folder) / stage / MANIFEST
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(_plain(manifest), indent=1, default=float))
    return path

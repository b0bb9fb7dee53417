"""On-disk cache of decoded, preprocessed file datasets (one ``.npz`` per dataset setting).

    prepared, status = load_or_build(spec, prep, cache_dir, build=lambda: prepare(...))
    status            # "hit", "miss" (built and written) or "stale" (inputs changed: rebuilt)

The file name hashes the dataset spec (paths made absolute), the preprocessing settings
and the source of the data package (a code change invalidates every cache). Inside, the
file stores a fingerprint of the inputs: the relative path, size and mtime of every file
under the dataset's root (for a manifest: the manifest and every file it lists). A
mismatch, or an unreadable cache file, means stale: the dataset is rebuilt and the file
replaced. Writes go to a temporary file in the same folder, then ``os.replace``, so a
half-written cache is never read. Default folder: ``$XDG_CACHE_HOME/thetascope``, else
``~/.cache/thetascope`` (``data.cache_dir`` overrides it).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from thetascope.config import stable_hash
from thetascope.data.sample import PreparedSet, Sample

CACHE_VERSION = 1
log = logging.getLogger("thetascope")


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "thetascope"


def _code_hash() -> str:
    h = hashlib.sha256()
    for p in sorted(Path(__file__).parent.glob("*.py")):
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def _input_files(spec, skip: Path | None = None) -> list[Path]:
    if getattr(spec, "kind", "") == "manifest":
        from thetascope.data.manifest import read_manifest

        rows = read_manifest(spec.path, spec.image_column, spec.mask_column)
        files = [Path(spec.path).expanduser()]
        return files + [p for _, img, msk, _ in rows for p in (img, msk) if p is not None]
    root = Path(spec.root).expanduser()
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".")
                             and (skip is None or Path(dirpath, d).resolve() != skip))
        files += [Path(dirpath) / f for f in sorted(filenames) if not f.startswith(".")]
    return files


def input_fingerprint(spec, cache_dir: Path | None = None) -> str:
    """Hash of (path, size, mtime) of every input file of a file-based dataset spec (a
    cache folder inside the dataset's root is not an input)."""
    h = hashlib.sha256()
    skip = Path(cache_dir).expanduser().resolve() if cache_dir is not None else None
    for p in _input_files(spec, skip):
        try:
            st = p.stat()
            h.update(os.fsencode(p) + f"\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        except OSError:
            h.update(os.fsencode(p) + b"\0missing\n")
    return h.hexdigest()[:24]


def cache_file(spec, prep: dict, cache_dir: Path) -> Path:
    dump = spec.model_dump(mode="json", exclude={"name", "max_eval"})
    for key in ("root", "path"):
        if key in dump:
            dump[key] = str(Path(dump[key]).expanduser().resolve())
    key = stable_hash({"v": CACHE_VERSION, "spec": dump, "prep": prep, "code": _code_hash()})
    return Path(cache_dir).expanduser() / f"{spec.kind}-{key}.npz"


def save_prepared(path: Path, prepared: PreparedSet, fingerprint: str) -> None:
    """Write atomically: a temporary file in the same folder, fsync, then os.replace."""
    path.parent.mkdir(parents=True, exist_ok=True)
    s = prepared.samples
    images = np.stack([x.image for x in s]) if s else np.zeros((0, 1, 1, 1), np.float32)
    shape = images.shape[-2:]
    masks = np.stack([x.mask if x.mask is not None else np.zeros(shape, bool) for x in s]) \
        if s else np.zeros((0, 1, 1), bool)
    header = {"version": CACHE_VERSION, "fingerprint": fingerprint, "source": prepared.source,
              "synthetic": prepared.synthetic, "skipped": prepared.skipped_files}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".npz")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez_compressed(
                f, images=images.astype(np.float32), masks=masks.astype(bool),
                has_mask=np.array([x.mask is not None for x in s], bool),
                raw_foreground=np.array(prepared.raw_foreground, bool),
                ids=np.array([x.id for x in s], dtype=str),
                meta=np.array(json.dumps([x.meta for x in s])), header=np.array(json.dumps(header)),
            )
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_prepared(path: Path, fingerprint: str) -> PreparedSet | None:
    """The cached set, or None when the file is stale (other inputs) or unreadable."""
    try:
        with np.load(path, allow_pickle=False) as z:
            header = json.loads(str(z["header"]))
            if header.get("version") != CACHE_VERSION or header.get("fingerprint") != fingerprint:
                return None
            images, masks, has_mask = z["images"], z["masks"], z["has_mask"]
            ids, metas = z["ids"].tolist(), json.loads(str(z["meta"]))
            raw_fg = z["raw_foreground"].tolist()
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, json.JSONDecodeError):
        return None
    samples = [Sample(images[i], masks[i] if has_mask[i] else None, ids[i], metas[i])
               for i in range(len(ids))]
    skipped = [(str(p), str(r)) for p, r in header["skipped"]]
    return PreparedSet(samples, raw_fg, skipped, header["source"], bool(header["synthetic"]))


def load_or_build(
    spec, prep: dict, cache_dir: Path, build: Callable[[], PreparedSet]
) -> tuple[PreparedSet, str]:
    """Return (prepared set, "hit" | "miss" | "stale"); a miss or stale set is rebuilt
    and written (a cache folder that cannot be written is logged, not fatal)."""
    path = cache_file(spec, prep, cache_dir)
    fp = input_fingerprint(spec, cache_dir)
    if path.is_file():
        cached = read_prepared(path, fp)
        if cached is not None:
            return cached, "hit"
        status = "stale"
    else:
        status = "miss"
    prepared = build()
    try:
        save_prepared(path, prepared, fp)
    except OSError as exc:
        log.warning("could not write the data cache %s (%s); set data.cache_dir", path, exc)
    return prepared, status

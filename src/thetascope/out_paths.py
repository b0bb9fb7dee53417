"""Check an ``--out`` path before anything is computed, so a wrong one is one clear line.

    out_folder(Path("runs/x"))              # the folder, created; OutPathError if it cannot be
    out_file(Path("cmp"), "compare.html")   # cmp/compare.html when cmp is a folder, else cmp

A file given where a folder belongs (``--out f``), a path through a file (``--out f/sub``),
a folder given where a file belongs (``report RUN --out DIR``: the page goes into DIR under
its usual name), a name too long for the file system and a folder that cannot be created
are all found here, before any training, and worded with the fix.
"""

from __future__ import annotations

import os
from pathlib import Path

from thetascope.data.roots import expand_user


class OutPathError(ValueError):
    """An ``--out`` path that cannot be used; the message names it and the fix."""


def _blocking_file(path: Path) -> Path | None:
    """The first component of ``path`` (itself included) that exists and is not a folder."""
    for part in (*reversed(path.parents), path):
        if str(part) in ("", ".") or os.path.isdir(part):
            continue
        if os.path.lexists(part):
            return part
        return None  # the rest does not exist yet: it can be created
    return None


def _what(p: Path) -> str:
    if os.path.islink(p) and not p.exists():
        return "a broken link or a link loop"
    return "a file" if p.is_file() else "neither a file nor a folder"


def _create(folder: Path, flag: str) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutPathError(f"{flag} {folder}: cannot create the folder "
                           f"({exc.strerror or exc}); give another {flag}") from None


def out_folder(path: Path, flag: str = "--out") -> Path:
    """``path`` as an output folder, created if missing; ``OutPathError`` when a file is in
    the way or it cannot be created."""
    path = expand_user(path)
    if (block := _blocking_file(path)) is not None:
        where = "" if block == path else f"goes through {block}, which "
        raise OutPathError(f"{flag} {path}: {where}is {_what(block)}, not a folder; give a "
                           "folder (it is created if missing), or move that away")
    _create(path, flag)
    return path


def out_file(path: Path, default_name: str, flag: str = "--out") -> Path:
    """``path`` as an output file: an existing folder gets ``default_name`` inside it; the
    parent folder is created; ``OutPathError`` when a file blocks the way."""
    path = expand_user(path)
    if path.is_dir():
        return path / default_name
    if (block := _blocking_file(path.parent)) is not None:
        raise OutPathError(f"{flag} {path}: goes through {block}, which is {_what(block)}, "
                           "not a folder; give another path")
    if os.path.lexists(path) and not path.is_file():
        raise OutPathError(f"{flag} {path}: is {_what(path)}, not a file; give another path")
    _create(path.parent, flag)
    return path

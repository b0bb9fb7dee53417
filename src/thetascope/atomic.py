"""Atomic file writes: a temporary file, fsynced, renamed onto its name in one step.

    atomic_write_text(Path("out/summary.md"), text)
    atomic_write_parquet(Path("out/results.parquet"), df)
    atomic_write_file(Path("out/fig.png"), lambda tmp: fig.savefig(tmp))

A write that fails (a full disk, a kill) leaves the previous file intact and no temporary
behind. Shared by the results store (``sweep/store.py``) and the report writers
(``report/``), so neither has to import the other.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd


def fsync_path(path: Path) -> None:
    """Flush ``path`` (a file or, where the platform allows, a directory) to disk."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # a directory cannot be opened on every platform
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems refuse fsync on a directory
        pass
    finally:
        os.close(fd)


def fsync_tree(folder: Path) -> None:
    """Flush every file under ``folder``, then the folder itself."""
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            fsync_path(p)
    fsync_path(folder)


def atomic_write_file(path: Path, write: Callable[[Path], object], fsync: bool = True) -> None:
    """``write(tmp)`` then fsync and rename onto ``path``; on failure the temporary is
    removed and ``path`` keeps its previous content. ``fsync=False`` for files that are only
    a head start (resumable training states): a process kill is still safe, a power cut
    may lose them."""
    path = Path(path)
    tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")  # keeps the suffix (format)
    try:
        write(tmp)
        if fsync:
            fsync_path(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    atomic_write_file(path, lambda tmp: tmp.write_bytes(data))


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_parquet(path: Path, df: pd.DataFrame) -> None:
    atomic_write_file(path, lambda tmp: df.to_parquet(tmp, index=False))


def atomic_write_csv(path: Path, df: pd.DataFrame) -> None:
    atomic_write_file(path, lambda tmp: df.to_csv(tmp, index=False))

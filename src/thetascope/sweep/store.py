"""The results store: one folder per finished cell, written atomically; a merged parquet.

A cell's outputs are written into ``cells/.tmp-<key>-<pid>/`` and renamed to
``cells/<key>/`` in one step, so a killed run leaves either a complete cell or a temporary
folder that the next run deletes, never a half cell. ``results.parquet`` is rebuilt from
the cells of the current plan, also atomically. A write that fails (a full disk) removes its
temporary file or folder and re-raises, so what was written before stays intact; files are
fsynced before the rename, so a finished cell also survives a power cut.

    store = ResultStore(Path("runs/default"))
    store.is_done(key); store.write_cell(key, rows_df, losses, maps, meta)
    df = store.collect([c.key for c in cells])
    store.damaged(keys)     # [(key, "rows.parquet: ArrowInvalid: ...")]: recompute these

A cell counts as finished only when every one of its files loads (``cell.json`` a JSON
object, ``loss.json`` a list of numbers, ``rows.parquet`` a table with ``metric`` and
``value``, every array of ``maps.npz``): a damaged cell (a truncated file, ``[]``, junk) is
never trusted, ``damaged`` names it and the run recomputes it. The same holds for a probe
pre-training unit (``unit.json``, ``loss.json``, ``model.pt``). Checks are remembered per
store, so each cell is read once per run.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from thetascope.atomic import (  # noqa: F401 (re-exported: the store's writers)
    atomic_write_bytes,
    atomic_write_csv,
    atomic_write_file,
    atomic_write_parquet,
    atomic_write_text,
    fsync_path,
    fsync_tree,
)

# errno of a write that the user must fix -> what to do (then re-run to resume)
_WRITE_FIXES = {
    errno.ENOSPC: "free some space on that disk (or give another --out)",
    errno.EDQUOT: "free some space or raise your disk quota (or give another --out)",
    errno.EFBIG: "the file system refuses a file this large; give another --out",
    errno.EROFS: "the file system is read-only; give another --out",
    errno.EACCES: "check the folder's permissions (or give another --out)",
    errno.EPERM: "check the folder's permissions (or give another --out)",
}


class OutputWriteError(RuntimeError):
    """The output folder could not be written (disk full, quota, read-only, permissions)."""


def as_write_error(exc: OSError, out: Path) -> OutputWriteError | None:
    """A one-line user error for an OSError that the user must fix; None for others."""
    fix = _WRITE_FIXES.get(exc.errno or 0)
    if fix is None:
        return None
    try:
        kept = sum(1 for _ in (Path(out) / "cells").glob("*/cell.json"))
    except OSError:
        kept = 0
    return OutputWriteError(
        f"cannot write {exc.filename or out}: {os.strerror(exc.errno or 0)}; {fix}, then "
        f"re-run the same command to resume ({kept} finished cell(s) are kept in {out}/cells)"
    )


NOT_FINISHED = "not finished"


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:120]}{'…' if len(text) > 120 else ''}"


def _check_json(path: Path, kind: type, what: str) -> None:
    value = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(value, kind):
        raise ValueError(f"holds {type(value).__name__} {str(value)[:40]!r}, not {what}")
    if kind is list and not all(isinstance(v, int | float) and not isinstance(v, bool)
                                for v in value):
        raise ValueError(f"not {what}")


def _check_rows(path: Path) -> None:
    rows = pd.read_parquet(path)
    if missing := {"metric", "value"} - set(rows.columns):
        raise ValueError(f"a table without the column(s) {sorted(missing)}")


def _check_npz(path: Path) -> None:
    if not zipfile.is_zipfile(path):
        raise ValueError("not an .npz (zip) archive")
    with np.load(path, allow_pickle=False) as z:
        for name in z.files:  # reading every member checks its CRC
            z[name]


def _check_zip(path: Path) -> None:
    with zipfile.ZipFile(path) as z:
        if (bad := z.testzip()) is not None:
            raise ValueError(f"member {bad} is corrupt")


def folder_problem(folder: Path, checks: dict[str, Callable[[Path], object]],
                   marker: str) -> str | None:
    """None when ``folder/marker`` exists and every file in ``checks`` loads; else
    ``NOT_FINISHED`` (no folder) or '<file>: <what failed>'."""
    if not folder.is_dir():
        return NOT_FINISHED
    if not (folder / marker).is_file():
        return f"{marker}: missing"
    for name, check in checks.items():
        try:
            check(folder / name)
        except Exception as exc:  # any failure to load means: not trusted
            return f"{name}: {_short(exc)}"
    return None


CELL_CHECKS: dict[str, Callable[[Path], object]] = {
    "cell.json": lambda p: _check_json(p, dict, "a cell record (a JSON object)"),
    "loss.json": lambda p: _check_json(p, list, "a list of losses"),
    "rows.parquet": _check_rows,
    "maps.npz": _check_npz,
}
UNIT_CHECKS: dict[str, Callable[[Path], object]] = {
    "unit.json": lambda p: _check_json(p, dict, "a unit record (a JSON object)"),
    "loss.json": lambda p: _check_json(p, list, "a list of losses"),
    "model.pt": _check_zip,
}


class ResultStore:
    def __init__(self, root: Path, cells: str = "cells") -> None:
        """``cells``: the folder (under ``root``) of the finished cells; the downstream
        baselines live in ``baselines`` (sweep/baselines.py)."""
        self.root = Path(root)
        self.cells_dir = self.root / cells
        self.cells_dir.mkdir(parents=True, exist_ok=True)
        self._checked: dict[str, str | None] = {}  # key -> problem (None: finished)
        self._units_checked: dict[str, str | None] = {}

    def clean_temporaries(self) -> int:
        """Delete leftovers of interrupted writes; returns how many were removed."""
        n = 0
        leftovers = [*self.cells_dir.glob(".tmp-*"), *self.root.glob(".tmp-*"),
                     *self.root.glob("pretrain/.tmp-*"), *self.root.glob("partial/.tmp-*"),
                     *self.root.glob("partial/*/.tmp-*"), *self.root.glob("figures/.tmp-*")]
        for p in leftovers:
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
            n += 1
        return n

    def cell_dir(self, key: str) -> Path:
        return self.cells_dir / key

    def problem(self, key: str) -> str | None:
        """None for a finished cell whose files all load; ``NOT_FINISHED`` when it has no
        folder; else what is damaged ('rows.parquet: ArrowInvalid: ...')."""
        if key not in self._checked:
            self._checked[key] = folder_problem(self.cell_dir(key), CELL_CHECKS, "cell.json")
        return self._checked[key]

    def is_done(self, key: str) -> bool:
        """Finished, and every file loads (a damaged cell is not done: see ``damaged``)."""
        return self.problem(key) is None

    def damaged(self, keys: Iterable[str]) -> list[tuple[str, str]]:
        """(key, problem) of each cell that has a folder whose files fail to load."""
        return [(k, why) for k in keys
                if (why := self.problem(k)) not in (None, NOT_FINISHED)]

    def forget(self, key: str) -> None:
        shutil.rmtree(self.cell_dir(key), ignore_errors=True)
        self._checked.pop(key, None)

    def write_cell(self, key: str, rows: pd.DataFrame, losses: list[float],
                   maps: dict[str, np.ndarray], meta: dict,
                   extras: dict[str, Callable[[Path], None]] | None = None) -> None:
        """Write a finished cell; ``extras`` maps file names to writers (e.g. a checkpoint)."""
        tmp = self.cells_dir / f".tmp-{key}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        try:
            rows.to_parquet(tmp / "rows.parquet", index=False)
            (tmp / "loss.json").write_text(json.dumps(losses))
            np.savez_compressed(tmp / "maps.npz", **maps)
            for name, writer in (extras or {}).items():
                writer(tmp / name)
            (tmp / "cell.json").write_text(json.dumps(meta, indent=1, default=str))
            fsync_tree(tmp)
        except BaseException:  # e.g. ENOSPC: leave no half cell behind
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        final = self.cell_dir(key)
        if final.exists():  # --force, or a damaged cell: replace the old result
            shutil.rmtree(final)
        os.rename(tmp, final)
        fsync_path(self.cells_dir)
        self._checked[key] = None

    # ---- probe protocol: one pre-trained model per (dataset, seed) unit
    def unit_dir(self, key: str) -> Path:
        return self.root / "pretrain" / key

    def unit_problem(self, key: str) -> str | None:
        """As ``problem``, for a probe pre-training unit (``pretrain/<key>/``)."""
        if key not in self._units_checked:
            self._units_checked[key] = folder_problem(self.unit_dir(key), UNIT_CHECKS,
                                                      "unit.json")
        return self._units_checked[key]

    def unit_done(self, key: str) -> bool:
        return self.unit_problem(key) is None

    def write_unit(self, key: str, losses: list[float], meta: dict,
                   write_model: Callable[[Path], None]) -> None:
        parent = self.root / "pretrain"
        parent.mkdir(exist_ok=True)
        tmp = parent / f".tmp-{key}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        try:
            write_model(tmp / "model.pt")
            (tmp / "loss.json").write_text(json.dumps(losses))
            (tmp / "unit.json").write_text(json.dumps(meta, indent=1, default=str))
            fsync_tree(tmp)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        shutil.rmtree(self.unit_dir(key), ignore_errors=True)
        os.rename(tmp, self.unit_dir(key))
        self._units_checked[key] = None

    def read_unit_losses(self, key: str) -> list[float]:
        return json.loads((self.unit_dir(key) / "loss.json").read_text())

    def read_meta(self, key: str) -> dict:
        return json.loads((self.cell_dir(key) / "cell.json").read_text())

    def read_losses(self, key: str) -> list[float]:
        return json.loads((self.cell_dir(key) / "loss.json").read_text())

    def read_maps(self, key: str) -> dict[str, np.ndarray]:
        with np.load(self.cell_dir(key) / "maps.npz", allow_pickle=False) as z:
            return {k: z[k] for k in z.files}

    def collect(self, keys: list[str]) -> pd.DataFrame:
        frames = [pd.read_parquet(self.cell_dir(k) / "rows.parquet") for k in keys
                  if self.is_done(k)]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

"""The results store: one folder per finished cell, written atomically; a merged parquet.

A cell's outputs are written into ``cells/.tmp-<key>-<pid>/`` and renamed to
``cells/<key>/`` in one step, so a killed run leaves either a complete cell or a temporary
folder that the next run deletes, never a half cell. ``results.parquet`` is rebuilt from
the cells of the current plan, also atomically.

    store = ResultStore(Path("runs/default"))
    store.is_done(key); store.write_cell(key, rows_df, losses, maps, meta)
    df = store.collect([c.key for c in cells])
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd


def atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".tmp-{path.name}-{os.getpid()}")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_parquet(path: Path, df: pd.DataFrame) -> None:
    tmp = path.with_name(f".tmp-{path.name}-{os.getpid()}")
    df.to_parquet(tmp, index=False)
    os.replace(tmp, path)


class ResultStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.cells_dir = self.root / "cells"
        self.cells_dir.mkdir(parents=True, exist_ok=True)

    def clean_temporaries(self) -> int:
        """Delete leftovers of interrupted writes; returns how many were removed."""
        n = 0
        leftovers = [*self.cells_dir.glob(".tmp-*"), *self.root.glob(".tmp-*"),
                     *self.root.glob("pretrain/.tmp-*"), *self.root.glob("partial/.tmp-*")]
        for p in leftovers:
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
            n += 1
        return n

    def cell_dir(self, key: str) -> Path:
        return self.cells_dir / key

    def is_done(self, key: str) -> bool:
        return (self.cell_dir(key) / "cell.json").is_file()

    def forget(self, key: str) -> None:
        shutil.rmtree(self.cell_dir(key), ignore_errors=True)

    def write_cell(self, key: str, rows: pd.DataFrame, losses: list[float],
                   maps: dict[str, np.ndarray], meta: dict,
                   extras: dict[str, Callable[[Path], None]] | None = None) -> None:
        """Write a finished cell; ``extras`` maps file names to writers (e.g. a checkpoint)."""
        tmp = self.cells_dir / f".tmp-{key}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        rows.to_parquet(tmp / "rows.parquet", index=False)
        (tmp / "loss.json").write_text(json.dumps(losses))
        np.savez_compressed(tmp / "maps.npz", **maps)
        for name, writer in (extras or {}).items():
            writer(tmp / name)
        (tmp / "cell.json").write_text(json.dumps(meta, indent=1, default=str))
        final = self.cell_dir(key)
        if final.exists():  # --force: replace the old result
            shutil.rmtree(final)
        os.rename(tmp, final)

    # ---- probe protocol: one pre-trained model per (dataset, seed) unit
    def unit_dir(self, key: str) -> Path:
        return self.root / "pretrain" / key

    def unit_done(self, key: str) -> bool:
        return (self.unit_dir(key) / "unit.json").is_file()

    def write_unit(self, key: str, losses: list[float], meta: dict,
                   write_model: Callable[[Path], None]) -> None:
        parent = self.root / "pretrain"
        parent.mkdir(exist_ok=True)
        tmp = parent / f".tmp-{key}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        write_model(tmp / "model.pt")
        (tmp / "loss.json").write_text(json.dumps(losses))
        (tmp / "unit.json").write_text(json.dumps(meta, indent=1, default=str))
        shutil.rmtree(self.unit_dir(key), ignore_errors=True)
        os.rename(tmp, self.unit_dir(key))

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

"""Everything the HTML report reads from a finished run folder, in one object.

    run = load_run(Path("runs/default"))                # reloads the datasets (cached)
    run = load_run(Path("runs/default"), datasets)      # at the end of a run: reuse them
    run.names, run.agg, run.results, run.verdict, run.orient["overlap"], run.cells
    run.references, run.ref_agg      # untrained / resample / chance rows and per-θ means

Nothing here draws. Missing optional files (verdict, orientation tables, losses) become
empty frames or ``None``; datasets that cannot be reloaded (moved data, a newer config
schema) fall back to the counts in ``run.log`` and the skipped-input list in ``summary.md``.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from thetascope.data.sample import LoadedDataset

_DATASET_LINE = re.compile(r"dataset (.+) \(([^()]+)\): (\d+) SSP, (\d+) eval, skipped "
                           r"(\{.*?\}); (.*)$")
_WARN = re.compile(r" (WARNING|ERROR|CRITICAL) |failed", re.IGNORECASE)


@dataclass
class DatasetInfo:
    name: str
    kind: str = "?"
    synthetic: bool | None = None
    n_ssp: int | None = None
    n_eval: int | None = None
    skipped: dict[str, int] = field(default_factory=dict)
    source: str = ""
    skipped_files: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class RunData:
    root: Path
    name: str
    cfg: object | None  # ExperimentConfig, or None when config.yaml no longer validates
    config_text: str
    fingerprint: str
    results: pd.DataFrame
    agg: pd.DataFrame
    losses: pd.DataFrame
    verdict: pd.DataFrame | None
    peaks: pd.DataFrame
    orient: dict[str, pd.DataFrame]
    cells: list[dict]
    log_lines: list[str]
    info: dict[str, DatasetInfo]
    datasets: dict[str, LoadedDataset]
    notes: list[str] = field(default_factory=list)  # problems met while loading
    baselines: pd.DataFrame = field(default_factory=pd.DataFrame)  # baselines.parquet
    references: pd.DataFrame = field(default_factory=pd.DataFrame)  # untrained/resample/chance
    ref_agg: pd.DataFrame = field(default_factory=pd.DataFrame)  # their per-θ aggregates

    @property
    def names(self) -> list[str]:
        seen = list(self.info)
        seen += [n for n in dict.fromkeys(self.agg.get("dataset", [])) if n not in seen]
        return seen

    @property
    def metrics(self) -> list[str]:
        ms = list(dict.fromkeys(self.agg.get("metric", [])))
        return sorted(ms, key=lambda m: (m != "dice", ms.index(m)))

    def title(self, name: str) -> str:
        i = self.info.get(name)
        return name + (" (synthetic)" if i is not None and i.synthetic else "")


def _read(path: Path) -> pd.DataFrame:
    if not path.is_file():
        return pd.DataFrame()
    return pd.read_csv(path) if path.suffix == ".csv" else pd.read_parquet(path)


def _config(root: Path, notes: list[str]) -> tuple[object | None, str, str, str]:
    path = root / "config.yaml"
    if not path.is_file():
        notes.append("config.yaml is missing")
        return None, "", "", root.name
    text = path.read_text(encoding="utf-8")
    m = re.search(r"fingerprint (\w+)", text.splitlines()[0] if text else "")
    fp = m.group(1) if m else ""
    try:
        from thetascope.config import load_config

        cfg = load_config(path)
        return cfg, text, fp, cfg.name
    except Exception as exc:  # an older/newer schema: show the text, skip what needs it
        notes.append(f"config.yaml does not validate with this thetascope: {exc}")
        m = re.search(r"^name:\s*(.+)$", text, re.M)
        return None, text, fp, m.group(1).strip() if m else root.name


def _reload(cfg, notes: list[str]) -> dict[str, LoadedDataset]:
    from thetascope.data.registry import create_dataset

    out: dict[str, LoadedDataset] = {}
    for spec in cfg.data.datasets:
        try:
            ds = create_dataset(spec, cfg.data, cfg.geometry.circle_mask)
            out[ds.name] = ds
        except Exception as exc:
            notes.append(f"dataset {spec.display_name} could not be reloaded ({exc}); its "
                         "images are not shown")
    return out


def _from_log(lines: list[str]) -> dict[str, DatasetInfo]:
    info: dict[str, DatasetInfo] = {}
    for line in lines:
        m = _DATASET_LINE.search(line)
        if not m:
            continue
        name, kind, n_ssp, n_eval, skipped, source = m.groups()
        try:
            skip = {str(k): int(v) for k, v in ast.literal_eval(skipped).items()}
        except (ValueError, SyntaxError, AttributeError):
            skip = {}
        info[name] = DatasetInfo(name, kind, source.upper().startswith("SYNTHETIC"),
                                 int(n_ssp), int(n_eval), skip, source)
    return info


def _skipped_from_summary(root: Path) -> dict[str, list[tuple[str, str]]]:
    path = root / "summary.md"
    if not path.is_file():
        return {}
    text = path.read_text(encoding="utf-8")
    if "## Skipped inputs" not in text:
        return {}
    section = text.split("## Skipped inputs", 1)[1].split("\n## ", 1)[0]
    out: dict[str, list[tuple[str, str]]] = {}
    current = ""
    for line in section.splitlines():
        if m := re.match(r"^(.+): \d+ file\(s\)$", line):
            current = m.group(1)
        elif (m := re.match(r"^\| `(.+)` \| (.*) \|$", line)) and current:
            out.setdefault(current, []).append((m.group(1), m.group(2)))
    return out


def _cells(root: Path, keys: set[str]) -> list[dict]:
    out = []
    for p in sorted((root / "cells").glob("*/cell.json")):
        if keys and p.parent.name not in keys:
            continue  # a cell of an earlier config written into the same folder
        try:
            meta = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(meta, dict):  # a damaged cell.json ("[]"): not a cell's record
            continue
        meta["_dir"] = str(p.parent)
        out.append(meta)
    return out


def load_run(root: Path, datasets: dict[str, LoadedDataset] | None = None) -> RunData:
    """Read a run folder; raises FileNotFoundError when it holds no aggregate.csv."""
    root = Path(root)
    if not (root / "aggregate.csv").is_file():
        raise FileNotFoundError(f"{root} is not a finished thetascope run (no aggregate.csv)")
    notes: list[str] = []
    cfg, text, fp, name = _config(root, notes)
    log_path = root / "run.log"
    lines = log_path.read_text(encoding="utf-8", errors="replace").splitlines() \
        if log_path.is_file() else []
    if datasets is None:
        datasets = _reload(cfg, notes) if cfg is not None else {}
    info = _from_log(lines)
    for n, ds in datasets.items():
        info[n] = DatasetInfo(n, ds.kind, ds.synthetic, len(ds.ssp), len(ds.eval),
                              dict(ds.skipped), ds.source, list(ds.skipped_files))
    for n, files in _skipped_from_summary(root).items():
        if n in info and not info[n].skipped_files:
            info[n].skipped_files = files
    results, references = _split_models(_read(root / "results.parquet"))
    agg, ref_agg = _split_models(_read(root / "aggregate.csv"))
    verdict = _read(root / "verdict.parquet")
    orient = {k: _read(root / f"orient_{k}.parquet") for k in ("histograms", "overlap", "svm")}
    keys = set(results["cell"]) if "cell" in results else set()
    return RunData(root, name, cfg, text, fp, results, agg,
                   _read(root / "losses.parquet"), None if verdict.empty else verdict,
                   _read(root / "analysis_peaks.parquet"), orient, _cells(root, keys), lines,
                   info, dict(datasets), notes, _read(root / "baselines.parquet"),
                   references, ref_agg)


def _split_models(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(trained rows, reference rows) of a table with a ``model`` column; a table without
    one (a run made before the references existed) is all trained."""
    if df.empty or "model" not in df:
        return df, pd.DataFrame()
    trained = df["model"] == "trained"
    return df[trained].reset_index(drop=True), df[~trained].reset_index(drop=True)


def warnings(run: RunData) -> list[tuple[str, str]]:
    """(kind, text) for every problem a reader should know of: failed tasks and warnings in
    ``run.log``, grid points without a result, loading notes."""
    out = [("log", line) for line in run.log_lines if _WARN.search(line)]
    cfg = run.cfg
    if cfg is not None and not run.results.empty:
        have = set(zip(run.results.dataset, run.results.theta.astype(float),
                       run.results.seed.astype(int), strict=True))
        missing = [(n, float(t), int(s)) for n in run.names for t in cfg.sweep.thetas
                   for s in cfg.sweep.seeds if (n, float(t), int(s)) not in have]
        for n, t, s in missing[:50]:
            out.append(("missing", f"no result for {n} θ = {t:g}° seed {s}"))
        if len(missing) > 50:
            out.append(("missing", f"… {len(missing) - 50} more grid points without a result"))
    out += [("report", n) for n in run.notes]
    return out


def data_notes(run: RunData) -> list[str]:
    """Images each dataset lost before scoring (empty masks, unreadable files ...); the
    caps set by the config ('over max_eval' ...) are left to the datasets table."""
    return [f"{name}: {n} image(s) left out ({reason})" for name, i in run.info.items()
            for reason, n in i.skipped.items() if n and not reason.startswith("over ")]


def provenance(run: RunData) -> list[tuple[str, str]]:
    """(field, value) rows from the cells' ``cell.json``: versions, device, host, times."""
    cells = run.cells
    rows: list[tuple[str, str]] = [("config fingerprint", run.fingerprint or "—")]
    for key in ("thetascope", "protocol_version", "python", "torch", "torchvision", "device",
                "torch_threads", "host"):
        vals = sorted({str(c[key]) for c in cells if c.get(key) is not None})
        if vals:
            rows.append((key.replace("_", " "), ", ".join(vals)))
    if cells:
        starts = sorted(c["started"] for c in cells if c.get("started"))
        ends = sorted(c["finished"] for c in cells if c.get("finished"))
        if starts and ends:
            rows.append(("cells ran", f"{starts[0][:19].replace('T', ' ')} → "
                                      f"{ends[-1][:19].replace('T', ' ')} UTC"))
        total = sum(float(c.get("wall_s") or 0) for c in cells)
        train = sum(float(c.get("train_s") or 0) for c in cells)
        sal = sum(float(c.get("saliency_s") or 0) for c in cells)
        rows.append(("compute in cells", f"{total:.1f} s ({train:.1f} s pre-training, "
                                         f"{sal:.1f} s saliency) over {len(cells)} cells"))
    return rows

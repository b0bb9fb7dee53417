"""Shared pieces of the benchmark suite: result rows, timing, machine facts, peaks.

Every row compares thetascope with a named baseline measured in the same process (or the
same run, for memory) on identical inputs, and reports the ratio (higher is better):

    row = Row("smoothgrad maps/s", "captum NoiseTunnel(Saliency)", 3.1, 3.4, "maps/s",
              target=1.0)
    row.ratio                      # 1.10
"""

from __future__ import annotations

import json
import os
import platform
import socket
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path

import torch

from thetascope.atomic import atomic_write_text


@dataclass
class Row:
    name: str
    baseline: str
    baseline_value: float
    value: float
    unit: str
    target: float | None = None
    higher_is_better: bool = True
    notes: dict = field(default_factory=dict)
    machine: str = ""

    @property
    def ratio(self) -> float:
        if self.higher_is_better:
            return self.value / self.baseline_value if self.baseline_value else float("nan")
        return self.baseline_value / self.value if self.value else float("nan")

    @property
    def met(self) -> bool | None:
        return None if self.target is None else self.ratio >= self.target

    def as_dict(self) -> dict:
        d = asdict(self)
        d["ratio"] = round(self.ratio, 4)
        d["met"] = self.met
        return d


def machine() -> str:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        cpu = platform.processor()
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (f"{socket.gethostname()}: {cpu}, {os.cpu_count()} cores, "
            f"{torch.get_num_threads()} torch threads, {gpu}, torch {torch.__version__}")


def sync(device: torch.device | None = None) -> None:
    """Wait for queued GPU work, so a host clock read after it measures that work."""
    if device is not None and device.type == "cuda":
        torch.cuda.synchronize(device)


def best_time(fn: Callable[[], object], repeats: int = 3, warmup: int = 1,
              device: torch.device | None = None) -> float:
    """Best wall time of ``repeats`` calls after ``warmup`` calls (robust to a busy host);
    GPU work is waited for inside each timed call."""
    for _ in range(warmup):
        fn()
    sync(device)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t0)
    return min(times)


def matmul_peak(dtype: torch.dtype, device: torch.device | None = None) -> float:
    """Measured FLOP/s of a square matrix multiply in ``dtype`` on ``device`` (n = 2048 on
    the CPU, 8192 on a GPU: large enough to reach the machine's matrix-unit peak)."""
    device = device or torch.device("cpu")
    n = 8192 if device.type == "cuda" else 2048
    a = torch.randn(n, n, dtype=dtype, device=device)
    b = torch.randn(n, n, dtype=dtype, device=device)
    t = best_time(lambda: a @ b, repeats=10 if device.type == "cuda" else 5, device=device)
    return 2 * n**3 / t


def load_average() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


def write_results(rows: list[Row], out_dir: Path, extra: dict | None = None,
                  suffix: str = "") -> Path:
    """Write ``out_dir/<date>-<host><suffix>.json`` (suffix ``-cuda`` for GPU runs, so they
    sit beside the same host's CPU results instead of replacing them), atomically: the
    suite rewrites it after every row, so a run cut short keeps the rows it measured."""
    out_dir.mkdir(parents=True, exist_ok=True)
    host = socket.gethostname().replace("/", "_")
    path = out_dir / f"{date.today().isoformat()}-{host}{suffix}.json"
    m = machine()
    payload = {"machine": m, "load_average_at_start": (extra or {}).get("load"),
               "rows": [{**r.as_dict(), "machine": m} for r in rows], **(extra or {})}
    atomic_write_text(path, json.dumps(payload, indent=1, default=str))
    return path

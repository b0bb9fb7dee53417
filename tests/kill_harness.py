"""A fork server for kill tests: import thetascope once, run ``thetascope ARGS`` in forked
children, and tell the test which phase each child is in, so SIGKILLs land where asked.

    with ForkServer() as fs:
        child = fs.start(["run", "--config", "smoke", "--out", "runs/x"], work_dir)
        child.wait_phase("saliency", nth=2, timeout=60)   # the 2nd cell's saliency began
        child.kill()                                      # SIGKILL; True if it was running
        child.wait()                                      # the wait status, reaped

Why fork: a fresh ``python -m thetascope`` spends seconds importing torch, so twenty kills
would take minutes. The server imports everything, runs nothing (forking after torch has
started OpenMP threads is unsafe), and each child runs ``thetascope.cli.main()`` with its
arguments, exactly as the console script does. Only the child is killed.

Phase markers: in each child, a few functions are wrapped to append ``<time> <phase>``
lines to ``<work_dir>/phases.log`` when they start (``pretrain``, ``saliency``,
``write-cell``, ``write-results``, ``report``) and end (``<phase>-end``). The wrappers call
the original functions unchanged; they only observe.

Protocol with the server process (``python kill_harness.py``): one JSON request per line
on stdin ``{"args": [...], "dir": "..."}``; it answers ``pid <pid>`` after forking and
``exit <pid> <wait status>`` when the child is reaped.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve()


# --------------------------------------------------------------------------- server side
def _marker(phases: Path, name: str, fn: Callable) -> Callable:
    def wrapped(*args, **kwargs):
        fd = os.open(phases, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        os.write(fd, f"{time.time():.6f} {name}\n".encode())
        try:
            return fn(*args, **kwargs)
        finally:
            os.write(fd, f"{time.time():.6f} {name}-end\n".encode())
            os.close(fd)

    return wrapped


def _instrument(phases: Path) -> None:
    import thetascope.report.figures as figures
    import thetascope.sweep.cell as cell
    import thetascope.sweep.explain as explain
    import thetascope.sweep.runner as runner
    import thetascope.sweep.store as store

    cell.train_model = _marker(phases, "pretrain", cell.train_model)
    explain.smoothgrad_pair = _marker(phases, "saliency", explain.smoothgrad_pair)
    store.ResultStore.write_cell = _marker(phases, "write-cell", store.ResultStore.write_cell)
    runner.atomic_write_parquet = _marker(phases, "write-results", runner.atomic_write_parquet)
    figures.write_figures = _marker(phases, "report", figures.write_figures)


def _child(request: dict) -> None:
    work = Path(request["dir"])
    fd = os.open(work / "child.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    _instrument(work / "phases.log")
    import thetascope.cli

    sys.argv = ["thetascope", *request["args"]]
    code = 1
    try:
        thetascope.cli.main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def serve() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import pandas  # noqa: F401
    import pyarrow.parquet  # noqa: F401
    import torch  # noqa: F401
    import torchvision  # noqa: F401

    import thetascope.cli  # noqa: F401
    import thetascope.report.figures  # noqa: F401
    import thetascope.report.summary  # noqa: F401
    import thetascope.sweep.runner  # noqa: F401

    for mod in ("thetascope.report.html", "thetascope.sweep.orient_stage"):
        with contextlib.suppress(ImportError):  # later stages, if present
            __import__(mod)
    print("ready", flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(request)
        print(f"pid {pid}", flush=True)
        _, status = os.waitpid(pid, 0)
        print(f"exit {pid} {status}", flush=True)


# --------------------------------------------------------------------------- test side
class Child:
    """One forked ``thetascope`` run, seen from the test."""

    def __init__(self, server: ForkServer, pid: int, work: Path) -> None:
        self.server, self.pid, self.work = server, pid, work
        self.status: int | None = None
        self.phases_seen = 0  # lines of phases.log read so far
        self.last_phase = "startup"

    def phases(self) -> list[str]:
        path = self.work / "phases.log"
        return path.read_text().split("\n")[:-1] if path.exists() else []

    def poll(self, timeout: float = 0.0) -> int | None:
        if self.status is None:
            line = self.server.read_line(timeout)
            if line is not None:
                assert line.startswith(f"exit {self.pid} "), line
                self.status = int(line.split()[2])
        return self.status

    def wait_phase(self, name: str, nth: int = 1, timeout: float = 120.0) -> bool:
        """Block until the ``nth`` start of ``name`` in this child; False if it ended first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            starts = [p.split()[1] for p in self.phases()[self.phases_seen:]]
            if starts.count(name) >= nth:
                return True
            if self.poll(0.002) is not None:
                return False
        raise TimeoutError(f"phase {name} #{nth} not reached in {timeout} s")

    def wait_for(self, ready: Callable[[], bool], timeout: float = 120.0) -> bool:
        """Poll ``ready()`` every 0.5 ms; False if the child ended first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ready():
                return True
            if self.poll(0.0005) is not None:
                return False
        raise TimeoutError(f"condition not met in {timeout} s")

    def kill(self) -> bool:
        """SIGKILL the child; True if it was still running (a real kill)."""
        if self.poll(0.0) is not None:
            return False
        lines = self.phases()[self.phases_seen:]
        self.last_phase = lines[-1].split()[1] if lines else "startup"
        os.kill(self.pid, signal.SIGKILL)
        status = self.wait()
        return os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL

    def wait(self, timeout: float = 300.0) -> int:
        status = self.poll(timeout)
        if status is None:
            raise TimeoutError(f"child {self.pid} still running after {timeout} s")
        return status

    def exit_code(self) -> int:
        status = self.wait()
        return os.waitstatus_to_exitcode(status)


class ForkServer:
    """The server process, started with ``OMP_NUM_THREADS=1``; a context manager."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})})
        self._buf = b""
        first = self.read_line(120.0)
        assert first == "ready", f"fork server did not start: {first!r}"

    def read_line(self, timeout: float) -> str | None:
        """The next line the server printed, or None after ``timeout`` seconds."""
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buf:
            ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                return None
            chunk = os.read(fd, 4096)
            if not chunk:
                raise RuntimeError("fork server exited")
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return line.decode().strip()

    def start(self, args: list[str], work: Path) -> Child:
        work.mkdir(parents=True, exist_ok=True)
        seen = len(Child(self, 0, work).phases())
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps({"args": args, "dir": str(work)}) + "\n").encode())
        self.proc.stdin.flush()
        line = self.read_line(30.0)
        assert line is not None and line.startswith("pid "), line
        child = Child(self, int(line.split()[1]), work)
        child.phases_seen = seen
        return child

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> ForkServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


if __name__ == "__main__":
    serve()

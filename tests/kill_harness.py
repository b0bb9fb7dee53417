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
``write-cell``, ``write-results``, ``report``) and end (``<phase>-end``), and a
``<phase>-tick`` line at each step of progress inside ``pretrain`` (a training step, via
its ``on_step``), ``saliency`` (a SmoothGrad chunk, via ``on_chunk``) and ``report`` (a
figure file), so a test can kill on the k-th event the child signals, never after a delay::

        child.wait_tick("pretrain", nth=1, k=2)               # its 2nd training step ended
        child.kill()

The wrappers call the original functions unchanged; they only observe.

Protocol with the server process (``python kill_harness.py``): one JSON request per line
on stdin ``{"args": [...], "dir": "..."}``; it answers ``pid <pid>`` after forking and
``exit <pid> <wait status>`` when the child is reaped.
"""

from __future__ import annotations

import contextlib
import inspect
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
def _write(phases: Path, what: str) -> None:
    fd = os.open(phases, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        os.write(fd, f"{time.time():.6f} {what}\n".encode())
    finally:
        os.close(fd)


def _marker(phases: Path, name: str, fn: Callable, tick_arg: str | None = None) -> Callable:
    """``fn`` writing ``name`` / ``name-end`` around each call; with ``tick_arg``, the
    progress callback of that name (None or not) also writes ``name-tick`` per call."""
    sig = inspect.signature(fn) if tick_arg else None

    def wrapped(*args, **kwargs):
        if sig is not None:
            bound = sig.bind(*args, **kwargs)
            inner = bound.arguments.get(tick_arg)

            def tick(*a):
                _write(phases, f"{name}-tick")
                return inner(*a) if inner is not None else None

            bound.arguments[tick_arg] = tick
            args, kwargs = bound.args, bound.kwargs
        _write(phases, name)
        try:
            return fn(*args, **kwargs)
        finally:
            _write(phases, f"{name}-end")

    return wrapped


def _ticker(phases: Path, name: str, fn: Callable) -> Callable:
    def wrapped(*args, **kwargs):
        _write(phases, f"{name}-tick")
        return fn(*args, **kwargs)

    return wrapped


def _instrument(phases: Path) -> None:
    import thetascope.report.figures as figures
    import thetascope.sweep.cell as cell
    import thetascope.sweep.explain as explain
    import thetascope.sweep.runner as runner
    import thetascope.sweep.store as store

    cell.train_model = _marker(phases, "pretrain", cell.train_model, "on_step")
    explain.smoothgrad_pair = _marker(phases, "saliency", explain.smoothgrad_pair, "on_chunk")
    store.ResultStore.write_cell = _marker(phases, "write-cell", store.ResultStore.write_cell)
    runner.atomic_write_parquet = _marker(phases, "write-results", runner.atomic_write_parquet)
    figures.write_figures = _marker(phases, "report", figures.write_figures)
    figures.atomic_write_file = _ticker(phases, "report", figures.atomic_write_file)


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

    def ticks(self, name: str, nth: int = 1) -> tuple[int, bool]:
        """(progress ticks, ended) of the ``nth`` run of phase ``name`` in this child."""
        lines = [p.split()[1] for p in self.phases()[self.phases_seen:]]
        starts = [i for i, p in enumerate(lines) if p == name]
        if len(starts) < nth:
            return 0, False
        count = 0
        for p in lines[starts[nth - 1] + 1:]:
            if p == f"{name}-end":
                return count, True
            count += p == f"{name}-tick"
        return count, False

    def wait_tick(self, name: str, nth: int = 1, k: int = 1, timeout: float = 120.0) -> bool:
        """Block until the ``nth`` run of phase ``name`` has signalled ``k`` ticks (or has
        ended with fewer); False if the child ended first."""
        def ready() -> bool:
            count, ended = self.ticks(name, nth)
            return count >= k or ended

        return self.wait_phase(name, nth, timeout) and self.wait_for(ready, timeout)

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
        self.last_phase = lines[-1].split()[1].removesuffix("-tick") if lines else "startup"
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

"""One run per output folder: an advisory ``flock`` on ``<out>/.lock`` for the run's duration.

    with run_lock(Path("runs/default")):      # RunLocked if another live run holds it
        ...                                    # write cells, results, figures

The lock is ``fcntl.flock(LOCK_EX | LOCK_NB)`` on an open file descriptor: the kernel
releases it when the process exits for any reason, SIGKILL included, so a killed run never
leaves a stale lock behind. The file holds the holder's PID, host and start time, only
for the message a second run prints; it is never deleted (deleting a lock file races
with a process that has just opened it). Platforms without ``fcntl`` run unlocked.
On NFS, ``flock`` is emulated with POSIX byte-range locks (Linux ≥ 2.6.12) and works
across hosts when the server runs a lock manager.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOCK_NAME = ".lock"


class RunLocked(RuntimeError):
    """Another thetascope run holds the output folder; the message names its PID."""


def _holder(fd: int) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        text = os.read(fd, 512).decode("utf-8", "replace").strip()
    except OSError:
        text = ""
    fields = dict(part.split("=", 1) for part in text.split() if "=" in part)
    if "pid" not in fields:
        return "a process whose PID was not yet recorded"
    where = f" on {fields['host']}" if fields.get("host") else ""
    since = f", since {fields['started']}" if fields.get("started") else ""
    return f"PID {fields['pid']}{where}{since}"


@contextmanager
def run_lock(out: Path) -> Iterator[Path]:
    """Hold ``<out>/.lock`` exclusively until the block ends; ``RunLocked`` if taken."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no advisory locks, run unlocked
        yield Path(out) / LOCK_NAME
        return
    path = Path(out) / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunLocked(
                f"{out} is in use by another thetascope run ({_holder(fd)}); wait for it to "
                "finish or stop it, or give this run another --out"
            ) from None
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid={os.getpid()} host={socket.gethostname()} started={stamp}\n"
                  .encode(), 0)
        try:
            yield path
        finally:
            os.ftruncate(fd, 0)  # released: no PID left to mislead a reader
    finally:
        os.close(fd)  # closing the descriptor releases the flock

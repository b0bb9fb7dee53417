"""One run per output folder: an exclusive ``filelock.FileLock`` on ``<out>/.lock``.

    with run_lock(Path("runs/default")):      # RunLocked if another live run holds it
        ...                                    # write cells, results, figures

``filelock`` locks with ``fcntl.flock`` on POSIX and ``msvcrt.locking`` on Windows; either
way the operating system releases the lock when the holding process exits for any reason,
SIGKILL included, so a killed run leaves no stale lock: the next run simply takes it. The
file holds the holder's PID, host and start time, only for the message a second run
prints, and is emptied on release; it is never deleted (deleting a lock file races with a
process that has just opened it). filelock ≥ 4 opens the lock file without truncating it,
so a refused attempt does not erase the holder's note (3.x truncated it). On NFS, ``flock``
is emulated with POSIX byte-range locks (Linux ≥ 2.6.12) and works across hosts when the
server runs a lock manager.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

LOCK_NAME = ".lock"


class RunLocked(RuntimeError):
    """Another thetascope run holds the output folder; the message names its PID."""


def _holder(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")[:512].strip()
    except OSError:  # Windows: the holder's locked bytes cannot be read
        text = ""
    fields = dict(part.split("=", 1) for part in text.split() if "=" in part)
    if "pid" not in fields:
        return "a process whose PID was not yet recorded"
    where = f" on {fields['host']}" if fields.get("host") else ""
    since = f", since {fields['started']}" if fields.get("started") else ""
    return f"PID {fields['pid']}{where}{since}"


def _note(path: Path, text: str) -> None:
    """Write the holder's note through a second descriptor (the lock is advisory); a note
    that cannot be written only makes a second run's message vaguer."""
    with contextlib.suppress(OSError):
        path.write_text(text, encoding="utf-8")


@contextmanager
def run_lock(out: Path) -> Iterator[Path]:
    """Hold ``<out>/.lock`` exclusively until the block ends; ``RunLocked`` if taken."""
    path = Path(out) / LOCK_NAME
    lock = FileLock(path, timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise RunLocked(
            f"{out} is in use by another thetascope run ({_holder(path)}); wait for it to "
            "finish or stop it, or give this run another --out"
        ) from None
    try:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
        _note(path, f"pid={os.getpid()} host={socket.gethostname()} started={stamp}\n")
        try:
            yield path
        finally:
            _note(path, "")  # released: no PID left to mislead a reader
    finally:
        lock.release()

"""Why a dataset root (or manifest) cannot be read, in words, before any loader looks.

    check_root(Path("/data/Kvasir-SEG"))   # None, or DataError: '/data/x: a symbolic link
                                           # loop (...); point root at the real folder'
    root_problem(Path("/data/x"))          # None or 'not found' / 'a symbolic link loop ...'

``Path.exists()`` is False for a missing path, a link loop, a dangling link and a folder
that cannot be searched alike, so "not found" used to stand for all of them.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from thetascope.data.problems import DataError


def expand_user(path: str | Path) -> Path:
    """``Path.expanduser`` that leaves ``~name`` as written when there is no such user (as
    a shell does) instead of raising RuntimeError."""
    try:
        return Path(path).expanduser()
    except RuntimeError:
        return Path(path)


def root_problem(path: Path) -> str | None:
    """None when ``path`` can be stat'ed; else what is wrong with it, and the fix."""
    try:
        os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            return (f"a broken symbolic link (it points to {os.readlink(path)}, which does "
                    "not exist); repair the link or point root at the real folder")
        return "path not found"
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return ("a symbolic link loop (following its links leads back to itself); point "
                    "root at the real folder")
        if exc.errno == errno.ENAMETOOLONG:
            return "path too long for the file system; use a shorter path"
        if exc.errno in (errno.EACCES, errno.EPERM):
            return "permission denied; check the permissions of the folders on its path"
        if exc.errno == errno.ENOTDIR:
            return "a part of the path is a file, not a folder"
        return f"cannot be read ({exc.strerror or exc})"
    except ValueError as exc:  # an embedded NUL byte, a character the file system refuses
        return f"not a valid path ({exc})"
    return None


def check_root(path: Path, hint: str = "give a dataset folder or a manifest file",
               missing_ok: bool = False) -> None:
    """Raise a one-line ``DataError`` naming ``path`` when it cannot be read
    (``missing_ok``: not for a plain missing path, which the caller words itself)."""
    why = root_problem(Path(path))
    if why is not None and not (missing_ok and why == "path not found"):
        raise DataError(f"{path}: {why}" + ("; " + hint if why == "path not found" else ""))

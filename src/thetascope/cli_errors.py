"""How the command line reports what went wrong: one line, never a traceback.

    with reported(console, debug, interrupted="finished cells are kept in runs/x/cells"):
        ...   # a user error -> 'error: <message>' and exit 2; Ctrl-C -> a line and exit 130

Input problems (config, data, checkpoints, locks, --out paths, a full disk) print one red
line ``error: …`` and exit with code 2; an operating-system error about a path (permission
denied, a name too long, a file where a folder belongs, a link loop …) is worded the same
way. ``--debug`` re-raises instead, with the traceback. Ctrl-C prints what was kept and how
to resume, and exits with 130 (Typer would otherwise exit silently).
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator

import typer

# errno of an OSError that is about the user's paths or machine, not a bug
_PATH_ERRNOS = {errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.EEXIST, errno.EACCES,
                errno.EPERM, errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.ENAMETOOLONG,
                errno.ELOOP, errno.EFBIG, errno.EMFILE, errno.ENFILE, errno.EXDEV, errno.EBUSY}


def user_errors() -> tuple[type[BaseException], ...]:
    """The exception types that are the user's input, not a bug."""
    from thetascope.config import ConfigError
    from thetascope.data.folder import DataError
    from thetascope.out_paths import OutPathError
    from thetascope.ssl.checkpoints import CheckpointError
    from thetascope.ssl.train import TrainingConfigError
    from thetascope.sweep.lock import RunLocked
    from thetascope.sweep.runner import RunFailed
    from thetascope.sweep.store import OutputWriteError

    return (ConfigError, DataError, TrainingConfigError, CheckpointError, FileNotFoundError,
            RunFailed, RunLocked, OutputWriteError, OutPathError)


def plain(text: object) -> str:
    """The message as literal text: a file named ``[red]x[/].png`` is not rich markup."""
    from rich.markup import escape

    return escape(str(text))


def os_message(exc: OSError) -> str:
    """'cannot use <file>: <reason>' for an OSError about a path."""
    where = exc.filename if exc.filename is not None else "a file"
    if exc.filename2 is not None:
        where = f"{where} -> {exc.filename2}"
    why = exc.strerror or (os.strerror(exc.errno) if exc.errno else str(exc))
    return f"cannot use {where}: {why}; check the path and its permissions"


def _one_line(text: str) -> str:
    """Messages are one line per problem; a config's several problems keep their lines."""
    if text.startswith("invalid config"):
        return text
    return text.replace("\r\n", " ").replace("\n", " ").replace("\r", " ")


@contextlib.contextmanager
def reported(console, debug: bool, interrupted: str = "") -> Iterator[None]:
    """Turn an input problem into one red line and exit code 2 (``--debug``: traceback);
    Ctrl-C into 'interrupted; <interrupted>' and exit code 130."""
    try:
        yield
    except KeyboardInterrupt:
        if debug:
            raise
        console.print(f"interrupted{'; ' + plain(interrupted) if interrupted else ''}",
                      highlight=False, soft_wrap=True)
        raise typer.Exit(130) from None
    except user_errors() as exc:
        if debug:
            raise
        console.print(f"[red]error:[/red] {plain(_one_line(str(exc)))}", highlight=False,
                      soft_wrap=True)
        raise typer.Exit(2) from None
    except OSError as exc:
        if debug or exc.errno not in _PATH_ERRNOS:
            raise
        console.print(f"[red]error:[/red] {plain(os_message(exc))}", highlight=False,
                      soft_wrap=True)
        raise typer.Exit(2) from None

"""Bad input: one policy for every loader (``data.on_bad_input``), one error type.

    opts = LoadOptions(on_bad_input="skip")
    problems = Problems(opts)
    problems.report(path, "unreadable image: truncated PNG", "re-export or remove it")
    problems.skipped          # [(str(path), "unreadable image: truncated PNG")]

``strict`` raises a ``DataError`` at the first problem, naming the file and the fix;
``skip`` drops the file and lists it (the run's summary.md shows the list). A reason is
``"category: detail"``; counts are kept per category (``reason_category``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal


class DataError(ValueError):
    """A problem with input data, worded for the user: names the file and the fix."""


@dataclass(frozen=True)
class LoadOptions:
    """What the raw loaders need from ``DataConfig`` (kept small: no config blob)."""

    on_bad_input: Literal["skip", "strict"] = "skip"
    color: Literal["luma", "rgb"] = "luma"


class BadFile(Exception):
    """Raised by the readers for one bad file; loaders turn it into ``Problems.report``."""

    def __init__(self, reason: str, fix: str) -> None:
        super().__init__(f"{reason}; {fix}")
        self.reason, self.fix = reason, fix


def outside_root(path: Path | str, root: Path | str) -> tuple[str, str] | None:
    """(reason, fix) when ``path`` resolves, through symlinks, outside ``root``; else None.

    Data must stay under the dataset's root: a link out of it (``images/x.png ->
    /etc/...``) is refused, so a dataset folder can only ever read its own files."""
    try:
        target = Path(path).resolve(strict=True)
        base = Path(root).expanduser().resolve()
    except (OSError, RuntimeError):  # a dangling link or a link loop
        return ("unresolvable link: the path does not lead to a file",
                "repair or remove the link")
    if target.is_relative_to(base):
        return None
    return (f"outside the data root: links to {target}, outside {base}",
            "copy the file into the dataset folder, or point root at a folder that holds it")


def displayable(text: str) -> str:
    """``text`` with the undecodable bytes of a file name (Python's surrogate escapes)
    shown as U+FFFD, so that it can be printed and written as UTF-8."""
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raw = text.encode("utf-8", "replace")
    return raw.decode("utf-8", "replace")


def reason_category(reason: str) -> str:
    """The part of a reason before its first ':' ("unreadable image: ..." -> category)."""
    return reason.split(":", 1)[0].strip()


@dataclass
class Problems:
    """Collects bad input under the ``skip`` policy; raises under ``strict``."""

    opts: LoadOptions = field(default_factory=LoadOptions)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    @property
    def strict(self) -> bool:
        return self.opts.on_bad_input == "strict"

    def tolerate(self, path: Path | str, reason: str, fix: str) -> None:
        """A sample that stays in the SSP pool under ``skip`` (no mask, empty mask): raise
        only under ``strict``; the registry lists it when it splits the dataset."""
        if self.strict:
            self.report(path, reason, fix)

    def report(self, path: Path | str, reason: str, fix: str) -> None:
        """Record a bad file (skip) or stop with a DataError naming it and the fix (strict)."""
        path, reason = displayable(str(path)), displayable(reason)
        if self.strict:
            raise DataError(f"{path}: {reason}; {fix} (or set data.on_bad_input=skip to skip "
                            "and list such files)")
        self.skipped.append((path, reason))

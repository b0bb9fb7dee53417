"""Reading YAML config text strictly: an empty file and a repeated key are errors.

    raw = read_yaml_config(Path("my.yaml"))      # dict; ConfigError naming file and line
    yaml.load("{a: 1, a: 2}", Loader=UniqueKeyLoader)   # yaml.YAMLError: duplicate key 'a'

PyYAML keeps the last of two equal keys without a word (``ssl: ...`` twice silently drops
the first section), and an empty file loads as ``None``, which would run the whole default
study. Both are refused here, with the line numbers, so a config means what it says.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError

from thetascope.config.base import ConfigError


class UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a mapping holding the same key twice."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, yaml.Node] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # '<<: *anchor' merges are fine
                continue
            key = self.construct_object(key_node, deep=deep)
            try:
                first = seen.get(key)
            except TypeError:  # an unhashable key: let SafeLoader report it
                continue
            if first is not None:
                raise ConstructorError(
                    None, None,
                    f"duplicate key {key!r} (first at line {first.start_mark.line + 1}); "
                    "keep one of them", key_node.start_mark)
            seen[key] = key_node
        return super().construct_mapping(node, deep=deep)


def one_line(exc: yaml.YAMLError) -> str:
    """A YAML error as one line: 'line L, column C: problem'."""
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        what = exc.problem or exc.context or "invalid YAML"
        return f"line {mark.line + 1}, column {mark.column + 1}: {what}"
    return " ".join(str(exc).split())


def read_yaml_config(path: Path) -> Any:
    """The YAML document of a config file; ConfigError for an unreadable, non-UTF-8,
    invalid or empty file and for a repeated key (the message names the file and line)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a UTF-8 text file; a config is a YAML file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config ({exc.strerror or exc})") from None
    try:
        raw = yaml.load(text, Loader=UniqueKeyLoader)  # noqa: S506 (a SafeLoader)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {one_line(exc)}") from None
    if raw is None:
        raise ConfigError(f"{path}: the file is empty (or holds only comments), so it sets "
                          "nothing; write your settings in it (configs/default.yaml shows "
                          "every section), or leave out --config to run the shipped default")
    return raw

"""Reading YAML (recipes, corpus cards, --set values) safely and within bounds.

The safe loader runs no code from a file; on top of it a key given twice is refused, and
so is a document deeper or larger than a recipe or a card could need. Every error is one
line naming the file and the line.
"""

from __future__ import annotations

import math
import typing
from pathlib import Path
from typing import Any

import yaml

from nmt.config.schema import shown
from nmt.errors import NmtError

# What a YAML file may expand to (a recipe nests 3 levels and holds about 90 values, a
# corpus card 5 levels and 50): aliases let a few hundred bytes stand for billions of
# values, and a list nested 20,000 deep would overflow the parser's recursion.
MAX_DEPTH = 20
MAX_VALUES = 10_000


class _Loader(yaml.SafeLoader):
    """The safe loader (no tags that run code), refusing a key given twice in one mapping
    (plain YAML keeps the last one silently) and a document deeper or larger than the
    bounds above, aliases counted at every use."""

    depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        if self.depth == MAX_DEPTH:
            mark = self.peek_event().start_mark
            raise yaml.composer.ComposerError(
                None, None, f"nested deeper than {MAX_DEPTH} levels", mark
            )
        self.depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def construct_document(self, node: yaml.Node) -> Any:
        if _values(node, {}) > MAX_VALUES:
            raise yaml.constructor.ConstructorError(
                None, None, f"expands to more than {MAX_VALUES:,} values", node.start_mark
            )
        return super().construct_document(node)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, typing.Hashable):
                continue  # the base loader refuses it
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {shown(key)}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep)


def _values(node: yaml.Node, counted: dict[int, float]) -> float:
    """How many values `node` stands for, an alias counted at each use; each node is counted
    once (time linear in the text), and one inside itself is endless."""
    if id(node) not in counted:
        counted[id(node)] = math.inf  # until counted: a node met again inside itself
        if isinstance(node, yaml.SequenceNode):
            inner = node.value
        elif isinstance(node, yaml.MappingNode):
            inner = [part for pair in node.value for part in pair]
        else:
            inner = []
        counted[id(node)] = 1 + sum(_values(part, counted) for part in inner)
    return counted[id(node)]


def parse_yaml(text: str) -> Any:
    """The tree of a YAML text, by the safe loader; a duplicate key, or a document too deep
    or too large, is an error."""
    return yaml.load(text, Loader=_Loader)


def yaml_problem(problem: yaml.YAMLError) -> str:
    """A YAML error as one short phrase with its line: 'line 3: duplicate key 'train''."""
    if isinstance(problem, yaml.MarkedYAMLError) and problem.problem_mark is not None:
        mark = problem.problem_mark
        return f"line {mark.line + 1}, column {mark.column + 1}: {problem.problem}"
    return " ".join(str(problem).split())


def read_yaml(path: Path, what: str, error: type[NmtError] = NmtError) -> Any:
    """The tree of a YAML file through the safe loader (which never runs code from it); a
    missing file, a folder or bad YAML is one `error` naming the file."""
    if path.is_dir():
        raise error(f"{path}: is a directory, not a {what}")
    if not path.is_file():
        raise error(f"{path}: {what} not found")
    try:
        return parse_yaml(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as problem:
        raise error(f"{path}: not valid YAML ({yaml_problem(problem)})") from None
    except (OSError, UnicodeDecodeError) as problem:
        raise error(f"{path}: cannot read ({problem})") from None

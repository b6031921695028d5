"""The reference pages, written from the code itself when the site is built, so they cannot
drift from it: every command of the Typer app with its arguments and options (what `nmt
COMMAND --help` prints), and every recipe field with its type, default and range (the
schema in nmt/config/recipe.py, nmt/config/schema.py and nmt/generation/decoding.py).

docs/hooks.py adds the pages to the site (reference/commands.md, reference/recipe.md);
tests/test_docs.py checks that every command and field is in them. Neither needs the
network, torch or MkDocs: `python docs/gen_reference.py commands|recipe` prints a page.

A field's meaning is its help where it has one (a decoding option: the text every front
end shows), else the comment beside it in the source. A comment block just above a
field describes that field when the field has no comment of its own; otherwise (or when it
is a word or two, like "# sentencepiece") it heads the group of fields that starts there,
and the page shows it above them, as the source does.
"""

from __future__ import annotations

import ast
import dataclasses
import html
import inspect
import io
import re
import sys
import textwrap
import tokenize
import typing
from typing import Any, Literal

COMMANDS_PAGE = "reference/commands.md"
RECIPE_PAGE = "reference/recipe.md"

# ---------------------------------------------------------------------------- markdown


def _escape(text: str) -> str:
    """Plain text as Markdown: code spans (`...`) stay as they are (a table row does not
    split inside one); elsewhere the characters Markdown would read as emphasis, links,
    HTML or a table's cell border are escaped."""
    parts = re.split(r"(`[^`]*`)", text)
    for i in range(0, len(parts), 2):
        plain = html.escape(parts[i], quote=False)
        parts[i] = re.sub(r"([\\*_\[\]|])", r"\\\1", plain)
    return "".join(parts)


def _code(text: str) -> str:
    """`text` as a code span."""
    return f"`{text}`"


def _help_blocks(text: str) -> list[str]:
    """A command's help as Markdown blocks: paragraphs as text, indented lines (its
    examples) as a console code block."""
    blocks = []
    for paragraph in re.split(r"\n\s*\n", inspect.cleandoc(text or "")):
        lines = paragraph.splitlines()
        if lines and all(line.startswith("  ") for line in lines):
            code = textwrap.dedent(paragraph)
            if blocks and blocks[-1].startswith("```console"):
                blocks[-1] = blocks[-1][: -len("\n```")] + "\n" + code + "\n```"
            else:
                blocks.append("```console\n" + code + "\n```")
        elif paragraph.strip():
            blocks.append(_escape(" ".join(line.strip() for line in lines)))
    return blocks


# ---------------------------------------------------------------------------- commands


def _typer_command():
    """The `nmt` command as Typer builds it for the command line."""
    import typer.main

    from nmt_cli.app import app

    return typer.main.get_command(app)


def command_names() -> list[str]:
    """Every visible command of `nmt`, in the order `nmt --help` lists them."""
    group = _typer_command()
    return [name for name, command in group.commands.items() if not command.hidden]


def _context(command, name: str, parent=None):
    """The context Click renders a command's help in (Click's own class: Typer may carry
    its own copy of Click)."""
    return command.context_class(command, info_name=name, parent=parent)


def _usage(command, context) -> str:
    """`nmt NAME [OPTIONS] ARGS`, the arguments named as in the help."""
    pieces = ["[OPTIONS]"] if any(_is_option(p) for p in command.params) else []
    for param in command.params:
        if not _is_option(param) and not getattr(param, "hidden", False):
            name = (param.metavar or param.name).upper()
            many = param.nargs == -1
            piece = f"{name}..." if many else name
            pieces.append(piece if param.required else f"[{piece}]")
    return " ".join([context.command_path, *pieces])


def _is_option(param) -> bool:
    return param.param_type_name == "option"


def _param_row(param, context) -> tuple[str, str]:
    """(how it is written, what it does) for an argument or option, as `--help` has them."""
    record = param.get_help_record(context)
    if record is None:
        return param.name, ""
    spelled, text = record
    if not _is_option(param):
        # Typer writes an argument as "name... <type>"; the usage line's NAME is clearer.
        name = (param.metavar or param.name).upper()
        spelled = f"{name}..." if param.nargs == -1 else name
    return spelled, " ".join(text.split())


def command_markdown(name: str, command, parent) -> str:
    """One command's section: its usage line, help, arguments and options by panel."""
    context = _context(command, name, parent)
    lines = [f"## `nmt {name}`", "", "```console", _usage(command, context), "```", ""]
    for block in _help_blocks(command.help or ""):
        lines += [block, ""]
    panels: dict[str, list[tuple[str, str]]] = {}
    for param in command.params:
        if getattr(param, "hidden", False):
            continue
        panel = getattr(param, "rich_help_panel", None)
        if not _is_option(param):
            panel = "Arguments"
        panels.setdefault(panel or "Options", []).append(_param_row(param, context))
    order = ["Arguments", "Options"] + [p for p in panels if p not in ("Arguments", "Options")]
    for panel in order:
        if panel not in panels:
            continue
        what = "argument" if panel == "Arguments" else "option"
        lines += [f"**{_escape(panel)}**", "", f"| {what} | what it does |", "| --- | --- |"]
        for spelled, text in panels[panel]:
            lines.append(f"| {_code(spelled)} | {_escape(text)} |")
        lines.append("")
    return "\n".join(lines)


def commands_markdown() -> str:
    """The page of every command, written from the Typer app."""
    group = _typer_command()
    root = _context(group, "nmt")
    names = command_names()
    lines = [
        "# Commands",
        "",
        "<!-- Generated from the Typer app (cli/) by docs/gen_reference.py when the site "
        "is built. Do not edit. -->",
        "",
        _escape(group.help or ""),
        "",
        "Every command has `--help`, which says what this page says. Bad input is one line "
        "naming the file, line, field or option (exit 2); what the machine refuses (a full "
        "disk, a read-only folder, a closed pipe) is one line too (exit 1).",
        "",
        "| command | what it does |",
        "| --- | --- |",
    ]
    for name in names:
        command = group.commands[name]
        summary = command.get_short_help_str(limit=200)
        lines.append(f"| [`nmt {name}`](#nmt-{name}) | {_escape(summary)} |")
    lines.append("")
    for name in names:
        lines += [command_markdown(name, group.commands[name], root), ""]
    return "\n".join(lines).rstrip() + "\n"


# ---------------------------------------------------------------------------- the schema


@dataclasses.dataclass
class FieldDoc:
    """One schema field as the reference shows it."""

    name: str  # dotted: train.lr
    type: str
    default: str
    range: str
    meaning: str
    heading: str  # a comment above it that heads a group of fields ("" if none)


def _comments(cls: type) -> dict[str, tuple[str, str]]:
    """field name -> (comment block just above it, comment beside it), from the class's
    source."""
    source = textwrap.dedent(inspect.getsource(cls))
    lines = source.splitlines()
    beside: dict[int, str] = {}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            row = token.start[0]
            if lines[row - 1].lstrip().startswith("#"):
                continue  # a line of its own: read below as a block
            beside[row] = token.string.lstrip("#").strip()
    found = {}
    for node in ast.parse(source).body[0].body:
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        block = []
        row = node.lineno - 1  # the line above, counted from 1
        while row >= 1 and lines[row - 1].lstrip().startswith("#"):
            block.insert(0, lines[row - 1].strip().lstrip("#").strip())
            row -= 1
        rows = range(node.lineno, (node.end_lineno or node.lineno) + 1)
        own = " ".join(beside[r] for r in rows if r in beside)
        found[node.target.id] = (" ".join(block), own)
    return found


def _type_text(annotation: Any) -> str:
    """int, float, str, bool; one of a, b; dict[...] as written; `| None` when it may be
    unset."""
    origin = typing.get_origin(annotation)
    if origin is Literal:
        return "one of " + ", ".join(str(a) for a in typing.get_args(annotation))
    args = typing.get_args(annotation)
    if type(None) in args:
        inner = [a for a in args if a is not type(None)]
        return " or ".join(_type_text(a) for a in inner) + " or null"
    if isinstance(annotation, type) and not args:
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def _value_text(value: Any) -> str:
    """A default as YAML writes it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class _Plain(dict):
    """Spells the options a help text names (`{beam}`) as the field names they are here."""

    def __missing__(self, name: str) -> str:
        return f"`{name}`"


def _option_help(item: dataclasses.Field) -> str:
    """A decoding option's help (the field's `help=`, which every front end shows), else ""."""
    return (item.metadata.get("help") or "").format_map(_Plain())


def schema_fields(cls: type, prefix: str, own_only: bool = False) -> list[FieldDoc]:
    """The fields of a schema section, in source order, with their help or else their
    comments; `own_only` leaves out those it inherits."""
    from nmt.config.schema import section_of

    hints = typing.get_type_hints(cls)
    comments: dict[str, tuple[str, str]] = {}
    for base in reversed(cls.__mro__):
        if dataclasses.is_dataclass(base) and base is not object:
            comments.update(_comments(base))
    own = set(vars(cls).get("__annotations__", {}))
    found = []
    for item in dataclasses.fields(cls):
        if own_only and item.name not in own:
            continue
        if dataclasses.is_dataclass(hints[item.name]):
            continue  # a nested section, listed on its own
        block, beside = comments.get(item.name, ("", ""))
        heads = bool(block) and (bool(beside) or len(block.split()) <= 2)
        default = item.default
        if default is dataclasses.MISSING and item.default_factory is not dataclasses.MISSING:
            default = item.default_factory()
        optional = section_of(hints[item.name])
        found.append(
            FieldDoc(
                name=f"{prefix}{item.name}",
                type="mapping or null" if optional else _type_text(hints[item.name]),
                default=_value_text(default),
                range=str(item.metadata.get("range", "")),
                meaning=_option_help(item)
                or (beside if heads else " ".join(p for p in (block, beside) if p)),
                heading=block if heads else "",
            )
        )
        if optional:  # an optional section (data.hub): its fields follow it
            found += schema_fields(optional, f"{prefix}{item.name}.")
    return found


def recipe_sections() -> list[tuple[str, type]]:
    """(section name, its class) for every section of a recipe, in order."""
    from nmt.config.recipe import Recipe

    hints = typing.get_type_hints(Recipe)
    return [
        (item.name, hints[item.name])
        for item in dataclasses.fields(Recipe)
        if dataclasses.is_dataclass(hints[item.name])
    ]


def recipe_fields() -> list[FieldDoc]:
    """Every field of a recipe, by its dotted name (as `--set` writes it)."""
    from nmt.config.recipe import Recipe

    found = schema_fields(Recipe, "")
    for name, cls in recipe_sections():
        found += schema_fields(cls, f"{name}.")
    return found


def decoding_fields() -> list[FieldDoc]:
    """The decoding options only a call chooses (the decode section's fields are options
    too): `sample`, which turns the Sampling section on, stands for the section itself."""
    from nmt.generation.decoding import DecodingOptions, Sampling

    own = [
        item
        for item in schema_fields(DecodingOptions, "", own_only=True)
        if item.name != "sampling"
    ]
    sample = FieldDoc("sample", "bool", "false", "", _class_summary(Sampling), "")
    return own + [sample] + schema_fields(Sampling, "")


def _fields_table(fields: list[FieldDoc]) -> list[str]:
    header = ["| field | type | default | range | meaning |", "| --- | --- | --- | --- | --- |"]
    lines = []
    for index, item in enumerate(fields):
        if index == 0 or item.heading:
            if index:
                lines.append("")
            if item.heading:
                lines += [f"*{_escape(item.heading)}*", ""]
            lines += header
        cells = [
            _code(item.name),
            _escape(item.type),
            _code(item.default),
            _code(item.range) if item.range else "",
            _escape(item.meaning),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _class_summary(cls: type) -> str:
    doc = inspect.getdoc(cls) or ""
    return " ".join(doc.split("\n\n")[0].split()) if not doc.startswith(cls.__name__) else ""


def recipe_markdown() -> str:
    """The page of every recipe field and decoding option, written from the schema."""
    import nmt.config.recipe

    lines = [
        "# Recipe fields",
        "",
        "<!-- Generated from the schema (nmt/config/recipe.py, nmt/generation/decoding.py) by "
        "docs/gen_reference.py when the site is built. Do not edit. -->",
        "",
        _escape(" ".join(inspect.getdoc(nmt.config.recipe).split("\n\n")[0].split())),
        "",
        "A field is set in the recipe's YAML, under its section, or for one run with "
        "`--set section.field=value` (`nmt prepare`, `nmt train`). A field left out takes "
        "the default below; a number must be in its range (`[` and `]` include the bound, "
        "`(` and `)` exclude it). The run directory keeps the resolved recipe as "
        "`recipe.yaml`.",
        "",
        "A recipe may start from another: `base: ../multi30k-de-en/attention.yaml` (a recipe "
        "file, relative to this one, itself checked as a whole recipe) gives every field of "
        "that recipe, and this file's fields replace them, a section's fields one by one "
        "(`data: {src: en, tgt: de}` keeps the base's other `data` fields). Its name is not "
        "taken: a recipe without one takes its own file's. A base may have a base; a cycle, "
        "or a base that is not a `.yaml` file, is an error naming the file.",
        "",
    ]
    top = schema_fields(nmt.config.recipe.Recipe, "")
    if top:
        lines += ["## top level", ""] + _fields_table(top) + [""]
    for name, cls in recipe_sections():
        lines += [f"## `{name}`", ""]
        summary = _class_summary(cls)
        if summary:
            lines += [_escape(summary), ""]
        lines += _fields_table(schema_fields(cls, f"{name}.")) + [""]
    lines += [
        "## Decoding options",
        "",
        "What a call chooses beyond the `decode` section: `nmt translate`'s flags (and "
        "`nmt eval`'s, but `--nbest`), the fields of a `/v1/translate` request (but the "
        "server's resources: `batch_tokens`, `max_len_a`, `max_len_b`, `max_source_len`, "
        "`min_len`) and the keyword arguments of `nmt.Translator` (the `decode` fields "
        "above are options too, by the same names; each flag is the name with dashes). They "
        "are not recipe fields. Each is declared once, as a field with its help "
        "(nmt/generation/decoding.py), and every front end reads it from there. The sampling "
        "options apply with `sample` (`--sample`, `sample=True`) only.",
        "",
    ]
    lines += _fields_table(decoding_fields()) + [""]
    return "\n".join(lines).rstrip() + "\n"


PAGES = {COMMANDS_PAGE: commands_markdown, RECIPE_PAGE: recipe_markdown}

if __name__ == "__main__":
    which = sys.argv[1] if len(sys.argv) > 1 else "commands"
    sys.stdout.write({"commands": commands_markdown, "recipe": recipe_markdown}[which]())

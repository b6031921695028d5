"""The documentation: the generated reference names every command, option and recipe field
(the pages are written in-process by the functions the site build calls, no MkDocs
needed), and the hand-written pages link only to files that exist."""

from __future__ import annotations

import dataclasses
import re
import typing
from pathlib import Path

import pytest
import typer.main
import yaml

from docs import gen_reference
from nmt.config.recipe import Recipe
from nmt.generation.decoding import DecodingOptions, Sampling
from nmt_cli.app import app

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


@pytest.fixture(scope="module")
def commands_page() -> str:
    return gen_reference.commands_markdown()


@pytest.fixture(scope="module")
def recipe_page() -> str:
    return gen_reference.recipe_markdown()


def sections(page: str) -> dict[str, str]:
    """The page's `## ` sections by their heading."""
    parts = re.split(r"^## (.+)$", page, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_every_command_and_option_is_in_the_reference(commands_page: str) -> None:
    group = typer.main.get_command(app)
    found = sections(commands_page)
    names = [name for name, command in group.commands.items() if not command.hidden]
    assert len(names) >= 9
    for name in names:
        section = found.get(f"`nmt {name}`")
        assert section is not None, f"nmt {name}: no section in the command reference"
        for param in group.commands[name].params:
            if param.hidden:
                continue
            if param.param_type_name == "option":
                for spelled in param.opts + param.secondary_opts:
                    assert re.search(rf"`[^`]*{re.escape(spelled)}\b", section), (name, spelled)
            else:
                assert f"`{param.metavar}" in section, (name, param.metavar)
        help_text = " ".join((group.commands[name].help or "").split()[:6])
        assert gen_reference._escape(help_text) in section, name


def row(page: str, name: str) -> str:
    """The table row of field `name`."""
    rows = [line for line in page.splitlines() if line.startswith(f"| `{name}` |")]
    assert len(rows) == 1, f"{name}: {len(rows)} rows in the recipe reference"
    return rows[0]


def test_every_recipe_field_is_in_the_reference_with_its_default_and_range(
    recipe_page: str,
) -> None:
    flat = Recipe().flat()
    assert len(flat) > 60
    for name, default in flat.items():
        cells = [cell.strip() for cell in row(recipe_page, name).split(" | ")]
        shown = {True: "true", False: "false", None: "null"}.get(default, str(default))
        if isinstance(default, bool) or default is None:
            assert cells[2] == f"`{shown}`", (name, cells)
        else:
            assert cells[2] == f"`{default}`", (name, cells)
    for section_name, cls in gen_reference.recipe_sections():
        for item in dataclasses.fields(cls):
            allowed = item.metadata.get("range")
            if allowed is not None:
                assert f"| `{allowed}` |" in row(recipe_page, f"{section_name}.{item.name}")


def test_every_decoding_option_is_in_the_reference(recipe_page: str) -> None:
    decoding = recipe_page.split("## Decoding options", 1)[1]
    hints = typing.get_type_hints(DecodingOptions) | typing.get_type_hints(Sampling)
    recipe_fields = {item.name for item in dataclasses.fields(Recipe().decode)}
    options = (set(hints) - {"NAME", "sampling"} - recipe_fields) | {"sample"}
    for name in options:
        row(decoding, name)
    for name in recipe_fields:
        row(recipe_page, f"decode.{name}")


def test_a_comment_above_a_field_is_its_meaning_or_heads_its_group() -> None:
    fields = {item.name: item for item in gen_reference.recipe_fields()}
    bridge = fields["model.bridge"]  # no comment beside it: the block above is its own
    assert bridge.meaning.startswith("how the encoder's final states") and not bridge.heading
    cleaning = fields["data.max_words"]  # a comment beside it: the block heads the group
    assert cleaning.heading.startswith("cleaning") and cleaning.meaning.startswith("drop pairs")
    assert fields["data.joint_vocab"].heading == "sentencepiece"


def markdown_files() -> list[Path]:
    files = sorted(DOCS.rglob("*.md"))
    files.append(ROOT / "README.md")
    return files


def links(text: str) -> list[str]:
    """The relative link targets of a Markdown text, outside code."""
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    text = re.sub(r"`[^`\n]*`", "", text)
    found = re.findall(r"\]\(([^)\s]+)\)", text)
    return [link for link in found if not re.match(r"^[a-z][a-z0-9+.-]*:|^#|^/", link)]


@pytest.mark.parametrize("path", markdown_files(), ids=lambda path: path.name)
def test_links_lead_to_files_that_exist(path: Path) -> None:
    generated = {(DOCS / page).resolve() for page in gen_reference.PAGES}
    for link in links(path.read_text(encoding="utf-8")):
        target = (path.parent / link.split("#")[0]).resolve()
        assert target.exists() or target in generated, f"{path.relative_to(ROOT)}: {link}"


def test_the_sites_stylesheet_exists_and_wraps_code() -> None:
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    sheets = [DOCS / sheet for sheet in config["extra_css"]]
    assert sheets and all(sheet.is_file() for sheet in sheets)
    assert any("white-space: pre-wrap" in sheet.read_text() for sheet in sheets)


def test_every_page_of_the_navigation_exists() -> None:
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))

    def pages(node) -> list[str]:
        if isinstance(node, str):
            return [node]
        if isinstance(node, list):
            return [page for item in node for page in pages(item)]
        return [page for value in node.values() for page in pages(value)]

    listed = pages(config["nav"])
    for page in listed:
        assert (DOCS / page).is_file() or page in gen_reference.PAGES, page
    hand_written = {path.relative_to(DOCS).as_posix() for path in DOCS.rglob("*.md")}
    assert hand_written <= set(listed), hand_written - set(listed)


def table_row(page: Path, first_cell: str) -> str:
    return next(line for line in page.read_text().splitlines() if line.startswith(first_cell))


def test_the_bilstm_row_names_the_bridge_its_recipes_use() -> None:
    from nmt.config.recipe import load_recipe

    bridges = {load_recipe(path).model.bridge for path in ROOT.glob("recipes/*/bilstm.yaml")}
    assert len(bridges) == 1
    (bridge,) = bridges
    for page in (DOCS / "index.md", ROOT / "README.md"):
        assert f"(`bridge: {bridge}`)" in table_row(page, "| `bilstm` |")


def test_the_home_page_says_which_transformer_recipes_are_trained() -> None:
    """A recipe the home page calls trained has its run in the results tables; one it calls
    not trained yet has none."""
    index = (DOCS / "index.md").read_text()
    results = (DOCS / "results.md").read_text()
    said = index.split("Trained so far:", 1)[1].split("are not trained yet", 1)[0]
    trained, untrained = said.split(";", 1)
    named = ROOT.glob("recipes/*/transformer.yaml")
    assert len(re.findall(r"`recipes/[^`]+\.yaml`", said)) == len(list(named))
    for part, reported in ((trained, True), (untrained, False)):
        for path in re.findall(r"`(recipes/[^`]+\.yaml)`", part):
            name = yaml.safe_load((ROOT / path).read_text())["name"]
            assert (f"| {name} |" in results) == reported, path


def tutorial_commands() -> list[list[str]]:
    """Each `nmt` command of the tutorial's shell blocks, as words, comments and the
    optional brackets ([--resume]) taken off."""
    text = (DOCS / "tutorial.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    lines = [line.split(" # ")[0] for block in blocks for line in block.splitlines()]
    found = [line[line.index("nmt ") :] for line in lines if re.match(r"^(nmt |.*\| nmt )", line)]
    return [re.sub(r"[\[\]]", "", line.split(" > ")[0]).split() for line in found]


def test_every_tutorial_command_exists_with_the_options_it_gives() -> None:
    group = typer.main.get_command(app)
    commands = tutorial_commands()
    assert len(commands) >= 12
    for words in commands:
        command = group.commands.get(words[1])
        assert command is not None, words
        spelled = {opt for param in command.params for opt in param.opts + param.secondary_opts}
        for word in words[2:]:
            assert not word.startswith("-") or word in spelled, (words, word)

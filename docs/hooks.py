"""MkDocs hooks (mkdocs.yml: hooks): the pages written from the code, and the repository's
files that pages link to.

- reference/commands.md and reference/recipe.md are written by docs/gen_reference.py from
  the Typer app and the recipe schema at every build, so they cannot drift from the code.
- A page may link to a file of the repository outside docs/ by its relative path, as it
  would on the repository page (`../bench/results/2026-11-30-cpu.json`). The file is
  copied into the site at the same path from the root (`bench/results/...`), and the link
  rewritten to it; a link to a file that does not exist stays as written, so that the
  strict build fails on it. A linked Markdown file (a results table, bench/README.md)
  becomes a page of the site that the navigation does not list.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path

from gen_reference import PAGES  # docs/ is on the path while MkDocs loads this file
from mkdocs.structure.files import File, Files, InclusionLevel

# A Markdown link or image target: ](target) or ](target "title"), and <img src="target">.
LINK = re.compile(r'(\]\(|<img [^>]*src=")([^)\s"#]+)')


def _outside_targets(page_uri: str, markdown: str, docs: Path, root: Path) -> dict[str, str]:
    """link as written -> the file's path from the repository root, for each relative
    link of a page that leaves docs/ for an existing file of the repository."""
    found = {}
    for _, target in LINK.findall(markdown):
        if re.match(r"^[a-z][a-z0-9+.-]*:|^/", target):
            continue  # a URL, or an absolute path
        joined = posixpath.normpath(posixpath.join(posixpath.dirname(page_uri), target))
        if not joined.startswith("../"):
            continue  # inside docs/
        path = (docs / joined).resolve()
        if path.is_file() and root in path.parents:
            found[target] = path.relative_to(root).as_posix()
    return found


def on_files(files: Files, config) -> Files:
    """Add the generated pages, and the repository files the pages link to."""
    for uri, render in PAGES.items():
        files.append(File.generated(config, uri, content=render()))
    docs = Path(config["docs_dir"]).resolve()
    root = Path(config["config_file_path"]).resolve().parent
    wanted = set()
    for page in files.documentation_pages():
        wanted |= set(_outside_targets(page.src_uri, page.content_string, docs, root).values())
    for uri in sorted(wanted):  # a Markdown file among them becomes a page outside the nav
        if files.get_file_from_path(uri) is None:
            path = str(root / uri)
            level = InclusionLevel.NOT_IN_NAV
            files.append(File.generated(config, uri, abs_src_path=path, inclusion=level))
    return files


def on_page_markdown(markdown: str, page, config, files: Files) -> str:
    """Point each link that leaves docs/ at the copy of its file in the site."""
    docs = Path(config["docs_dir"]).resolve()
    root = Path(config["config_file_path"]).resolve().parent
    moved = _outside_targets(page.file.src_uri, markdown, docs, root)
    if not moved:
        return markdown
    here = posixpath.dirname(page.file.src_uri) or "."

    def relink(match: re.Match) -> str:
        target = match.group(2)
        if target not in moved:
            return match.group(0)
        return match.group(1) + posixpath.relpath(moved[target], here)

    return LINK.sub(relink, markdown)

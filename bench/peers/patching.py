"""Idempotent text patches applied to an installed peer toolkit (imported by patch_*.py).

The peers are third-party code pinned to old torch releases; we edit a few lines of the
installed copy instead of forking it. Each patch names an exact old snippet and its
replacement; a replacement carries MARK so that a second run recognises it.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

MARK = "nmt-bench patch"


def package_root(name: str) -> Path:
    """The installed package's folder in this interpreter."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        sys.exit(f"{name} is not installed for {sys.executable}")
    return Path(next(iter(spec.submodule_search_locations)))


def apply(package: str, patches: list[tuple[str, str, str]]) -> None:
    """Apply (relative file, old, new) patches; exit 1 naming the file if an old text is gone."""
    root = package_root(package)
    missing = []
    for rel, old, new in patches:
        path = root / rel
        text = path.read_text(encoding="utf-8")
        if new in text:  # checked first: `old` can be a substring of `new`
            print(f"already patched: {path}")
        elif text.count(old) == 1:
            path.write_text(text.replace(old, new), encoding="utf-8")
            for cached in (path.parent / "__pycache__").glob(f"{path.stem}.*.pyc"):
                cached.unlink()
            print(f"patched: {path}")
        else:
            missing.append(f"{path}: expected exactly one {old.strip()!r}")
    if missing:
        sys.exit("patch failed (another version of the toolkit?)\n" + "\n".join(missing))

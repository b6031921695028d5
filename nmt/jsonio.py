"""Reading JSON files that users and killed runs can damage (export cards, metrics.jsonl,
prepared.json, cached translations' keys): any damage is one NmtError naming the file, and
the line for JSON lines, never a RecursionError from `[[[[...` or a traceback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nmt.errors import NmtError


def parse_json(text: str, where: str) -> Any:
    """The value `text` holds; `where` (a file, or a file and line) names it in errors."""
    try:
        return json.loads(text)
    except RecursionError:
        raise NmtError(f"{where} is not JSON (nested too deeply)") from None
    except ValueError as error:  # a JSONDecodeError, or an integer of 5,000 digits
        raise NmtError(f"{where} is not JSON ({getattr(error, 'msg', error)})") from None


def read_json(path: Path) -> Any:
    """The value a UTF-8 JSON file holds, or one NmtError naming the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NmtError(f"{path}: file not found") from None
    except UnicodeDecodeError as error:
        raise NmtError(f"{path} is not JSON (byte {error.start} is not UTF-8)") from None
    except OSError as error:
        raise NmtError(f"{path}: cannot read ({error.strerror or error})") from None
    return parse_json(text, str(path))

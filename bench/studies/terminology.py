"""Issue 38's files: a terminology test's constraints, the share of them met, and the
joined long pairs of a split (test2016-long) as plain files.

    python -m bench.studies.terminology terms REF HYP TERMS   # constraints from the reference
    python -m bench.studies.terminology met TERMS OUT         # share of constraints met by OUT
    python -m bench.studies.terminology join SRC TGT PREFIX   # PREFIX.src, PREFIX.tgt: SPLIT-long

`terms` takes per sentence the (at most two) longest content words of the reference that
the unconstrained output HYP lacks, or, where it lacks none, the reference's longest
content word: terminology the system must use, which it half the time would not have.
A content word has at least four letters and is not among a few English function words.
bench/studies/constraints_penalties.sh runs the whole measurement.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from nmt.data.joining import LONG_GROUP_SIZES, group_bounds
from nmt.generation.constraint_file import read_constraints
from nmt.textio import read_lines

FUNCTION_WORDS = frozenset(
    "that this with from into onto over under their there they them while where which "
    "some have been being were what when then than each other about after before".split()
)
WORD = re.compile(r"[^\W\d_]{4,}")


def content_words(text: str) -> list[str]:
    """The text's words of four letters or more that carry content, longest first, once."""
    words = [w for w in WORD.findall(text) if w.lower() not in FUNCTION_WORDS]
    return sorted(dict.fromkeys(words), key=len, reverse=True)


def terms(references: list[str], outputs: list[str], most: int = 2) -> list[list[str]]:
    """Per sentence: the reference's longest content words the output lacks (at most
    `most`), else its longest content word (none for a reference without one)."""
    chosen = []
    for reference, output in zip(references, outputs, strict=True):
        words = content_words(reference)
        missing = [w for w in words if not re.search(rf"\b{re.escape(w)}\b", output)]
        chosen.append(missing[:most] or words[:1])
    return chosen


def share_met(constraints: list[list[str]], outputs: list[str]) -> tuple[int, int]:
    """(constraints whose phrase appears in its output, constraints)."""
    pairs = [(p, out) for phrases, out in zip(constraints, outputs, strict=True) for p in phrases]
    return sum(phrase in output for phrase, output in pairs), len(pairs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("terms")
    make.add_argument("ref", type=Path)
    make.add_argument("hyp", type=Path)
    make.add_argument("out", type=Path)
    met = commands.add_parser("met")
    met.add_argument("terms", type=Path)
    met.add_argument("hyp", type=Path)
    join = commands.add_parser("join")
    join.add_argument("src", type=Path)
    join.add_argument("tgt", type=Path)
    join.add_argument("prefix")
    args = parser.parse_args()
    if args.command == "terms":
        chosen = terms(read_lines(args.ref), read_lines(args.hyp))
        args.out.write_text("".join("\t".join(t) + "\n" for t in chosen), encoding="utf-8")
        print(f"{sum(map(len, chosen))} constraints for {len(chosen)} sentences -> {args.out}")
    elif args.command == "met":
        outputs = read_lines(args.hyp)
        met_count, total = share_met(read_constraints(args.terms, len(outputs)), outputs)
        print(f"constraints met: {met_count}/{total} ({100 * met_count / max(total, 1):.2f}%)")
    else:
        for path, suffix in ((args.src, "src"), (args.tgt, "tgt")):
            lines = read_lines(path)
            bounds = group_bounds(len(lines), LONG_GROUP_SIZES)
            joined = [" ".join(lines[start:end]) for start, end in bounds]
            Path(f"{args.prefix}.{suffix}").write_text("\n".join(joined) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

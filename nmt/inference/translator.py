"""`nmt.Translator`: the one top of inference, under the commands, the server and Python.

    from nmt import Translator
    tr = Translator.load("runs/quick", device="cpu")
    tr.translate(["Ein Hund läuft."], beam=5)
    tr.score(["Ein Hund läuft."], ["A dog runs."])

A Translator holds a run, or an ensemble of runs, and its decode settings. Every call
builds its DecodingOptions once (nmt/generation/decoding.py, CALL_OPTIONS lists them) from
the options it is given, by the command-line option names with underscores (beam=5,
length_penalty=0.6, nbest=3, sample=True, temperature=0.8, ...), anything not given
keeping the run's setting, and passes them
down whole; a bad value or a combination that does not apply is an OptionError naming
the option. `nmt translate`, `nmt score`, `nmt eval` and `nmt serve` all decode here
(the commands' files and streams: cli/decode_files.py). `constraints` (a list of phrases
per sentence) makes every phrase appear in its sentence's translation.

Precision (fp32, bf16, int8; auto is fp32: nmt/device.py) and the vocabulary
shortlist are chosen when a Translator is loaded, not per call: int8 packs the weights
and a shortlist reads a file, once, and a server would otherwise hold a model per setting.
A folder of `nmt export --format onnx` loads too, and decodes through onnxruntime; one of
`nmt export --format ctranslate2` decodes with ctranslate2's own search, which refuses the
options it does not honour as nmt's search does (nmt/inference/ctranslate2_engine.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import torch

from nmt.config.recipe import DecodeConfig, Recipe
from nmt.config.schema import shown
from nmt.data.tokenizer import Tokenizer
from nmt.device import decode_precision, resolve_device
from nmt.errors import NmtError, OptionError
from nmt.generation.decoding import SCORING_OPTIONS, DecodingOptions
from nmt.generation.scoring import Score, Scored, score_lines
from nmt.inference.ctranslate2_engine import ATTENTION, CTranslate2Engine, load_ctranslate2, refusal
from nmt.inference.decode_lines import DecodedLines, decode_lines, require_attention
from nmt.inference.ensemble import Ensemble, load_runs
from nmt.inference.precision import for_decoding
from nmt.inference.shortlist import load_run_shortlist
from nmt.models.export_card import export_format, export_refusal, is_export
from nmt.models.onnx_model import load_export
from nmt.run.loading import resolve_checkpoint
from nmt.run.rundir import RunDir


class Hypothesis(NamedTuple):
    text: str
    score: float  # log-probability / length**length_penalty


class Translator:
    """A run, or an ensemble of runs, ready to translate and score (see the module
    docstring)."""

    def __init__(
        self,
        model: torch.nn.Module | CTranslate2Engine,
        tokenizer: Tokenizer,
        recipe: Recipe,
        device: torch.device,
        precision: str = "fp32",
        shortlist: bool = False,
    ) -> None:
        self.model, self.tokenizer, self.recipe, self.device = model, tokenizer, recipe, device
        # what it decodes in: fp32, bf16, int8 (onnx-... or ctranslate2-...: exported)
        self.precision = precision
        self.shortlist = shortlist  # whether the output layer covers shortlists only

    @property
    def setting(self) -> str:
        """Precision and shortlist in a few characters: fp32, int8+shortlist, onnx-int8."""
        return self.precision + ("+shortlist" if self.shortlist else "")

    @property
    def decode(self) -> DecodeConfig:
        """The run's decode settings: what a call's options default to."""
        return self.recipe.decode

    @classmethod
    def load(
        cls,
        *runs: str | Path,
        device: str = "auto",
        precision: str = "auto",
        shortlist: bool = False,
    ) -> Translator:
        """Run directories (best checkpoint, else last) or .pt files; several make an
        ensemble that averages their log-probabilities at every step. Decode settings
        default to the first run's recipe.

        precision: auto (fp32, on every machine: nmt/device.py says why), fp32, bf16 or
        int8 (CPU). shortlist: compute the output layer over the first run's vocabulary
        shortlist only (RUN/shortlist.pt, which `nmt shortlist RUN` builds).
        One folder written by `nmt export` decodes in the precision it was exported in:
        through onnxruntime (--format onnx) or ctranslate2 (--format ctranslate2, on
        device auto, cpu or cuda)."""
        paths = [Path(run) for run in runs]
        if paths and any(is_export(path) for path in paths):
            return cls._load_export(paths, device, precision, shortlist)
        torch_device = resolve_device(device)
        chosen = decode_precision(precision, torch_device)
        model, recipe, tokenizer = load_runs(paths, torch_device)
        listed = None
        if shortlist:
            run = RunDir(resolve_checkpoint(paths[0]).parent.parent)
            listed = load_run_shortlist(run, tokenizer)
        members = model.members if isinstance(model, Ensemble) else [model]
        adapted = [for_decoding(member, chosen, torch_device, listed) for member in members]
        model = Ensemble(adapted) if isinstance(model, Ensemble) else adapted[0]
        return cls(model, tokenizer, recipe, torch_device, chosen, shortlist)

    @classmethod
    def _load_export(
        cls, paths: list[Path], device: str, precision: str, shortlist: bool
    ) -> Translator:
        """An exported folder, alone, in the precision it was exported in; ONNX on the CPU."""
        exported = next(path for path in paths if is_export(path))
        written_by = export_format(exported)
        if len(paths) > 1:
            raise NmtError(
                f"{exported}: a folder of `nmt export --format {written_by}` decodes alone, "
                "not in an ensemble; ensemble the run directories"
            )
        if shortlist:
            raise export_refusal("shortlist", written_by, "decode with a vocabulary shortlist")
        if precision != "auto":
            raise export_refusal(
                "precision", written_by, "decode in another precision than it was exported in"
            )
        if written_by == "ctranslate2":
            engine, recipe, tokenizer = load_ctranslate2(exported, device)
            where = torch.device("cuda" if engine.translator.device == "cuda" else "cpu")
            return cls(engine, tokenizer, recipe, where, f"ctranslate2-{engine.precision}")
        if device not in ("auto", "cpu"):
            raise export_refusal("device", written_by, "run on another device than the CPU")
        model, recipe, tokenizer = load_export(exported)
        return cls(model, tokenizer, recipe, torch.device("cpu"), f"onnx-{model.precision}")

    def options(self, **given: Any) -> DecodingOptions:
        """The run's decode settings with the options `given` (None: not given), checked."""
        options = DecodingOptions.build(self.decode, **given)
        if isinstance(self.model, CTranslate2Engine):
            self.model.check(options)
        return options

    def check_attention(self, option: str) -> None:
        """OptionError naming `option` (alignments, heat maps) unless the model gives
        attention: a CTranslate2 export does not, nor a model without attention."""
        if isinstance(self.model, CTranslate2Engine):
            raise refusal(option, ATTENTION)
        require_attention(self.model, option)

    # Python's calls: lists in, lists out.

    def translate(
        self,
        sentences: Sequence[str],
        prefixes: Sequence[str] | None = None,
        constraints: Sequence[Sequence[str]] | None = None,
        **options: Any,
    ) -> list[str]:
        """The best translation of each sentence; `prefixes` (one per sentence, text)
        are what each translation must start with, `constraints` (a list of phrases per
        sentence) what it must contain."""
        found = self.translations(
            sentences, self.options(**options), prefixes, constraints=constraints
        )
        return found.best()

    def nbest(
        self,
        sentences: Sequence[str],
        n: int,
        prefixes: Sequence[str] | None = None,
        constraints: Sequence[Sequence[str]] | None = None,
        **options: Any,
    ) -> list[list[Hypothesis]]:
        """The n best translations of each sentence with their scores, best first (with
        sample=True: the n best of the nsamples samples)."""
        found = self.translations(
            sentences, self.options(**options, nbest=n), prefixes, constraints=constraints
        )
        return [
            [Hypothesis(text, score) for text, score in zip(texts, scores, strict=True)]
            for texts, scores in zip(found.texts, found.scores, strict=True)
        ]

    def score(
        self, sources: Sequence[str], targets: Sequence[str], pieces: bool = False, **options: Any
    ) -> list[Score]:
        """The model's log-probability of each target given its source (forced decoding):
        total, total / (pieces + 1)**length_penalty, and per piece. With pieces=True the
        targets are space-separated target pieces (nmt/generation/scoring.py says when that
        matters). Options: length_penalty, batch_tokens, max_source_len (longer sides are cut)."""
        return self.scores(sources, targets, self.score_options(**options), pieces).scores

    def score_options(self, **given: Any) -> DecodingOptions:
        """options() for scoring, which takes only SCORING_OPTIONS."""
        self._scoring_possible()
        for name, value in given.items():
            if name not in SCORING_OPTIONS and value is not None:
                raise OptionError(name, "does not apply to scoring given translations")
        return self.options(**given)

    # What every front end calls, with options built.

    def translations(
        self,
        lines: Sequence[str],
        options: DecodingOptions,
        prefixes: Sequence[str] | None = None,
        *,
        constraints: Sequence[Sequence[str]] | None = None,
        first_line: int = 0,
        alignments: bool = False,
        pieces: bool = False,
        progress: str | None = None,
    ) -> DecodedLines:
        """Everything `nmt translate` writes: texts and scores per line and rank, the
        alignments when asked for, and a report of blank and truncated lines (see
        nmt/inference/decode_lines.py for the arguments)."""
        if isinstance(self.model, CTranslate2Engine):
            self.model.check(options)
            self.model.check_call(prefixes, constraints, alignments)
        return decode_lines(
            self.model,
            self.tokenizer,
            _texts(lines, "sentences"),
            options,
            self.device,
            prefixes=_texts(prefixes, "prefixes"),
            constraints=_phrase_lists(constraints),
            first_line=first_line,
            alignments=alignments,
            pieces=pieces,
            progress=progress,
        )

    def scores(
        self,
        sources: Sequence[str],
        targets: Sequence[str],
        options: DecodingOptions,
        pieces: bool = False,
    ) -> Scored:
        """Everything `nmt score` writes: a Score per pair, and the time it took."""
        self._scoring_possible()
        sources, targets = _texts(sources, "sources"), _texts(targets, "targets")
        return score_lines(
            self.model, self.tokenizer, sources, targets, options, self.device, pieces
        )

    def _scoring_possible(self) -> None:
        """Forced decoding needs nmt's model interface, which a CTranslate2 export lacks."""
        if isinstance(self.model, CTranslate2Engine):
            raise NmtError(
                "scoring given translations (nmt score) is not offered for a CTranslate2 "
                "export; score with the run directory or an ONNX export"
            )


def _phrase_lists(constraints: Sequence[Sequence[str]] | None) -> list[list[str]] | None:
    """A list of phrases per sentence, each checked (one string alone is refused)."""
    if constraints is None:
        return None
    if isinstance(constraints, str):
        raise NmtError("constraints: give a list of strings, not one string")
    return [_texts(phrases, f"constraints[{i}]") or [] for i, phrases in enumerate(constraints)]


def _texts(texts: Sequence[str] | None, what: str) -> list[str] | None:
    """A list of lines, each a string that UTF-8 can write; one string alone is refused
    (it would be read as its characters), and so is a lone surrogate ("\\ud800", which
    Python strings may hold but no file can): refused, not replaced, so that a caller
    never gets the translation of a text other than the one it gave."""
    if isinstance(texts, str):
        raise NmtError(f"{what}: give a list of strings, not one string")
    if texts is None:
        return None
    lines = list(texts)
    for index, line in enumerate(lines):
        if not isinstance(line, str):
            raise NmtError(f"{what}[{index}]: expected a string, got {shown(line)}")
        try:
            line.encode("utf-8")
        except UnicodeEncodeError as error:
            raise NmtError(
                f"{what}[{index}]: character {error.start} is a lone surrogate "
                f"(U+{ord(line[error.start]):04X}), which is not text"
            ) from None
    return lines

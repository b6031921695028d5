"""The JSON the API takes and gives, as pydantic models: FastAPI checks every request
against them (types strictly, unknown fields refused) and builds the OpenAPI description
at /docs from them: the shape of a request. Its values are checked where the command
line's are, by nmt.Translator's DecodingOptions; its size by limits.py."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, create_model

from nmt.generation.decoding import CALL_OPTIONS
from nmt.serve.limits import Limits


def _characters(text: str) -> str:
    """Text made of characters: JSON can escape half of a UTF-16 pair alone ("\\ud800"),
    which is no character and which no tokenizer takes."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise ValueError(
            f"a lone surrogate ({text[error.start]!r} at {error.start}) is not a character"
        ) from None
    return text


Text = Annotated[str, AfterValidator(_characters)]


class RequestBody(BaseModel):
    """A request body: exact JSON types, no field the API does not know."""

    model_config = ConfigDict(strict=True, extra="forbid")

    model: str | None = Field(None, description="A served model's name; default: the first.")


REQUEST_OPTIONS = [option for option in CALL_OPTIONS if option.policy("request")]


def _request_fields(scoring: bool = False) -> dict[str, Any]:
    """The decoding options a request may set (nmt/generation/decoding.py), each with its
    field's help (scoring: its help for scoring): a switch false by default, any other
    None, the run's setting."""
    found = {}
    for option in REQUEST_OPTIONS:
        if scoring and not option.policy("scoring"):
            continue
        description = option.help(str, scoring)
        if option.type is bool:
            found[option.name] = (bool, Field(False, description=description))
        else:
            found[option.name] = (option.type | None, Field(None, description=description))
    return found


class _TranslateBody(RequestBody):
    text: list[Text] = Field(
        min_length=1, description="Sentences to translate (a list, even for one sentence)."
    )
    prefixes: list[Text] | None = Field(
        None, description="One per sentence: the text its translation must start with."
    )
    constraints: list[list[Text]] | None = Field(
        None, description="One list per sentence: the phrases its translation must contain."
    )
    attention: bool = Field(
        False, description="Return the attention of each best translation (attention models)."
    )

    def decoding_options(self) -> dict[str, Any]:
        """The options given, by nmt.Translator's names (a switch given when on)."""
        given = self.model_dump(include={option.name for option in REQUEST_OPTIONS})
        return {
            name: value for name, value in given.items() if value is not None and value is not False
        }


TranslateRequest = create_model(
    "TranslateRequest", __base__=_TranslateBody, __module__=__name__, **_request_fields()
)


class _ScoreBody(RequestBody):
    sources: list[Text] = Field(min_length=1, description="Source sentences.")
    targets: list[Text] = Field(min_length=1, description="Their translations, one per source.")


ScoreRequest = create_model(
    "ScoreRequest", __base__=_ScoreBody, __module__=__name__, **_request_fields(scoring=True)
)


class ScoredText(BaseModel):
    text: str
    score: float = Field(description="log-probability / length**length_penalty")


class AttentionWeights(BaseModel):
    source: list[str] = Field(description="Source pieces, </s> last.")
    target: list[str] = Field(description="Output pieces, </s> last.")
    weights: list[list[float]] = Field(description="A row per target piece over the source.")


class Translation(BaseModel):
    text: str = Field(description="The best translation.")
    score: float = Field(description="Its log-probability / length**length_penalty.")
    nbest: list[ScoredText] | None = Field(None, description="With nbest > 1: best first.")
    attention: AttentionWeights | None = Field(None, description="When asked for.")


class TranslateResponse(BaseModel):
    model: str
    translations: list[Translation]


class PairScore(BaseModel):
    total: float = Field(description="log-probability of the target pieces and EOS")
    normalised: float = Field(description="total / (pieces + 1)**length_penalty")
    pieces: list[float] = Field(description="Each piece's log-probability, EOS last.")


class ScoreResponse(BaseModel):
    model: str
    scores: list[PairScore]


class ModelInfo(BaseModel):
    name: str
    architecture: str = Field(
        description="seq2seq, bilstm, attention or transformer (nmt/models/architectures.py)"
    )
    attention: bool = Field(description="Whether the model has attention to show.")
    source_language: str
    target_language: str
    corpus: str
    parameters: int
    dev_bleu: float | None = Field(description="Dev BLEU of the checkpoint served, if logged.")
    step: int | None = Field(description="Training updates of the checkpoint served.")
    beam: int = Field(description="The run's default beam.")
    precision: str = Field(
        description="What it decodes in: fp32, bf16, int8 (+shortlist), onnx-fp32, onnx-int8."
    )


class ModelsResponse(BaseModel):
    models: list[ModelInfo]
    limits: Limits


class Health(BaseModel):
    status: str
    models: list[str]
    waiting: int = Field(description="Requests queued for the next model call.")


class Problem(BaseModel):
    error: str = Field(description="One line: what was wrong with the request.")

"""The FastAPI app: the page at `/`, the API under /v1, /health, and one-line errors.

Every request is checked in full (types, limits, decoding options, model) before it is
queued, so what reaches the batcher is a request the model can run; a refusal is a 4xx
with {"error": "<one line>"} and the server goes on serving.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Collection, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from importlib import resources

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from nmt import __version__
from nmt.config.schema import Range, check_number
from nmt.errors import NmtError
from nmt.serve.batcher import Batcher, Stopped
from nmt.serve.jobs import ScoreJob, Translated, TranslateJob
from nmt.serve.limits import Limits
from nmt.serve.middleware import AccessLog, BodyLimit, HostCheck
from nmt.serve.models import ServedModel
from nmt.serve.schemas import (
    AttentionWeights,
    Health,
    ModelsResponse,
    PairScore,
    Problem,
    ScoredText,
    ScoreRequest,
    ScoreResponse,
    TranslateRequest,
    TranslateResponse,
    Translation,
)

REFUSALS = {code: {"model": Problem} for code in (400, 404, 413, 422)}
DESCRIPTION = (
    "Translate and score with trained nmt runs. Requests that arrive together are decoded "
    'together. Errors are `{"error": "<one line>"}` with a 4xx status. The page at `/` '
    "draws the attention of a translation."
)


WINDOW_MS = Range("[0, 1000]")  # an endless window would answer no request


@dataclass(frozen=True)
class Batching:
    """How long the first request of a batch waits for others, and how many source
    tokens one model call takes at most (more requests wait for the next call)."""

    window_ms: float = 5.0
    tokens: int = 4096

    def __post_init__(self) -> None:
        check_number(self.window_ms, WINDOW_MS, "window_ms")


def create_app(
    models: Sequence[ServedModel],
    limits: Limits | None = None,
    batching: Batching | None = None,
    hosts: Collection[str] = (),
    spell: Callable[[str], str] = str,
) -> FastAPI:
    """The app serving `models` (the first is the default) within `limits`, to requests
    that name it by an IP address, localhost or one of `hosts` (middleware.HostCheck; its
    refusal names `hosts` as `spell` does, SpelledError.spelled)."""
    limits, batching = limits or Limits(), batching or Batching()
    served = {model.name: model for model in models}
    batchers: dict[str, Batcher] = {}
    page, api_page = (
        resources.files("nmt.serve").joinpath(name).read_text(encoding="utf-8")
        for name in ("page.html", "api.html")
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        for model in models:
            run = partial(_run_job, model)
            batchers[model.name] = Batcher(run, batching.window_ms / 1000, batching.tokens)
            batchers[model.name].start()
        yield
        for batcher in batchers.values():
            await batcher.stop()

    app = FastAPI(
        title="nmt serve",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # Swagger UI loads from a CDN: blank offline; /docs is api.html
        redoc_url=None,
    )

    def abandon() -> None:
        """What the server calls when it stops at once (nmt/serve/server.py)."""
        for batcher in batchers.values():
            batcher.abandon()

    app.state.abandon = abandon
    app.add_middleware(BodyLimit, max_bytes=limits.body_bytes())
    app.add_middleware(HostCheck, names=hosts, spell=spell)
    app.add_middleware(AccessLog)  # the outermost: it logs the refusals of the others too
    _add_error_replies(app)

    def model_named(name: str | None) -> ServedModel:
        if name is None:
            return models[0]
        if name not in served:
            raise HTTPException(
                404, f"model {name!r} is not served here (served: {', '.join(served)})"
            )
        return served[name]

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def home() -> str:
        return page

    @app.get("/docs", response_class=HTMLResponse, include_in_schema=False)
    async def api_docs() -> str:
        return api_page

    @app.get("/health")
    async def health() -> Health:
        waiting = sum(batcher.waiting for batcher in batchers.values())
        return Health(status="ok", models=list(served), waiting=waiting)

    @app.get("/v1/models")
    async def list_models() -> ModelsResponse:
        return ModelsResponse(models=[model.info for model in models], limits=limits)

    @app.post("/v1/translate", responses=REFUSALS)
    async def translate(body: TranslateRequest, request: Request) -> TranslateResponse:
        """Translate sentences; with `attention`, each best translation's attention."""
        model = model_named(body.model)
        phrases = [phrase for given in body.constraints or [] for phrase in given]
        limits.check_size("text", len(body.text), [body.text, body.prefixes or [], phrases])
        options = model.translator.options(**body.decoding_options())
        limits.check_search(options, default_beam=body.beam is None)
        for field, given in (("prefixes", body.prefixes), ("constraints", body.constraints)):
            if given is not None and len(given) != len(body.text):
                raise HTTPException(422, f"{field}: {len(given)} for {len(body.text)} sentences")
        if body.attention:
            model.translator.check_attention("attention")
        job = TranslateJob(
            options, body.attention, body.prefixes is not None, body.constraints is not None
        )
        prefixes = body.prefixes or [None] * len(body.text)
        constraints = body.constraints or [None] * len(body.text)
        found, request.state.ride = await batchers[model.name].submit(
            job,
            list(zip(body.text, prefixes, constraints, strict=True)),
            model.source_tokens(body.text),
            alone=job.samples,
        )
        return TranslateResponse(model=model.name, translations=[_translation(f) for f in found])

    @app.post("/v1/score", responses=REFUSALS)
    async def score(body: ScoreRequest, request: Request) -> ScoreResponse:
        """Score (source, target) pairs by forced decoding."""
        model = model_named(body.model)
        limits.check_size("sources", len(body.sources), [body.sources, body.targets])
        if len(body.targets) != len(body.sources):
            raise HTTPException(
                422, f"targets: {len(body.targets)} for {len(body.sources)} sources"
            )
        options = model.translator.score_options(length_penalty=body.length_penalty)
        scores, request.state.ride = await batchers[model.name].submit(
            ScoreJob(options),
            list(zip(body.sources, body.targets, strict=True)),
            model.source_tokens(body.sources),
        )
        return ScoreResponse(
            model=model.name,
            scores=[
                PairScore(total=s.total, normalised=s.normalised, pieces=s.tokens) for s in scores
            ],
        )

    return app


def _run_job(model: ServedModel, job: TranslateJob | ScoreJob, items: list) -> list:
    """The batcher's call, in its model thread."""
    return job.run(model.translator, items)


def _translation(found: Translated) -> Translation:
    hypotheses = [
        ScoredText(text=text, score=score)
        for text, score in zip(found.texts, found.scores, strict=True)
    ]
    attention = None
    if found.alignment is not None:
        attention = AttentionWeights(
            source=found.alignment.source,
            target=found.alignment.target,
            weights=[[round(w, 4) for w in row] for row in found.alignment.weights.tolist()],
        )
    return Translation(
        text=hypotheses[0].text,
        score=hypotheses[0].score,
        nbest=hypotheses if len(hypotheses) > 1 else None,
        attention=attention,
    )


def _add_error_replies(app: FastAPI) -> None:
    """Every refusal as {"error": one line}: invalid JSON 400, a body of the wrong shape
    422, a bad decoding option 422, the HTTP errors with their own status, and a failure
    of ours 500."""

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        problems = error.errors()
        first = problems[0]
        if first["type"] == "json_invalid":
            return _refuse(400, f"invalid JSON: {first.get('ctx', {}).get('error', first['msg'])}")
        where = ".".join(str(part) for part in first["loc"] if part != "body")
        if not where:
            reason = "the body must be a JSON object (content-type: application/json)"
        else:
            reason = f"{where}: {first['msg']}"
        more = len(problems) - 1
        return _refuse(422, reason + (f" (and {more} more problem(s))" if more else ""))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        return _refuse(error.status_code, str(error.detail), error.headers)

    @app.exception_handler(NmtError)
    async def bad_option(request: Request, error: NmtError) -> JSONResponse:
        """A decoding option is named as its JSON field: nmt.Translator's name."""
        return _refuse(422, " ".join(str(error).split()))

    @app.exception_handler(Stopped)
    async def stopped(request: Request, error: Stopped) -> JSONResponse:
        return _refuse(503, "the server is stopping; this request was not translated")

    @app.exception_handler(Exception)
    async def failed(request: Request, error: Exception) -> JSONResponse:
        # uvicorn logs the traceback; the client gets one line too
        return _refuse(500, f"internal error: {type(error).__name__} (see the server's log)")


def _refuse(status: int, reason: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": reason}, status, headers)

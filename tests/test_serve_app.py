"""The HTTP API through FastAPI's test client: every endpoint, every kind of bad input,
the limits, and concurrent requests batched without mixing up their answers."""

from __future__ import annotations

import json
import logging
import math
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from test_translations import make_run, sentences

from nmt import Translator
from nmt.errors import NmtError
from nmt.generation.decoding import DecodingOptions
from nmt.serve.app import Batching, create_app
from nmt.serve.limits import Limits
from nmt.serve.models import ServedModel, load_models
from nmt_cli.common import flag

LINES = sentences(16, seed=150)
LIMITS = Limits(max_sentences=8, max_chars=400, max_beam=6)
WAIT = 120  # seconds: a guard against a hang, never a measurement


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> list[Path]:
    root = tmp_path_factory.mktemp("runs")
    attention = make_run(root / "attention")
    return [attention, make_run(root / "plain", attention="none", spm_dir=attention)]


@pytest.fixture(scope="module")
def models(runs) -> list[ServedModel]:
    return load_models(runs, "cpu")


@pytest.fixture(scope="module")
def client(models) -> Iterator[TestClient]:
    with TestClient(create_app(models, LIMITS), base_url="http://localhost") as client:
        yield client


def hold_translations(
    translator: Translator, monkeypatch: pytest.MonkeyPatch
) -> tuple[threading.Event, threading.Event]:
    """(started, release): the translator's next model call sets `started`, then waits for
    `release` before it decodes, so that a test can act while a request holds the model."""
    real = translator.translations
    started, release = threading.Event(), threading.Event()

    def held(*args, **kwargs):
        started.set()
        release.wait(WAIT)
        return real(*args, **kwargs)

    monkeypatch.setattr(translator, "translations", held)
    return started, release


def translate(client: TestClient, **body) -> dict:
    reply = client.post("/v1/translate", json=body)
    assert reply.status_code == 200, reply.text
    return reply.json()


def test_health_names_the_models(client):
    assert client.get("/health").json() == {
        "status": "ok",
        "models": ["attention", "plain"],
        "waiting": 0,
    }


def test_models_describe_each_run_and_the_limits(client, models):
    found = client.get("/v1/models").json()
    assert [model["name"] for model in found["models"]] == ["attention", "plain"]
    attention, plain = found["models"]
    assert attention["architecture"] == "attention" and attention["attention"] is True
    assert plain["architecture"] == "seq2seq" and plain["attention"] is False
    assert (attention["source_language"], attention["target_language"]) == ("de", "en")
    assert attention["parameters"] == models[0].info.parameters > 0
    assert attention["beam"] == 3 and attention["step"] == 1
    assert found["limits"] == {"max_sentences": 8, "max_chars": 400, "max_beam": 6}


def test_translate_gives_what_the_translator_gives(client, runs):
    tr = Translator.load(runs[0], device="cpu")
    found = translate(client, text=LINES[:4], beam=4, nbest=2, length_penalty=0.5)
    assert found["model"] == "attention"
    expected = tr.nbest(LINES[:4], 2, beam=4, length_penalty=0.5)
    for translation, ranked in zip(found["translations"], expected, strict=True):
        assert translation["text"] == ranked[0].text
        assert translation["score"] == pytest.approx(ranked[0].score, abs=1e-5)
        assert [h["text"] for h in translation["nbest"]] == [h.text for h in ranked]
        assert translation["attention"] is None


def test_constraints_are_a_field_of_the_request(client, runs):
    tr = Translator.load(runs[0], device="cpu")
    constraints = [["hund"], [], ["rot", "katze"]]
    found = translate(client, text=LINES[:3], constraints=constraints, beam=2)
    texts = [t["text"] for t in found["translations"]]
    assert texts == tr.translate(LINES[:3], constraints=constraints, beam=2)
    met = [
        phrase in text
        for phrases, text in zip(constraints, texts, strict=True)
        for phrase in phrases
    ]
    assert all(met)


def test_prefixes_sampling_and_the_other_model(client, runs):
    tr = Translator.load(runs[0], device="cpu")
    prefixes = ["der", "", "ein hund"]
    found = translate(client, text=LINES[:3], prefixes=prefixes, beam=2)
    assert [t["text"] for t in found["translations"]] == tr.translate(LINES[:3], prefixes, beam=2)
    sampled = translate(client, text=LINES[:3], sample=True, topk=5, seed=7, nsamples=2)
    expected = tr.nbest(LINES[:3], 2, sample=True, topk=5, seed=7, nsamples=2)
    assert [[h["text"] for h in t["nbest"]] for t in sampled["translations"]] == [
        [h.text for h in ranked] for ranked in expected
    ]
    plain = translate(client, text=LINES[:2], model="plain")
    assert plain["model"] == "plain"
    assert [t["text"] for t in plain["translations"]] == Translator.load(runs[1]).translate(
        LINES[:2]
    )


def test_attention_comes_with_its_pieces(client, runs):
    tr = Translator.load(runs[0], device="cpu")
    found = translate(client, text=[LINES[0], ""], attention=True)
    expected = tr.translations([LINES[0]], tr.options(), alignments=True).alignments[0][0]
    attention = found["translations"][0]["attention"]
    assert attention["source"] == expected.source and attention["source"][-1] == "</s>"
    assert attention["target"] == expected.target and attention["target"][-1] == "</s>"
    assert len(attention["weights"]) == len(attention["target"])
    assert all(len(row) == len(attention["source"]) for row in attention["weights"])
    flat = [weight for row in attention["weights"] for weight in row]
    assert flat == pytest.approx(expected.weights.flatten().tolist(), abs=1e-4)
    blank = found["translations"][1]
    assert blank["text"] == "" and blank["attention"] == {"source": [], "target": [], "weights": []}


def test_a_transformer_is_described_and_gives_its_attention(tmp_path, runs):
    """The page's heat map of a Transformer: its last layer's cross-attention, as the
    Translator's alignments give it."""
    run = make_run(tmp_path / "transformer", spm_dir=runs[0], arch="transformer")
    (model,) = load_models([run], "cpu")
    with TestClient(create_app([model], LIMITS), base_url="http://localhost") as client:
        (info,) = client.get("/v1/models").json()["models"]
        found = translate(client, text=LINES[:2], beam=3, attention=True)
    assert info["architecture"] == "transformer" and info["attention"] is True
    tr = Translator.load(run, device="cpu")
    expected = tr.translations(LINES[:2], tr.options(), alignments=True)
    for translation, ranked in zip(found["translations"], expected.alignments, strict=True):
        attention = translation["attention"]
        assert attention["target"] == ranked[0].target and attention["target"][-1] == "</s>"
        flat = [weight for row in attention["weights"] for weight in row]
        assert flat == pytest.approx(ranked[0].weights.flatten().tolist(), abs=1e-4)


def test_score_gives_the_translator_scores(client, runs):
    tr = Translator.load(runs[0], device="cpu")
    sources, targets = LINES[:3], LINES[3:6]
    found = client.post("/v1/score", json={"sources": sources, "targets": targets}).json()
    expected = tr.score(sources, targets)
    assert found["model"] == "attention"
    for score, want in zip(found["scores"], expected, strict=True):
        assert score["total"] == pytest.approx(want.total, abs=1e-5)
        assert score["normalised"] == pytest.approx(want.normalised, abs=1e-5)
        assert score["pieces"] == pytest.approx(want.tokens, abs=1e-5)


def html_loading_nothing_from_outside(client, path: str) -> str:
    """The page at path, which works offline: no script, style or link from elsewhere."""
    reply = client.get(path)
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/html")
    page = reply.text
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "@import" not in page and "<link" not in page
    return page


def test_the_page_is_one_file_that_loads_nothing_from_outside(client):
    page = html_loading_nothing_from_outside(client, "/")
    assert "<textarea" in page and 'id="model"' in page and 'id="beam"' in page


def test_the_api_page_works_offline_from_openapi_json(client):
    page = html_loading_nothing_from_outside(client, "/docs")
    assert 'fetch("/openapi.json")' in page
    assert "/docs" not in client.get("/openapi.json").json()["paths"]


def test_openapi_describes_every_endpoint(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/translate", "/v1/score", "/v1/models", "/health"} <= set(paths)
    assert "413" in paths["/v1/translate"]["post"]["responses"]


T, S = "/v1/translate", "/v1/score"
BAD = [
    # (what, path, body as sent, status, words of the reason)
    ("invalid JSON", T, '{"text": ["ein hund"', 400, "invalid JSON"),
    ("not an object", T, '["ein hund"]', 422, "JSON object"),
    ("text a string", T, '{"text": "ein hund"}', 422, "text: "),
    ("text missing", T, '{"beam": 2}', 422, "text: Field required"),
    ("text empty", T, '{"text": []}', 422, "text: "),
    ("a number for text", T, '{"text": [3]}', 422, "text.0: "),
    ("beam a string", T, '{"text": ["a"], "beam": "5"}', 422, "beam: "),
    ("beam a float", T, '{"text": ["a"], "beam": 2.5}', 422, "beam: "),
    ("attention a string", T, '{"text": ["a"], "attention": "yes"}', 422, "attention"),
    ("an unknown field", T, '{"text": ["a"], "beem": 5}', 422, "beem: "),
    ("a file path", T, '{"text": ["a"], "input": "/etc/passwd"}', 422, "input: "),
    ("beam 0", T, '{"text": ["a"], "beam": 0}', 422, "beam: 0"),
    ("nbest over beam", T, '{"text": ["a"], "beam": 2, "nbest": 3}', 422, "nbest"),
    ("topk without sample", T, '{"text": ["a"], "topk": 3}', 422, "topk"),
    ("beam with sample", T, '{"text": ["a"], "sample": true, "beam": 3}', 422, "beam"),
    ("beam over the limit", T, '{"text": ["a"], "beam": 7}', 422, "beam: 7"),
    ("nsamples over the limit", T, '{"text": ["a"], "sample": true, "nsamples": 9}', 422, "9"),
    ("nbest over the limit", T, '{"text": ["a"], "beam": 2, "nbest": 7}', 422, "nbest: 7"),
    ("an unknown model", T, '{"text": ["a"], "model": "x"}', 404, "'x'"),
    ("prefixes one short", T, '{"text": ["a", "b"], "prefixes": ["a"]}', 422, "prefixes"),
    ("constraints one short", T, '{"text": ["a", "b"], "constraints": [["a"]]}', 422,
     "constraints: 1 for 2 sentences"),
    ("constraints of the wrong shape", T, '{"text": ["a"], "constraints": ["a"]}', 422,
     "constraints.0: Input should be a valid list"),
    ("a coverage penalty without attention", T,
     '{"text": ["a"], "model": "plain", "beam": 2, "coverage_penalty": 0.2}', 422,
     "coverage_penalty: this model has no attention"),
    ("attention without it", T, '{"text": ["a"], "model": "plain", "attention": true}', 422,
     "attention: this model has no attention (model.attention: none)"),
    ("a prefix too long", T, json.dumps({"text": ["a"], "prefixes": ["ein hund sieht " * 6]}), 422,
     "prefix"),
    ("too many sentences", T, json.dumps({"text": ["a"] * 9}), 413, "9 sentences"),
    ("too many characters", T, json.dumps({"text": ["ab" * 201]}), 413, "402 char"),
    ("prefixes count", T, json.dumps({"text": ["a"], "prefixes": ["b" * 400]}), 413, "401 char"),
    ("targets one short", S, '{"sources": ["a", "b"], "targets": ["a"]}', 422, "targets"),
    ("score with a beam", S, '{"sources": ["a"], "targets": ["a"], "beam": 2}', 422, "beam"),
    ("too many pairs", S, json.dumps({"sources": ["a"] * 9, "targets": ["a"] * 9}), 413,
     "9 sentences"),
    ("a negative length penalty", S,
     '{"sources": ["a"], "targets": ["a"], "length_penalty": -1}', 422, "length_penalty"),
    ("a lone surrogate in text", T, r'{"text": ["a\ud800"]}', 422,
     r"text.0: Value error, a lone surrogate ('\ud800' at 1) is not a character"),
    ("a lone surrogate in prefixes", T, r'{"text": ["a"], "prefixes": ["\udc00"]}', 422,
     "prefixes.0: Value error, a lone surrogate"),
    ("a lone surrogate in sources", S, r'{"sources": ["\ud800"], "targets": ["a"]}', 422,
     "sources.0: Value error, a lone surrogate"),
    ("a lone surrogate in targets", S, r'{"sources": ["a"], "targets": ["b\udfff"]}', 422,
     "targets.0: Value error, a lone surrogate"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("path", "body", "status", "reason"), [b[1:] for b in BAD], ids=[b[0] for b in BAD]
)
def test_bad_input_gets_a_one_line_reason_and_the_server_goes_on(
    client, path, body, status, reason
):
    reply = client.post(path, content=body, headers={"content-type": "application/json"})
    assert reply.status_code == status, reply.text
    problem = reply.json()
    assert list(problem) == ["error"] and "\n" not in problem["error"]
    assert reason in problem["error"]
    assert translate(client, text=["ein hund"])["translations"][0]["text"] is not None


def test_the_run_default_beam_counts_against_the_limit(models):
    with TestClient(create_app(models, Limits(max_beam=2)), base_url="http://localhost") as small:
        reply = small.post("/v1/translate", json={"text": ["ein hund"]})  # the run's beam: 3
        assert reply.status_code == 422
        assert (
            reply.json()["error"]
            == "beam: 3 (the run's default) is more than this server allows (2)"
        )
        body = {"text": ["ein hund"], "beam": 2, "length_penalty": 1}  # an integer is a number
        assert small.post("/v1/translate", json=body).status_code == 200


def test_a_body_larger_than_any_request_is_refused_before_it_is_read(client):
    huge = json.dumps({"text": ["a" * LIMITS.body_bytes()]}).encode()
    reply = client.post("/v1/translate", content=huge, headers={"content-type": "application/json"})
    assert reply.status_code == 413 and "request body over" in reply.json()["error"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield from (huge[i : i + 65536] for i in range(0, len(huge), 65536))

    reply = client.post(
        "/v1/translate", content=chunks(), headers={"content-type": "application/json"}
    )
    assert reply.status_code == 413 and "request body over" in reply.json()["error"]


def test_a_failure_of_the_model_is_a_500_in_one_line_and_the_server_goes_on(models, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(models[1].translator, "translations", broken)
    with TestClient(
        create_app(models), base_url="http://localhost", raise_server_exceptions=False
    ) as fresh:
        reply = fresh.post("/v1/translate", json={"text": ["ein hund"], "model": "plain"})
        assert reply.status_code == 500
        assert reply.json() == {"error": "internal error: RuntimeError (see the server's log)"}
        assert fresh.post("/v1/translate", json={"text": ["ein hund"]}).status_code == 200


@pytest.mark.parametrize(
    ("host", "hosts", "status"),
    [
        ("evil.example", (), 400),
        ("evil.example:8000", ("127.0.0.1",), 400),
        ("localhost:8000", (), 200),
        ("LOCALHOST.", (), 200),
        ("127.0.0.1:8000", (), 200),
        ("[::1]:8000", (), 200),
        ("192.168.1.5", ("0.0.0.0",), 200),
        ("mt.example:8000", ("mt.example",), 200),
        ("[mt.example", ("mt.example",), 400),
        ("anything.example", ("*",), 200),
    ],
)
def test_only_requests_that_name_the_server_are_answered(models, host, hosts, status):
    with TestClient(create_app(models, hosts=hosts)) as served:
        reply = served.get("/health", headers={"host": host})
    assert reply.status_code == status, reply.text
    if status == 400:
        assert reply.json() == {
            "error": f"Host {host!r}: not a name of this server; start it with hosts "
            f"{host.split(':')[0]} to answer to it"
        }
        with TestClient(create_app(models, hosts=hosts, spell=flag)) as served:
            reply = served.get("/health", headers={"host": host})
        said = f"start it with --allow-host {host.split(':')[0]} to answer to it"
        assert reply.json()["error"].endswith(said)


def test_a_batch_window_is_finite_and_bounded():
    assert Batching(window_ms=1000).window_ms == 1000
    for window in (math.inf, math.nan, -1, 1001):
        with pytest.raises(
            NmtError, match=rf"^window_ms: {window} is not in \[0, 1000\]$"
        ) as error:
            Batching(window_ms=window)
        assert error.value.spelled(flag) == f"--batch-wait-ms: {window} is not in [0, 1000]"


def test_unknown_paths_and_methods_answer_in_one_line(client):
    assert client.get("/v2/translate").json() == {"error": "Not Found"}
    assert client.get("/v1/translate").status_code == 405


def test_each_request_logs_one_access_line(client, caplog):
    with caplog.at_level(logging.INFO, logger="nmt.serve.access"):
        translate(client, text=LINES[:2])
        client.get("/health")
    lines = [record.getMessage() for record in caplog.records if record.name == "nmt.serve.access"]
    assert len(lines) == 2
    assert re.fullmatch(
        r'\S+ "POST /v1/translate" 200 [\d.]+ ms batch 1 requests/2 items', lines[0]
    )
    assert re.fullmatch(r'\S+ "GET /health" 200 [\d.]+ ms batch -', lines[1])


def test_concurrent_requests_are_batched_and_each_gets_its_own_answer(
    client, models, monkeypatch, caplog
):
    """The first request holds the model while the others queue; then they must go through
    in few model calls, and every answer must be the one the request gets alone."""
    bodies = [
        {"text": LINES[i : i + 1 + i % 3], **({"beam": 1} if i % 2 else {"attention": True})}
        for i in range(16)
    ]
    alone = [translate(client, **body) for body in bodies]
    started, release = hold_translations(models[0].translator, monkeypatch)
    answers: list[dict | None] = [None] * len(bodies)

    def ask(i: int) -> None:
        answers[i] = translate(client, **bodies[i])

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(bodies))]
    with caplog.at_level(logging.INFO, logger="nmt.serve.access"):
        threads[0].start()
        assert started.wait(WAIT)
        for thread in threads[1:]:
            thread.start()
        while client.get("/health").json()["waiting"] < len(bodies) - 1:
            assert all(thread.is_alive() for thread in threads), "a request ended early"
        release.set()
        for thread in threads:
            thread.join(WAIT)
    for got, expected in zip(answers, alone, strict=True):
        assert got is not None
        for translation, want in zip(got["translations"], expected["translations"], strict=True):
            assert translation["text"] == want["text"]
            assert translation["score"] == pytest.approx(want["score"], abs=1e-4)
            if want["attention"] is not None:
                assert translation["attention"]["target"] == want["attention"]["target"]
    rides = [
        re.search(r"batch (\d+) requests", record.getMessage())
        for record in caplog.records
        if "/v1/translate" in record.getMessage()
    ]
    # the 15 that queued behind the first: 7 greedy and 8 with attention, one call each
    assert sorted(int(ride[1]) for ride in rides) == [1] + [7] * 7 + [8] * 8


def test_a_request_checks_its_options_once(client, monkeypatch):
    """The route builds the options; the batcher's job and the Translator pass them on
    (they were checked in the route, then again in the job's call)."""
    checked = []
    check = DecodingOptions.check_together
    monkeypatch.setattr(
        DecodingOptions, "check_together", lambda self: (checked.append(self), check(self))
    )
    translate(client, text=LINES[:2], beam=2, nbest=2, no_repeat_ngram=2)
    assert len(checked) == 1


def test_a_request_takes_the_decoding_options_a_server_leaves_to_it():
    """Built from the fields: the server's resources (batch tokens, lengths) are not a
    request's to set."""
    from nmt.generation.decoding import CALL_OPTIONS
    from nmt.serve.schemas import ScoreRequest, TranslateRequest

    fields = TranslateRequest.model_fields
    for option in CALL_OPTIONS:
        assert (option.name in fields) == option.policy("request"), option.name
    assert fields["beam"].description == "Beam size; 1 is greedy search."
    assert set(ScoreRequest.model_fields) == {"model", "sources", "targets", "length_penalty"}

"""The server for real, on 127.0.0.1: a graceful stop and the `nmt serve` command.

`serving` runs an app under uvicorn in a thread, on a port the system picks;
test_serve_page.py uses it too.
"""

from __future__ import annotations

import logging
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from test_serve_app import hold_translations
from test_translations import make_run, read_line

from nmt.errors import NmtError
from nmt.serve.app import create_app
from nmt.serve.models import load_models
from nmt.serve.server import HEAD_SECONDS, bind, make_server

WAIT = 120  # seconds: a guard against a hang, never a measurement


@contextmanager
def serving(
    app: FastAPI, head_seconds: float = HEAD_SECONDS, **limits
) -> Iterator[tuple[str, object]]:
    """(base URL, uvicorn server) of `app` served from a thread until the block ends;
    `limits`: make_server's body_seconds and max_connections."""
    sock = bind("127.0.0.1", 0)
    server = make_server(app, head_seconds, **limits)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not server.started:
            assert thread.is_alive(), "the server did not start"
            thread.join(0.05)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}", server
    finally:
        server.should_exit = True
        thread.join(WAIT)


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    return make_run(tmp_path_factory.mktemp("runs") / "attention")


def test_a_stop_lets_the_request_in_flight_finish(run, monkeypatch):
    models = load_models([run], "cpu")
    expected = models[0].translator.translate(["ein hund sieht"])
    started, release = hold_translations(models[0].translator, monkeypatch)
    replies: list[httpx.Response] = []
    with serving(create_app(models)) as (url, server):
        body = {"text": ["ein hund sieht"]}
        asking = threading.Thread(
            target=lambda: replies.append(
                httpx.post(f"{url}/v1/translate", json=body, timeout=WAIT)
            )
        )
        asking.start()
        assert started.wait(WAIT)
        server.handle_exit(signal.SIGTERM, None)  # what uvicorn does on SIGTERM
        release.set()
        asking.join(WAIT)
    assert [reply.status_code for reply in replies] == [200]
    assert replies[0].json()["translations"][0]["text"] == expected[0]


def test_a_second_ctrl_c_answers_the_requests_in_flight_503(run, monkeypatch, caplog):
    models = load_models([run], "cpu")
    started, release = hold_translations(models[0].translator, monkeypatch)
    replies: list[httpx.Response] = []
    with serving(create_app(models)) as (url, server):
        asking = [
            threading.Thread(
                target=lambda text=text: replies.append(
                    httpx.post(f"{url}/v1/translate", json={"text": [text]}, timeout=WAIT)
                )
            )
            for text in ("ein hund", "eine katze", "ein mann")
        ]
        for thread in asking:
            thread.start()
        assert started.wait(WAIT)
        server.handle_exit(signal.SIGINT, None)  # what uvicorn does on Ctrl-C, twice
        server.handle_exit(signal.SIGINT, None)
        for thread in asking:
            thread.join(WAIT)
    release.set()
    assert [reply.status_code for reply in replies] == [503] * 3
    assert replies[0].json() == {"error": "the server is stopping; this request was not translated"}
    assert not [record for record in caplog.records if record.exc_info]  # no traceback


def test_a_host_off_the_loopback_is_said_in_the_log(caplog):
    with caplog.at_level(logging.WARNING, logger="nmt.serve"):
        bind("127.0.0.1", 0).close()
        assert not caplog.records
        bind("0.0.0.0", 0).close()
    assert "anyone who can reach this machine" in caplog.records[0].getMessage()


@pytest.mark.parametrize(
    "sent", [b"", b"GET /health HTTP/1.1\r\nHost: localhost\r\n", b"GET /health HTTP/1.1\r\n\r\n"]
)
def test_a_connection_that_sends_no_whole_request_head_is_closed(run, sent):
    with serving(create_app(load_models([run], "cpu")), head_seconds=0.5) as (url, _):
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as connection:
            connection.sendall(sent)
            answer = b""
            while chunk := connection.recv(65536):  # b"": the server closed the connection
                answer += chunk
    if sent.endswith(b"\r\n\r\n"):  # a whole head (missing its Host) is answered first
        assert answer.startswith(b"HTTP/1.1 400 ")
    else:
        assert answer == b""


def answer_to(port: int, sent: bytes) -> bytes:
    """What the server sends on a connection that sends `sent`, until it closes it."""
    with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as connection:
        connection.sendall(sent)
        answer = b""
        while chunk := connection.recv(65536):  # b"": the server closed the connection
            answer += chunk
    return answer


def test_a_body_that_does_not_all_arrive_gets_408_and_is_closed(run):
    head = b"POST /v1/translate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
    stalled = head + b"Content-Length: 100\r\n\r\n" + b'{"text"'
    with serving(create_app(load_models([run], "cpu")), body_seconds=0.5) as (url, _):
        port = int(url.rsplit(":", 1)[1])
        answer = answer_to(port, stalled)
        assert answer.startswith(b"HTTP/1.1 408 ")
        assert b"did not all arrive within 0.5 s" in answer
        whole = b'{"text": ["ein hund"]}'
        sent = head + b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(whole) + whole
        assert answer_to(port, sent).startswith(b"HTTP/1.1 200 ")  # the server goes on


def test_connections_past_the_bound_get_503_and_are_closed(run):
    with serving(create_app(load_models([run], "cpu")), max_connections=2) as (url, _):
        port = int(url.rsplit(":", 1)[1])
        held = [socket.create_connection(("127.0.0.1", port), timeout=WAIT) for _ in range(2)]
        try:
            answer = answer_to(port, b"")
        finally:
            for connection in held:
                connection.close()
    assert answer.startswith(b"HTTP/1.1 503 ") and b"more than 2 connections open" in answer


def test_a_port_or_host_that_cannot_be_served_is_one_line_naming_it():
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        refusals = {
            ("127.0.0.1", port): f"port {port}: in use on 127.0.0.1 by another program; "
            "choose another port (0 picks a free one)",
            ("127.0.0.1", 70000): "port 70000: not a port (0 to 65535; 0 picks a free one)",
            ("127.0.0.1", -1): "port -1: not a port (0 to 65535; 0 picks a free one)",
            # the reason is Python's idna codec's, worded otherwise from 3.12 on
            ("a..b", 0): "host a..b: not an address or a host name (",
            ("192.0.2.1", 0): "host 192.0.2.1: cannot listen there (Cannot assign requested",
        }
        for (host, number), message in refusals.items():
            with pytest.raises(NmtError) as error:
                bind(host, number)
            assert str(error.value).startswith(message)
        result = subprocess.run(
            [sys.executable, "-m", "nmt", "serve", "no-run", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=WAIT,
        )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"error: --{refusals['127.0.0.1', port]}"]


def start_command(*arguments: str) -> tuple[subprocess.Popen, str]:
    """`nmt serve ...` in a process of its own, and its URL once it listens."""
    command = [sys.executable, "-m", "nmt", "serve", *arguments, "--port", "0", "--device", "cpu"]
    process = subprocess.Popen(command, stderr=subprocess.PIPE)
    while True:
        line = read_line(process.stderr, WAIT).decode()
        assert line, "nmt serve ended or said nothing"
        if "serving on http://" in line:
            return process, line.split("serving on ")[1].split()[0]


@pytest.mark.parametrize(
    ("sent", "exit_code"), [(signal.SIGTERM, -signal.SIGTERM), (signal.SIGINT, 130)]
)
def test_the_command_serves_on_the_loopback_until_stopped(run, sent, exit_code):
    process, url = start_command(str(run))
    try:
        assert url.startswith("http://127.0.0.1:")
        assert httpx.get(f"{url}/health").json()["models"] == ["attention"]
        reply = httpx.post(f"{url}/v1/translate", json={"text": ["ein hund"]})
        assert reply.status_code == 200
        process.send_signal(sent)
        assert process.wait(WAIT) == exit_code
        log = process.stderr.read().decode()
    finally:
        process.kill()
    assert "Shutting down" in log and "Traceback" not in log


def test_the_command_refuses_a_missing_run_in_one_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "nmt", "serve", str(tmp_path / "nothing")],
        capture_output=True,
        text=True,
        timeout=WAIT,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: ")
    assert len(result.stderr.strip().splitlines()) == 1

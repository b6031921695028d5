"""The batcher merges what is queued into few calls and hands each submission its own results.

A batcher started after its submissions are queued, with a window of 0, takes exactly
what is queued: the tests decide what arrives together without timing anything.
"""

from __future__ import annotations

import asyncio

import pytest

from nmt.serve.batcher import Batcher, Ride


class Model:
    """A stand-in for the model: answers item -> "key:item" and records its calls."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.calls: list[tuple[str, list[str]]] = []
        self.fail_on = fail_on

    def __call__(self, key: str, items: list[str]) -> list[str]:
        self.calls.append((key, items))
        if self.fail_on in items:
            raise ValueError(f"cannot do {self.fail_on}")
        return [f"{key}:{item}" for item in items]


async def queued_then_run(batcher: Batcher, submissions: list[tuple]) -> list:
    """Queue every submission, then start the batcher; each one's outcome, in order."""
    tasks = [asyncio.create_task(batcher.submit(*submission)) for submission in submissions]
    while batcher.waiting < len(submissions):
        await asyncio.sleep(0)
    batcher.start()
    try:
        return await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        await batcher.stop()


def run(model: Model, submissions: list[tuple], budget: int = 1000) -> list:
    return asyncio.run(queued_then_run(Batcher(model, 0.0, budget), submissions))


def test_requests_queued_together_share_one_call_and_get_their_own_results():
    model = Model()
    found = run(model, [("k", ["a", "b"], 2), ("k", ["c"], 1), ("k", ["d", "e", "f"], 3)])
    assert model.calls == [("k", ["a", "b", "c", "d", "e", "f"])]
    ride = Ride(requests=3, items=6)
    assert found == [(["k:a", "k:b"], ride), (["k:c"], ride), (["k:d", "k:e", "k:f"], ride)]


def test_requests_with_other_keys_never_share_a_call():
    model = Model()
    found = run(model, [("x", ["a"], 1), ("y", ["b"], 1), ("x", ["c"], 1)])
    assert sorted(model.calls) == [("x", ["a", "c"]), ("y", ["b"])]
    assert [results for results, _ in found] == [["x:a"], ["y:b"], ["x:c"]]


def test_a_request_alone_is_never_merged():
    model = Model()
    run(model, [("k", ["a"], 1, True), ("k", ["b"], 1), ("k", ["c"], 1, True), ("k", ["d"], 1)])
    assert sorted(model.calls) == [("k", ["a"]), ("k", ["b", "d"]), ("k", ["c"])]


def test_the_token_budget_ends_a_batch():
    model = Model()
    run(model, [("k", ["a"], 4), ("k", ["b"], 4), ("k", ["c"], 4)], budget=8)
    assert model.calls == [("k", ["a", "b"]), ("k", ["c"])]


def test_a_failing_request_fails_alone():
    model = Model(fail_on="bad")
    found = run(model, [("k", ["a"], 1), ("k", ["bad"], 1), ("k", ["c"], 1)])
    assert model.calls[0] == ("k", ["a", "bad", "c"])
    assert found[0] == (["k:a"], Ride(1, 1))
    assert isinstance(found[1], ValueError) and str(found[1]) == "cannot do bad"
    assert found[2] == (["k:c"], Ride(1, 1))


def test_a_request_arriving_within_the_window_joins_the_batch():
    async def scenario() -> list[tuple[str, list[str]]]:
        model = Model()
        batcher = Batcher(model, window_s=600.0, budget=2)  # the budget ends the wait
        first = asyncio.create_task(batcher.submit("k", ["a"], 1))
        while not batcher.waiting:
            await asyncio.sleep(0)
        batcher.start()
        while batcher.waiting:  # the worker has taken the first and waits for more
            await asyncio.sleep(0)
        await batcher.submit("k", ["b"], 1)
        await first
        await batcher.stop()
        return model.calls

    assert asyncio.run(scenario()) == [("k", ["a", "b"])]


def test_a_request_whose_client_left_is_not_run():
    async def scenario() -> list[tuple[str, list[str]]]:
        model = Model()
        batcher = Batcher(model, 0.0, 1000)
        gone = asyncio.create_task(batcher.submit("k", ["gone"], 1))
        kept = asyncio.create_task(batcher.submit("k", ["kept"], 1))
        while batcher.waiting < 2:
            await asyncio.sleep(0)
        gone.cancel()
        batcher.start()
        assert await kept == (["k:kept"], Ride(1, 1))
        with pytest.raises(asyncio.CancelledError):
            await gone
        await batcher.stop()
        return model.calls

    assert asyncio.run(scenario()) == [("k", ["kept"])]

"""Dynamic batching: requests that arrive together share one model forward.

A model decodes a batch of sentences in about the time it takes for one (the search is a
loop of small kernels), so a server that ran requests one at a time would waste most of
its time. Requests wait in a queue; the worker takes the first, waits at most `window_s`
for more (and takes whatever queued while the model was busy) until their source tokens
reach `budget`, then runs each group of requests that can share a forward (equal keys) as
one call in a single model thread. Every request gets back exactly the results of its own
items, in order. A merged call that fails is retried request by request, so that one bad
request cannot fail its neighbours.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

Run = Callable[[Hashable, list[Any]], list[Any]]  # (key, items) -> one result per item


@dataclass(frozen=True)
class Ride:
    """The forward a request rode in: how many requests and items shared it."""

    requests: int
    items: int


@dataclass
class _Job:
    key: Hashable
    items: list[Any]
    cost: int
    alone: bool
    done: asyncio.Future


class Stopped(Exception):
    """The server stopped at once (a second Ctrl-C) before this submission's batch ran or
    finished: its request is answered 503."""


class Batcher:
    """Merges concurrent submissions into calls of `run(key, items)`, one at a time, in a
    thread of its own (so the event loop keeps serving while the model computes)."""

    def __init__(self, run: Run, window_s: float, budget: int) -> None:
        self.run, self.window_s, self.budget = run, window_s, budget
        self._queue: asyncio.Queue[_Job] = asyncio.Queue()
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="nmt-model")
        self._worker: asyncio.Task | None = None
        self._running: list[_Job] = []  # the batch the model thread computes now

    @property
    def waiting(self) -> int:
        """Submissions queued and not yet taken into a batch."""
        return self._queue.qsize()

    def start(self) -> None:
        self._worker = asyncio.get_running_loop().create_task(self._work())

    async def stop(self) -> None:
        """Stop taking work (requests in flight have finished when the server calls this)."""
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
        self._thread.shutdown(wait=True)

    def abandon(self) -> None:
        """Stop at once: every submission waiting or in the batch being computed gets
        Stopped, so that its request ends cleanly; the model thread finishes its batch
        unwatched."""
        if self._worker is not None:
            self._worker.cancel()
        waiting = [self._queue.get_nowait() for _ in range(self._queue.qsize())]
        for job in [*self._running, *waiting]:
            _settle(job.done, error=Stopped())
        self._thread.shutdown(wait=False, cancel_futures=True)

    async def submit(
        self, key: Hashable, items: Sequence[Any], cost: int, alone: bool = False
    ) -> tuple[list[Any], Ride]:
        """The results of `items` and the ride they got. Submissions with equal keys may
        share a call; `alone` keeps one out of any merge (for results that depend on the
        position in the batch); `cost` counts against the batch's token budget."""
        done = asyncio.get_running_loop().create_future()
        await self._queue.put(_Job(key, list(items), cost, alone, done))
        return await done

    async def _work(self) -> None:
        while True:
            jobs = await self._collect()
            for group in _groups(jobs):
                await self._run(group)

    async def _collect(self) -> list[_Job]:
        """The next batch: the first waiting job, then whatever arrives within the window
        or was already queued, until the token budget is spent."""
        loop = asyncio.get_running_loop()
        jobs = [await self._queue.get()]
        cost = jobs[0].cost
        deadline = loop.time() + self.window_s
        while cost < self.budget:
            left = deadline - loop.time()
            try:
                if left > 0:
                    job = await asyncio.wait_for(self._queue.get(), left)
                else:
                    job = self._queue.get_nowait()
            except (TimeoutError, asyncio.QueueEmpty):
                break
            jobs.append(job)
            cost += job.cost
        return jobs

    async def _run(self, group: list[_Job]) -> None:
        group = [job for job in group if not job.done.done()]  # the client may have gone
        if not group:
            return
        items = [item for job in group for item in job.items]
        loop = asyncio.get_running_loop()
        self._running = group
        try:
            results = await loop.run_in_executor(self._thread, self.run, group[0].key, items)
        except Exception as error:
            if len(group) > 1:
                for job in group:
                    await self._run([job])
                return
            _settle(group[0].done, error=error)
            return
        ride = Ride(len(group), len(items))
        start = 0
        for job in group:
            end = start + len(job.items)
            _settle(job.done, result=(results[start:end], ride))
            start = end


def _settle(done: asyncio.Future, result: Any = None, error: Exception | None = None) -> None:
    """Answer a submission whose client is still waiting."""
    if done.done():
        return
    if error is not None:
        done.set_exception(error)
    else:
        done.set_result(result)


def _groups(jobs: list[_Job]) -> list[list[_Job]]:
    """Jobs that can share one call, in order of arrival: equal keys, none alone."""
    groups: dict[Hashable, list[_Job]] = {}
    alone = []
    for job in jobs:
        if job.alone:
            alone.append([job])
        else:
            groups.setdefault(job.key, []).append(job)
    return [*groups.values(), *alone]

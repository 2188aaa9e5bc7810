"""The benchmark's input: a realistic mixed stream over a year of event time.

Customer stories from streams.tools.stories (orders, billing, complaints; every
detector tripped somewhere), each told at a moment that walks through the last
365 days, for randomly chosen customers: so stream time moves, deadlines fire,
rolling windows fill and prune as in a year of live running. On top, about 1 in
``bad_every`` messages is broken input (dead-lettered) and 1 in ``dup_every`` is
re-sent a little later (a producer retry: the same bytes).
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from functools import partial

from models.timestamps import MS_PER_DAY
from streams.tools.stories import Message, StoryBook

__all__ = ["Message", "mixed_stream", "live_stories"]

_YEAR_MS = 365 * MS_PER_DAY


def _stories(book: StoryBook) -> list[tuple[object, int]]:
    # streams.tools.stories's weights, without its own duplicates and bad input (injected at fixed rates here).
    return [
        (book.on_time, 30),
        (book.late, 15),
        (book.wrong, 12),
        (book.lost, 8),
        (book.double_billed, 5),
        (book.urgent_refused, 4),
        (book.unanswered_complaint, 5),
        (book.weekly_caller, 2),
        (book.old_plan, 3),
        (partial(book.heavy_user, switch=0.3), 3),
        (book.loyal_broadband, 3),
        (partial(book.dormant, wake=0.3), 3),
        (partial(book.price_rise, refund=0.4), 3),
        (book.billed_after_cancel, 2),
        (partial(book.notice_due, told=0.3), 2),
    ]


def mixed_stream(
    events: int,
    customers: int,
    *,
    seed: int = 8,
    bad_every: int = 200,
    dup_every: int = 100,
    end_ms: int | None = None,
) -> list[Message]:
    """``events`` messages (topic, key, value), in production order."""
    book = StoryBook(seed)
    rng = random.Random(seed)
    stories = _stories(book)
    choose = partial(rng.choices, [s for s, _ in stories], weights=[w for _, w in stories])
    ids = [f"c-{n:06d}" for n in range(customers)]
    end = end_ms if end_ms is not None else int(time.time() * 1000) - MS_PER_DAY
    # About 5.6 events per story: size the walk through the year so it ends near ``end``.
    stories_expected = max(1, events // 5)
    step_ms = _YEAR_MS // stories_expected
    now = end - _YEAR_MS
    out: list[Message] = []
    delayed: list[tuple[int, Message]] = []  # duplicates waiting for their position
    while len(out) < events:
        story = choose()[0]
        customer = rng.choice(ids)
        for message in story(customer, now):  # type: ignore[operator]
            out.append(message)
            if rng.randrange(dup_every) == 0:
                delayed.append((len(out) + rng.randrange(1, 50), message))
            if rng.randrange(bad_every) == 0:
                out.append(book.bad(rng.choice(ids), now)[0])
        while delayed and delayed[0][0] <= len(out):
            out.append(delayed.pop(0)[1])
        book.sent.clear()  # the book's own memory of sent messages is not needed here
        now = min(end, now + step_ms)
    return out[:events]


def live_stories(customers: int, *, seed: int = 9, prefix: str = "live") -> Iterator[Message]:
    """An endless stream of stories told now (wall clock), for the latency phase."""
    book = StoryBook(seed)
    rng = random.Random(seed)
    stories = _stories(book)
    choose = partial(rng.choices, [s for s, _ in stories], weights=[w for _, w in stories])
    while True:
        story = choose()[0]
        customer = f"{prefix}-{rng.randrange(customers):06d}"
        yield from story(customer, int(time.time() * 1000))  # type: ignore[operator]
        book.sent.clear()

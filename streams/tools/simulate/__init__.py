"""``fairwatch simulate``: a generated world of customers with the ground truth of every planted condition.

``generate`` builds it (deterministic for a seed and an end), ``write_world``
writes DIR/events.jsonl (event-time order with disorder inside the grace, and a
few producer retries), DIR/plans.toml (the catalog), DIR/truth.jsonl (every
planted condition: kind, customer, key, alert_id, when it becomes true and when
it clears), DIR/near_misses.jsonl (what must not raise) and DIR/world.json.

The world ends at ``end`` (the 1st of the current month by default): every
event lies before it and the truth is complete up to it, so it is the horizon
``fairwatch evaluate`` scores at. What would become true after the end (the
world's future, which the live tick does reach) is not part of it.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from models.alerts import alert_id_for
from models.policy import Policy
from models.timestamps import add_months, format_ms, period_of, period_start
from streams.tools.simulate.builder import MINUTE, Customer, NearMiss, Truth
from streams.tools.simulate.catalog import write_catalog
from streams.tools.simulate.rules import best_tariff_episodes, pattern_episodes, service_episodes
from streams.tools.simulate.scenarios import NOTICE_DUE, PATTERN, SCENARIOS, SERVICE, background

__all__ = ["World", "generate", "write_world", "default_end", "MIN_MONTHS", "MIN_CUSTOMERS"]

#: The stories need this much history (a 90-day pattern, 4 months of usage, a cancelled month after it ...).
MIN_MONTHS = 8
#: The first stories in SCENARIOS plant one condition of each of the 13 kinds.
MIN_CUSTOMERS = 13
#: Share of the customers that carry a planted story (the rest are clean background).
PLANTED_SHARE = 0.2
#: Events that arrive late (still within the grace), and how late at most.
LATE_SHARE = 0.15
LATE_BY_MS = 8 * MINUTE
#: Events sent twice by the producer (a retry), a few seconds to minutes apart.
RETRY_SHARE = 0.003


@dataclass
class World:
    end: int
    window_start: int
    seed: int
    customers: list[Customer]
    #: The published order: (topic-less) event documents, retries included.
    stream: list[dict[str, Any]] = field(default_factory=list)
    truth: list[Truth] = field(default_factory=list)
    near: list[NearMiss] = field(default_factory=list)
    #: Truth not intended by the customer's story (an interaction the rules produced).
    interactions: list[Truth] = field(default_factory=list)


def default_end(now: float | None = None) -> int:
    """00:00 UTC on the 1st of the current month: the world's months end about now."""
    return period_start(period_of(int((time.time() if now is None else now) * 1000)))


def generate(customers: int, months: int, seed: int, end: int | None = None) -> World:
    if months < MIN_MONTHS:
        raise ValueError(f"a world needs at least {MIN_MONTHS} months")
    if customers < MIN_CUSTOMERS:
        raise ValueError(f"a world needs at least {MIN_CUSTOMERS} customers (one story of each kind)")
    policy = Policy()
    end = default_end() if end is None else end
    window_start = add_months(end, -months)
    rng = random.Random(f"world:{seed}")
    # Every story at least once if there is room (the positives come first in SCENARIOS), then repeats.
    planted = min(customers, max(len(SCENARIOS), round(customers * PLANTED_SHARE)))
    stories = [SCENARIOS[i % len(SCENARIOS)] for i in range(planted)]
    slots = list(range(customers))
    rng.shuffle(slots)
    story_of = dict(zip(slots, stories, strict=False))
    world = World(end, window_start, seed, [])
    for index in range(customers):
        customer = Customer(f"c-{index + 1:06d}", random.Random(f"customer:{seed}:{index}"), window_start, end)
        story = story_of.get(index)
        if story is None:
            background(customer)
        else:
            customer.scenarios.insert(0, story[0])
            story[1](customer)
        world.customers.append(customer)
        _derive(world, customer, policy)
    world.stream = _disorder(world, random.Random(f"stream:{seed}"))
    return world


def _derive(world: World, c: Customer, policy: Policy) -> None:
    """The truth the rules give over the customer's whole history, beside what the story planted."""
    story = c.scenarios[0] if c.scenarios else "clean"
    derived: list[Truth] = []
    for sub in c.subs:
        notices = sorted(
            (
                (d["data"]["kind"], at)
                for at, d in c.events
                if d["type"] == "notice.sent" and d["data"]["subscription_id"] == sub.sub_id
            ),
            key=lambda notice: notice[1],
        )
        stopped = sub.cancel[0] if sub.cancel else None
        for start, until in best_tariff_episodes(sub.start, sub.term_end, notices, stopped, c.end, policy):
            derived.append(Truth(NOTICE_DUE, c.id, sub.sub_id, start, until, story, "no best-tariff notice"))
    for start, until in service_episodes((document for _, document in c.events), c.end, policy):
        derived.append(Truth(SERVICE, c.id, "service", start, until, story, "cost to serve above the margin"))
    broken = sorted(t.broken_at for t in c.truth if t.broken_at is not None)
    for start, until in pattern_episodes(broken, c.end, policy):
        derived.append(Truth(PATTERN, c.id, "pattern", start, until, story, f"{len(broken)} broken promises"))
    for truth in derived:
        if truth.kind not in c.scenarios:
            if story == "clean":
                raise AssertionError(f"{c.id}: a clean customer has {truth.kind} ({truth.key})")
            world.interactions.append(truth)
    c.truth.extend(derived)
    for truth in c.truth:
        if truth.start < c.end:
            if truth.end is not None and truth.end >= c.end:
                truth.end = None
            world.truth.append(truth)
    planted_keys = {(t.kind, t.key) for t in c.truth}
    world.near.extend(n for n in c.near if (n.kind, n.key) not in planted_keys)


def _disorder(world: World, rng: random.Random) -> list[dict[str, Any]]:
    """Event-time order, with some events late by less than the grace and a few sent twice."""
    rows: list[tuple[int, int, dict[str, Any]]] = []
    serial = 0
    for customer in world.customers:
        for at, document in customer.events:
            late = rng.randrange(1, LATE_BY_MS) if rng.random() < LATE_SHARE else 0
            serial += 1
            rows.append((at + late, serial, document))
            if rng.random() < RETRY_SHARE:
                serial += 1
                rows.append((at + late + rng.randrange(1000, 5 * MINUTE), serial, document))
    rows.sort(key=lambda row: (row[0], row[1]))
    return [document for _, _, document in rows]


def write_world(world: World, out: Path, *, customers: int, months: int) -> dict[str, Any]:
    """Write the world's files into ``out``; return the summary written to world.json."""
    out.mkdir(parents=True, exist_ok=True)
    with (out / "events.jsonl").open("wb") as handle:
        for document in world.stream:
            handle.write(orjson.dumps(document) + b"\n")
    write_catalog(out / "plans.toml")
    truth = sorted(world.truth, key=lambda t: (t.start, t.customer_id, t.kind, t.key))
    with (out / "truth.jsonl").open("wb") as handle:
        for item in truth:
            handle.write(orjson.dumps(item.as_json(alert_id_for(item.kind, item.customer_id, item.key))) + b"\n")
    with (out / "near_misses.jsonl").open("wb") as handle:
        for near in sorted(world.near, key=lambda n: (n.kind, n.customer_id, n.key)):
            handle.write(
                orjson.dumps(
                    {
                        "kind": near.kind,
                        "customer_id": near.customer_id,
                        "key": near.key,
                        "alert_id": alert_id_for(near.kind, near.customer_id, near.key),
                        "scenario": near.scenario,
                        "note": near.note,
                    }
                )
                + b"\n"
            )
    events = sum(len(c.events) for c in world.customers)
    summary = {
        "seed": world.seed,
        "customers": customers,
        "months": months,
        "window_start": format_ms(world.window_start),
        "end": format_ms(world.end),
        "events": events,
        "published": len(world.stream),
        "retries": len(world.stream) - events,
        "truth": dict(sorted(Counter(t.kind for t in world.truth).items())),
        "near_misses": dict(sorted(Counter(n.kind for n in world.near).items())),
        "stories": dict(sorted(Counter(c.scenarios[0] for c in world.customers if c.scenarios).items())),
        "interactions": [
            {"kind": t.kind, "customer_id": t.customer_id, "key": t.key, "story": t.scenario}
            for t in world.interactions
        ],
        "policy": "defaults (models.policy.Policy)",
    }
    (out / "world.json").write_bytes(orjson.dumps(summary, option=orjson.OPT_INDENT_2))
    return summary

"""streams.tools.simulate (fairwatch simulate) and the scoring of streams.tools.evaluate: pure, no broker."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from models.alerts import alert_id_for
from models.events import TOPIC_OF_TYPE, decode_event
from models.policy import Policy
from models.timestamps import MS_PER_DAY, add_months, format_ms, parse_rfc3339
from streams.tools.evaluate import KINDS, load_truth, run_in_process, score
from streams.tools.simulate import MIN_CUSTOMERS, generate, write_world
from streams.tools.simulate.rules import best_tariff_episodes, pattern_episodes, service_episodes
from streams.tools.simulate.scenarios import SCENARIOS

END = parse_rfc3339("2026-10-01T00:00:00Z")


@pytest.fixture(scope="module")
def world_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("world")
    write_world(generate(100, 12, 7, END), out, customers=100, months=12)
    return out


def _lines(path: Path) -> list[bytes]:
    return [line for line in path.read_bytes().splitlines() if line.strip()]


def test_the_same_seed_gives_the_same_world_byte_for_byte(tmp_path: Path) -> None:
    for name in ("a", "b"):
        write_world(generate(80, 9, 3, END), tmp_path / name, customers=80, months=9)
    for file in ("events.jsonl", "truth.jsonl", "near_misses.jsonl", "plans.toml", "world.json"):
        assert (tmp_path / "a" / file).read_bytes() == (tmp_path / "b" / file).read_bytes(), file
    write_world(generate(80, 9, 4, END), tmp_path / "c", customers=80, months=9)
    assert (tmp_path / "c" / "events.jsonl").read_bytes() != (tmp_path / "a" / "events.jsonl").read_bytes()


def test_every_kind_is_planted_and_every_story_told(world_dir: Path) -> None:
    summary, truth, near = load_truth(world_dir)
    assert sorted({item["kind"] for item in truth}) == sorted(KINDS)
    assert set(summary["stories"]) == {name for name, _ in SCENARIOS}
    assert summary["interactions"] == []  # no condition the stories did not intend
    assert {item["kind"] for item in near} == set(KINDS)  # a near-miss for every kind
    for item in truth:
        assert item["alert_id"] == alert_id_for(item["kind"], item["customer_id"], item["key"])
        assert parse_rfc3339(item["becomes_true"]) <= END
        assert item["clears"] is None or parse_rfc3339(item["becomes_true"]) < parse_rfc3339(item["clears"]) < END


def test_near_misses_sit_on_the_thresholds(world_dir: Path) -> None:
    _, _, near = load_truth(world_dir)
    stories = {item["scenario"] for item in near}
    for expected in (
        "nm_better_plan_4_99",
        "nm_delivered_minute_early",
        "nm_price_rise_30_days",
        "nm_better_plan_new_only",
        "nm_complaint_on_the_dot",
        "nm_unprofitable_exactly_50",
        "nm_broken_spread",
        "nm_loyalty_9_96_percent",
    ):
        assert expected in stories
    events = [orjson.loads(line) for line in _lines(world_dir / "events.jsonl")]
    rises = [
        e
        for e in events
        if e["type"] == "price.change_notified"
        and e["customer_id"] in {n["customer_id"] for n in near if n["scenario"] == "nm_price_rise_30_days"}
    ]
    assert rises
    for rise in rises:
        notice = parse_rfc3339(rise["data"]["effective_at"]) - parse_rfc3339(rise["occurred_at"])
        assert notice == int(Policy().price_rise_notice_days * MS_PER_DAY)


def test_events_are_valid_in_time_order_within_the_grace_and_before_the_end(world_dir: Path) -> None:
    grace = int(Policy().grace_minutes * 60_000)
    newest = 0
    ids: dict[str, bytes] = {}
    retries = 0
    for line in _lines(world_dir / "events.jsonl"):
        document = orjson.loads(line)
        event = decode_event(TOPIC_OF_TYPE[document["type"]], document["customer_id"].encode(), line)
        assert event.at < END
        assert event.at > newest - grace  # late, but never by the grace or more
        newest = max(newest, event.at)
        if event.event_id in ids:
            assert ids[event.event_id] == line  # a retry is the very same message
            retries += 1
        ids[event.event_id] = line
    summary = orjson.loads((world_dir / "world.json").read_bytes())
    assert retries == summary["retries"] > 0


def test_a_world_replayed_in_process_scores_perfectly(world_dir: Path) -> None:
    summary, truth, near = load_truth(world_dir)
    result = score(run_in_process(world_dir), truth, near, parse_rfc3339(summary["end"]))
    assert result["mismatches"] == []
    assert result["totals"]["tp"] == len({item["alert_id"] for item in truth})
    assert result["totals"]["clears_on_time"] == result["totals"]["clears_expected"] > 0


def test_worlds_too_small_are_refused() -> None:
    with pytest.raises(ValueError):
        generate(MIN_CUSTOMERS - 1, 12, 1, END)
    with pytest.raises(ValueError):
        generate(100, 3, 1, END)


# --- the generator's own rules ------------------------------------------------------------


def test_best_tariff_rule_due_from_anniversary_until_the_notice() -> None:
    policy = Policy()
    start = parse_rfc3339("2025-01-10T00:00:00Z")
    anniversary = add_months(start, 12)
    told = anniversary + 20 * MS_PER_DAY
    assert best_tariff_episodes(start, None, [("best_tariff", told)], None, END, policy) == [(anniversary, told)]
    on_time = [("best_tariff", anniversary)]
    assert best_tariff_episodes(start, None, on_time, None, anniversary + 300 * MS_PER_DAY, policy) == []
    term_end = add_months(start, 12)
    opens = term_end - 40 * MS_PER_DAY
    assert best_tariff_episodes(
        start, term_end, [("contract_end", opens + MS_PER_DAY)], opens + 2 * MS_PER_DAY, END, policy
    ) == [(opens, opens + MS_PER_DAY)]


def test_pattern_rule_counts_three_within_ninety_days_excluding_the_ninetieth() -> None:
    policy, day = Policy(), MS_PER_DAY
    t = parse_rfc3339("2026-01-01T00:00:00Z")
    assert pattern_episodes([t, t + 45 * day, t + 90 * day], END, policy) == []
    assert pattern_episodes([t, t + 30 * day, t + 60 * day], END, policy) == [(t + 60 * day, t + 90 * day)]


def test_service_rule_needs_more_than_fifty_over_the_margin() -> None:
    def month(minutes: int) -> list[dict]:
        at = "2026-03-02T10:00:00Z"
        return [
            {"type": "payment.received", "occurred_at": at, "data": {"amount": 100.0}},
            {"type": "contact.logged", "occurred_at": "2026-03-20T10:00:00Z", "data": {"handling_minutes": minutes}},
        ]

    april = parse_rfc3339("2026-04-01T00:00:00Z")
    assert service_episodes(month(80), END, Policy()) == []
    assert service_episodes(month(81), END, Policy()) == [(april, None)]


# --- scoring ---------------------------------------------------------------------------------------


def _alert(kind: str, customer: str, key: str, at: int, lifecycle: str = "raised", revision: int = 1) -> dict:
    return {
        "type": f"fairwatch.alert.{lifecycle}",
        "time": format_ms(at),
        "data": {
            "alert_id": alert_id_for(kind, customer, key),
            "revision": revision,
            "kind": kind,
            "customer_id": customer,
        },
    }


def _truth(kind: str, customer: str, key: str, at: int, clears: int | None = None) -> dict:
    return {
        "kind": kind,
        "customer_id": customer,
        "key": key,
        "alert_id": alert_id_for(kind, customer, key),
        "becomes_true": format_ms(at),
        "clears": None if clears is None else format_ms(clears),
        "scenario": "t",
    }


def test_score_counts_true_and_false_positives_misses_lag_and_clears() -> None:
    kind, t = "promise.late_delivery", parse_rfc3339("2026-05-01T00:00:00Z")
    truth = [_truth(kind, "c-1", "o-1", t, t + 1000), _truth(kind, "c-2", "o-2", t)]
    alerts = [
        _alert(kind, "c-1", "o-1", t + 60_000),
        _alert(kind, "c-1", "o-1", t + 1000, "resolved", 2),
        _alert(kind, "c-3", "o-3", t),  # nobody planted it
        _alert(kind, "c-2", "o-2", END + 1),  # after the world's end: not counted
    ]
    near = [
        {
            "kind": kind,
            "customer_id": "c-3",
            "key": "o-3",
            "alert_id": alert_id_for(kind, "c-3", "o-3"),
            "scenario": "nm",
        }
    ]
    row = score(alerts, truth, near, END)["kinds"][kind]
    assert (row["tp"], row["fp"], row["fn"]) == (1, 1, 1)
    assert (row["precision"], row["recall"]) == (0.5, 0.5)
    assert row["lag_max_s"] == 60.0
    assert (row["clears_expected"], row["clears_on_time"]) == (1, 1)
    assert row["near_misses_alerted"] == 1

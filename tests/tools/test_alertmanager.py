"""streams.tools.alertmanager without a network: settings, redaction, and the delivery rounds with a stand-in post."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import pytest

from models.notifications import ROLLUP_KIND
from streams.config import ConfigError
from streams.tools import alertmanager as bridge_module
from streams.tools.alertmanager import AlertmanagerBridge, _DeliveryError, _Target, load_bridge_settings, redact
from tests.support.alert_documents import emission

ENV = {"FAIRWATCH_ALERTMANAGER_URL": "http://am-1:9093/, http://ops:s3cret@am-2:9093"}


def test_settings_from_the_environment() -> None:
    settings = load_bridge_settings(
        {
            **ENV,
            "FAIRWATCH_APP_ID": "shop",
            "FAIRWATCH_ALERTMANAGER_INTERVAL": "15",
            "FAIRWATCH_PUBLIC_URL": "https://fairwatch.example/",
        }
    )
    assert settings.urls == ("http://am-1:9093", "http://ops:s3cret@am-2:9093")
    assert settings.group_id == "shop-alertmanager"
    assert (settings.interval, settings.ttl) == (15.0, 60.0)
    assert settings.page_url == "https://fairwatch.example"
    assert settings.metrics_port == 6070
    assert settings.retention_days == 400


def test_defaults_link_to_the_local_worker_page() -> None:
    settings = load_bridge_settings({"FAIRWATCH_ALERTMANAGER_URL": "http://am:9093"})
    assert settings.page_url == "http://127.0.0.1:6066"
    assert settings.interval == 60.0


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "FAIRWATCH_ALERTMANAGER_URL is not set"),
        ({"FAIRWATCH_ALERTMANAGER_URL": " , "}, "FAIRWATCH_ALERTMANAGER_URL is not set"),
        ({"FAIRWATCH_ALERTMANAGER_URL": "am:9093"}, "is not an http(s) URL"),
        ({**ENV, "FAIRWATCH_ALERTMANAGER_INTERVAL": "soon"}, "FAIRWATCH_ALERTMANAGER_INTERVAL"),
        ({**ENV, "FAIRWATCH_ALERTMANAGER_INTERVAL": "0"}, "must be positive"),
        ({**ENV, "FAIRWATCH_ALERTMANAGER_METRICS_PORT": "x"}, "FAIRWATCH_ALERTMANAGER_METRICS_PORT"),
    ],
)
def test_bad_settings_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_bridge_settings(env)


def test_a_password_in_the_url_never_reaches_a_message() -> None:
    with pytest.raises(ConfigError) as raised:
        load_bridge_settings({"FAIRWATCH_ALERTMANAGER_URL": "ftp://ops:s3cret@am:9093"})
    assert "s3cret" not in str(raised.value)
    assert redact("http://ops:s3cret@am-2:9093") == "http://am-2:9093"
    target = _Target.of("http://ops:s3cret@am-2:9093")
    assert (target.url, target.name) == ("http://am-2:9093", "http://am-2:9093")
    assert base64.b64decode(target.headers["Authorization"].removeprefix("Basic ")) == b"ops:s3cret"


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def make_bridge(urls: str = "http://am-1:9093") -> tuple[AlertmanagerBridge, Clock, list[tuple[str, list]]]:
    clock = Clock()
    settings = load_bridge_settings({"FAIRWATCH_ALERTMANAGER_URL": urls, "FAIRWATCH_ALERTMANAGER_INTERVAL": "10"})
    bridge = AlertmanagerBridge(settings, clock=clock)
    posts: list[tuple[str, list]] = []
    down: set[str] = set()

    async def post(target: _Target, alerts: list[dict[str, Any]]) -> None:
        if target.url in down:
            raise _DeliveryError("unreachable", "ClientConnectorError")
        posts.append((target.url, alerts))

    bridge._post = post  # type: ignore[method-assign]
    bridge.down = down  # type: ignore[attr-defined]
    bridge.posts = posts  # type: ignore[attr-defined]
    return bridge, clock, posts


def fold(bridge: AlertmanagerBridge, *emissions: Any, at: float) -> None:
    for one in emissions:
        bridge.alerts.apply(one, 0, int(at * 1000))
    bridge._distribute()


def round_(bridge: AlertmanagerBridge) -> dict[str, list[dict[str, Any]]]:
    """One delivery round; what each Alertmanager was sent in it, all its posts in order."""
    posts: list[tuple[str, list]] = bridge.posts  # type: ignore[attr-defined]
    already = len(posts)

    async def attempt() -> None:
        await asyncio.gather(*(bridge._attempt(target) for target in bridge.targets))

    asyncio.run(attempt())
    sent: dict[str, list[dict[str, Any]]] = {}
    for url, alerts in posts[already:]:
        sent.setdefault(url, []).extend(alerts)
    return sent


def states(alerts: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(a["labels"]["alert_id"], a["endsAt"]) for a in alerts]


def test_first_round_posts_everything_then_only_changes_then_everything_every_interval() -> None:
    bridge, clock, posts = make_bridge()
    fold(bridge, emission("a"), emission("b"), at=clock.now)
    sent = round_(bridge)["http://am-1:9093"]
    assert sorted(aid for aid, _ in states(sent)) == ["a", "b"]
    assert {ends for _, ends in states(sent)} == {"2027-01-15T08:00:40Z"}  # four intervals ahead
    assert round_(bridge) == {}  # nothing changed, the interval has not passed
    clock.now += 1
    fold(bridge, emission("c"), at=clock.now)
    assert [aid for aid, _ in states(round_(bridge)["http://am-1:9093"])] == ["c"]
    clock.now += 10
    assert sorted(aid for aid, _ in states(round_(bridge)["http://am-1:9093"])) == ["a", "b", "c"]
    assert len(posts) == 3


def test_a_resolution_is_posted_first_with_ends_at_when_it_resolved() -> None:
    bridge, clock, _posts = make_bridge()
    fold(bridge, emission("a"), at=clock.now)
    round_(bridge)
    clock.now += 2
    fold(bridge, emission("a", 2, "resolved"), emission("b"), at=clock.now - 1)
    sent = round_(bridge)["http://am-1:9093"]
    assert states(sent) == [("a", "2027-01-15T08:00:01Z"), ("b", "2027-01-15T08:00:42Z")]


def test_an_unreachable_alertmanager_is_retried_with_backoff_and_told_everything_when_back() -> None:
    bridge, clock, _posts = make_bridge("http://am-1:9093,http://am-2:9093")
    bridge.down.add("http://am-2:9093")  # type: ignore[attr-defined]
    failures = bridge_module.POST_FAILURES.labels("http://am-2:9093", "unreachable")
    before = failures._value.get()
    fold(bridge, emission("a"), emission("b"), at=clock.now)
    assert list(round_(bridge)) == ["http://am-1:9093"]  # one down never holds up the other
    am_1, am_2 = bridge.targets
    assert (am_2.failures, am_2.backoff, am_2.pending()) == (1, 0.5, 2)
    round_(bridge)  # within the backoff: no attempt
    assert (am_2.failures, failures._value.get() - before) == (1, 1)
    backoffs = []
    for _ in range(6):
        clock.now = am_2.retry_at
        round_(bridge)
        backoffs.append(am_2.backoff)
    assert backoffs == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]  # doubling, capped at the interval
    assert failures._value.get() - before == 7
    fold(bridge, emission("a", 2, "resolved"), at=clock.now)
    bridge.down.clear()  # type: ignore[attr-defined]
    clock.now = am_2.retry_at
    told = round_(bridge)["http://am-2:9093"]
    assert sorted(aid for aid, _ in states(told)) == ["a", "b"]  # a's resolution and all that is open
    assert (am_2.failures, am_2.pending(), am_2.needs_full) == (0, 0, False)
    assert am_1.pending() == 0


def test_a_refused_alert_is_dropped_alone() -> None:
    bridge, clock, posts = make_bridge()

    async def post(target: _Target, alerts: list[dict[str, Any]]) -> None:
        if any(a["labels"]["alert_id"] == "bad" for a in alerts):
            raise _DeliveryError("rejected", "HTTP 400 start time must be before end time")
        posts.append((target.url, alerts))

    bridge._post = post  # type: ignore[method-assign]
    fold(bridge, emission("good-1"), emission("bad"), emission("good-2"), at=clock.now)
    round_(bridge)
    assert sorted(aid for _, alerts in posts for aid, _ in states(alerts)) == ["good-1", "good-2"]
    assert bridge.targets[0].failures == 0


def test_the_promises_a_pattern_counts_go_out_rolled_up() -> None:
    bridge, clock, _posts = make_bridge()
    parts = [emission(f"late-{n}") for n in (1, 2, 3)]
    pattern = emission("pattern", kind=ROLLUP_KIND, evidence=("late-1", "late-2", "late-3"), amount=0)
    fold(bridge, *parts, pattern, at=clock.now)
    sent = round_(bridge)["http://am-1:9093"]
    # The label sets the parts had before the pattern counted them are ended first (never posted:
    # harmless, Alertmanager notifies nothing for a group that never fired), then all fire.
    firing = [a for a in sent if a["endsAt"] > "2027-01-15T08:00:00Z"]
    labels = {a["labels"]["alert_id"]: a["labels"] for a in firing}
    assert sorted(labels) == ["late-1", "late-2", "late-3", "pattern"]
    assert {aid for aid, lab in labels.items() if lab.get("rolled_up") == "true"} == {"late-1", "late-2", "late-3"}

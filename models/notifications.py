"""What Prometheus Alertmanager is told about the alerts (SPEC §6): the open alerts and their payloads.

Pure: alert emissions read back from the topic (``models.ledger.read_emission``)
go in, Alertmanager's ``/api/v2/alerts`` documents come out. The bridge
(``streams/tools/alertmanager.py``) does the I/O around it.

Alertmanager knows an alert by its label set, not by fairwatch's ``alert_id``.
So a firing alert is re-posted with an ``endsAt`` ahead for as long as it is open
(as Prometheus does), and when it resolves its last label set is posted once more
with ``endsAt`` = when it resolved. A label set that changes while the alert
stays open (an update that raises the severity; a broken promise that a
``relationship.repeated_broken_promises`` alert now counts, so it carries
``rolled_up="true"``) is a new alert to Alertmanager: the old label set is ended
the same way, with the annotation ``superseded`` saying why, or it would stay
firing until its ``endsAt``.

The CRM's answers (SPEC §1 feedback): an alert closed or disputed is not notified
again. Its label set is ended the same way, with the annotation ``feedback`` saying
who closed or disputed it, and it is held like a resolved one, so only a later
``updated`` (the condition changed materially) or ``raised`` (it resolved and came
back) opens it again. An acknowledged alert stays firing: someone owns it, it is
not put right yet.

Which promises a pattern counts: the repeated-promises detector lists the alert
ids it counted as its evidence (``models/detectors/repeated_broken_promises.py``),
and a customer's alerts all share the customer's partition, so the pattern and
its parts are read in the order the worker emitted them.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import quote

# ROLLUP_KIND: the alert whose evidence names the broken promises it rolls up (inhibited by
# ops/alertmanager/alertmanager.yml).
from models.kinds import ROLLUP_KIND
from models.ledger import Emission, money_text
from models.timestamps import MS_PER_DAY, format_ms

__all__ = [
    "ROLLUP_KIND",
    "FAMILIES",
    "QUIETING",
    "Ending",
    "OpenAlert",
    "OpenAlerts",
    "alert_labels",
    "alert_annotations",
    "customer_url",
    "to_alertmanager",
]

FAMILIES = ("overpaying", "promise", "relationship")
#: The CRM's answers that stop an alert's notifications.
QUIETING = frozenset(("closed", "disputed"))
_PER_TEXT = {"year": "per year", "once": "once"}


@dataclass(slots=True)
class OpenAlert:
    """An alert that is raised and not resolved: its latest emission, and where and when it was read."""

    emission: Emission
    partition: int
    #: Wall-clock ms of the record that raised the current episode: Alertmanager's ``startsAt``.
    since: int


@dataclass(frozen=True, slots=True)
class Ending:
    """A label set to post once with ``endsAt`` in the past: the alert resolved, or its labels changed."""

    alert_id: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    generator_url: str
    starts_at: int  # wall-clock ms
    ends_at: int  # wall-clock ms
    partition: int

    def payload(self) -> dict[str, Any]:
        return {
            "labels": dict(self.labels),
            "annotations": dict(self.annotations),
            "generatorURL": self.generator_url,
            "startsAt": format_ms(min(self.starts_at, self.ends_at)),
            "endsAt": format_ms(self.ends_at),
        }


def customer_url(page_url: str, customer_id: str) -> str:
    """The customer's page on the worker's web port (``generatorURL``)."""
    return f"{page_url.rstrip('/')}/customers/{quote(customer_id, safe='')}"


def alert_labels(emission: Emission, *, rolled_up: bool = False) -> dict[str, str]:
    """What Alertmanager routes, groups, inhibits and silences on; the identity of the alert there."""
    labels = {
        "alertname": emission.kind,
        "customer_id": emission.customer_id,
        "severity": emission.severity,
        "alert_id": emission.alert_id,
        "family": emission.kind.partition(".")[0],
    }
    if rolled_up:
        labels["rolled_up"] = "true"
    return labels


def alert_annotations(emission: Emission, *, rolled_up_into: str | None = None) -> dict[str, str]:
    """What a person reads: the summary, the action, the money at stake, the evidence."""
    amount = money_text(emission.amount)
    per = _PER_TEXT.get(emission.per, emission.per)
    annotations = {
        "summary": emission.summary,
        "action": emission.suggested_action,
        "impact": f"{emission.currency} {amount} {per}",
        "impact_amount": amount,
        "impact_currency": emission.currency,
        "impact_per": emission.per,
        "evidence": ", ".join(emission.evidence),
        "event_time": format_ms(emission.at),
        "cloudevent_id": emission.id,
    }
    if rolled_up_into:
        annotations["rolled_up_into"] = rolled_up_into
    return annotations


def to_alertmanager(
    emission: Emission, *, starts_at: int, ends_at: int, page_url: str, rolled_up_into: str | None = None
) -> dict[str, Any]:
    """One alert as ``POST /api/v2/alerts`` takes it (a list of these); times are wall-clock ms."""
    return {
        "labels": alert_labels(emission, rolled_up=rolled_up_into is not None),
        "annotations": alert_annotations(emission, rolled_up_into=rolled_up_into),
        "generatorURL": customer_url(page_url, emission.customer_id),
        "startsAt": format_ms(min(starts_at, ends_at)),
        "endsAt": format_ms(ends_at),
    }


@dataclass(slots=True)
class _Seen:
    revision: int
    at: int  # event time of that revision
    partition: int = -1


@dataclass(slots=True)
class OpenAlerts:
    """The open alerts read from the alert topic, and what changed for Alertmanager since it was last told.

    ``apply`` folds one emission. ``dirty`` holds the alert ids whose firing
    payload changed and ``endings`` the label sets to end, until the bridge takes
    them (``take_changes``). Stale emissions (a revision not above the one held:
    a re-send after a crash) change nothing. The revisions of resolved alerts are
    kept for ``max_resolved`` alerts, so a stale re-send cannot open one again;
    a revision that starts again at 1 more than ``retention_days`` after the last
    one is the worker having forgotten the alert (models/alerts.py), and counts as new.
    """

    page_url: str
    retention_days: float = 400.0
    max_resolved: int = 100_000
    open: dict[str, OpenAlert] = field(default_factory=dict)
    dirty: set[str] = field(default_factory=set)
    endings: list[Ending] = field(default_factory=list)
    #: alert id of a counted promise -> alert id of the open pattern alert counting it.
    _rolled_into: dict[str, str] = field(default_factory=dict)
    #: alert id of an open pattern alert -> the promise alert ids its latest emission counts.
    _counts: dict[str, tuple[str, ...]] = field(default_factory=dict)
    _resolved: OrderedDict[str, _Seen] = field(default_factory=OrderedDict)
    #: alert id -> its payload without ``endsAt``: every open alert is posted again every interval, and
    #: building a payload (money, times, URL) costs tens of microseconds; rebuilt when the alert changes.
    _described: dict[str, dict[str, Any]] = field(default_factory=dict)

    def apply(self, emission: Emission, partition: int, received_at: int) -> bool:
        """Fold one emission read at wall-clock ``received_at`` (ms); False when it was stale."""
        if not self._is_new(emission):
            return False
        if emission.lifecycle in ("raised", "updated"):
            self._fire(emission, partition, received_at)
        elif emission.lifecycle == "resolved":
            self._resolve(emission, partition, received_at)
        elif emission.lifecycle in QUIETING:
            self._quiet(emission, partition, received_at)
        else:
            # A lifecycle this bridge does not notify on (acknowledged): keep the revision, nothing to post.
            current = self.open.get(emission.alert_id)
            if current is not None:
                current.emission = _with_revision(current.emission, emission)
            elif emission.alert_id in self._resolved:
                self._resolved[emission.alert_id].revision = emission.revision
        return True

    def firing(self, ends_at: int, alert_ids: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """The payloads of the open alerts (all, or those of ``alert_ids`` still open), firing until ``ends_at``."""
        chosen = self.open if alert_ids is None else (aid for aid in alert_ids if aid in self.open)
        until = format_ms(ends_at)
        return [self._payload(self.open[alert_id], ends_at, until) for alert_id in chosen]

    def take_changes(self) -> tuple[set[str], list[Ending]]:
        """The changed alert ids and the endings since the last call; the set starts afresh."""
        dirty, self.dirty = self.dirty, set()
        endings, self.endings = self.endings, []
        return dirty, endings

    def forget_partitions(self, partitions: Iterable[int]) -> None:
        """Drop what was read from ``partitions`` (another bridge owns them now); nothing is ended."""
        gone = set(partitions)
        for alert_id in [aid for aid, alert in self.open.items() if alert.partition in gone]:
            del self.open[alert_id]
            self.dirty.discard(alert_id)
            self._counts.pop(alert_id, None)
            self._described.pop(alert_id, None)
        for part in [part for part, whole in self._rolled_into.items() if whole not in self.open]:
            del self._rolled_into[part]
            self._described.pop(part, None)
        self.endings = [ending for ending in self.endings if ending.partition not in gone]
        # Read again from the beginning, their resolutions make their endings again (one still undelivered
        # when the partition left must not be lost).
        for alert_id in [aid for aid, seen in self._resolved.items() if seen.partition in gone]:
            del self._resolved[alert_id]

    def _is_new(self, emission: Emission) -> bool:
        held = self.open.get(emission.alert_id)
        seen = _Seen(held.emission.revision, held.emission.at) if held else self._resolved.get(emission.alert_id)
        if seen is None or emission.revision > seen.revision:
            return True
        return emission.revision == 1 and emission.at - seen.at > self.retention_days * MS_PER_DAY

    def _fire(self, emission: Emission, partition: int, received_at: int) -> None:
        alert_id = emission.alert_id
        before = self.open.get(alert_id)
        old_payload = self._payload(before, 0) if before else None
        since = before.since if before and emission.lifecycle == "updated" else received_at
        self.open[alert_id] = OpenAlert(emission, partition, since)
        self._described.pop(alert_id, None)
        self._resolved.pop(alert_id, None)
        self.dirty.add(alert_id)
        if old_payload is not None:
            self._end_if_relabelled(alert_id, old_payload, before, received_at)
        if emission.kind == ROLLUP_KIND:
            self._count(alert_id, emission.evidence, received_at)

    def _resolve(self, emission: Emission, partition: int, received_at: int) -> None:
        alert_id = emission.alert_id
        current = self.open.pop(alert_id, None)
        self._described.pop(alert_id, None)
        self._resolved[alert_id] = _Seen(emission.revision, emission.at, partition)
        self._resolved.move_to_end(alert_id)
        while len(self._resolved) > self.max_resolved:
            self._resolved.popitem(last=False)
        self.dirty.discard(alert_id)
        if current is None:
            return  # resolved before this bridge saw it open: nothing was posted
        # The resolving emission's words (its summary says why it cleared) under the labels Alertmanager knows.
        payload = self._payload(current, received_at)
        rolled_up_into = self._rolled_into.get(alert_id)
        annotations = alert_annotations(emission, rolled_up_into=rolled_up_into)
        self.endings.append(
            Ending(
                alert_id,
                payload["labels"],
                annotations,
                payload["generatorURL"],
                current.since,
                received_at,
                partition,
            )
        )
        if emission.kind == ROLLUP_KIND:
            self._count(alert_id, (), received_at)
        self._rolled_into.pop(alert_id, None)

    def _quiet(self, emission: Emission, partition: int, received_at: int) -> None:
        """Closed or disputed by the CRM: ended in Alertmanager and held as resolved, so not notified again."""
        alert_id = emission.alert_id
        current = self.open.pop(alert_id, None)
        self._described.pop(alert_id, None)
        self.dirty.discard(alert_id)
        self._resolved[alert_id] = _Seen(emission.revision, emission.at, partition)
        self._resolved.move_to_end(alert_id)
        while len(self._resolved) > self.max_resolved:
            self._resolved.popitem(last=False)
        if current is None:
            return  # resolved or quieted already: nothing firing to end
        payload = self._payload(current, received_at)
        self.endings.append(
            Ending(
                alert_id,
                payload["labels"],
                {**payload["annotations"], "feedback": emission.summary},
                payload["generatorURL"],
                current.since,
                received_at,
                partition,
            )
        )
        if emission.kind == ROLLUP_KIND:
            self._count(alert_id, (), received_at)
        self._rolled_into.pop(alert_id, None)

    def _count(self, pattern_id: str, evidence: Iterable[str], received_at: int) -> None:
        """The pattern now counts ``evidence``: the promises entering or leaving it change their labels."""
        counted = tuple(evidence) if pattern_id in self.open else ()
        before = set(self._counts.pop(pattern_id, ()))
        if counted:
            self._counts[pattern_id] = counted
        changed = before.symmetric_difference(counted)
        old = {aid: self._payload(self.open[aid], 0) for aid in changed if aid in self.open}
        for part in before - set(counted):
            if self._rolled_into.get(part) == pattern_id:
                del self._rolled_into[part]
        for part in counted:
            self._rolled_into[part] = pattern_id
        for part in changed:
            self._described.pop(part, None)
        for part, old_payload in old.items():
            self.dirty.add(part)
            self._end_if_relabelled(part, old_payload, self.open[part], received_at)

    def _end_if_relabelled(self, alert_id: str, old_payload: dict[str, Any], alert: OpenAlert, at: int) -> None:
        new_labels = self._payload(self.open[alert_id], 0)["labels"]
        if new_labels == old_payload["labels"]:
            return
        if new_labels.get("rolled_up") == "true":
            why = f"rolled up into {self._rolled_into[alert_id]}"
        elif old_payload["labels"].get("rolled_up") == "true":
            why = "no longer rolled up"
        else:
            why = "labels changed (severity)"
        annotations = {**old_payload["annotations"], "superseded": why}
        self.endings.append(
            Ending(
                alert_id,
                old_payload["labels"],
                annotations,
                old_payload["generatorURL"],
                alert.since,
                at,
                alert.partition,
            )
        )

    def _payload(self, alert: OpenAlert, ends_at: int, until: str | None = None) -> dict[str, Any]:
        alert_id = alert.emission.alert_id
        described = self._described.get(alert_id)
        if described is None:
            described = to_alertmanager(
                alert.emission,
                starts_at=alert.since,
                ends_at=alert.since,
                page_url=self.page_url,
                rolled_up_into=self._rolled_into.get(alert_id),
            )
            del described["endsAt"]
            self._described[alert_id] = described
        payload = {**described, "endsAt": until or format_ms(ends_at)}
        if ends_at < alert.since:
            payload["startsAt"] = payload["endsAt"]
        return payload


def _with_revision(held: Emission, newer: Emission) -> Emission:
    return replace(held, revision=newer.revision, id=newer.id)

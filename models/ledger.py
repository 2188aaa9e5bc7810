"""The alert ledger: alerts (CloudEvents, SPEC §2) folded into findings, and the figures drawn from them.

The one place that reads an alert back and adds up what fairwatch found; the live
page (agents/page.py) and ``fairwatch report`` (streams/tools/report.py) both use it,
so their figures agree by construction. Pure: plain values in, plain values out.

A *finding* is one alert_id at its latest revision: a consumer de-duplicates by
CloudEvents id (README), and an emission whose revision is not above the one held
is a re-send or stale, so revisions alone de-duplicate without keeping every id.
A finding is *open* unless its latest emission is ``resolved``; it belongs to the
month (event time, UTC) of the ``raised`` that opened its current episode.

Money is integer micro-units: an alert carries its amount as a JSON number
rounded to cents, which ``models.money.to_micros`` reads exactly, so every total
here is an exact sum of what the alerts said. Which money counts as what:

- *yearly overpayment* (bad profits): ``overpaying.*`` findings, ``per: year``;
- *one-off overcharges*: :data:`models.kinds.OVERCHARGE_KINDS` findings, ``per: once``,
  severity not ``info`` (an ``info`` billing error is an undercharge: the
  company's own loss, not the customer's);
- *at stake* is what open findings say; *found* counts resolved ones too;
- *put right* is what findings the CRM closed as ``fixed`` or ``refunded`` say.

The CRM's answers (``acknowledged``, ``closed``, ``disputed``: SPEC §1 feedback) are
emissions too. They move a finding's revision and its answers, not its condition:
it stays open until ``resolved``. Every emission of an alert with answers carries
them all (models.alerts), so a finding's answers are its latest emission's.
Times to acknowledge and to close are event time from the raise of the current
episode; the share disputed, per kind, is real-world precision's complement.
"""

from __future__ import annotations

import bisect
import heapq
import sys
from collections import deque
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import orjson

from models.alerts import FORGOTTEN_TYPE
from models.kinds import OVERCHARGE_KINDS
from models.money import to_micros
from models.timestamps import format_ms, parse_rfc3339, period_of

__all__ = [
    "OVERCHARGE_KINDS",
    "LIFECYCLES",
    "ANSWERS",
    "Answer",
    "answers_json",
    "Emission",
    "Finding",
    "Figures",
    "Ledger",
    "LedgerError",
    "read_emission",
    "money_text",
    "is_overpayment",
    "is_overcharge",
    "figures",
    "group",
    "headline",
    "top_customers",
    "open_promises",
    "select",
]

LIFECYCLES = ("raised", "updated", "resolved", "acknowledged", "closed", "disputed")
#: The lifecycles that are the CRM's answers, not changes of the condition.
ANSWERS = frozenset(("acknowledged", "closed", "disputed"))
#: Closing outcomes that put the customer's money or promise right.
PUT_RIGHT = frozenset(("fixed", "refunded"))
#: Revisions of one finding kept for the customer's timeline (its whole story is in the topic).
_HISTORY = 6
_CENT = Decimal("0.01")
#: One string object per lifecycle, however many emissions name it.
_LIFECYCLE = {name: name for name in LIFECYCLES}
#: No answers (most findings): one shared, read-only mapping rather than an empty dict each.
_NO_ANSWERS: Mapping[str, Answer] = MappingProxyType({})
# Where a history record (Finding._record) holds the detector's words and the emission's evidence.
_SUMMARY, _EVIDENCE, _ACTION, _DETAILS = 6, 11, 12, 13


class LedgerError(ValueError):
    """A document that is not a fairwatch alert; the message says why."""


@dataclass(frozen=True, slots=True)
class Emission:
    """One alert emission as read back from the topic."""

    id: str
    alert_id: str
    revision: int
    lifecycle: str
    kind: str
    customer_id: str
    severity: str
    summary: str
    amount: int  # micro-units
    currency: str
    per: str
    at: int  # the event time that triggered it, epoch ms
    evidence: tuple[str, ...]
    suggested_action: str
    details: Mapping[str, Any]
    #: The CRM's answers so far: ``{"acknowledged"|"closed"|"disputed": Answer}`` (empty: none).
    feedback: Mapping[str, Answer] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Answer:
    """One of the CRM's answers on an alert: who, when (event time, ms), and the outcome, note or reason."""

    by: str
    at: int
    text: str = ""


def _answers(value: Any) -> dict[str, Answer]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise LedgerError("feedback must be an object")
    answers = {}
    for name in ("acknowledged", "closed", "disputed"):
        answer = value.get(name)
        if answer is None:
            continue
        if not isinstance(answer, Mapping):
            raise LedgerError(f"feedback.{name} must be an object")
        text = answer.get("outcome") or answer.get("reason") or answer.get("note") or ""
        answers[name] = Answer(_text(answer, "by"), parse_rfc3339(answer.get("at")), str(text))
    return answers


_TEXT_FIELD = {"acknowledged": "note", "closed": "outcome", "disputed": "reason"}


def answers_json(answers: Mapping[str, Answer]) -> dict[str, Any]:
    """A finding's answers as the page and the story show them (times RFC 3339)."""
    shown = {}
    for name, answer in answers.items():
        entry: dict[str, Any] = {"by": answer.by, "at": format_ms(answer.at)}
        if answer.text:
            entry[_TEXT_FIELD[name]] = answer.text
        shown[name] = entry
    return shown


def read_emission(document: Any) -> Emission:
    """The emission a CloudEvents alert document carries; LedgerError if it is not one."""
    if not isinstance(document, Mapping):
        raise LedgerError("not a JSON object")
    data = document.get("data")
    if not isinstance(data, Mapping):
        raise LedgerError("no data object")
    lifecycle = _LIFECYCLE.get(str(document.get("type", "")).rpartition(".")[2])
    if lifecycle is None:
        raise LedgerError(f"unknown type {document.get('type')!r}")
    impact = data.get("impact")
    try:
        alert_id = _text(data, "alert_id")
        revision = data.get("revision")
        if revision is None:  # the SPEC's id is <alert_id>-<revision>
            revision = int(str(document.get("id", "")).rpartition("-")[2])
        if not isinstance(revision, int) or isinstance(revision, bool) or revision < 1:
            raise LedgerError("revision must be a positive integer")
        if not isinstance(impact, Mapping):
            raise LedgerError("no impact object")
        amount = to_micros(impact.get("amount"))
        per = impact.get("per")
        if per not in ("year", "once"):
            raise LedgerError(f"impact.per must be year or once, not {per!r}")
        at = parse_rfc3339(document.get("time"))
        evidence = data.get("evidence") or []
        if not isinstance(evidence, list):
            raise LedgerError("evidence must be a list")
        details = data.get("details") or {}
        return Emission(
            id=str(document.get("id") or f"{alert_id}-{revision}"),
            alert_id=alert_id,
            revision=revision,
            lifecycle=lifecycle,
            # The few kinds, severities, currencies and periods are repeated in every emission: one copy of each.
            kind=sys.intern(_text(data, "kind")),
            customer_id=_text(data, "customer_id"),
            severity=sys.intern(_text(data, "severity")),
            summary=str(data.get("summary", "")),
            amount=amount,
            currency=sys.intern(str(impact.get("currency", ""))),
            per="year" if per == "year" else "once",
            at=at,
            evidence=tuple(str(event_id) for event_id in evidence),
            suggested_action=str(data.get("suggested_action", "")),
            details=details if isinstance(details, Mapping) else {},
            feedback=_answers(data.get("feedback")),
        )
    except LedgerError:
        raise
    except (ValueError, TypeError) as exc:
        raise LedgerError(str(exc)) from None


def _text(data: Mapping[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value:
        raise LedgerError(f"{name} must be a non-empty string")
    return value


def _stage(details: Mapping[str, Any]) -> str:
    stage = details.get("status") or details.get("breach") or details.get("problem") or "open"
    return sys.intern(stage) if type(stage) is str else str(stage)


def _pack(notes: list[Any]) -> bytes | list[Any]:
    """A finding's notes as JSON bytes."""
    try:
        encoded = orjson.dumps(notes)
    except orjson.JSONEncodeError:
        # An integer beyond 64 bits (a revision read from an id) or text orjson cannot encode: kept as they are.
        return notes
    # orjson's bytes keep the 4 KiB buffer they were written in (orjson 3.13): a copy is the size of the text.
    return memoryview(encoded).tobytes()


def _unpack(notes: bytes | list[Any]) -> list[Any]:
    return orjson.loads(notes) if isinstance(notes, bytes) else notes


def _notes(evidence: list[str], words: list[Any] | None, records: list[list[Any]]) -> bytes | list[Any]:
    # Most findings rest on the evidence of their one emission: it is not written twice.
    return _pack([None if evidence == records[-1][_EVIDENCE] else evidence, words, *records])


def _words(record: list[Any]) -> list[Any]:
    return [record[_SUMMARY], record[_ACTION], record[_DETAILS]]


class Finding:
    """One alert_id at its latest revision, with when its current episode opened and closed.

    Held compactly, as a full ledger is ten thousand of them in every worker (issue 14): what the figures read is
    in slots, each kind, severity, currency and lifecycle one shared string; what only a customer's story and the
    page's oldest open promises read (the evidence, the detector's words and details, the history) is one JSON
    array of bytes, decoded on each read: about a third of what the same values take as Python objects.
    """

    __slots__ = (
        "_notes",
        "alert_id",
        "amount",
        "born",
        "currency",
        "customer_id",
        "feedback",
        "kind",
        "last_at",
        "lifecycle",
        "per",
        "raised_at",
        "resolved_at",
        "revision",
        "severity",
        "stage",
    )

    def __init__(self, emission: Emission) -> None:
        self.alert_id = emission.alert_id
        self.kind = emission.kind
        self.customer_id = emission.customer_id
        self.severity = emission.severity
        self.amount = emission.amount  # micro-units
        self.currency = emission.currency
        self.per = emission.per
        self.revision = emission.revision
        self.lifecycle = emission.lifecycle
        self.raised_at = emission.at
        self.resolved_at: int | None = emission.at if emission.lifecycle == "resolved" else None
        self.last_at = emission.at
        #: When the ledger first folded it (Ledger sets it): which of two findings alike in age it forgets first.
        self.born = 0
        #: The CRM's answers on the current episode (``acknowledged``, ``closed``, ``disputed``).
        self.feedback: Mapping[str, Answer] = emission.feedback or _NO_ANSWERS
        #: Where a promise stands (``details.status``, ``breach`` or ``problem``; ``open``): open_promises counts it.
        self.stage = _stage(emission.details)
        # An answer's evidence is the CRM's event, not a fact the finding rests on.
        evidence = [] if emission.lifecycle in ANSWERS else list(dict.fromkeys(emission.evidence))
        self._notes = _notes(evidence, None, [self._record(emission)])

    def fold(self, emission: Emission) -> None:
        """Take a newer revision of the same alert (the ledger has checked that it is newer)."""
        evidence, words, records = self._read()
        self.feedback = emission.feedback or _NO_ANSWERS
        if emission.lifecycle in ANSWERS:
            # The CRM's answer: the condition and its words stay as the detector last said them.
            self.revision, self.last_at = emission.revision, max(self.last_at, emission.at)
            if words is None:
                words = _words(records[-1])
        else:
            if emission.lifecycle == "raised":  # a new episode of the same condition
                self.raised_at = emission.at
            self.resolved_at = emission.at if emission.lifecycle == "resolved" else None
            self.severity, self.amount, self.currency, self.per = (
                emission.severity,
                emission.amount,
                emission.currency,
                emission.per,
            )
            self.revision, self.lifecycle, self.last_at = emission.revision, emission.lifecycle, emission.at
            self.stage = _stage(emission.details)
            words = None
            evidence += [event_id for event_id in dict.fromkeys(emission.evidence) if event_id not in evidence]
        records.append(self._record(emission))
        self._notes = _notes(evidence, words, records[-_HISTORY:])

    def _read(self) -> tuple[list[str], list[Any] | None, list[list[Any]]]:
        """The finding's evidence, the detector's words if not the latest record's, and the history records."""
        shown, words, *records = _unpack(self._notes)
        return list(records[-1][_EVIDENCE]) if shown is None else shown, words, records

    def _record(self, emission: Emission) -> list[Any]:
        # What the finding holds for ever (alert_id, kind, customer) is not repeated; nor is an id that is the SPEC's.
        return [
            None if emission.id == f"{emission.alert_id}-{emission.revision}" else emission.id,
            emission.revision,
            emission.lifecycle,
            None if emission.kind == self.kind else emission.kind,
            None if emission.customer_id == self.customer_id else emission.customer_id,
            emission.severity,
            emission.summary,
            emission.amount,
            emission.currency,
            emission.per,
            emission.at,
            list(emission.evidence),
            emission.suggested_action,
            dict(emission.details),
            {name: [answer.by, answer.at, answer.text] for name, answer in emission.feedback.items()} or None,
        ]

    def _emission(self, record: list[Any]) -> Emission:
        id_, revision, lifecycle, kind, customer_id, severity, summary, amount = record[:8]
        currency, per, at, evidence, action, details, answers = record[8:]
        return Emission(
            id=f"{self.alert_id}-{revision}" if id_ is None else id_,
            alert_id=self.alert_id,
            revision=revision,
            lifecycle=_LIFECYCLE[lifecycle],
            kind=self.kind if kind is None else kind,
            customer_id=self.customer_id if customer_id is None else customer_id,
            severity=severity,
            summary=summary,
            amount=amount,
            currency=currency,
            per=per,
            at=at,
            evidence=tuple(evidence),
            suggested_action=action,
            details=details,
            feedback={name: Answer(*answer) for name, answer in (answers or {}).items()},
        )

    def _words(self) -> list[Any]:
        """The detector's latest summary, suggested action and details."""
        _, words, records = self._read()
        return _words(records[-1]) if words is None else words

    @property
    def summary(self) -> str:
        return self._words()[0]

    @property
    def suggested_action(self) -> str:
        return self._words()[1]

    @property
    def details(self) -> Mapping[str, Any]:
        return self._words()[2]

    @property
    def evidence(self) -> list[str]:
        """The evidence of every revision but the CRM's answers, first seen first."""
        return list(self._read()[0])

    @property
    def history(self) -> list[Emission]:
        """The latest revisions (at most six), oldest first, decoded anew on each call."""
        return [self._emission(record) for record in self._read()[2]]

    @property
    def open(self) -> bool:
        return self.lifecycle != "resolved"

    @property
    def owner(self) -> str | None:
        """Who acknowledged it (closing or disputing unacknowledged takes ownership too)."""
        answer = self.feedback.get("acknowledged")
        return None if answer is None else answer.by

    @property
    def outcome(self) -> str | None:
        """How the CRM closed it (fixed, refunded, contacted, no_action), or ``disputed``; None: neither."""
        if "disputed" in self.feedback:
            return "disputed"
        closed = self.feedback.get("closed")
        return None if closed is None else closed.text

    @property
    def put_right(self) -> bool:
        return self.outcome in PUT_RIGHT

    def feedback_json(self) -> dict[str, Any]:
        """Owner, answers and the times to them, as the page, the story and the report show them."""
        acked, closed = self.time_to("acknowledged"), self.time_to("closed")
        return {
            "owner": self.owner,
            "answer": self.outcome or ("acknowledged" if self.owner else None),
            "feedback": answers_json(self.feedback),
            "time_to_acknowledge_hours": None if acked is None else round(acked / 3_600_000, 1),
            "time_to_close_hours": None if closed is None else round(closed / 3_600_000, 1),
        }

    def time_to(self, answer: str) -> int | None:
        """Event time from the raise to the answer (``acknowledged``, ``closed``); 0 when dated before it."""
        given = self.feedback.get(answer)
        return None if given is None else max(0, given.at - self.raised_at)

    @property
    def month(self) -> str:
        return period_of(self.raised_at)

    @property
    def time_to_resolve(self) -> int | None:
        """Event time from raised to resolved; 0 when the resolving event is dated before the raise (it arrived
        late: the condition was cleared as soon as it was known)."""
        return None if self.resolved_at is None else max(0, self.resolved_at - self.raised_at)


def is_overpayment(finding: Finding) -> bool:
    return finding.per == "year" and finding.kind.startswith("overpaying.")


def is_overcharge(finding: Finding) -> bool:
    return finding.per == "once" and finding.kind in OVERCHARGE_KINDS and finding.severity != "info"


def money_text(micros: int) -> str:
    """Exact decimal text of an amount, two places when it is whole cents (``1234.50``): JSON, CSV, tests."""
    value = Decimal(micros).scaleb(-6)
    cents = value.quantize(_CENT)
    return str(cents if cents == value else value.normalize())


@dataclass(frozen=True, slots=True)
class FeedEntry:
    seq: int
    emission: Emission


class Ledger:
    """Folds emissions, in any number, into findings; keeps a bounded feed of the newest emissions."""

    def __init__(self, feed_size: int = 500, max_findings: int | None = None) -> None:
        #: At most this many findings are kept (None: all); beyond it the ones resolved longest ago are
        #: forgotten first, then the open ones emitted longest ago.
        self.max_findings = max_findings
        self.forgotten = 0
        self.findings: dict[str, Finding] = {}
        #: customer_id -> the alert_ids of its findings (a list: a customer has a few, and a set costs 216 bytes).
        self.by_customer: dict[str, list[str]] = {}
        self.feed: deque[FeedEntry] = deque(maxlen=feed_size)
        self.seq = 0  # emissions folded (the feed's sequence numbers)
        self.stale = 0  # re-sent or out-of-date emissions ignored
        self.malformed = 0  # documents that were not alerts
        self.forgotten_customers = 0  # customers dropped on a forget notice
        #: For a bounded ledger, the order it forgets in: (open, last emission, born, alert_id) of each finding as
        #: each fold left it, a heap. A later fold or a forget makes an entry stale; it is skipped when popped.
        self._age: list[tuple[bool, int, int, str]] = []
        self._births = 0

    def add_document(self, document: Any) -> bool:
        """Fold a decoded alert document; False if it was malformed, a re-send or stale.

        A forget notice (``fairwatch.customer.forgotten``) drops everything held of that customer.
        """
        if isinstance(document, Mapping) and document.get("type") == FORGOTTEN_TYPE:
            data = document.get("data")
            customer_id = data.get("customer_id") if isinstance(data, Mapping) else None
            if not isinstance(customer_id, str):
                self.malformed += 1
                return False
            self.forget_customer(customer_id)
            return True
        try:
            emission = read_emission(document)
        except LedgerError:
            self.malformed += 1
            return False
        return self.add(emission)

    def add(self, emission: Emission) -> bool:
        """Fold one emission; False (and nothing changes) if its revision is not new."""
        finding = self.findings.get(emission.alert_id)
        if finding is not None and emission.revision <= finding.revision:
            self.stale += 1
            return False
        if finding is None:
            finding = Finding(emission)
            self._births += 1
            finding.born = self._births
            self.findings[emission.alert_id] = finding
            siblings = self.by_customer.get(emission.customer_id)
            if siblings is None:
                self.by_customer[emission.customer_id] = [emission.alert_id]
            else:  # one copy of the customer's id for all its findings (and the index's key)
                finding.customer_id = self.findings[siblings[0]].customer_id
                siblings.append(emission.alert_id)
        else:
            finding.fold(emission)
        self.seq += 1
        self.feed.append(FeedEntry(self.seq, emission))
        if self.max_findings is not None:
            heapq.heappush(self._age, (finding.open, finding.last_at, finding.born, finding.alert_id))
            if len(self.findings) > self.max_findings + self.max_findings // 10:
                self._forget(len(self.findings) - self.max_findings)
            if len(self._age) > 2 * len(self.findings) + 1_000:
                self._rebuild_age()
        return True

    def _forget(self, count: int) -> None:
        """Forget ``count`` findings: the resolved first, then the open, each by its last emission, then in the
        order first folded (what one stable sort of the findings on (open, last_at) ranks first).

        In steps of a tenth of the bound; the order is kept as a heap, as sorting every finding at each step
        was a third of what the worker spent folding its alerts (issue 14)."""
        findings, age = self.findings, self._age
        forgotten = 0
        while forgotten < count:
            opened, last_at, born, alert_id = heapq.heappop(age)
            finding = findings.get(alert_id)
            if finding is None or finding.born != born or finding.last_at != last_at or finding.open != opened:
                continue  # stale: folded again since, or forgotten
            del findings[alert_id]
            alert_ids = self.by_customer[finding.customer_id]
            alert_ids.remove(alert_id)
            if not alert_ids:
                del self.by_customer[finding.customer_id]
            forgotten += 1
        self.forgotten += count

    def _rebuild_age(self) -> None:
        # Stale entries outnumber the live ones: start again from the findings (linear, paid once in a while).
        self._age = [(f.open, f.last_at, f.born, f.alert_id) for f in self.findings.values()]
        heapq.heapify(self._age)

    def forget_customer(self, customer_id: str) -> None:
        """Drop the customer's findings and feed entries (the page then shows nothing of them)."""
        for alert_id in self.by_customer.pop(customer_id, []):
            self.findings.pop(alert_id, None)
        kept = [entry for entry in self.feed if entry.emission.customer_id != customer_id]
        if len(kept) != len(self.feed):
            self.feed = deque(kept, maxlen=self.feed.maxlen)
        self.forgotten_customers += 1
        # A new sequence number, so cached summaries are recomputed without them.
        self.seq += 1

    def after(self, seq: int, limit: int = 200) -> list[FeedEntry]:
        """Feed entries newer than ``seq``, newest first, at most ``limit``."""
        seqs = [entry.seq for entry in self.feed]
        start = bisect.bisect_right(seqs, seq)
        newer = list(self.feed)[start:]
        return newer[::-1][:limit]

    def of_customer(self, customer_id: str) -> list[Finding]:
        """The customer's findings, by the time their episode opened."""
        found = (self.findings[alert_id] for alert_id in self.by_customer.get(customer_id, ()))
        return sorted(found, key=lambda f: (f.raised_at, f.alert_id))


@dataclass(slots=True)
class Figures:
    """What a group of findings adds up to."""

    alerts: int = 0
    open: int = 0
    resolved: int = 0
    customers: int = 0
    found_year: int = 0
    found_once: int = 0
    open_year: int = 0
    open_once: int = 0
    #: Median time from raised to resolved over the resolved findings, ms (the lower middle of an even count).
    median_resolve_ms: int | None = None
    #: The CRM's answers: findings acknowledged, closed (any outcome), disputed.
    acknowledged: int = 0
    closed: int = 0
    disputed: int = 0
    #: Medians (ms, as above) from the raise to the acknowledgement and to the closing.
    median_ack_ms: int | None = None
    median_close_ms: int | None = None
    #: Money of the findings closed as fixed or refunded, yearly and one-off (micro-units).
    put_right_year: int = 0
    put_right_once: int = 0

    @property
    def disputed_share(self) -> float | None:
        """Disputed findings over all findings (None: none): how often the CRM said the finding was wrong."""
        return None if not self.alerts else self.disputed / self.alerts

    def as_json(self) -> dict[str, Any]:
        return {
            "alerts": self.alerts,
            "open": self.open,
            "resolved": self.resolved,
            "customers": self.customers,
            "found_year": money_text(self.found_year),
            "found_once": money_text(self.found_once),
            "open_year": money_text(self.open_year),
            "open_once": money_text(self.open_once),
            "median_resolve_hours": _hours(self.median_resolve_ms),
            "acknowledged": self.acknowledged,
            "closed": self.closed,
            "disputed": self.disputed,
            "disputed_share": None if self.disputed_share is None else round(self.disputed_share, 4),
            "median_ack_hours": _hours(self.median_ack_ms),
            "median_close_hours": _hours(self.median_close_ms),
            "put_right_year": money_text(self.put_right_year),
            "put_right_once": money_text(self.put_right_once),
        }


def _hours(ms: int | None) -> float | None:
    return None if ms is None else round(ms / 3_600_000, 1)


def _median(values: list[int]) -> int | None:
    """The lower middle of an even count."""
    if not values:
        return None
    values.sort()
    return values[(len(values) - 1) // 2]


def figures(findings: Iterable[Finding]) -> Figures:
    result = Figures()
    customers: set[str] = set()
    durations: list[int] = []
    to_ack: list[int] = []
    to_close: list[int] = []
    for finding in findings:
        if finding.feedback:
            _count_answers(result, finding, to_ack, to_close)
        result.alerts += 1
        customers.add(finding.customer_id)
        yearly = finding.per == "year"
        if yearly:
            result.found_year += finding.amount
        else:
            result.found_once += finding.amount
        if finding.open:
            result.open += 1
            if yearly:
                result.open_year += finding.amount
            else:
                result.open_once += finding.amount
        else:
            result.resolved += 1
            durations.append(finding.time_to_resolve or 0)
    result.customers = len(customers)
    result.median_resolve_ms = _median(durations)
    result.median_ack_ms = _median(to_ack)
    result.median_close_ms = _median(to_close)
    return result


def _count_answers(result: Figures, finding: Finding, to_ack: list[int], to_close: list[int]) -> None:
    acked = finding.time_to("acknowledged")
    if acked is not None:
        result.acknowledged += 1
        to_ack.append(acked)
    closed = finding.time_to("closed")
    if closed is not None:
        result.closed += 1
        to_close.append(closed)
    if "disputed" in finding.feedback:
        result.disputed += 1
    if finding.put_right:
        if finding.per == "year":
            result.put_right_year += finding.amount
        else:
            result.put_right_once += finding.amount


def group(findings: Iterable[Finding], key: Callable[[Finding], Hashable]) -> dict[Any, Figures]:
    """Figures per key (e.g. kind, or (kind, month)), keys sorted."""
    buckets: dict[Any, list[Finding]] = {}
    for finding in findings:
        buckets.setdefault(key(finding), []).append(finding)
    return {k: figures(buckets[k]) for k in sorted(buckets)}


def headline(findings: Iterable[Finding]) -> dict[str, Any]:
    """The bad profits at stake (open) and found (all), and the broken promises still open."""
    totals = {
        "overpayment_year_open": 0,
        "overpayment_year_found": 0,
        "overcharges_once_open": 0,
        "overcharges_once_found": 0,
    }
    alerts = open_alerts = promises_open = 0
    for finding in findings:
        alerts += 1
        open_alerts += finding.open
        if finding.open and finding.kind.startswith("promise."):
            promises_open += 1
        if is_overpayment(finding):
            totals["overpayment_year_found"] += finding.amount
            if finding.open:
                totals["overpayment_year_open"] += finding.amount
        elif is_overcharge(finding):
            totals["overcharges_once_found"] += finding.amount
            if finding.open:
                totals["overcharges_once_open"] += finding.amount
    return {
        **{name: money_text(value) for name, value in totals.items()},
        "alerts": alerts,
        "open": open_alerts,
        "promises_open": promises_open,
    }


def top_customers(findings: Iterable[Finding], limit: int = 10) -> list[dict[str, Any]]:
    """Customers by the bad profits at stake with them (open yearly overpayment + open one-off overcharges)."""
    rows: dict[str, dict[str, Any]] = {}
    for finding in findings:
        row = rows.setdefault(
            finding.customer_id, {"customer_id": finding.customer_id, "year": 0, "once": 0, "open": 0, "kinds": set()}
        )
        if not finding.open:
            continue
        row["open"] += 1
        row["kinds"].add(finding.kind)
        if is_overpayment(finding):
            row["year"] += finding.amount
        elif is_overcharge(finding):
            row["once"] += finding.amount
    ranked = sorted(
        (r for r in rows.values() if r["year"] + r["once"] > 0),
        key=lambda r: (-(r["year"] + r["once"]), -r["open"], r["customer_id"]),
    )
    return [
        {
            "customer_id": r["customer_id"],
            "year": money_text(r["year"]),
            "once": money_text(r["once"]),
            "at_stake": money_text(r["year"] + r["once"]),
            "open": r["open"],
            "kinds": sorted(r["kinds"]),
        }
        for r in ranked[:limit]
    ]


def open_promises(findings: Iterable[Finding], oldest: int = 8) -> dict[str, Any]:
    """Open ``promise.*`` findings by kind and stage (e.g. at_risk, undelivered), and the oldest ones."""
    promised = [f for f in findings if f.open and f.kind.startswith("promise.")]
    by_kind: dict[str, dict[str, int]] = {}
    for finding in promised:
        stages = by_kind.setdefault(finding.kind, {})
        stages[finding.stage] = stages.get(finding.stage, 0) + 1
    ranked = sorted(promised, key=lambda f: (f.raised_at, f.alert_id))[:oldest]
    return {"by_kind": {kind: by_kind[kind] for kind in sorted(by_kind)}, "oldest": ranked}


def select(findings: Iterable[Finding], since: int | None, until: int | None) -> list[Finding]:
    """Findings whose current episode opened in [since, until)."""
    return [f for f in findings if (since is None or f.raised_at >= since) and (until is None or f.raised_at < until)]

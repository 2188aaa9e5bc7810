"""What the alert topic adds up to, computed here from the raw records: the yardstick for the page and the report.

Deliberately independent of models.ledger (the code under test): stdlib json with
Decimal for the amounts as written, de-duplication by CloudEvents id, the latest
revision per alert_id. The definitions are the README's: yearly overpayment is
``overpaying.*`` with ``per: year``; one-off overcharges are unannounced price
rises, billing after cancellation and billing errors with ``per: once`` and
severity other than ``info``; "open" means the latest emission is not ``resolved``.
The CRM's answers (``acknowledged``, ``closed``, ``disputed``) are about an alert, not
a change of its condition or money: they are left out here.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

_NUMBER = re.compile(r"-?\d+(\.\d+)?\Z")
ANSWERS = {"fairwatch.alert.acknowledged", "fairwatch.alert.closed", "fairwatch.alert.disputed"}
OVERCHARGES = {"promise.unannounced_price_rise", "promise.billed_after_cancellation", "promise.billing_error"}


def latest_alerts(values: list[bytes]) -> dict[str, dict[str, Any]]:
    """alert_id -> the document of its latest revision."""
    seen: set[str] = set()
    latest: dict[str, dict[str, Any]] = {}
    for value in values:
        document = json.loads(value, parse_float=Decimal)
        if document["id"] in seen or document["type"] in ANSWERS:
            continue
        seen.add(document["id"])
        data = document["data"]
        held = latest.get(data["alert_id"])
        if held is None or held["data"]["revision"] < data["revision"]:
            latest[data["alert_id"]] = document
    return latest


def is_open(document: dict[str, Any]) -> bool:
    return document["type"] != "fairwatch.alert.resolved"


def amount(document: dict[str, Any]) -> Decimal:
    return Decimal(document["data"]["impact"]["amount"])


def expected_figures(values: list[bytes]) -> dict[str, Any]:
    """The headline and the by-kind figures, Decimal money."""
    latest = list(latest_alerts(values).values())

    def total(documents: list[dict[str, Any]]) -> Decimal:
        return sum((amount(d) for d in documents), Decimal(0))

    overpaying = [
        d for d in latest if d["data"]["kind"].startswith("overpaying.") and d["data"]["impact"]["per"] == "year"
    ]
    overcharges = [
        d
        for d in latest
        if d["data"]["kind"] in OVERCHARGES and d["data"]["impact"]["per"] == "once" and d["data"]["severity"] != "info"
    ]
    by_kind: dict[str, dict[str, Any]] = {}
    for kind in sorted({d["data"]["kind"] for d in latest}):
        of_kind = [d for d in latest if d["data"]["kind"] == kind]
        yearly = [d for d in of_kind if d["data"]["impact"]["per"] == "year"]
        once = [d for d in of_kind if d["data"]["impact"]["per"] == "once"]
        by_kind[kind] = {
            "alerts": len(of_kind),
            "open": sum(map(is_open, of_kind)),
            "customers": len({d["data"]["customer_id"] for d in of_kind}),
            "found_year": total(yearly),
            "found_once": total(once),
            "open_year": total([d for d in yearly if is_open(d)]),
            "open_once": total([d for d in once if is_open(d)]),
        }
    return {
        "headline": {
            "overpayment_year_open": total([d for d in overpaying if is_open(d)]),
            "overpayment_year_found": total(overpaying),
            "overcharges_once_open": total([d for d in overcharges if is_open(d)]),
            "overcharges_once_found": total(overcharges),
            "alerts": len(latest),
            "open": sum(map(is_open, latest)),
            "promises_open": sum(1 for d in latest if is_open(d) and d["data"]["kind"].startswith("promise.")),
        },
        "by_kind": by_kind,
    }


def as_decimals(figures: dict[str, Any]) -> dict[str, Any]:
    """A JSON answer's money text as Decimal, so it compares with ``expected_figures`` exactly."""
    return {
        key: Decimal(value) if isinstance(value, str) and _NUMBER.match(value) else value
        for key, value in figures.items()
    }

"""streams.processor with the plan catalog: judged through the global table's records, bad records skipped.

The catalog here is a plain dict standing in for the plans global table's store
(plan_id -> the JSON document as the plans topic carries it).
"""

from __future__ import annotations

from typing import Any

import orjson
from prometheus_client import REGISTRY

from models.policy import Policy
from streams import metrics
from streams.processor import Processor
from tests.unit.factories import document, encode
from tests.unit.subscription_factories import month, plan_doc

NOW = month(2026, 11, 20) / 1000


class Harness:
    def __init__(self, catalog: dict[str, Any]) -> None:
        self.store: dict[str, Any] = {}
        self.clock = [NOW]
        self.offsets: dict[str, int] = {}
        self.processor = Processor(
            Policy(),
            self.store,
            lambda customer_id, state: self.store.__setitem__(customer_id, orjson.loads(orjson.dumps(state))),
            lambda topic, partition: self.offsets.get(topic, 0),
            wall_clock=lambda: self.clock[0],
            catalog=catalog,
        )

    def send(self, event_type: str, data: dict[str, Any], at: int, customer: str = "c-1") -> Any:
        offset = self.offsets.get("billing", 0)
        self.offsets["billing"] = offset + 1
        value = encode(document(event_type, data, customer_id=customer, at=at))
        return self.processor.handle("billing", 0, offset, customer.encode(), value)

    def publish(self) -> None:
        self.clock[0] += 5
        self.processor.publish_catalog_metrics()


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def started(harness: Harness, plan: str, customer: str = "c-1") -> Any:
    data = {"subscription_id": f"s-{customer}", "plan_id": plan, "monthly_fee": "10.00"}
    return harness.send("subscription.started", data, month(2025, 1, 15), customer)


def usage(harness: Harness, period: str, units: float, customer: str = "c-1") -> Any:
    data = {"subscription_id": f"s-{customer}", "period": period, "units": units}
    year, number = int(period[:4]), int(period[5:7])
    return harness.send("usage.recorded", data, month(year + number // 12, number % 12 + 1, 2), customer)


def test_a_plan_not_yet_in_the_catalog_is_kept_counted_and_judged_once_it_arrives() -> None:
    catalog: dict[str, Any] = {"p-big": plan_doc("p-big", fee="30.00", included=100, overage="0")}
    harness = Harness(catalog)
    assert started(harness, "p-small").status == "processed"  # valid: kept, not dead-lettered
    for period in ("2026-08", "2026-09", "2026-10"):
        outcome = usage(harness, period, 20)
        assert outcome.status == "processed"
        assert [c.kind for c in outcome.changes if c.kind == "overpaying.better_plan"] == []
    started(harness, "p-big", customer="c-2")  # a customer whose plan is known
    harness.publish()
    assert sample("fairwatch_customers_plan_not_in_catalog") == 1
    assert sample("fairwatch_catalog_plans") == 1

    catalog["p-small"] = plan_doc("p-small", fee="10.00", included=2, overage="5.00")
    harness.publish()
    assert sample("fairwatch_customers_plan_not_in_catalog") == 0  # cleared without waiting for an event
    assert sample("fairwatch_catalog_plans") == 2
    outcome = usage(harness, "2026-10", 20)  # the next look judges with the plan
    assert [c.lifecycle for c in outcome.changes if c.kind == "overpaying.better_plan"] == ["raised"]


def test_a_bad_plan_record_is_skipped_and_counted_not_a_crash() -> None:
    before = sample("fairwatch_catalog_invalid_total", reason="invalid_json")
    catalog: dict[str, Any] = {"p-bad": b"{not json", "p-odd": plan_doc("p-odd") | {"active": "yes"}}
    harness = Harness(catalog)
    assert started(harness, "p-bad").status == "processed"
    for period in ("2026-08", "2026-09", "2026-10"):
        assert usage(harness, period, 20).status == "processed"
    harness.publish()
    assert sample("fairwatch_catalog_invalid_total", reason="invalid_json") == before + 1  # once per record version
    assert sample("fairwatch_catalog_plans") == 0
    assert sample("fairwatch_customers_plan_not_in_catalog") == 1


def test_the_metrics_are_published_at_most_once_a_second() -> None:
    harness = Harness({})
    harness.publish()
    metrics.CATALOG_PLANS.set(-1)
    harness.processor.publish_catalog_metrics()  # the same second: left alone
    assert sample("fairwatch_catalog_plans") == -1
    harness.publish()
    assert sample("fairwatch_catalog_plans") == 0

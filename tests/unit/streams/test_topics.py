"""The topic check's decisions (streams.topics.plan_layout), from plain counts: no broker."""

from __future__ import annotations

import pytest

from streams.topics import TopicCheckError, TopicNames, plan_layout

NAMES = TopicNames.from_env(
    {"FAIRWATCH_TOPIC_ORDERS": "shop.orders", "FAIRWATCH_TOPIC_BILLING": "finance.invoices"}, "fairwatch"
)


def test_the_inputs_that_exist_set_the_count_and_the_rest_is_created_with_it() -> None:
    partitions, missing, notes = plan_layout({"shop.orders": 3, "finance.invoices": 3}, NAMES, 8)
    assert partitions == 3
    assert notes == ["the input topics have 3 partitions: the worker uses 3"]
    created = {spec.name: (spec.partitions, spec.compacted) for spec in missing}
    assert created == {
        "complaints": (3, False),
        "fairwatch.feedback": (3, False),
        "fairwatch.ticks": (3, False),
        "fairwatch-customers-changelog": (3, True),
        "fairwatch.alerts": (3, False),
        "fairwatch.dead-letter": (3, False),
        "plans": (1, True),
    }


def test_with_no_input_the_configured_count_is_used() -> None:
    partitions, missing, notes = plan_layout({}, NAMES, 8)
    assert partitions == 8 and notes == []
    assert {spec.partitions for spec in missing if spec.name != "plans"} == {8}


def test_inputs_at_different_counts_are_refused_naming_each() -> None:
    with pytest.raises(TopicCheckError) as refused:
        plan_layout({"shop.orders": 4, "finance.invoices": 2, "complaints": 4}, NAMES, 8)
    message = str(refused.value)
    assert "not co-partitioned" in message
    for part in ("shop.orders has 4", "finance.invoices has 2", "complaints has 4"):
        assert part in message


@pytest.mark.parametrize("topic", ["fairwatch-customers-changelog", "fairwatch.ticks"])
def test_a_changelog_or_tick_topic_at_another_count_is_refused_with_what_to_do(topic: str) -> None:
    with pytest.raises(TopicCheckError, match=f"{topic} has 6 partitions, the input topics 3: delete {topic}"):
        plan_layout({"shop.orders": 3, topic: 6}, NAMES, 8)


def test_outputs_and_the_plans_topic_are_read_at_any_count() -> None:
    existing = {name: 3 for name in NAMES.inputs} | {"fairwatch.alerts": 12, "fairwatch.dead-letter": 1, "plans": 5}
    partitions, missing, _ = plan_layout(existing, NAMES, 8)
    assert partitions == 3
    assert {spec.name for spec in missing} == {"fairwatch.ticks", "fairwatch-customers-changelog"}


def test_two_roles_on_one_topic_are_refused() -> None:
    with pytest.raises(ValueError, match="FAIRWATCH_TOPIC_BILLING='orders': the same topic as FAIRWATCH_TOPIC_ORDERS"):
        TopicNames.from_env({"FAIRWATCH_TOPIC_BILLING": "orders"})

"""models.catalog: plan records, plan prices, the tolerant catalog view and catalog files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from models.catalog import CatalogView, cheapest_plan, compare_plans, parse_catalog, read_catalog_file, validate_plan
from models.errors import CatalogError, Rejected

from ..subscription_factories import catalog_of, plan_doc

ROOT = Path(__file__).resolve().parents[3]


def test_a_plan_record_becomes_a_plan_in_micro_units() -> None:
    plan = validate_plan(plan_doc("p-1", name="Mobile S", fee="12.50", included=5, overage="0.0125"))
    assert plan.plan_id == "p-1" and plan.name == "Mobile S"
    assert (plan.monthly_fee, plan.included_units, plan.overage_price) == (12_500_000, 5, 12_500)
    assert plan.open_to == frozenset({"new", "existing"}) and plan.active


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        pytest.param({"plan_id": None}, "plan_id: is required", id="no-plan-id"),
        pytest.param({"plan_id": 7}, "plan_id: must be a non-empty string", id="plan-id-not-text"),
        pytest.param({"name": ""}, "name: must be a non-empty string", id="empty-name"),
        pytest.param({"monthly_fee": "-1.00"}, "monthly_fee: must not be negative", id="negative-fee"),
        pytest.param({"monthly_fee": "12.3456789"}, "monthly_fee: has more than 6 decimal places", id="fee-digits"),
        pytest.param({"monthly_fee": True}, "monthly_fee: must be a decimal number", id="fee-bool"),
        pytest.param({"included_units": -1}, "included_units: must not be negative", id="negative-units"),
        pytest.param({"included_units": "5"}, "included_units: must be a finite number", id="units-text"),
        pytest.param({"overage_price": None}, "overage_price: is required", id="no-overage"),
        pytest.param({"open_to": ["everyone"]}, 'open_to: must be a list of "new" and/or "existing"', id="open-to"),
        pytest.param({"open_to": "new"}, 'open_to: must be a list of "new" and/or "existing"', id="open-to-text"),
        pytest.param({"active": "yes"}, "active: must be true or false", id="active-text"),
        pytest.param({"active": None}, "active: must be true or false", id="no-active"),
        pytest.param({"unit": None}, "unit: is required", id="no-unit"),
    ],
)
def test_a_bad_plan_record_is_rejected_naming_the_field(change: dict[str, Any], reason: str) -> None:
    document = plan_doc() | change
    document = {k: v for k, v in document.items() if v is not None}
    with pytest.raises(Rejected) as caught:
        validate_plan(document)
    assert caught.value.reason == reason


def test_a_record_must_be_a_json_object_under_its_own_key() -> None:
    with pytest.raises(Rejected, match="not valid JSON"):
        validate_plan(b'{"plan_id": ')
    with pytest.raises(Rejected, match="must be a JSON object"):
        validate_plan(["p-1"])
    with pytest.raises(Rejected, match="does not match the record key"):
        validate_plan(plan_doc("p-1"), "p-2")
    assert validate_plan(plan_doc("p-1"), "p-1").plan_id == "p-1"


def test_an_empty_open_to_is_a_plan_closed_to_everyone() -> None:
    plan = validate_plan(plan_doc(open_to=()))
    assert not plan.open_to_new and not plan.open_to_existing


@pytest.mark.parametrize(
    ("units", "cost"),
    [
        pytest.param(0, 20_000_000, id="no-usage"),
        pytest.param(5, 20_000_000, id="exactly-included"),
        pytest.param(5.5, 21_000_000, id="half-a-unit-over"),
        pytest.param(6, 22_000_000, id="one-unit-over"),
        pytest.param(12, 34_000_000, id="seven-units-over"),
    ],
)
def test_a_month_costs_the_fee_plus_overage_beyond_the_included_units(units: float, cost: int) -> None:
    plan = validate_plan(plan_doc(fee="20.00", included=5, overage="2.00"))
    assert plan.cost(units) == cost
    assert plan.cost(units, monthly_fee=10_000_000) == cost - 10_000_000  # at an agreed fee


def test_overage_is_exact_for_sub_cent_unit_prices() -> None:
    plan = validate_plan(plan_doc(fee="0", included=0, overage="0.0125"))
    assert plan.cost(333) == 4_162_500  # 333 x 0.0125 = 4.1625
    assert plan.cost(0.1) == 1_250


def test_the_cheapest_plan_is_active_and_open_to_existing_customers() -> None:
    catalog = catalog_of(
        plan_doc("a-new-only", fee="1.00", included=100, open_to=("new",)),
        plan_doc("b-retired", fee="2.00", included=100, active=False),
        plan_doc("c-mine", fee="3.00", included=100),
        plan_doc("d-open", fee="4.00", included=100),
        plan_doc("e-small", fee="0.50", included=0, overage="1.00"),
    )
    plan, cost = cheapest_plan(catalog, [10, 10])
    assert (plan.plan_id, cost) == ("c-mine", 6_000_000)
    plan, cost = cheapest_plan(catalog, [10, 10], exclude="c-mine")
    assert (plan.plan_id, cost) == ("d-open", 8_000_000)
    plan, _ = cheapest_plan(catalog, [1, 1], exclude="c-mine")
    assert plan.plan_id == "e-small"  # 2 x 1.50 beats 2 x 4.00
    assert cheapest_plan(catalog_of(plan_doc(open_to=("new",))), [1]) is None


def test_ties_go_to_the_lower_plan_id_whatever_the_catalog_order() -> None:
    one = catalog_of(plan_doc("z"), plan_doc("a"))
    other = catalog_of(plan_doc("a"), plan_doc("z"))
    assert cheapest_plan(one, [1])[0].plan_id == cheapest_plan(other, [1])[0].plan_id == "a"


def test_compare_plans_prices_the_current_plan_at_the_agreed_fee() -> None:
    catalog = catalog_of(plan_doc("mine", fee="20.00", included=5), plan_doc("other", fee="25.00", included=5))
    comparison = compare_plans(catalog, catalog["mine"], 30_000_000, [5, 5, 5], same_plan=False)
    assert (comparison.current_cost, comparison.best.plan_id, comparison.best_cost) == (90e6, "other", 75e6)
    assert comparison.saving == 15_000_000
    assert comparison.per_month(comparison.saving) == 5_000_000
    assert comparison.per_year(comparison.saving) == 60_000_000
    same = compare_plans(catalog, catalog["mine"], 30_000_000, [5, 5, 5], same_plan=True)
    assert (same.best.plan_id, same.saving) == ("mine", 30_000_000)
    assert compare_plans(catalog, catalog["mine"], 30_000_000, [], same_plan=True) is None


# --- the view over the global table ---------------------------------------------------


def test_the_view_skips_bad_records_and_reports_each_version_once() -> None:
    reported: list[tuple[str, str]] = []
    records: dict[str, Any] = {
        "good": plan_doc("good"),
        "bad": plan_doc("bad") | {"monthly_fee": "lots"},
        "elsewhere": plan_doc("other-id"),
        "gone": None,  # a tombstone
    }
    view = CatalogView(records, on_invalid=lambda plan_id, r: reported.append((plan_id, r.code)))
    assert list(view) == ["good"] and len(view) == 1
    assert view.get("bad") is None and "elsewhere" not in view and "gone" not in view
    assert [plan.plan_id for plan in view.values()] == ["good"]
    assert sorted(reported) == [("bad", "invalid_field"), ("elsewhere", "key_mismatch")]
    records["bad"] = plan_doc("bad")  # fixed by a newer record
    assert view["bad"].plan_id == "bad"
    records["good"] = b"not json"  # the lenient codec's undecodable value
    assert "good" not in view
    assert reported[-1] == ("good", "invalid_json")
    assert len(reported) == 3


def test_the_view_sees_a_changed_record_at_once() -> None:
    records = {"p": plan_doc("p", fee="20.00")}
    view = CatalogView(records)
    assert view["p"].monthly_fee == 20_000_000
    records["p"] = plan_doc("p", fee="18.00")
    assert view["p"].monthly_fee == 18_000_000


# --- catalog files ----------------------------------------------------------------------


def test_a_json_catalog_is_a_list_or_an_object_with_plans() -> None:
    plans, problems = parse_catalog(orjson.dumps([plan_doc("a"), plan_doc("b")]), "json")
    assert [plan.plan_id for plan, _ in plans] == ["a", "b"] and problems == []
    plans, _ = parse_catalog(orjson.dumps({"plans": [plan_doc("a")]}), "json")
    assert plans[0][1] == plan_doc("a")  # the document as given, for publishing


def test_a_toml_catalog_has_plans_tables() -> None:
    text = """
[[plans]]
plan_id = "mobile-s"
name = "Mobile S"
monthly_fee = 12.50
included_units = 5
unit = "GB"
overage_price = 0.0125
open_to = ["new", "existing"]
active = true
"""
    plans, problems = parse_catalog(text, "toml")
    assert problems == []
    assert plans[0][0].monthly_fee == 12_500_000 and plans[0][0].overage_price == 12_500


def test_bad_records_in_a_file_are_listed_by_position() -> None:
    documents = [plan_doc("a"), plan_doc("b") | {"active": 1}, plan_doc("a")]
    plans, problems = parse_catalog(orjson.dumps(documents), "json")
    assert [plan.plan_id for plan, _ in plans] == ["a"]
    assert problems == ["plans[1]: active: must be true or false", "plans[2]: plan_id 'a' appears more than once"]


@pytest.mark.parametrize(
    ("text", "format", "message"),
    [
        pytest.param("[", "json", "not valid JSON", id="broken-json"),
        pytest.param("plans = [", "toml", "not valid TOML", id="broken-toml"),
        pytest.param("[]", "json", "non-empty list", id="empty"),
        pytest.param('{"plan": []}', "json", "non-empty list", id="wrong-key"),
        pytest.param("[]", "yaml", "unknown catalog format", id="format"),
    ],
)
def test_a_file_that_is_not_a_catalog_fails_as_a_whole(text: str, format: str, message: str) -> None:
    with pytest.raises(CatalogError, match=message):
        parse_catalog(text, format)


def test_read_catalog_file_by_suffix(tmp_path: Path) -> None:
    path = tmp_path / "plans.json"
    path.write_bytes(orjson.dumps([plan_doc("a")]))
    assert read_catalog_file(path)[0][0][0].plan_id == "a"
    with pytest.raises(CatalogError, match="does not exist"):
        read_catalog_file(tmp_path / "missing.toml")


def test_the_shipped_demo_catalog_is_valid() -> None:
    plans, problems = read_catalog_file(ROOT / "streams" / "tools" / "data" / "plans.toml")
    assert problems == [] and len(plans) >= 5
    catalog = {plan.plan_id: plan for plan, _ in plans}
    assert any(not plan.active for plan in catalog.values())  # an old plan no longer sold
    assert any(plan.open_to == frozenset({"new"}) for plan in catalog.values())  # a newcomers' offer


def test_only_a_plan_for_the_same_product_and_unit_can_replace_another() -> None:
    catalog = catalog_of(
        plan_doc("mobile-s", fee="10.00", included=2, overage="5.00") | {"product": "mobile"},
        plan_doc("tv", fee="1.00", included=1000, unit="hours") | {"product": "tv"},
        plan_doc("broadband", fee="2.00", included=1000) | {"product": "broadband"},
        plan_doc("mobile-l", fee="30.00", included=100) | {"product": "mobile"},
        plan_doc("untyped", fee="3.00", included=100),
    )
    mobile = catalog["mobile-s"]
    assert catalog["mobile-l"].replaces(mobile) and not catalog["tv"].replaces(mobile)
    assert not catalog["broadband"].replaces(mobile) and not catalog["untyped"].replaces(mobile)
    assert cheapest_plan(catalog, [20], like=mobile)[0].plan_id == "mobile-l"
    comparison = compare_plans(catalog, mobile, 10_000_000, [20], same_plan=False)
    assert comparison.best.plan_id == "mobile-l"
    # Without a product, plans of the same unit are alternatives.
    assert catalog_of(plan_doc("a"))["a"].replaces(catalog_of(plan_doc("b"))["b"])
    with pytest.raises(Rejected, match="product: must be a non-empty string"):
        validate_plan(plan_doc() | {"product": ""})

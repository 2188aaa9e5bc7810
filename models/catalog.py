"""The plan catalog (SPEC §1, topic ``plans``): what a plan record is, what a plan costs, and a tolerant view.

A plan record is ``{plan_id, name, monthly_fee, included_units, unit,
overage_price, open_to: ["new", "existing"], active}``, and optionally
``product`` (mobile, broadband, ...): plans are alternatives to each other only
if they are for the same product and measure usage in the same unit (a TV
package is no cheaper mobile plan, whatever its price). ``validate_plan`` is the
one place that decides whether a record is a plan; it is used when a catalog is
published (``fairwatch produce --plans``) and again, defensively, when the
worker reads the catalog: :class:`CatalogView` skips a bad record (reporting it
once per version through ``on_invalid``) instead of letting it reach a detector.

Money is integer micro-units (models.money); usage units are plain numbers in
the plan's own unit (GB, minutes, kWh), charged exactly (no rounding up to
whole units: the catalog does not say the company does so).
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Callable, Iterable, Iterator, Mapping
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any, NamedTuple

import orjson

from models.errors import CatalogError, Rejected
from models.fields import MAX_ID, money, required, text

__all__ = [
    "Plan",
    "validate_plan",
    "CatalogView",
    "cheapest_plan",
    "usage_cost",
    "compare_plans",
    "PlanComparison",
    "parse_catalog",
    "read_catalog_file",
]

_AUDIENCES = ("new", "existing")


class Plan(NamedTuple):
    """A validated plan; money in micro-units."""

    plan_id: str
    name: str
    monthly_fee: int
    included_units: int | float
    unit: str
    overage_price: int  # per unit beyond the included ones
    open_to: frozenset[str]
    active: bool
    product: str | None = None

    def replaces(self, other: Plan) -> bool:
        """Could a customer on ``other`` move to this plan for the same use?"""
        return self.product == other.product and self.unit == other.unit

    @property
    def open_to_existing(self) -> bool:
        """An existing customer may switch to it now."""
        return self.active and "existing" in self.open_to

    @property
    def open_to_new(self) -> bool:
        """It is on sale to new customers now."""
        return self.active and "new" in self.open_to

    def overage(self, units: int | float) -> int:
        """What usage beyond the included units costs, micro-units (rounded half-even to a micro-unit)."""
        extra = Decimal(str(units)) - Decimal(str(self.included_units))
        if extra <= 0:
            return 0
        return int((extra * self.overage_price).to_integral_value(ROUND_HALF_EVEN))

    def cost(self, units: int | float, monthly_fee: int | None = None) -> int:
        """A month on this plan with this usage: the fee (the plan's, or an agreed one) plus overage."""
        return (self.monthly_fee if monthly_fee is None else monthly_fee) + self.overage(units)


_id = text(MAX_ID)


def _text(document: Mapping[str, Any], name: str) -> str:
    return required(document, name, _id)


def _money(document: Mapping[str, Any], name: str) -> int:
    return required(document, name, money)


def _units(document: Mapping[str, Any], name: str) -> int | float:
    return required(document, name, _units_value)


def _units_value(value: Any, name: str) -> int | float:
    # Stricter than an event's units (models.events): a plan's included units must also be in range.
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise Rejected(f"{name}: must be a finite number")
    if value < 0:
        raise Rejected(f"{name}: must not be negative")
    if value > 10**12:
        raise Rejected(f"{name}: is out of range")
    return value


def validate_plan(document: Any, plan_id: str | None = None) -> Plan:
    """A plan from its JSON document; Rejected (naming the field) if it is not one.

    ``plan_id`` is the record's key: the document must name the same plan.
    """
    if isinstance(document, (bytes, bytearray)):
        raise Rejected("plan record is not valid JSON", "invalid_json")
    if not isinstance(document, dict):
        raise Rejected("plan record must be a JSON object", "not_an_object")
    own_id = _text(document, "plan_id")
    if plan_id is not None and own_id != plan_id:
        raise Rejected(f"plan_id: {own_id[:80]!r} does not match the record key", "key_mismatch")
    open_to = document.get("open_to")
    if open_to is None:
        raise Rejected("open_to: is required", "missing_field")
    if not isinstance(open_to, list) or any(item not in _AUDIENCES for item in open_to):
        raise Rejected('open_to: must be a list of "new" and/or "existing"')
    active = document.get("active")
    if not isinstance(active, bool):
        raise Rejected("active: must be true or false", "missing_field" if active is None else "invalid_field")
    product = _text(document, "product") if document.get("product") is not None else None
    return Plan(
        plan_id=own_id,
        name=_text(document, "name"),
        monthly_fee=_money(document, "monthly_fee"),
        included_units=_units(document, "included_units"),
        unit=_text(document, "unit"),
        overage_price=_money(document, "overage_price"),
        open_to=frozenset(open_to),
        active=active,
        product=product,
    )


class CatalogView(Mapping[str, Plan]):
    """The valid plans of a raw catalog mapping (plan_id -> JSON document), validated on read.

    The raw mapping is the worker's global table: it changes under the view as
    the ``plans`` topic brings new records. Each record is validated once per
    version; a bad one is reported through ``on_invalid`` and is simply not in
    the view, so a detector treats its plan as not (yet) in the catalog.
    """

    def __init__(self, records: Mapping[str, Any], on_invalid: Callable[[str, Rejected], None] | None = None) -> None:
        self._records = records
        self._on_invalid = on_invalid
        self._cache: dict[str, tuple[Any, Plan | None]] = {}

    def _plan(self, plan_id: str, record: Any) -> Plan | None:
        cached = self._cache.get(plan_id)
        if cached is not None and (cached[0] is record or cached[0] == record):
            return cached[1]
        try:
            plan: Plan | None = validate_plan(record, plan_id)
        except Rejected as rejected:
            plan = None
            if self._on_invalid is not None:
                self._on_invalid(plan_id, rejected)
        self._cache[plan_id] = (record, plan)
        return plan

    def __getitem__(self, plan_id: str) -> Plan:
        record = self._records.get(plan_id)
        plan = None if record is None else self._plan(plan_id, record)
        if plan is None:
            raise KeyError(plan_id)
        return plan

    def get(self, plan_id: str, default: Any = None) -> Any:
        record = self._records.get(plan_id)
        plan = None if record is None else self._plan(plan_id, record)
        return default if plan is None else plan

    def __contains__(self, plan_id: object) -> bool:
        # Mapping's own goes through __getitem__ and a KeyError: this is asked for every saved customer.
        record = self._records.get(plan_id)  # type: ignore[call-overload]
        return record is not None and self._plan(plan_id, record) is not None  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[str]:
        for plan_id, _ in self._valid():
            yield plan_id

    def __len__(self) -> int:
        return sum(1 for _ in self._valid())

    def __bool__(self) -> bool:
        # Asked on many events (``catalog or {}``): the first valid plan answers it.
        return any(True for _ in self._valid())

    def values(self) -> list[Plan]:  # type: ignore[override]
        return [plan for _, plan in self._valid()]

    def _valid(self) -> Iterator[tuple[str, Plan]]:
        for plan_id, record in list(self._records.items()):
            if record is None:
                continue  # a tombstone: the plan was withdrawn from the catalog
            plan = self._plan(plan_id, record)
            if plan is not None:
                yield plan_id, plan


def usage_cost(plan: Plan, usage: Iterable[int | float], monthly_fee: int | None = None) -> int:
    """What the periods of ``usage`` cost on ``plan`` (at its fee, or an agreed one), micro-units."""
    return sum(plan.cost(units, monthly_fee) for units in usage)


def cheapest_plan(
    catalog: Mapping[str, Plan],
    usage: list[int | float],
    *,
    exclude: str | None = None,
    like: Plan | None = None,
) -> tuple[Plan, int] | None:
    """The cheapest plan an existing customer may switch to for this usage, and its cost; None if there is none.

    ``like``: only plans that can replace it (same product, same unit). Ties go
    to the lower plan_id, so the answer never depends on catalog order.
    """
    best: tuple[int, str, Plan] | None = None
    for plan in catalog.values():
        if not plan.open_to_existing or plan.plan_id == exclude or (like is not None and not plan.replaces(like)):
            continue
        candidate = (usage_cost(plan, usage), plan.plan_id, plan)
        if best is None or candidate[:2] < best[:2]:
            best = candidate
    return None if best is None else (best[2], best[0])


class PlanComparison(NamedTuple):
    """What the customer pays for some periods' usage, against the cheapest plan open to them."""

    current: Plan
    agreed_fee: int
    usage: list[int | float]
    current_cost: int  # over all the periods, micro-units
    best: Plan
    best_cost: int

    @property
    def saving(self) -> int:
        """Over all the periods (negative if the customer's plan is already the cheaper one)."""
        return self.current_cost - self.best_cost

    def per_year(self, amount: int) -> int:
        """An amount over the compared periods as a yearly figure, micro-units."""
        return int((Decimal(amount) * 12 / len(self.usage)).to_integral_value(ROUND_HALF_EVEN))

    def per_month(self, amount: int) -> int:
        return int((Decimal(amount) / len(self.usage)).to_integral_value(ROUND_HALF_EVEN))


def compare_plans(
    catalog: Mapping[str, Plan], current: Plan, agreed_fee: int, usage: list[int | float], *, same_plan: bool
) -> PlanComparison | None:
    """The customer's cost on their plan (agreed fee + overage) against the cheapest plan open to them.

    ``same_plan`` lets their own plan at its catalog price compete (the best tariff
    in general); without it only a different plan counts (a better plan to switch to).
    None when no plan is open to them, or there is no usage to compare.
    """
    if not usage:
        return None
    found = cheapest_plan(catalog, usage, exclude=None if same_plan else current.plan_id, like=current)
    if found is None:
        return None
    best, best_cost = found
    return PlanComparison(current, agreed_fee, usage, usage_cost(current, usage, agreed_fee), best, best_cost)


def parse_catalog(text: str | bytes, format: str) -> tuple[list[tuple[Plan, dict[str, Any]]], list[str]]:
    """Parse a catalog file's content (``json`` or ``toml``): ([(plan, document)], ["plans[N]: reason"]).

    JSON is a list of plan objects or ``{"plans": [...]}``; TOML is ``[[plans]]`` tables.
    Raises CatalogError if the file as a whole cannot be read.
    """
    try:
        if format == "toml":
            document: Any = tomllib.loads(text.decode() if isinstance(text, bytes) else text)
        elif format == "json":
            document = orjson.loads(text)
        else:
            raise CatalogError(f"unknown catalog format {format!r} (json or toml)")
    except (tomllib.TOMLDecodeError, orjson.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CatalogError(f"not valid {format.upper()}: {str(exc).splitlines()[0]}") from None
    if isinstance(document, dict):
        document = document.get("plans")
    if not isinstance(document, list) or not document:
        raise CatalogError("a catalog is a non-empty list of plans (JSON) or [[plans]] tables (TOML/JSON object)")
    plans: list[tuple[Plan, dict[str, Any]]] = []
    problems: list[str] = []
    seen: set[str] = set()
    for index, record in enumerate(document):
        try:
            plan = validate_plan(record)
        except Rejected as rejected:
            problems.append(f"plans[{index}]: {rejected.reason}")
            continue
        if plan.plan_id in seen:
            problems.append(f"plans[{index}]: plan_id {plan.plan_id!r} appears more than once")
            continue
        seen.add(plan.plan_id)
        plans.append((plan, record))
    return plans, problems


def read_catalog_file(path: str | Path) -> tuple[list[tuple[Plan, dict[str, Any]]], list[str]]:
    """Read a ``.json`` or ``.toml`` catalog file; see :func:`parse_catalog`."""
    path = Path(path)
    format = "toml" if path.suffix.lower() == ".toml" else "json"
    try:
        return parse_catalog(path.read_bytes(), format)
    except FileNotFoundError:
        raise CatalogError(f"{path} does not exist") from None

"""The agents on a runtime of fakes: installed, then the agent modules imported afresh for each test.

The agent modules register on the installed runtime when imported (once per process, as in a worker), so each
test imports its own copies and the fixture puts back whatever was imported and installed before: a later test
in the same process (tests/integration/test_web_auth.py imports the agents on a real app) sees no trace.
Faust's Prometheus sensors, which ``agents.web`` sets up at import, are replaced by a recorder: they register
collectors in the process-wide registry, once only.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

import streams.app
import streams.compat.sensor
from models.policy import Policy
from streams.app import Runtime, install
from streams.config import load_config
from streams.topics import Layout

from .fakes import Agents, FakeApp, FakeOutbox, FakeTable, FakeTopic, Journal

PARTITIONS = 2


def _agent_modules() -> dict[str, ModuleType]:
    return {name: module for name, module in sys.modules.items() if name == "agents" or name.startswith("agents.")}


@pytest.fixture
def agents(monkeypatch: pytest.MonkeyPatch) -> Iterator[Agents]:
    config = load_config({})
    journal = Journal()
    app = FakeApp()
    names = config.topics
    built = Runtime(
        app=app,  # type: ignore[arg-type]
        config=config,
        policy=Policy(),
        layout=Layout(names, PARTITIONS),
        inputs=object(),
        ticks=FakeTopic(names.ticks, journal),
        alerts=FakeTopic(names.alerts, journal),
        dead_letter=FakeTopic(names.dead_letter, journal),
        customers=FakeTable(journal),  # type: ignore[arg-type]
        plans=FakeTable(journal),  # type: ignore[arg-type]
        roles=names.roles(),
    )
    # The agent sends its records through an outbox: on the fakes, each goes to the fake topic or table it is for.
    built.outbox = lambda: FakeOutbox((built.alerts, built.dead_letter, built.ticks), built.customers)  # type: ignore[method-assign]
    setups: list[tuple[Any, str]] = []
    monkeypatch.setattr(
        streams.compat.sensor,
        "setup_light_prometheus_sensors",
        lambda app, pattern: setups.append((app, pattern)),
    )
    monkeypatch.delenv("FAIRWATCH_TEST_FAULT", raising=False)
    before, installed = _agent_modules(), list(streams.app._installed)
    for name in before:
        del sys.modules[name]
    install(built)
    try:
        yield Agents(
            rt=built,
            app=app,
            journal=journal,
            alerts=built.alerts,
            dead_letter=built.dead_letter,
            ticks=built.ticks,
            customers=built.customers,  # type: ignore[arg-type]
            ingest=importlib.import_module("agents.ingest"),
            web=importlib.import_module("agents.web"),
            page=importlib.import_module("agents.page"),
            prometheus_setups=setups,
        )
    finally:
        for name in _agent_modules():
            del sys.modules[name]
        sys.modules.update(before)
        streams.app._installed[:] = installed

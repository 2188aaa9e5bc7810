"""What the live page's alert ledger holds per finding at its bound (issue 14, target 5): a measurement, not a test.

The alerts are those the bench's rules phase emits for a generated world
(``streams.tools.bench.workload.mixed_stream`` through ``run_rules`` with
``keep_alerts``), written once as one CloudEvent a line to ``--alerts`` (made in
a child process, so the world's generation leaves nothing in this one). They
are then folded into a ``Ledger(feed_size=500, max_findings=--bound)`` as the
page's reader does (``orjson.loads`` of the record, ``add_document``).

``--mode traced``: Python's own allocations (tracemalloc) after the fold and the
highest seen while folding (sampled every 1,000 emissions), per finding held,
and what the findings, the feed and the per-customer index take (sys.getsizeof,
shared objects counted once). ``--mode rss``: the process's resident memory
before and after the fold, and its peak (VmHWM), with nothing else held.

    .venv/bin/python scripts/ledger_memory.py --mode traced
    .venv/bin/python scripts/ledger_memory.py --mode rss
"""

from __future__ import annotations

import argparse
import gc
import subprocess
import sys
import tracemalloc
from collections import deque
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MIB = 2**20


def _generate(path: Path, events: int, customers: int) -> None:
    import orjson  # noqa: F401 (the bench's own dependency)

    from streams.tools.bench.rules import run_rules
    from streams.tools.bench.workload import mixed_stream

    # A fixed wall clock (2027-01-15) so the final tick fires the same alerts on every run.
    found = run_rules(mixed_stream(events, customers), keep_alerts=True, wall_clock=lambda: 1_800_000_000.0)
    with path.open("wb") as out:
        for alert in found["encoded_alerts"]:
            out.write(alert + b"\n")


def _status(name: str) -> int:
    """A VmRSS-like line of /proc/self/status, in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1])
    raise LookupError(name)


def _deep(value: Any, seen: set[int]) -> int:
    if id(value) in seen:
        return 0
    seen.add(id(value))
    size = sys.getsizeof(value)
    if isinstance(value, dict):
        size += sum(_deep(k, seen) + _deep(v, seen) for k, v in value.items())
    elif isinstance(value, (list, tuple, set, frozenset, deque)):
        size += sum(_deep(v, seen) for v in value)
    elif not isinstance(value, (str, bytes, int, float, bool, type(None))):
        slots = [s for cls in type(value).__mro__ for s in getattr(cls, "__slots__", ())]
        size += sum(_deep(getattr(value, s), seen) for s in slots if hasattr(value, s))
        if hasattr(value, "__dict__"):
            size += _deep(vars(value), seen)
    return size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=("traced", "rss", "generate"), default="traced")
    parser.add_argument("--alerts", type=Path, help="default: /tmp/fairwatch-ledger-alerts-EVENTS-CUSTOMERS.ndjson")
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--bound", type=int, default=10_000, help="max_findings (FAIRWATCH_PAGE_MAX_ALERTS)")
    args = parser.parse_args()
    if args.alerts is None:
        args.alerts = Path(f"/tmp/fairwatch-ledger-alerts-{args.events}-{args.customers}.ndjson")
    if args.mode == "generate":
        _generate(args.alerts, args.events, args.customers)
        return
    if not args.alerts.exists():
        command = [sys.executable, __file__, "--mode", "generate", "--alerts", str(args.alerts)]
        subprocess.run([*command, "--events", str(args.events), "--customers", str(args.customers)], check=True)

    import orjson

    from models.ledger import Ledger

    gc.collect()
    traced = args.mode == "traced"
    if traced:
        tracemalloc.start()
    rss_before = _status("VmRSS")
    ledger = Ledger(feed_size=500, max_findings=args.bound)
    highest = (0, 0)  # traced bytes, findings then
    with args.alerts.open("rb") as alerts:
        for n, line in enumerate(alerts, 1):
            ledger.add_document(orjson.loads(line))
            if traced and n % 1000 == 0:
                current = tracemalloc.get_traced_memory()[0]
                highest = max(highest, (current, len(ledger.findings)))
    gc.collect()
    held = len(ledger.findings)
    print(f"emissions {ledger.seq}, findings held {held} (bound {args.bound}), forgotten {ledger.forgotten}")
    if traced:
        current = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        print(f"traced after the fold: {current / MIB:.2f} MiB, {current / held:.0f} B per finding")
        most, then = highest
        print(f"traced highest while folding: {most / MIB:.2f} MiB at {then} findings, {most / then:.0f} B per finding")
        seen: set[int] = set()
        for name in ("findings", "by_customer", "feed"):
            size = _deep(getattr(ledger, name), seen)
            print(f"  {name}: {size / MIB:.2f} MiB ({size / held:.0f} B per finding)")
    else:
        rss_after, peak = _status("VmRSS"), _status("VmHWM")
        print(f"RSS before the fold {rss_before / 1024:.1f} MiB, after {rss_after / 1024:.1f} MiB")
        print(f"  held by the ledger {(rss_after - rss_before) / 1024:.1f} MiB; peak RSS {peak / 1024:.1f} MiB")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()

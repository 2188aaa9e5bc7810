"""The ``fairwatch`` command: worker, demo, produce, alerts."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

__all__ = ["main"]

USAGE = """fairwatch <command> [options]

commands:
  worker [faust worker options]   run a worker (e.g. fairwatch worker -l info)
  demo [--seconds N] [--customers N]
                                  embedded broker + worker + synthetic customers; alerts print live
  produce FILE [--skip-bad]       publish JSON Lines events, validated first
  produce --plans CATALOG [FILE]  publish a plan catalog (JSON or TOML), validated first; then FILE's events
  alerts [--from-beginning] [--json]
                                  follow the alert topic
  policy                          print the effective policy (defaults, FAIRWATCH_POLICY file, environment)
"""


def _fail(message: str) -> int:
    print(f"fairwatch: {message}", file=sys.stderr)
    return 2


def run_worker(argv: list[str]) -> int:
    from models.errors import PolicyError
    from streams.config import ConfigError

    try:
        import agents.ingest
        import agents.web  # noqa: F401  (registers /metrics, /health, /ready)
        from streams.app import app
    except (ConfigError, PolicyError) as exc:
        return _fail(str(exc))
    sys.argv = ["fairwatch", "worker", *argv]
    app.main()
    return 0


def print_policy() -> int:
    import os

    from models.errors import PolicyError
    from models.policy import load_policy

    try:
        policy = load_policy(os.environ.get("FAIRWATCH_POLICY") or None, os.environ)
    except PolicyError as exc:
        return _fail(str(exc))
    for key, value in policy.as_dict().items():
        # TOML, so the output can be saved as a policy file and edited.
        print(f'{key} = "{value}"' if isinstance(value, str) else f"{key} = {value}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0 if args else 2
    command, rest = args[0], args[1:]
    if command == "worker":
        return run_worker(rest)
    if command == "demo":
        parser = argparse.ArgumentParser(prog="fairwatch demo")
        parser.add_argument("--seconds", type=float, default=None, help="stop by itself after N seconds")
        parser.add_argument("--customers", type=int, default=40, help="synthetic customers (default 40)")
        options = parser.parse_args(rest)
        from streams.demo import run_demo

        return run_demo(seconds=options.seconds, customers=options.customers)
    if command == "produce":
        parser = argparse.ArgumentParser(prog="fairwatch produce")
        parser.add_argument("file", type=Path, nargs="?", help="JSON Lines events")
        parser.add_argument("--skip-bad", action="store_true", help="publish the valid lines even if some are bad")
        parser.add_argument("--plans", type=Path, metavar="CATALOG",
                            help="publish a plan catalog (JSON or TOML) to the plans topic first")
        options = parser.parse_args(rest)
        if options.file is None and options.plans is None:
            parser.error("give an events FILE, --plans CATALOG, or both")
        from streams.tools import produce_file, produce_plans

        if options.plans is not None:
            status = asyncio.run(produce_plans(options.plans))
            if status or options.file is None:
                return status
        return asyncio.run(produce_file(options.file, skip_bad=options.skip_bad))
    if command == "policy":
        return print_policy()
    if command == "alerts":
        parser = argparse.ArgumentParser(prog="fairwatch alerts")
        parser.add_argument("--from-beginning", action="store_true")
        parser.add_argument("--json", action="store_true", help="print each CloudEvent as one JSON line")
        options = parser.parse_args(rest)
        from streams.tools import follow_alerts

        try:
            return asyncio.run(follow_alerts(from_beginning=options.from_beginning, as_json=options.json))
        except KeyboardInterrupt:
            return 0
    print(USAGE, file=sys.stderr)
    return _fail(f"unknown command {command!r}")


if __name__ == "__main__":
    sys.exit(main())

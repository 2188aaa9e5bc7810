"""The ``fairwatch`` command: worker, demo, produce, alerts, alertmanager and the tools."""

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
  alertmanager                    post the alerts to Prometheus Alertmanager (FAIRWATCH_ALERTMANAGER_URL)
  forget CUSTOMER_ID              forget a customer: their state (a changelog tombstone) and the page's memory
  policy                          print the effective policy (defaults, FAIRWATCH_POLICY file, environment)
  report [--since WHEN] [--until WHEN] [--out DIR]
                                  "coming clean" report from the alert topic: DIR/report.html and CSV files
  bench [--events N] [--customers N] [--workers N]
                                  throughput against raw aiokafka, bare Faust and Quix Streams; bench-results.json
  bench --rules-only [--events N] [--customers N]
                                  the rules alone, in-process (no broker): events/s against the 50,000 target
  simulate --customers N --months M --seed S --out DIR [--end WHEN]
                                  generate a world: DIR/events.jsonl, plans.toml and truth.jsonl (planted conditions)
  evaluate DIR [--partitions N] [--in-process]
                                  run DIR's world through a real worker; precision/recall per kind; DIR/score.json
"""


#: How long the worker's start-up check waits for a broker that refuses connections (one still starting).
KAFKA_CHECK_WAIT_SECONDS = 30.0


def _fail(message: str) -> int:
    print(f"fairwatch: {message}", file=sys.stderr)
    return 2


def run_worker(argv: list[str]) -> int:
    import asyncio as _asyncio
    import os

    from models.errors import PolicyError
    from models.policy import load_policy
    from streams.app import create_app, install, use_uvloop
    from streams.config import ConfigError, load_config
    from streams.state_dir import mark_clean, wipe_if_unclean
    from streams.tools.topic_commands import check_configured_topics
    from streams.topics import TopicCheckError

    # First: Faust's app takes the thread's event loop when it is made (create_app, the agents' timers), so a
    # policy set after that leaves the worker on asyncio's loop (as it ran until 2026-12: py-spy showed
    # asyncio's _run_once on the worker's main thread).
    use_uvloop()
    try:
        config = load_config()
        policy = load_policy(config.policy_path, os.environ)
    except (ConfigError, PolicyError) as exc:
        return _fail(str(exc))
    refused = config.web_access.bind_problem(config.web_host)
    if refused is not None:
        return _fail(refused)
    from streams.security import check_connection_now

    # Before anything starts: a wrong CA, protocol or password is one line here, not "unable to bootstrap".
    problem = check_connection_now(config.bootstrap_servers, config.kafka_security, wait=KAFKA_CHECK_WAIT_SECONDS)
    if problem is not None:
        return _fail(problem)
    import logging

    # Faust sets up logging when the worker starts; until then the check and the wipe speak through this.
    early = logging.StreamHandler()
    early.setFormatter(logging.Formatter("[%(asctime)s] [%(process)d] [%(levelname)s] %(message)s"))
    fairwatch_log = logging.getLogger("fairwatch")
    fairwatch_log.addHandler(early)
    fairwatch_log.setLevel(logging.INFO)
    try:
        # Before anything joins the group: the partition count of every table and topic comes from here.
        layout = _asyncio.run(check_configured_topics(config))
    except TopicCheckError as exc:
        fairwatch_log.removeHandler(early)
        return _fail(str(exc))
    runtime = install(create_app(config, policy, layout))
    if config.store == "rocksdb":
        wipe_if_unclean(config.data_dir, runtime.app.conf.tabledir)
    fairwatch_log.removeHandler(early)
    import agents.auth
    import agents.ingest
    import agents.page
    import agents.web  # noqa: F401  (registers /metrics, /health, /ready, /live; agents.page: /, the customer page)

    print(f"fairwatch: {config.web_access.describe(config.web_host, config.web_port)}", file=sys.stderr)
    sys.argv = ["fairwatch", "worker", *argv]
    try:
        runtime.app.main()
    except SystemExit as stop:
        if stop.code in (0, None) and config.store == "rocksdb":
            mark_clean(config.data_dir)
        raise
    if config.store == "rocksdb":
        mark_clean(config.data_dir)
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


def run_report_command(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="fairwatch report")
    parser.add_argument("--since", help="findings raised from (YYYY-MM, YYYY-MM-DD or RFC 3339; default: all)")
    parser.add_argument("--until", help="up to (exclusive; a month or day given is included; default: no end)")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("fairwatch-report"),
        help="directory for report.html and the CSV files (default ./fairwatch-report)",
    )
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to read the alert topic (default 60)")
    options = parser.parse_args(argv)
    from streams.config import ConfigError, load_config
    from streams.tools.report import run_report

    try:
        config = load_config()
    except ConfigError as exc:
        return _fail(str(exc))
    return run_report(
        config.bootstrap_servers, options.since, options.until, options.out, options.timeout, config.topics.alerts
    )


def run_simulate(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="fairwatch simulate")
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--end", help="RFC 3339 end of the world (default: the 1st of this month, 00:00 UTC)")
    options = parser.parse_args(argv)
    from models.timestamps import parse_rfc3339
    from streams.tools.simulate import generate, write_world

    try:
        end = parse_rfc3339(options.end) if options.end else None
        world = generate(options.customers, options.months, options.seed, end)
    except ValueError as exc:
        return _fail(str(exc))
    summary = write_world(world, options.out, customers=options.customers, months=options.months)
    print(
        f"{options.out}: {summary['published']} events ({summary['retries']} retries) for {options.customers} "
        f"customers, {summary['window_start']} to {summary['end']}; {sum(summary['truth'].values())} planted "
        f"conditions, {sum(summary['near_misses'].values())} near-misses"
    )
    return 0


def run_evaluate(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="fairwatch evaluate")
    parser.add_argument("world", type=Path, help="a directory written by fairwatch simulate")
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--in-process", action="store_true", help="replay in this process (no broker, no worker)")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds to wait for the worker")
    options = parser.parse_args(argv)
    if not (options.world / "world.json").exists():
        return _fail(f"{options.world} is not a world written by fairwatch simulate")
    from streams.tools.evaluate import evaluate

    return evaluate(
        options.world, in_process=options.in_process, partitions=options.partitions, timeout=options.timeout
    )


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
        from streams.tools.demo import run_demo

        return run_demo(seconds=options.seconds, customers=options.customers)
    if command == "produce":
        parser = argparse.ArgumentParser(prog="fairwatch produce")
        parser.add_argument("file", type=Path, nargs="?", help="JSON Lines events")
        parser.add_argument("--skip-bad", action="store_true", help="publish the valid lines even if some are bad")
        parser.add_argument(
            "--plans",
            type=Path,
            metavar="CATALOG",
            help="publish a plan catalog (JSON or TOML) to the plans topic first",
        )
        options = parser.parse_args(rest)
        if options.file is None and options.plans is None:
            parser.error("give an events FILE, --plans CATALOG, or both")
        from streams.tools.topic_commands import produce_file, produce_plans

        if options.plans is not None:
            status = asyncio.run(produce_plans(options.plans))
            if status or options.file is None:
                return status
        return asyncio.run(produce_file(options.file, skip_bad=options.skip_bad))
    if command == "forget":
        parser = argparse.ArgumentParser(prog="fairwatch forget")
        parser.add_argument("customer_id")
        options = parser.parse_args(rest)
        from streams.config import ConfigError
        from streams.tools.topic_commands import forget_customer

        try:
            return asyncio.run(forget_customer(options.customer_id))
        except ConfigError as exc:
            return _fail(str(exc))
    if command == "policy":
        return print_policy()
    if command == "alertmanager":
        from streams.tools.alertmanager import run_bridge

        return run_bridge()
    if command == "simulate":
        return run_simulate(rest)
    if command == "evaluate":
        return run_evaluate(rest)
    if command == "report":
        return run_report_command(rest)
    if command == "bench":
        from streams.tools.bench.run import main as bench_main

        return bench_main(rest)
    if command == "alerts":
        parser = argparse.ArgumentParser(prog="fairwatch alerts")
        parser.add_argument("--from-beginning", action="store_true")
        parser.add_argument("--json", action="store_true", help="print each CloudEvent as one JSON line")
        options = parser.parse_args(rest)
        from streams.tools.topic_commands import follow_alerts

        try:
            return asyncio.run(follow_alerts(from_beginning=options.from_beginning, as_json=options.json))
        except KeyboardInterrupt:
            return 0
    print(USAGE, file=sys.stderr)
    return _fail(f"unknown command {command!r}")


if __name__ == "__main__":
    sys.exit(main())

"""docker-compose.yml, the Dockerfile and the compose Prometheus config agree with each other and with the code.

There is no Docker engine in CI, so this reads the files; ``docker compose config``
also runs when the docker client has the compose plugin.
"""

from __future__ import annotations

import itertools
import re
import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path, PurePosixPath

import pytest
import yaml

from streams import topics as code_topics
from streams.config import load_config
from streams.tools.alertmanager import load_bridge_settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
PROMETHEUS_CONFIG = ROOT / "ops" / "prometheus" / "prometheus.yml"
ALERTMANAGER_CONFIG = ROOT / "ops" / "alertmanager" / "alertmanager.yml"
KAFKA_TOPICS = "/opt/kafka/bin/kafka-topics.sh"
COMPACT = {"cleanup.policy": "compact"}
#: Topic configs beyond the partition count, where the worker declares one.
TOPIC_CONFIGS = {code_topics.TICKS_TOPIC: {"retention.ms": "3600000"}}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def services(compose: dict) -> dict:
    return compose["services"]


@pytest.fixture(scope="module")
def workers(services: dict) -> dict[str, dict]:
    """The fairwatch workers: the services configured with FAIRWATCH_BROKER that run the image's command."""
    return {
        name: svc
        for name, svc in services.items()
        if "FAIRWATCH_BROKER" in svc.get("environment", {}) and "command" not in svc
    }


def env_of(service: dict) -> dict[str, str]:
    environment = service.get("environment", {})
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) for item in environment)
    return {key: str(value) for key, value in environment.items()}


def mounts(service: dict) -> dict[str, str]:
    """Container path -> source (host path or volume name), read-only flags dropped."""
    found = {}
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        found[target] = source
    return found


def created_topics(service: dict) -> dict[str, tuple[int, dict[str, str], str]]:
    """topic -> (partitions, --config pairs, bootstrap server), from each ``kafka-topics.sh --create`` line."""
    command = service["command"]
    script = command if isinstance(command, str) else "\n".join(command)
    topics = {}
    for line in script.splitlines():
        words = shlex.split(line)
        if not words or words[0] != KAFKA_TOPICS or "--create" not in words:
            continue
        options: dict[str, list[str]] = {}
        for flag, value in itertools.pairwise(words):
            if flag.startswith("--") and not value.startswith("--"):
                options.setdefault(flag, []).append(value)
        configs = dict(pair.split("=", 1) for pair in options.get("--config", []))
        (topic,) = options["--topic"]
        topics[topic] = (int(options["--partitions"][0]), configs, options["--bootstrap-server"][0])
    return topics


def test_kafka_is_a_single_apache_kafka_node_in_kraft_mode(services: dict) -> None:
    kafka = services["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    env = env_of(kafka)
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    node_id = env["KAFKA_NODE_ID"]
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == f"{node_id}@kafka:9093"
    assert env["KAFKA_CONTROLLER_LISTENER_NAMES"] == "CONTROLLER"
    assert "CONTROLLER://:9093" in env["KAFKA_LISTENERS"].split(",")
    assert "PLAINTEXT://kafka:9092" in env["KAFKA_ADVERTISED_LISTENERS"].split(",")
    assert "ZOOKEEPER" not in " ".join(env).upper()
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "1"
    assert "healthcheck" in kafka


def test_topic_init_creates_every_topic_with_its_partitions_and_compaction(services: dict) -> None:
    (init_name,) = [name for name, svc in services.items() if KAFKA_TOPICS in str(svc.get("command", ""))]
    init = services[init_name]
    assert init["image"] == services["kafka"]["image"]
    assert init["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert init.get("restart", "no") == "no"

    worker_config = load_config({"FAIRWATCH_BROKER": "kafka:9092"})
    partitions = worker_config.partitions
    changelog = f"{worker_config.app_id}-customers-changelog"
    # Every topic streams.topics names by default (inputs, alerts, dead letters, ticks...), so a topic added
    # in the code and forgotten here fails this test. (Input roles are not names: the feedback topic's role is
    # ``feedback``, its name ``fairwatch.feedback``.)
    defaults = code_topics.TopicNames()
    worker_topics = {getattr(defaults, name) for name in code_topics.TOPIC_VARIABLES}
    assert {"orders", "billing", "complaints", "fairwatch.feedback", "fairwatch.alerts"} <= worker_topics
    expected = {
        **{topic: (partitions, TOPIC_CONFIGS.get(topic, {})) for topic in worker_topics},
        "plans": (1, COMPACT),
        changelog: (partitions, COMPACT),
    }
    assert partitions == 8 and changelog == "fairwatch-customers-changelog"
    created = created_topics(init)
    assert {topic: (n, configs) for topic, (n, configs, _) in created.items()} == expected
    assert {bootstrap for _, _, bootstrap in created.values()} == {"kafka:9092"}


def test_two_workers_share_the_group_with_their_own_ports_and_data(compose: dict, workers: dict) -> None:
    assert sorted(workers) == ["worker-1", "worker-2"]
    ports, data_volumes = set(), set()
    for name, worker in workers.items():
        env = env_of(worker)
        assert env["FAIRWATCH_BROKER"] == "kafka:9092"
        assert env["FAIRWATCH_WEB_HOST"] == "0.0.0.0"
        assert env["FAIRWATCH_STORE"] == "rocksdb"
        config = load_config(env)  # what the worker will make of it: valid, and as intended
        assert (config.store, config.web_host, config.app_id) == ("rocksdb", "0.0.0.0", "fairwatch")
        port = config.web_port
        assert env["NODE_CANONICAL_URL"] == f"http://{name}:{port}", "other workers forward /customers/{id} here"
        assert f"{port}:{port}" in worker["ports"]
        data_dir = env["FAIRWATCH_DATA_DIR"]
        volume = mounts(worker)[data_dir]
        assert volume in compose["volumes"], f"{name}: {data_dir} must be a named volume"
        ports.add(port)
        data_volumes.add(volume)
        assert worker["build"] == "."
        assert worker["depends_on"] == {"topics": {"condition": "service_completed_successfully"}}
    assert len(ports) == len(data_volumes) == 2


def test_dockerfile_builds_the_worker_image() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim\s*$", dockerfile, re.M)
    assert re.search(r"^RUN pip install \.\s*$", dockerfile, re.M)
    # The compose workers run FAIRWATCH_STORE=rocksdb: rocksdict must come with a plain install.
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert any("rocksdict" in dependency for dependency in dependencies), dependencies
    assert re.search(r'^CMD \["fairwatch", "worker", "-l", "info"\]\s*$', dockerfile, re.M)


def test_prometheus_loads_the_shipped_config_and_rules(services: dict) -> None:
    prometheus = services["prometheus"]
    assert prometheus["image"].startswith("prom/prometheus:")
    mounted = mounts(prometheus)
    config_in_container = PurePosixPath("/etc/prometheus/prometheus.yml")
    assert (ROOT / mounted[str(config_in_container)]).resolve() == PROMETHEUS_CONFIG
    # Each rule file the config names, resolved as Prometheus does (next to the
    # config), is mounted from the file of that name beside our config.
    rule_files = yaml.safe_load(PROMETHEUS_CONFIG.read_text())["rule_files"]
    assert rule_files == ["rules.yml"]
    for rule_file in rule_files:
        source = ROOT / mounted[str(config_in_container.parent / rule_file)]
        assert source.resolve() == PROMETHEUS_CONFIG.parent / rule_file
        assert source.is_file()


def test_prometheus_scrapes_exactly_the_two_workers_and_the_bridge(services: dict, workers: dict) -> None:
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    targets = {
        target
        for job in config["scrape_configs"]
        for static in job.get("static_configs", [])
        for target in static["targets"]
    }
    bridge = f"alertmanager-bridge:{env_of(services['alertmanager-bridge'])['FAIRWATCH_ALERTMANAGER_METRICS_PORT']}"
    assert targets == {f"{name}:{env_of(worker)['FAIRWATCH_WEB_PORT']}" for name, worker in workers.items()} | {bridge}
    assert [job["job_name"] for job in config["scrape_configs"]] == ["fairwatch", "fairwatch-alertmanager-bridge"]
    assert config["scrape_configs"][0].get("metrics_path", "/metrics") == "/metrics"
    assert config["scrape_configs"][1]["static_configs"] == [{"targets": [bridge]}]


def test_alertmanager_runs_the_shipped_config_with_storage_that_survives(compose: dict, services: dict) -> None:
    alertmanager = services["alertmanager"]
    assert alertmanager["image"].startswith("prom/alertmanager:v0.25.")  # Debian's version, which the tests run
    flags = dict(flag.split("=", 1) for flag in alertmanager["command"])
    assert (ROOT / mounts(alertmanager)[flags["--config.file"]]).resolve() == ALERTMANAGER_CONFIG
    assert mounts(alertmanager)[flags["--storage.path"]] in compose["volumes"]
    assert flags["--cluster.listen-address"] == ""
    assert "9093:9093" in alertmanager["ports"]


def test_the_bridge_reads_the_alerts_and_posts_to_the_compose_alertmanager(services: dict) -> None:
    bridge = services["alertmanager-bridge"]
    assert bridge["command"] == ["fairwatch", "alertmanager"]
    assert bridge["build"] == "."
    assert bridge["restart"] == "unless-stopped"
    assert bridge["depends_on"]["topics"] == {"condition": "service_completed_successfully"}
    assert "alertmanager" in bridge["depends_on"]
    settings = load_bridge_settings(env_of(bridge))  # what the bridge will make of it: valid, and as intended
    assert settings.urls == ("http://alertmanager:9093",)
    assert settings.bootstrap == ["kafka:9092"]
    assert settings.group_id == "fairwatch-alertmanager"
    assert settings.metrics_host == "0.0.0.0"
    # The image's health check asks the worker's web port; the bridge answers on its metrics port.
    assert f"127.0.0.1:{settings.metrics_port}/metrics" in " ".join(bridge["healthcheck"]["test"])


def docker_compose_command() -> list[str] | None:
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True, timeout=30).returncode == 0:
        return [docker, "compose"]
    standalone = shutil.which("docker-compose")
    return [standalone] if standalone else None


def test_docker_compose_config_accepts_the_file() -> None:
    command = docker_compose_command()
    if command is None:
        pytest.skip("no docker compose plugin or docker-compose here; the file is checked by the tests above")
    done = subprocess.run(
        [*command, "-f", str(COMPOSE_FILE), "config", "--quiet"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr

"""docker-compose.yml gives the workers, which bind 0.0.0.0, a web token from a file nobody commits."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_workers_bound_beyond_loopback_read_their_token_from_an_uncommitted_env_file() -> None:
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    workers = {name: svc for name, svc in services.items() if "FAIRWATCH_BROKER" in svc.get("environment", {})}
    assert workers
    for name, worker in workers.items():
        assert worker["environment"]["FAIRWATCH_WEB_HOST"] == "0.0.0.0"
        # No token written into the compose file, and no deliberate opening.
        assert "FAIRWATCH_WEB_TOKEN" not in worker["environment"], name
        assert "FAIRWATCH_WEB_ALLOW_OPEN" not in worker["environment"], name
        assert worker["env_file"] == [{"path": "web-token.env", "required": False}], name
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", "web-token.env"], cwd=ROOT, capture_output=True, timeout=30
    ).returncode
    assert ignored == 0, "web-token.env must be git-ignored"
    assert 'FAIRWATCH_WEB_TOKEN=$(openssl rand -hex 24)" > web-token.env' in (ROOT / "README.md").read_text()

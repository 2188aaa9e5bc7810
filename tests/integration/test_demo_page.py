"""``fairwatch demo`` prints the live page's address, and the page there shows the demo's alerts."""

from __future__ import annotations

import re
import signal
import subprocess
import time
import urllib.request

import orjson
import pytest

from tests.support.demo import DEMO, demo_env, started
from tests.support.processes import wait_gone

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def test_the_demo_prints_the_page_address_and_the_page_shows_its_alerts() -> None:
    process = subprocess.Popen(DEMO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=demo_env())
    try:
        lines, broker, workdir = started(process, "first alert")  # the worker is up by then
        page = re.search(r"live page (http://127\.0\.0\.1:\d+/)", "".join(lines))
        assert page, lines
        with urllib.request.urlopen(
            urllib.request.Request(page.group(1), headers={"Accept": "text/html"}), timeout=5
        ) as response:
            assert response.headers["Content-Type"].startswith("text/html")
            assert b"/static/app.js" in response.read()
        deadline = time.monotonic() + 60
        while True:
            with urllib.request.urlopen(page.group(1) + "api/alerts?after=0", timeout=5) as response:
                alerts = orjson.loads(response.read())["alerts"]
            if alerts or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert alerts, "no alert on the demo's page within 60 s"
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=60)
        assert process.returncode == 0, out
        assert wait_gone(broker, 5) == [] and wait_gone(workdir, 5) == []
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)

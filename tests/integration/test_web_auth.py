"""The web port with FAIRWATCH_WEB_TOKEN: every route the worker serves, one by one, with and without the token.

The routes are enumerated from the app itself (fairwatch's pages and APIs and
Faust's own blueprints, as a worker initialises them), so a route added later is
checked without anyone adding it here. Also: a request one worker forwards to
another (GET /customers/{id} for a partition the other owns) still works with the
token on; no token binds loopback only, and elsewhere the worker refuses to start.
"""

from __future__ import annotations

import re
import time
import urllib.error
import urllib.parse
import urllib.request

import orjson
import pytest

from streams.security import OPEN_PATHS
from tests.support.kafka_io import produce, read_topic, run
from tests.support.pipeline_scenario import WORKER_ENV, scenario
from tests.support.workers import TOKEN, wait_until_split

pytestmark = pytest.mark.integration

AUTH_ENV = {**WORKER_ENV, "FAIRWATCH_WEB_TOKEN": TOKEN}
#: What each path parameter is filled with when a route is requested.
PARAMETERS = {"customer_id": "c-late", "key": "c-late"}


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def fetch(
    url: str, method: str = "GET", headers: dict[str, str] | None = None, data: bytes | None = None
) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, method=method, headers=headers or {}, data=data)
    try:
        with _opener.open(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def app_routes() -> set[tuple[str, str]]:
    """(method, path template) of every route a worker serves: the app's own modules and Faust's blueprints."""
    from models.policy import load_policy
    from streams.app import create_app, install
    from streams.config import load_config
    from streams.topics import Layout

    config = load_config({})
    # The agents register on the installed runtime when first imported (once per process), as in a worker.
    app = install(create_app(config, load_policy(None, {}), Layout(config.topics, 4))).app
    import agents.auth
    import agents.ingest
    import agents.page
    import agents.web  # noqa: F401

    def templates() -> set[str]:
        return {route.resource.canonical for route in app.web.web_app.router.routes() if route.resource}

    # What a worker does as its web server starts: Faust's blueprints join the app's pages (once per process).
    if not any(template.startswith("/router") for template in templates()):
        app.web.init_server()
    routes = set()
    for route in app.web.web_app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        template = info.get("formatter") or info.get("path") or info.get("prefix")
        if template and route.method != "HEAD":
            routes.add((route.method, template))
    return routes


def fill(template: str) -> str:
    values = {**PARAMETERS, "name": "index.html" if template.startswith("/static") else "customers"}
    return re.sub(r"\{(\w+)(:[^}]*)?\}", lambda m: urllib.parse.quote(values.get(m.group(1), "x")), template)


def test_every_route_but_the_probes_needs_the_token(start_worker, broker) -> None:
    routes = app_routes()
    paths = {template for _, template in routes}
    # The enumeration sees what matters: fairwatch's own routes and Faust's raw-state ones.
    assert {"/", "/api/summary", "/customers/{customer_id}", "/login", "/metrics", "/health", "/ready"} <= paths
    assert any(p.startswith("/table") for p in paths) and any(p.startswith("/router") for p in paths), paths

    worker = start_worker(env=AUTH_ENV)
    run(produce(broker, scenario(int(time.time() * 1000))[1]["good"]))
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    checked = []
    for method, template in sorted(routes):
        url = worker.url + fill(template)
        data = b"" if method in ("POST", "PUT", "PATCH") else None
        status, headers, body = fetch(url, method, data=data)
        if template in OPEN_PATHS:
            assert status == 200, (method, template, status)
            continue
        if template == "/login":  # the form itself, open; an empty POST is a wrong token
            assert b'<form method="post" action="/login"' in body, (method, status)
            assert status == (200 if method == "GET" else 401)
            continue
        assert status == 401, (method, template, status, body[:200])
        assert headers.get("WWW-Authenticate") == 'Bearer realm="fairwatch"'
        assert b"c-late" not in body and b"O-1" not in body
        wrong, _, _ = fetch(url, method, headers={"Authorization": "Bearer " + TOKEN[:-1] + "X"}, data=data)
        assert wrong == 401, (method, template)
        allowed, headers, _ = fetch(url, method, headers=bearer, data=data)
        assert allowed != 401, (method, template)
        assert not headers.get("Location", "").startswith("/login?"), (method, template)  # not sent to log in
        checked.append((method, template))
    assert len(checked) >= 10, checked

    # A browser asking for a page is sent to the login form, which sends it back after a good login.
    status, headers, _ = fetch(worker.url + "/customers/c-late", headers={"Accept": "text/html"})
    assert status == 303 and headers["Location"] == "/login?next=/customers/c-late"
    form = urllib.parse.urlencode({"token": "wrong-token-wrong-token", "next": "/customers/c-late"}).encode()
    status, headers, body = fetch(worker.url + "/login", "POST", data=form)
    assert status == 401 and "Set-Cookie" not in headers and b"That is not the token." in body
    form = urllib.parse.urlencode({"token": TOKEN, "next": "https://evil.example/"}).encode()
    status, headers, _ = fetch(worker.url + "/login", "POST", data=form)
    assert status == 303 and headers["Location"] == "/"  # never an open redirect
    cookie = headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    assert TOKEN not in cookie
    session = cookie.split(";", 1)[0]
    status, _, body = fetch(worker.url + "/customers/c-late", headers={"Cookie": session})
    assert status == 200 and orjson.loads(body)["customer_id"] == "c-late"
    forged = session[:-1] + ("0" if session[-1] != "0" else "1")
    assert fetch(worker.url + "/api/summary", headers={"Cookie": forged})[0] == 401
    # The token never shows on the pages or /metrics.
    for path in ("/", "/api/summary", "/metrics", "/login"):
        assert TOKEN.encode() not in fetch(worker.url + path, headers=bearer)[2]
    worker_log = worker.log_path.read_text(errors="replace")
    assert "every page and API needs FAIRWATCH_WEB_TOKEN" in worker_log
    assert TOKEN not in worker_log


def test_a_request_forwarded_to_the_owner_carries_the_token(start_worker, broker) -> None:
    first = start_worker(env=AUTH_ENV, name="first")
    second = start_worker(env=AUTH_ENV, name="second")
    wait_until_split([first, second])
    messages, expected = scenario(int(time.time() * 1000))
    run(produce(broker, messages))
    run(read_topic(broker, "fairwatch.alerts", expect=len(expected["alerts"]), timeout=30))
    customers = ["c-late", "c-wrong", "c-fine", "c-lost"]
    partitions = set()
    for worker in (first, second):
        for customer in customers:
            url = f"{worker.url}/customers/{customer}"
            assert fetch(url)[0] == 401
            status, _, body = fetch(url, headers={"Authorization": f"Bearer {TOKEN}"})
            assert status == 200, (worker.url, customer, body)
            partitions.add(orjson.loads(body)["partition"])
            status, _, body = fetch(
                f"{worker.url}/api/customers/{customer}/story", headers={"Authorization": f"Bearer {TOKEN}"}
            )
            assert status == 200, (worker.url, customer, body)
    assert len(partitions) > 1  # both workers own some: requests were forwarded


def test_without_a_token_the_worker_serves_loopback_only(start_worker, tmp_path) -> None:
    worker = start_worker(env=WORKER_ENV)
    assert worker.get("/api/summary")[0] == 200
    assert "no FAIRWATCH_WEB_TOKEN, so it serves this machine only (loopback)" in worker.log_path.read_text()


def test_binding_beyond_loopback_without_a_token_is_refused_unless_allowed(broker, tmp_path) -> None:
    from streams.tools.supervisor import WorkerProcess

    refused = WorkerProcess(
        broker, tmp_path / "d1", tmp_path / "refused.log", env={"FAIRWATCH_WEB_HOST": "0.0.0.0"}, partitions=4
    ).start()
    try:
        assert refused.process is not None
        assert refused.process.wait(60) == 2
    finally:
        refused.stop()
    lines = (tmp_path / "refused.log").read_text().strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("fairwatch: FAIRWATCH_WEB_HOST=0.0.0.0 serves customer data beyond this machine")

    allowed = WorkerProcess(
        broker,
        tmp_path / "d2",
        tmp_path / "allowed.log",
        env={"FAIRWATCH_WEB_HOST": "0.0.0.0", "FAIRWATCH_WEB_ALLOW_OPEN": "1"},
        partitions=4,
    ).start()
    try:
        allowed.wait_ready(60)
        assert allowed.get("/api/summary")[0] == 200
    finally:
        allowed.stop()
    assert "OPEN to anyone who can reach it" in (tmp_path / "allowed.log").read_text()

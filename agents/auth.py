"""The web port's door: with FAIRWATCH_WEB_TOKEN set, every route but the probes needs the token.

One aiohttp middleware in front of everything the worker serves, fairwatch's
pages and APIs and Faust's own routes alike (``/table/{name}/{key}/`` and
``/router/`` would otherwise hand out raw customer state), so a route added
later is protected without anyone remembering to. The token comes as
``Authorization: Bearer <token>`` (scripts, curl) or as the login cookie the
form at ``/login`` sets (browsers): HttpOnly, SameSite=Strict, holding an HMAC
of the token rather than the token. Both are compared in constant time. Faust
forwards a request for a customer another worker owns with the request's own
headers, so the header or cookie goes along, and the other worker, holding the
same token, accepts it.

Open without the token: ``/health``, ``/ready``, ``/live``, ``/metrics`` (no
customer data; probes and Prometheus) and ``/login`` itself.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Awaitable, Callable
from urllib.parse import quote

from aiohttp import web
from faust.web import Request, Response, View

from streams.app import runtime
from streams.security import OPEN_PATHS, WEB_TOKEN_VAR

__all__ = ["SESSION_COOKIE", "LOGIN_PATH", "require_token", "login_page"]

rt = runtime()
app, config = rt.app, rt.config

log = logging.getLogger("fairwatch")

SESSION_COOKIE = "fairwatch_session"
LOGIN_PATH = "/login"
LOGOUT_PATH = "/logout"
#: The browser keeps the login for a working day.
SESSION_SECONDS = 12 * 3600

access = config.web_access

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _bearer(request: web.Request) -> str | None:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


def is_authorised(request: web.Request) -> bool:
    return access.accepts(_bearer(request)) or access.accepts_session(request.cookies.get(SESSION_COOKIE))


def _wants_page(request: web.Request) -> bool:
    return request.method == "GET" and "text/html" in request.headers.get("Accept", "")


@web.middleware
async def require_token(request: web.Request, handler: _Handler) -> web.StreamResponse:
    if not access.protected or request.path in OPEN_PATHS or request.path == LOGIN_PATH or is_authorised(request):
        return await handler(request)
    if _wants_page(request):
        raise web.HTTPSeeOther(f"{LOGIN_PATH}?next={quote(request.path_qs, safe='')}")
    return web.json_response(
        {"error": f"authentication required: Authorization: Bearer <{WEB_TOKEN_VAR}>, or log in at {LOGIN_PATH}"},
        status=401,
        headers={"WWW-Authenticate": 'Bearer realm="fairwatch"'},
    )


app.web.web_app.middlewares.append(require_token)


def _safe_next(target: str | None) -> str:
    """Only a path on this site: never ``//elsewhere`` or ``https://elsewhere`` (an open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def login_page(next_path: str, message: str = "") -> str:
    notice = f'<p class="error" id="login-error">{html.escape(message)}</p>' if message else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>fairwatch: log in</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font-family:system-ui,sans-serif;max-width:26rem;margin:4rem auto;padding:0 1rem}}
input{{width:100%;padding:.5rem;margin:.5rem 0;box-sizing:border-box}}.error{{color:#b00020}}</style></head>
<body><h1>fairwatch</h1><p>This worker's pages hold customer data. Enter its access token
({WEB_TOKEN_VAR}).</p>{notice}
<form method="post" action="{LOGIN_PATH}" id="login">
<input type="hidden" name="next" value="{html.escape(next_path)}">
<label for="token">Access token</label>
<input type="password" name="token" id="token" autocomplete="current-password" required autofocus>
<button type="submit">Log in</button></form></body></html>
"""


@app.page(LOGIN_PATH)
class Login(View):
    async def get(self, request: Request) -> Response:
        return self.html(login_page(_safe_next(request.query.get("next"))))

    async def post(self, request: Request) -> Response:
        form = await request.post()
        next_path = _safe_next(str(form.get("next", "")))
        if not access.protected:
            return self.html(login_page(next_path, f"No {WEB_TOKEN_VAR} is set: nothing to log in to."), status=400)
        if not access.accepts(str(form.get("token", ""))):
            log.warning("web: a login with a wrong token from %s", request.remote)
            return self.html(login_page(next_path, "That is not the token."), status=401)
        response = web.Response(status=303, headers={"Location": next_path})
        response.set_cookie(
            SESSION_COOKIE,
            access.session_value(),
            max_age=SESSION_SECONDS,
            path="/",
            httponly=True,
            samesite="Strict",
        )
        return response


@app.page(LOGOUT_PATH)
class Logout(View):
    async def post(self, request: Request) -> Response:
        response = web.Response(status=303, headers={"Location": LOGIN_PATH})
        response.del_cookie(SESSION_COOKIE, path="/")
        return response

"""Kafka credentials: how every Kafka client fairwatch runs authenticates and encrypts.

Read once from the environment, with the names Kafka users know
(``FAIRWATCH_KAFKA_SECURITY_PROTOCOL`` and the ``FAIRWATCH_KAFKA_SASL_*`` /
``FAIRWATCH_KAFKA_SSL_*`` settings), validated as a whole, and handed out in the
two forms the clients take: Faust's ``broker_credentials`` for the worker, and
keyword arguments for every aiokafka producer, consumer and admin client of the
tools. The password is kept out of ``repr``/``str`` and out of every message
this module writes.

``check_connection`` connects once, before a worker starts, and turns a failure
into one line naming the cause; aiokafka alone says only "unable to bootstrap".
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import ipaddress
import os
import socket
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import faust

__all__ = [
    "KafkaSecurity",
    "PROTOCOLS",
    "MECHANISMS",
    "load_kafka_security",
    "faust_credentials",
    "aiokafka_kwargs",
    "client_kwargs",
    "check_connection",
    "check_connection_now",
    "EMBEDDED_ENV",
    "WebAccess",
    "load_web_access",
    "is_loopback",
    "OPEN_PATHS",
]

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")

_PREFIX = "FAIRWATCH_KAFKA_"
PROTOCOL_VAR = _PREFIX + "SECURITY_PROTOCOL"
MECHANISM_VAR = _PREFIX + "SASL_MECHANISM"
USERNAME_VAR = _PREFIX + "SASL_USERNAME"
PASSWORD_VAR = _PREFIX + "SASL_PASSWORD"
PASSWORD_FILE_VAR = _PREFIX + "SASL_PASSWORD_FILE"
CAFILE_VAR = _PREFIX + "SSL_CAFILE"
CERTFILE_VAR = _PREFIX + "SSL_CERTFILE"
KEYFILE_VAR = _PREFIX + "SSL_KEYFILE"
#: Environment overrides for a worker on the embedded broker, which listens in plaintext whatever the
#: company's cluster needs: every FAIRWATCH_KAFKA_* setting emptied (empty counts as unset).
EMBEDDED_ENV = {
    name: ""
    for name in (
        PROTOCOL_VAR,
        MECHANISM_VAR,
        USERNAME_VAR,
        PASSWORD_VAR,
        PASSWORD_FILE_VAR,
        CAFILE_VAR,
        CERTFILE_VAR,
        KEYFILE_VAR,
    )
}


@dataclass(frozen=True, slots=True)
class KafkaSecurity:
    """How to reach the brokers. The default is plaintext with no authentication (a local broker)."""

    protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    #: Never shown: not in repr/str, not in any message.
    sasl_password: str | None = field(default=None, repr=False, compare=False)
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None

    @property
    def uses_ssl(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    @property
    def uses_sasl(self) -> bool:
        return self.protocol in ("SASL_PLAINTEXT", "SASL_SSL")

    def ssl_context(self) -> ssl.SSLContext | None:
        """A verifying client context (the CA file, else the system's trust store), or None without TLS."""
        if not self.uses_ssl:
            return None
        context = ssl.create_default_context(cafile=str(self.ssl_cafile) if self.ssl_cafile else None)
        if self.ssl_certfile is not None:
            context.load_cert_chain(str(self.ssl_certfile), str(self.ssl_keyfile) if self.ssl_keyfile else None)
        return context

    def describe(self) -> str:
        """One line for logs: protocol, mechanism, user and CA; never the password."""
        parts = [self.protocol]
        if self.uses_sasl:
            parts.append(f"{self.sasl_mechanism} as {self.sasl_username!r}")
        if self.uses_ssl:
            parts.append(f"CA {self.ssl_cafile}" if self.ssl_cafile else "system CAs")
            if self.ssl_certfile is not None:
                parts.append(f"client certificate {self.ssl_certfile}")
        return ", ".join(parts)


def _config_error(message: str) -> Exception:
    # Imported here: streams.config imports this module.
    from streams.config import ConfigError

    return ConfigError(message)


def _path(env: Mapping[str, str], name: str) -> Path | None:
    text = env.get(name) or ""
    if not text:
        return None
    path = Path(text)
    if not path.is_file():
        raise _config_error(f"{name}={text}: no such file")
    if not os.access(path, os.R_OK):
        raise _config_error(f"{name}={text}: not readable")
    return path


def _password(env: Mapping[str, str]) -> str | None:
    direct = env.get(PASSWORD_VAR) or None
    file_name = env.get(PASSWORD_FILE_VAR) or None
    if direct is not None and file_name is not None:
        raise _config_error(f"{PASSWORD_VAR} and {PASSWORD_FILE_VAR} are both set: set one")
    if file_name is None:
        return direct
    path = _path(env, PASSWORD_FILE_VAR)
    assert path is not None
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise _config_error(f"{PASSWORD_FILE_VAR}={file_name}: cannot be read ({type(exc).__name__})") from None
    # A mounted secret usually ends with a newline that is not part of the password.
    password = text.rstrip("\r\n")
    if not password:
        raise _config_error(f"{PASSWORD_FILE_VAR}={file_name}: the file is empty")
    return password


def load_kafka_security(environ: Mapping[str, str] | None = None) -> KafkaSecurity:
    """Read and check the settings as a whole; a wrong combination raises ConfigError naming the variable."""
    env = os.environ if environ is None else environ
    protocol = (env.get(PROTOCOL_VAR) or "PLAINTEXT").strip().upper()
    if protocol not in PROTOCOLS:
        raise _config_error(f"{PROTOCOL_VAR}={env.get(PROTOCOL_VAR)!r}: expected one of {', '.join(PROTOCOLS)}")
    sasl = protocol in ("SASL_PLAINTEXT", "SASL_SSL")
    tls = protocol in ("SSL", "SASL_SSL")

    sasl_vars = (MECHANISM_VAR, USERNAME_VAR, PASSWORD_VAR, PASSWORD_FILE_VAR)
    if not sasl:
        for name in sasl_vars:
            if env.get(name):
                raise _config_error(f"{name} is set but {PROTOCOL_VAR}={protocol} uses no SASL (SASL_SSL?)")
    if not tls:
        for name in (CAFILE_VAR, CERTFILE_VAR, KEYFILE_VAR):
            if env.get(name):
                raise _config_error(f"{name} is set but {PROTOCOL_VAR}={protocol} uses no TLS (SSL or SASL_SSL?)")

    mechanism = username = password = None
    if sasl:
        mechanism = (env.get(MECHANISM_VAR) or "").strip().upper() or None
        if mechanism is None:
            raise _config_error(f"{MECHANISM_VAR} is required with {PROTOCOL_VAR}={protocol}: {', '.join(MECHANISMS)}")
        if mechanism not in MECHANISMS:
            raise _config_error(f"{MECHANISM_VAR}={env.get(MECHANISM_VAR)!r}: expected one of {', '.join(MECHANISMS)}")
        username = env.get(USERNAME_VAR) or None
        if username is None:
            raise _config_error(f"{USERNAME_VAR} is required with {PROTOCOL_VAR}={protocol}")
        password = _password(env)
        if password is None:
            raise _config_error(f"{PASSWORD_VAR} or {PASSWORD_FILE_VAR} is required with {PROTOCOL_VAR}={protocol}")

    cafile = certfile = keyfile = None
    if tls:
        cafile = _path(env, CAFILE_VAR)
        certfile = _path(env, CERTFILE_VAR)
        keyfile = _path(env, KEYFILE_VAR)
        if keyfile is not None and certfile is None:
            raise _config_error(f"{KEYFILE_VAR} is set without {CERTFILE_VAR}: a client key needs its certificate")

    security = KafkaSecurity(protocol, mechanism, username, password, cafile, certfile, keyfile)
    if tls:
        _check_tls_files(security)
    return security


def _check_tls_files(security: KafkaSecurity) -> None:
    """Load the files once now, so a bad one is named at start and not as a handshake failure later."""
    try:
        ssl.create_default_context(cafile=str(security.ssl_cafile) if security.ssl_cafile else None)
    except (ssl.SSLError, OSError) as exc:
        raise _config_error(f"{CAFILE_VAR}={security.ssl_cafile}: not a PEM CA certificate ({_reason(exc)})") from None
    if security.ssl_certfile is not None:
        try:
            security.ssl_context()
        except (ssl.SSLError, OSError) as exc:
            names = CERTFILE_VAR + (f"/{KEYFILE_VAR}" if security.ssl_keyfile else "")
            raise _config_error(f"{names}: cannot load the client certificate and key ({_reason(exc)})") from None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return str(exc.reason)
    return str(exc) or type(exc).__name__


def faust_credentials(security: KafkaSecurity) -> faust.SASLCredentials | faust.SSLCredentials | None:
    """Faust's ``broker_credentials`` (None: plaintext). Faust hands them to its own aiokafka clients."""
    if security.uses_sasl:
        return faust.SASLCredentials(
            username=security.sasl_username,
            password=security.sasl_password,
            mechanism=security.sasl_mechanism,
            ssl_context=security.ssl_context(),
        )
    if security.uses_ssl:
        return faust.SSLCredentials(security.ssl_context())
    return None


def aiokafka_kwargs(security: KafkaSecurity) -> dict[str, Any]:
    """Keyword arguments for AIOKafkaProducer, AIOKafkaConsumer and AIOKafkaAdminClient."""
    kwargs: dict[str, Any] = {"security_protocol": security.protocol}
    if security.uses_ssl:
        kwargs["ssl_context"] = security.ssl_context()
    if security.uses_sasl:
        kwargs["sasl_mechanism"] = security.sasl_mechanism
        kwargs["sasl_plain_username"] = security.sasl_username
        kwargs["sasl_plain_password"] = security.sasl_password
    return kwargs


def client_kwargs(*, external: bool = True) -> dict[str, Any]:
    """aiokafka keyword arguments from the environment, for a tool's client.

    ``external=False``: the tool started its own embedded broker, which listens
    in plaintext on loopback whatever the company's cluster needs.
    """
    if not external:
        return {}
    return aiokafka_kwargs(load_kafka_security())


# -- the start-up check ----------------------------------------------------------------------------------------


def _host_port(server: str) -> tuple[str, int]:
    server = server.split("://", 1)[-1]
    host, _, port = server.rpartition(":")
    if not host:
        return server, 9092
    return host.strip("[]"), int(port)


async def _speaks_tls(host: str, port: int, timeout: float) -> bool:
    """Whether host:port completes a TLS handshake (certificate not checked): to name a plaintext/TLS mix-up."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, ssl=context, server_hostname=host), timeout
        )
    except (TimeoutError, OSError, ssl.SSLError):
        return False
    writer.close()
    with contextlib.suppress(Exception):
        await writer.wait_closed()
    return True


class _Transient(str):
    """A cause that may pass by itself (a broker still starting, a name not yet in DNS): worth waiting for."""


async def _probe(server: str, security: KafkaSecurity, timeout: float) -> str | None:
    """None when ``server`` answers a metadata request with these settings; else the cause, in a few words."""
    from aiokafka.conn import create_conn
    from aiokafka.protocol.metadata import MetadataRequest

    try:
        host, port = _host_port(server)
    except ValueError:
        return f"{server}: not host:port"
    where = f"{host}:{port}"
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except ConnectionRefusedError:
        return _Transient(f"{where}: connection refused (no broker listening there)")
    except socket.gaierror:
        return _Transient(f"{where}: cannot resolve {host}")
    except TimeoutError:
        return _Transient(f"{where}: no answer within {timeout:g} s (firewall? wrong address?)")
    except OSError as exc:
        return _Transient(f"{where}: cannot connect ({exc.strerror or exc})")
    writer.close()
    with contextlib.suppress(Exception):
        await writer.wait_closed()

    if security.uses_ssl:
        context = security.ssl_context()
        try:
            _, writer = await asyncio.wait_for(
                asyncio.open_connection(host, port, ssl=context, server_hostname=host), timeout
            )
        except ssl.SSLCertVerificationError as exc:
            trust = f"{CAFILE_VAR}={security.ssl_cafile}" if security.ssl_cafile else "the system's CAs"
            if "hostname" in (exc.verify_message or "") or "IP address mismatch" in (exc.verify_message or ""):
                return f"{where}: the broker's certificate does not name {host} ({exc.verify_message})"
            return f"{where}: the broker's certificate is not trusted by {trust} ({exc.verify_message})"
        except ssl.SSLError as exc:
            if "WRONG_VERSION_NUMBER" in str(exc) or "record layer failure" in str(exc):
                plain = f"{PROTOCOL_VAR}=PLAINTEXT or SASL_PLAINTEXT?"
                return f"{where}: wrong protocol: the broker does not speak TLS there ({plain})"
            return f"{where}: TLS handshake failed ({_reason(exc)})"
        except (ConnectionResetError, asyncio.IncompleteReadError, EOFError):
            return f"{where}: wrong protocol: the broker closed the connection during the TLS handshake"
        except TimeoutError:
            plain = f"{PROTOCOL_VAR}=PLAINTEXT or SASL_PLAINTEXT?"
            return f"{where}: wrong protocol: no TLS handshake within {timeout:g} s (a plaintext listener? {plain})"
        except OSError as exc:
            return f"{where}: TLS handshake failed ({exc.strerror or exc})"
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()

    conn = None
    try:
        conn = await asyncio.wait_for(
            create_conn(host, port, request_timeout_ms=int(timeout * 1000), **aiokafka_kwargs(security)), timeout
        )
        await asyncio.wait_for(conn.send(MetadataRequest([])), timeout)
    except Exception as exc:  # aiokafka's SCRAM code raises KeyError on a server's refusal: any failure counts
        if not security.uses_ssl and await _speaks_tls(host, port, min(timeout, 3.0)):
            return f"{where}: wrong protocol: the broker speaks TLS there (set {PROTOCOL_VAR}=SSL or SASL_SSL)"
        text = _scrub(str(exc) or type(exc).__name__, security)
        if security.uses_sasl and isinstance(exc, KeyError):
            # The server's final SCRAM message carried an error instead of its signature.
            text = "the broker refused the login: wrong user name or password?"
        if security.uses_sasl:
            return (
                f"{where}: SASL {security.sasl_mechanism} authentication as {security.sasl_username!r} failed ({text})"
            )
        if isinstance(exc, asyncio.TimeoutError):
            return f"{where}: no Kafka answer within {timeout:g} s (wrong protocol? the broker may require SASL)"
        return f"{where}: the broker did not answer a Kafka request ({text}; does it require SASL?)"
    finally:
        if conn is not None:
            conn.close()
    return None


def _scrub(text: str, security: KafkaSecurity) -> str:
    if security.sasl_password:
        text = text.replace(security.sasl_password, "***")
    return text.splitlines()[0] if text else text


async def check_connection(
    bootstrap: list[str], security: KafkaSecurity, *, timeout: float = 10.0, wait: float = 0.0
) -> str | None:
    """Connect once as the worker will: None when a broker answers, else one line naming the cause.

    While every broker is merely unreachable (refused, unresolved, silent) it tries again for up to
    ``wait`` seconds, so a worker started beside a broker that is still starting is not turned away;
    a certificate, protocol or authentication failure is final at once.
    """
    deadline = time.monotonic() + wait
    while True:
        causes = []
        for server in bootstrap:
            cause = await _probe(server, security, timeout)
            if cause is None:
                return None
            causes.append(cause)
        if not all(isinstance(cause, _Transient) for cause in causes) or time.monotonic() >= deadline:
            return f"cannot reach Kafka with {security.describe()}: " + "; ".join(causes)
        await asyncio.sleep(min(1.0, max(0.0, deadline - time.monotonic())))


def check_connection_now(bootstrap: list[str], security: KafkaSecurity, *, wait: float = 0.0) -> str | None:
    """check_connection from synchronous code, on a loop of its own (the worker's loop is not made yet)."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(check_connection(bootstrap, security, wait=wait))
    finally:
        loop.close()


# -- the web port ------------------------------------------------------------------------------------------------

WEB_TOKEN_VAR = "FAIRWATCH_WEB_TOKEN"
WEB_TOKEN_FILE_VAR = "FAIRWATCH_WEB_TOKEN_FILE"
WEB_ALLOW_OPEN_VAR = "FAIRWATCH_WEB_ALLOW_OPEN"
#: A token shorter than this is refused: it could be guessed.
WEB_TOKEN_MIN_LENGTH = 16
#: Served to anyone: probes and the Prometheus scrape (no customer data there).
OPEN_PATHS = frozenset({"/health", "/ready", "/live", "/metrics"})


@dataclass(frozen=True, slots=True)
class WebAccess:
    """Who may use the worker's web port: holders of the token (never shown), or anyone on loopback without one."""

    token: str | None = field(default=None, repr=False, compare=False)
    allow_open: bool = False

    @property
    def protected(self) -> bool:
        return self.token is not None

    def accepts(self, presented: str | None) -> bool:
        """The presented token is the token (constant time: its length alone leaks through timing)."""
        if self.token is None or presented is None:
            return False
        return hmac.compare_digest(presented.encode(), self.token.encode())

    def session_value(self) -> str:
        """The login cookie's value: derived from the token, so the cookie never holds the token itself,
        and every worker with the same token accepts it (a request one forwards to another carries it)."""
        assert self.token is not None
        return hmac.new(self.token.encode(), b"fairwatch web session v1", hashlib.sha256).hexdigest()

    def accepts_session(self, presented: str | None) -> bool:
        if self.token is None or presented is None:
            return False
        return hmac.compare_digest(presented.encode(), self.session_value().encode())

    def bind_problem(self, host: str) -> str | None:
        """Why the worker must not serve on ``host`` as configured (one line), or None."""
        if self.protected or self.allow_open or is_loopback(host):
            return None
        return (
            f"FAIRWATCH_WEB_HOST={host} serves customer data beyond this machine and {WEB_TOKEN_VAR} is not set: "
            f"set {WEB_TOKEN_VAR} (or {WEB_TOKEN_FILE_VAR}), bind 127.0.0.1, or set {WEB_ALLOW_OPEN_VAR}=1 deliberately"
        )

    def describe(self, host: str, port: int) -> str:
        """What the worker says at start about its web port."""
        where = f"{host}:{port}"
        if self.protected:
            return (
                f"web port {where}: every page and API needs {WEB_TOKEN_VAR} (except {', '.join(sorted(OPEN_PATHS))})"
            )
        if is_loopback(host):
            return f"web port {where}: no {WEB_TOKEN_VAR}, so it serves this machine only (loopback)"
        return f"web port {where}: OPEN to anyone who can reach it ({WEB_ALLOW_OPEN_VAR}=1, no {WEB_TOKEN_VAR})"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def load_web_access(environ: Mapping[str, str] | None = None) -> WebAccess:
    """FAIRWATCH_WEB_TOKEN or FAIRWATCH_WEB_TOKEN_FILE, and FAIRWATCH_WEB_ALLOW_OPEN; ConfigError names the variable."""
    env = os.environ if environ is None else environ
    direct = env.get(WEB_TOKEN_VAR) or None
    file_name = env.get(WEB_TOKEN_FILE_VAR) or None
    if direct is not None and file_name is not None:
        raise _config_error(f"{WEB_TOKEN_VAR} and {WEB_TOKEN_FILE_VAR} are both set: set one")
    token, source = direct, WEB_TOKEN_VAR
    if file_name is not None:
        path = _path(env, WEB_TOKEN_FILE_VAR)
        assert path is not None
        try:
            token = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise _config_error(f"{WEB_TOKEN_FILE_VAR}={file_name}: cannot be read ({type(exc).__name__})") from None
        source = f"{WEB_TOKEN_FILE_VAR}={file_name}"
    if token is not None and len(token) < WEB_TOKEN_MIN_LENGTH:
        raise _config_error(f"{source}: the token must be at least {WEB_TOKEN_MIN_LENGTH} characters")
    open_text = (env.get(WEB_ALLOW_OPEN_VAR) or "0").strip().lower()
    if open_text not in ("0", "1", "true", "false", "yes", "no"):
        raise _config_error(f"{WEB_ALLOW_OPEN_VAR}={env.get(WEB_ALLOW_OPEN_VAR)!r}: expected 1 or 0")
    return WebAccess(token=token, allow_open=open_text in ("1", "true", "yes"))

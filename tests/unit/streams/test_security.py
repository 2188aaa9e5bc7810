"""streams.security: the FAIRWATCH_KAFKA_* settings, and that they reach Faust's and aiokafka's clients exactly."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
from pathlib import Path

import faust
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

from streams.config import ConfigError, load_config
from streams.security import (
    EMBEDDED_ENV,
    KafkaSecurity,
    WebAccess,
    aiokafka_kwargs,
    check_connection,
    faust_credentials,
    load_kafka_security,
    load_web_access,
)
from streams.tools.broker import free_port

SECRET = "s3cr3t-Pa55word"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A CA, and a client certificate and key signed by it, made with openssl."""
    directory = tmp_path_factory.mktemp("pki")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True, timeout=30)

    curve = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    openssl("req", "-x509", *curve, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=test ca")
    openssl("req", *curve, "-keyout", "client.key", "-out", "client.csr", "-subj", "/CN=fairwatch")
    openssl(
        "x509", "-req", "-in", "client.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "client.pem", "-days", "2",
    )  # fmt: skip
    (directory / "not-a-cert.pem").write_text("hello\n")
    return {name: directory / f"{name}.pem" for name in ("ca", "client", "not-a-cert")} | {
        "client_key": directory / "client.key"
    }


def sasl_env(protocol: str = "SASL_SSL", **extra: str) -> dict[str, str]:
    return {
        "FAIRWATCH_KAFKA_SECURITY_PROTOCOL": protocol,
        "FAIRWATCH_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "FAIRWATCH_KAFKA_SASL_USERNAME": "fairwatch",
        "FAIRWATCH_KAFKA_SASL_PASSWORD": SECRET,
        **extra,
    }


def test_default_is_plaintext_and_nothing_is_passed_beyond_the_protocol() -> None:
    security = load_kafka_security({})
    assert security == KafkaSecurity()
    assert faust_credentials(security) is None
    assert aiokafka_kwargs(security) == {"security_protocol": "PLAINTEXT"}
    assert load_config({}).kafka_security == KafkaSecurity()


def test_embedded_env_empties_every_setting() -> None:
    assert load_kafka_security({**sasl_env(), **EMBEDDED_ENV}) == KafkaSecurity()


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"FAIRWATCH_KAFKA_SECURITY_PROTOCOL": "TLS"}, "FAIRWATCH_KAFKA_SECURITY_PROTOCOL='TLS'"),
        ({"FAIRWATCH_KAFKA_SASL_USERNAME": "x"}, "FAIRWATCH_KAFKA_SASL_USERNAME is set but"),
        (
            {"FAIRWATCH_KAFKA_SECURITY_PROTOCOL": "SSL", "FAIRWATCH_KAFKA_SASL_PASSWORD": SECRET},
            "FAIRWATCH_KAFKA_SASL_PASSWORD is set but FAIRWATCH_KAFKA_SECURITY_PROTOCOL=SSL uses no SASL",
        ),
        (
            {"FAIRWATCH_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "FAIRWATCH_KAFKA_SSL_CAFILE": "/etc/hosts"},
            "FAIRWATCH_KAFKA_SSL_CAFILE is set but FAIRWATCH_KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT uses no TLS",
        ),
        ({**sasl_env(), "FAIRWATCH_KAFKA_SASL_MECHANISM": ""}, "FAIRWATCH_KAFKA_SASL_MECHANISM is required"),
        ({**sasl_env(), "FAIRWATCH_KAFKA_SASL_MECHANISM": "GSSAPI"}, "FAIRWATCH_KAFKA_SASL_MECHANISM='GSSAPI'"),
        ({**sasl_env(), "FAIRWATCH_KAFKA_SASL_USERNAME": ""}, "FAIRWATCH_KAFKA_SASL_USERNAME is required"),
        (
            {**sasl_env(), "FAIRWATCH_KAFKA_SASL_PASSWORD": ""},
            "FAIRWATCH_KAFKA_SASL_PASSWORD or FAIRWATCH_KAFKA_SASL_PASSWORD_FILE is required",
        ),
        (
            sasl_env(FAIRWATCH_KAFKA_SASL_PASSWORD_FILE="/etc/hosts"),
            "FAIRWATCH_KAFKA_SASL_PASSWORD and FAIRWATCH_KAFKA_SASL_PASSWORD_FILE are both set",
        ),
        (
            {**sasl_env(), "FAIRWATCH_KAFKA_SASL_PASSWORD": "", "FAIRWATCH_KAFKA_SASL_PASSWORD_FILE": "/no/such"},
            "FAIRWATCH_KAFKA_SASL_PASSWORD_FILE=/no/such: no such file",
        ),
        (
            {"FAIRWATCH_KAFKA_SECURITY_PROTOCOL": "SSL", "FAIRWATCH_KAFKA_SSL_CAFILE": "/no/ca.pem"},
            "FAIRWATCH_KAFKA_SSL_CAFILE=/no/ca.pem: no such file",
        ),
    ],
)
def test_a_wrong_combination_names_the_variable_and_never_the_password(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(env)
    assert named in str(caught.value)
    assert SECRET not in str(caught.value)


def test_tls_files_are_loaded_at_start(pki: dict[str, Path]) -> None:
    ssl_env = {"FAIRWATCH_KAFKA_SECURITY_PROTOCOL": "SSL"}
    with pytest.raises(ConfigError, match=r"FAIRWATCH_KAFKA_SSL_CAFILE=.*not a PEM CA certificate"):
        load_kafka_security({**ssl_env, "FAIRWATCH_KAFKA_SSL_CAFILE": str(pki["not-a-cert"])})
    with pytest.raises(ConfigError, match="FAIRWATCH_KAFKA_SSL_KEYFILE is set without FAIRWATCH_KAFKA_SSL_CERTFILE"):
        load_kafka_security({**ssl_env, "FAIRWATCH_KAFKA_SSL_KEYFILE": str(pki["client_key"])})
    with pytest.raises(ConfigError, match="FAIRWATCH_KAFKA_SSL_CERTFILE/FAIRWATCH_KAFKA_SSL_KEYFILE: cannot load"):
        load_kafka_security(
            {
                **ssl_env,
                "FAIRWATCH_KAFKA_SSL_CERTFILE": str(pki["ca"]),
                "FAIRWATCH_KAFKA_SSL_KEYFILE": str(pki["client_key"]),
            }
        )
    mutual = load_kafka_security(
        {
            **ssl_env,
            "FAIRWATCH_KAFKA_SSL_CAFILE": str(pki["ca"]),
            "FAIRWATCH_KAFKA_SSL_CERTFILE": str(pki["client"]),
            "FAIRWATCH_KAFKA_SSL_KEYFILE": str(pki["client_key"]),
        }
    )
    context = mutual.ssl_context()
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert [c["subject"] for c in context.get_ca_certs()] == [((("commonName", "test ca"),),)]


def test_password_file_is_read_without_its_trailing_newline_and_never_shown(tmp_path: Path) -> None:
    secret_file = tmp_path / "password"
    secret_file.write_text(SECRET + "\n")
    env = {**sasl_env("SASL_PLAINTEXT"), "FAIRWATCH_KAFKA_SASL_PASSWORD": ""}
    security = load_kafka_security({**env, "FAIRWATCH_KAFKA_SASL_PASSWORD_FILE": str(secret_file)})
    assert security.sasl_password == SECRET
    config = load_config({**env, "FAIRWATCH_KAFKA_SASL_PASSWORD_FILE": str(secret_file)})
    for text in (repr(security), str(security), security.describe(), repr(config), str(config)):
        assert SECRET not in text
    assert "SCRAM-SHA-512" in security.describe() and "'fairwatch'" in security.describe()
    empty = tmp_path / "empty"
    empty.write_text("\n")
    with pytest.raises(ConfigError, match=r"FAIRWATCH_KAFKA_SASL_PASSWORD_FILE=.*empty"):
        load_kafka_security({**env, "FAIRWATCH_KAFKA_SASL_PASSWORD_FILE": str(empty)})


def test_faust_gets_exactly_these_credentials(pki: dict[str, Path]) -> None:
    sasl_ssl = load_kafka_security(sasl_env("SASL_SSL", FAIRWATCH_KAFKA_SSL_CAFILE=str(pki["ca"])))
    credentials = faust_credentials(sasl_ssl)
    assert isinstance(credentials, faust.SASLCredentials)
    assert (credentials.username, credentials.password) == ("fairwatch", SECRET)
    assert credentials.mechanism.value == "SCRAM-SHA-512"
    assert credentials.protocol.value == "SASL_SSL"
    assert SECRET not in repr(credentials)

    sasl_plain = faust_credentials(load_kafka_security(sasl_env("SASL_PLAINTEXT")))
    assert isinstance(sasl_plain, faust.SASLCredentials) and sasl_plain.protocol.value == "SASL_PLAINTEXT"
    assert sasl_plain.ssl_context is None

    tls = faust_credentials(load_kafka_security({"FAIRWATCH_KAFKA_SECURITY_PROTOCOL": "SSL"}))
    assert isinstance(tls, faust.SSLCredentials) and tls.protocol.value == "SSL"

    # What Faust's driver hands its consumers and producers is what the tools use.
    for security in (sasl_ssl, load_kafka_security(sasl_env("SASL_PLAINTEXT"))):
        faust_side = credentials_to_aiokafka_auth(faust_credentials(security))
        ours = aiokafka_kwargs(security)
        assert {k: v for k, v in faust_side.items() if k != "ssl_context"} == {
            k: v for k, v in ours.items() if k != "ssl_context"
        }
        assert (faust_side["ssl_context"] is None) == (ours.get("ssl_context") is None)


def test_the_worker_app_passes_them_to_its_producer(pki: dict[str, Path]) -> None:
    from models.policy import load_policy
    from streams.app import create_app
    from streams.topics import Layout

    config = load_config({**sasl_env("SASL_SSL", FAIRWATCH_KAFKA_SSL_CAFILE=str(pki["ca"])), "FAIRWATCH_APP_ID": "t"})
    app = create_app(config, load_policy(None, {}), Layout(config.topics, 4)).app
    assert isinstance(app.conf.broker_credentials, faust.SASLCredentials)

    async def build() -> object:
        producer = app.producer._new_producer()
        await producer.stop()
        return producer.client

    client = asyncio.run(build())
    assert client._security_protocol == "SASL_SSL"
    assert client._sasl_mechanism == "SCRAM-SHA-512"
    assert (client._sasl_plain_username, client._sasl_plain_password) == ("fairwatch", SECRET)
    assert isinstance(client._ssl_context, ssl.SSLContext)


@pytest.mark.parametrize("protocol", ["SSL", "SASL_PLAINTEXT", "SASL_SSL"])
def test_every_aiokafka_client_kind_takes_the_kwargs(protocol: str, pki: dict[str, Path]) -> None:
    env = sasl_env(protocol) if protocol.startswith("SASL") else {"FAIRWATCH_KAFKA_SECURITY_PROTOCOL": protocol}
    if protocol.endswith("SSL"):
        env["FAIRWATCH_KAFKA_SSL_CAFILE"] = str(pki["ca"])
    kwargs = aiokafka_kwargs(load_kafka_security(env))

    async def build() -> list:
        producer = AIOKafkaProducer(bootstrap_servers="127.0.0.1:1", **kwargs)
        consumer = AIOKafkaConsumer(bootstrap_servers="127.0.0.1:1", **kwargs)
        admin = AIOKafkaAdminClient(bootstrap_servers="127.0.0.1:1", **kwargs)
        await producer.stop()
        await consumer.stop()
        await admin.close()
        return [producer.client, consumer._client, admin._client]

    for client in asyncio.run(build()):
        assert client._security_protocol == protocol
        assert isinstance(client._ssl_context, ssl.SSLContext) == protocol.endswith("SSL")
        if protocol.startswith("SASL"):
            assert client._sasl_mechanism == "SCRAM-SHA-512"
            assert (client._sasl_plain_username, client._sasl_plain_password) == ("fairwatch", SECRET)
        else:
            assert client._sasl_plain_password is None


def test_check_connection_names_a_refused_connection_at_once_without_wait() -> None:
    port = free_port()
    line = asyncio.run(check_connection([f"127.0.0.1:{port}"], KafkaSecurity(), timeout=2.0))
    assert (
        line == f"cannot reach Kafka with PLAINTEXT: 127.0.0.1:{port}: connection refused (no broker listening there)"
    )


# -- the web port -------------------------------------------------------------------------------------------------

WEB_TOKEN = "a-web-token-of-some-length"


def test_web_access_from_the_environment(tmp_path: Path) -> None:
    assert load_web_access({}) == WebAccess() and not WebAccess().protected
    direct = load_web_access({"FAIRWATCH_WEB_TOKEN": WEB_TOKEN})
    assert direct.protected and direct.token == WEB_TOKEN
    token_file = tmp_path / "token"
    token_file.write_text(WEB_TOKEN + "\n")
    assert load_web_access({"FAIRWATCH_WEB_TOKEN_FILE": str(token_file)}).token == WEB_TOKEN
    assert load_web_access({"FAIRWATCH_WEB_ALLOW_OPEN": "1"}).allow_open
    config = load_config({"FAIRWATCH_WEB_TOKEN": WEB_TOKEN})
    for text in (repr(direct), str(direct), repr(config)):
        assert WEB_TOKEN not in text


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"FAIRWATCH_WEB_TOKEN": "short"}, "FAIRWATCH_WEB_TOKEN: the token must be at least 16 characters"),
        (
            {"FAIRWATCH_WEB_TOKEN": WEB_TOKEN, "FAIRWATCH_WEB_TOKEN_FILE": "/etc/hosts"},
            "FAIRWATCH_WEB_TOKEN and FAIRWATCH_WEB_TOKEN_FILE are both set",
        ),
        ({"FAIRWATCH_WEB_TOKEN_FILE": "/no/token"}, "FAIRWATCH_WEB_TOKEN_FILE=/no/token: no such file"),
        ({"FAIRWATCH_WEB_ALLOW_OPEN": "sure"}, "FAIRWATCH_WEB_ALLOW_OPEN='sure'"),
    ],
)
def test_web_access_errors_name_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(env)
    assert named in str(caught.value)


def test_tokens_and_sessions_compare_exactly() -> None:
    access = WebAccess(token=WEB_TOKEN)
    assert access.accepts(WEB_TOKEN)
    for wrong in (None, "", WEB_TOKEN[:-1], WEB_TOKEN + "x", WEB_TOKEN.upper()):
        assert not access.accepts(wrong)
    session = access.session_value()
    assert WEB_TOKEN not in session and access.accepts_session(session)
    assert not access.accepts_session(WebAccess(token=WEB_TOKEN + "-other").session_value())
    assert not WebAccess().accepts(WEB_TOKEN) and not WebAccess().accepts_session(session)


def test_binding_rules() -> None:
    for host in ("127.0.0.1", "localhost", "::1", "127.0.0.2"):
        assert WebAccess().bind_problem(host) is None
        assert "this machine only (loopback)" in WebAccess().describe(host, 6066)
    problem = WebAccess().bind_problem("0.0.0.0")
    assert problem is not None and problem.startswith("FAIRWATCH_WEB_HOST=0.0.0.0 serves customer data beyond")
    assert "FAIRWATCH_WEB_ALLOW_OPEN=1" in problem
    assert WebAccess(allow_open=True).bind_problem("0.0.0.0") is None
    assert "OPEN to anyone" in WebAccess(allow_open=True).describe("0.0.0.0", 6066)
    assert WebAccess(token=WEB_TOKEN).bind_problem("10.1.2.3") is None
    assert "every page and API needs FAIRWATCH_WEB_TOKEN" in WebAccess(token=WEB_TOKEN).describe("0.0.0.0", 6066)

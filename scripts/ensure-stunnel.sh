#!/usr/bin/env bash
# Makes sure stunnel is on PATH: tests/integration/test_kafka_tls.py puts it in
# front of the embedded broker (which has no working TLS listener of its own)
# to test the worker and the tools against Kafka over TLS. Installs Debian's
# `stunnel4` package when it is missing (apt-get; sudo only when not root).
# Called by `make test`.
#
# Note: the package ships a stunnel4 service that stays disabled until
# /etc/stunnel/*.conf exists; the tests start their own stunnel on free ports.
set -euo pipefail

if command -v stunnel >/dev/null 2>&1 || command -v stunnel4 >/dev/null 2>&1; then
    exit 0
fi

bash "$(dirname "$0")/apt-install.sh" stunnel4 "install stunnel (4.x or 5.x) and put it on PATH"

command -v stunnel >/dev/null || command -v stunnel4 >/dev/null
(stunnel -version 2>&1 || stunnel4 -version 2>&1) | head -n 1 >&2 || true

#!/usr/bin/env bash
# Makes sure Debian's Prometheus Alertmanager is installed: tests/ops runs
# `amtool check-config` on ops/alertmanager/alertmanager.yml, and
# tests/integration/test_alertmanager.py starts a real Alertmanager for the
# bridge (streams/tools/alertmanager.py). Installs Debian's `prometheus-alertmanager`
# package (0.25 on bookworm; it ships /usr/bin/prometheus-alertmanager and
# /usr/bin/amtool) when either is missing (apt-get; sudo only when not root).
# Called by `make test`.
#
# Note: on a machine where systemd runs, the package enables and starts a
# `prometheus-alertmanager` service on :9093; `sudo systemctl disable --now
# prometheus-alertmanager` if you do not want it. The tests start their own on
# a free port.
set -euo pipefail

if command -v amtool >/dev/null 2>&1 && command -v prometheus-alertmanager >/dev/null 2>&1; then
    exit 0
fi

bash "$(dirname "$0")/apt-install.sh" prometheus-alertmanager \
    "install Prometheus Alertmanager (>= 0.25, with amtool) and put amtool and prometheus-alertmanager on PATH"

command -v amtool >/dev/null && command -v prometheus-alertmanager >/dev/null
amtool --version 2>&1 | head -n 1 >&2

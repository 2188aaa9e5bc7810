#!/usr/bin/env bash
# Makes sure promtool and prometheus are on PATH: tests/ops runs `promtool check`
# and `promtool test rules`, tests/integration/test_prometheus_scrape.py a real
# Prometheus server. Installs Debian's `prometheus` package when either is
# missing (apt-get; sudo only when not root). Called by `make test`.
#
# Note: on a machine where systemd runs, the package enables and starts a
# `prometheus` service on :9090; `sudo systemctl disable --now prometheus` if
# you do not want it. The tests start their own server on a free port.
set -euo pipefail

if command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1; then
    exit 0
fi

bash "$(dirname "$0")/apt-install.sh" prometheus "install Prometheus (>= 2.42, with promtool) and put both on PATH"

command -v promtool >/dev/null && command -v prometheus >/dev/null
promtool --version | head -n 1 >&2

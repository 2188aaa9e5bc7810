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

if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-prometheus: promtool/prometheus not found and there is no apt-get here;" \
        "install Prometheus (>= 2.42, with promtool) and put both on PATH" >&2
    exit 1
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null 2>&1; then
        echo "ensure-prometheus: installing the prometheus package needs root, and sudo is not available" >&2
        exit 1
    fi
    sudo=(sudo)
fi

echo "ensure-prometheus: installing Debian's prometheus package (promtool, prometheus)" >&2
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null

command -v promtool >/dev/null && command -v prometheus >/dev/null
promtool --version | head -n 1 >&2

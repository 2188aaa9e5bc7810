#!/usr/bin/env bash
# Makes sure Debian's headless-capable Chromium is at /usr/bin/chromium: the
# browser test (tests/browser) drives it with Playwright for Python, pointed at
# this executable (Playwright's own browser download, `playwright install`, is
# never used). Installs Debian's `chromium` package when it is missing
# (apt-get; sudo only when not root). Called by `make test`.
# FAIRWATCH_CHROMIUM names another executable; then nothing is installed.
set -euo pipefail

chromium="${FAIRWATCH_CHROMIUM:-/usr/bin/chromium}"
if [ -x "$chromium" ]; then
    exit 0
fi
if [ -n "${FAIRWATCH_CHROMIUM:-}" ]; then
    echo "ensure-chromium: FAIRWATCH_CHROMIUM=$chromium is not an executable" >&2
    exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-chromium: $chromium not found and there is no apt-get here;" \
        "install Chromium and set FAIRWATCH_CHROMIUM to its executable" >&2
    exit 1
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null 2>&1; then
        echo "ensure-chromium: installing the chromium package needs root, and sudo is not available" >&2
        exit 1
    fi
    sudo=(sudo)
fi

echo "ensure-chromium: installing Debian's chromium package" >&2
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null

test -x "$chromium"
"$chromium" --version >&2

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

bash "$(dirname "$0")/apt-install.sh" chromium "install Chromium and set FAIRWATCH_CHROMIUM to its executable"

test -x "$chromium"
"$chromium" --version >&2

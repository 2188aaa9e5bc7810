#!/usr/bin/env bash
# Installs one Debian package with apt-get (sudo only when not root), for the
# ensure-*.sh scripts: `bash scripts/apt-install.sh PACKAGE WHAT-TO-DO-ELSE`.
# Without apt-get, or without root and sudo, it says so and exits 1.
set -euo pipefail

package="$1"
otherwise="$2"
if ! command -v apt-get >/dev/null 2>&1; then
    echo "apt-install: $package is needed and there is no apt-get here; $otherwise" >&2
    exit 1
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null 2>&1; then
        echo "apt-install: installing the $package package needs root, and sudo is not available" >&2
        exit 1
    fi
    sudo=(sudo)
fi

echo "apt-install: installing Debian's $package package" >&2
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$package" >/dev/null

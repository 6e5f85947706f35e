#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine lacks to build, run and test Emma.
# A no-op (no network, no apt) when everything is already present.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_BUILD="build-essential pkg-config clang libclang-rt-14-dev libuv1-dev node-llhttp libwslay-dev
libjansson-dev libsqlite3-dev libsodium-dev libinih-dev libcmocka-dev libssl-dev"
APT_TEST="nodejs npm chromium wrk nginx-light curl"

missing=()
for p in $APT_BUILD ${EMMA_DEPS_NO_TEST:+} $APT_TEST; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# npm is bundled with some node builds; only ask apt for it when no npm is on PATH.
if command -v npm >/dev/null 2>&1; then
	tmp=(); for p in "${missing[@]}"; do case "$p" in nodejs|npm) ;; *) tmp+=("$p");; esac; done
	missing=("${tmp[@]+"${tmp[@]}"}")
fi
if [ ${#missing[@]} -gt 0 ]; then
	echo "deps: installing ${missing[*]}" >&2
	SUDO=; [ "$(id -u)" -ne 0 ] && SUDO=sudo
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

# Node packages for end-to-end and browser tests, and data lists used by the tracker.
if [ ! -f node_modules/.emma-deps-ok ] || [ package.json -nt node_modules/.emma-deps-ok ]; then
	echo "deps: npm install" >&2
	npm install --no-audit --no-fund --loglevel=error >&2
	touch node_modules/.emma-deps-ok
fi

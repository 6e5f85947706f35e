#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine lacks to build, run and test Emma.
#
# It is run by `make run`, `make test` and `make bench`, so it must be cheap
# when nothing is missing: the apt part asks dpkg first and touches the
# network only when a package is absent, and the npm part runs only when
# node_modules is missing or older than package.json / package-lock.json.
#
#   EMMA_DEPS_NO_TEST=1   build packages only (no node, browser, wrk, nginx)
set -euo pipefail
cd "$(dirname "$0")/.."

APT_BUILD="build-essential pkg-config clang libclang-rt-14-dev libuv1-dev node-llhttp libwslay-dev
libjansson-dev libsqlite3-dev libsodium-dev libinih-dev libcmocka-dev libpcre2-dev libssl-dev zlib1g-dev
libmaxminddb-dev libcurl4-openssl-dev libstemmer-dev libcmark-dev"
APT_TEST="nodejs npm chromium wrk nginx-light curl clang-format python3-aiosmtpd"

want="$APT_BUILD"
if [ "${EMMA_DEPS_NO_TEST:-0}" != 1 ]; then
	want="$want $APT_TEST"
fi

# 1. Which Debian packages are absent? dpkg-query is local and fast.
missing=()
for p in $want; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case "$status" in
	*"install ok installed"*) ;;
	*) missing+=("$p") ;;
	esac
done

# Node may come from elsewhere than Debian (NodeSource, nvm) with npm bundled;
# asking apt for Debian's nodejs/npm then would conflict with it. So node and
# npm are only requested from apt when the commands are not on PATH at all.
keep=()
for p in "${missing[@]+"${missing[@]}"}"; do
	case "$p" in
	nodejs) command -v node >/dev/null 2>&1 || keep+=("$p") ;;
	npm) command -v npm >/dev/null 2>&1 || keep+=("$p") ;;
	*) keep+=("$p") ;;
	esac
done
missing=("${keep[@]+"${keep[@]}"}")

if [ ${#missing[@]} -gt 0 ]; then
	echo "deps: installing ${missing[*]}" >&2
	SUDO=
	if [ "$(id -u)" -ne 0 ]; then
		SUDO=sudo
	fi
	# Keep package scripts from starting services (nginx-light would start a
	# system nginx on port 80): a policy-rc.d that says "no", only for this
	# install and only when the machine has none of its own.
	policy=/usr/sbin/policy-rc.d
	made_policy=0
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
		$SUDO chmod 755 "$policy"
		made_policy=1
	fi
	cleanup() { if [ "$made_policy" = 1 ]; then $SUDO rm -f "$policy"; fi; }
	trap cleanup EXIT
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
	cleanup
	trap - EXIT
fi

if [ "${EMMA_DEPS_NO_TEST:-0}" = 1 ]; then
	exit 0
fi

# 2. Node packages for the end-to-end and browser tests (ws, playwright-core).
if ! command -v npm >/dev/null 2>&1; then
	echo "deps: npm is not on PATH (install Debian's nodejs and npm, or Node 18+ with npm)" >&2
	exit 1
fi

# A stamp inside node_modules records the last successful install; it is
# compared with both manifests so an edited package.json or a new lockfile
# from `git pull` triggers a fresh install.
stamp=node_modules/.emma-deps-ok
stale=0
if [ ! -f "$stamp" ]; then
	stale=1
else
	for f in package.json package-lock.json; do
		if [ -f "$f" ] && [ "$f" -nt "$stamp" ]; then
			stale=1
		fi
	done
fi
if [ "$stale" = 1 ]; then
	# npm ci installs exactly the lockfile; without one, npm install writes it.
	if [ -f package-lock.json ]; then
		echo "deps: npm ci" >&2
		npm ci --no-audit --no-fund --loglevel=error >&2
	else
		echo "deps: npm install" >&2
		npm install --no-audit --no-fund --loglevel=error >&2
	fi
	touch "$stamp"
fi

#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine lacks to build, run and test Emma.
#
# It is run by `make run`, `make test` and `make bench`, so it must be cheap
# when nothing is missing: the apt part asks dpkg first and touches the
# network only when a package is absent, and the npm part runs only when
# node_modules is missing or older than package.json / package-lock.json.
#
#   EMMA_DEPS_NO_TEST=1   build packages only (no node, browser, wrk, nginx)
#   EMMA_SQLITE=system    do not fetch the SQLite amalgamation (make SQLITE=system)
#
#   scripts/deps.sh sqlite   only the SQLite amalgamation (the Makefile runs
#                            this when third_party/sqlite/sqlite3.c is missing)
set -euo pipefail
cd "$(dirname "$0")/.."

# The SQLite amalgamation of `make SQLITE=bundled`: sqlite3.c and sqlite3.h
# as shipped in the npm package better-sqlite3 (deps/sqlite3/; SQLite itself
# is public domain), fetched with `npm pack` from the npm registry and checked
# against this digest of the tarball. better-sqlite3 13.2.0 carries SQLite
# 3.54.1. To move to another SQLite: change both lines, run
# `scripts/deps.sh sqlite`, rebuild (the object depends on sqlite3.c).
SQLITE_NPM=better-sqlite3@13.2.0
SQLITE_NPM_SHA256=40487589df3496f2ee0079d22b73c63fccebe7db0e8ee9a2c42421861e321e0b
SQLITE_DIR=third_party/sqlite

# Puts sqlite3.c/h into $SQLITE_DIR unless the pinned ones are there; the
# tarball stays there as a cache, so a re-extraction needs no network.
fetch_sqlite() {
	local pin="$SQLITE_NPM $SQLITE_NPM_SHA256"
	mkdir -p "$SQLITE_DIR"
	# Two builds may ask at once: one fetches, the other waits for it.
	exec 9>"$SQLITE_DIR/.lock"
	flock 9
	if [ -f "$SQLITE_DIR/sqlite3.c" ] && [ -f "$SQLITE_DIR/sqlite3.h" ] &&
		[ "$(cat "$SQLITE_DIR/.pin" 2>/dev/null)" = "$pin" ]; then
		exec 9>&-
		return 0
	fi
	local tgz="$SQLITE_DIR/${SQLITE_NPM/@/-}.tgz"
	if [ ! -f "$tgz" ] || ! echo "$SQLITE_NPM_SHA256  $tgz" | sha256sum -c --status; then
		if ! command -v npm >/dev/null 2>&1; then
			echo "deps: npm is needed to fetch $SQLITE_NPM (install Debian's npm)" >&2
			exit 1
		fi
		echo "deps: npm pack $SQLITE_NPM (SQLite amalgamation)" >&2
		local tmp
		tmp=$(mktemp -d)
		(cd "$tmp" && npm pack --loglevel=error "$SQLITE_NPM" >/dev/null)
		mv -f "$tmp"/*.tgz "$tgz"
		rmdir "$tmp"
	fi
	if ! echo "$SQLITE_NPM_SHA256  $tgz" | sha256sum -c --status; then
		echo "deps: $tgz does not match the pinned sha256 $SQLITE_NPM_SHA256" >&2
		rm -f "$tgz"
		exit 1
	fi
	local x
	x=$(mktemp -d "$SQLITE_DIR/x.XXXXXX")
	# -m: the files get the time of extraction, so make rebuilds from them.
	tar -m -xzf "$tgz" -C "$x" package/deps/sqlite3/sqlite3.c package/deps/sqlite3/sqlite3.h
	mv -f "$x/package/deps/sqlite3/sqlite3.h" "$SQLITE_DIR/sqlite3.h"
	mv -f "$x/package/deps/sqlite3/sqlite3.c" "$SQLITE_DIR/sqlite3.c"
	rm -rf "$x"
	echo "$pin" >"$SQLITE_DIR/.pin"
	echo "deps: $SQLITE_DIR: SQLite $(sed -n 's/^#define SQLITE_VERSION  *"\(.*\)"/\1/p' "$SQLITE_DIR/sqlite3.h")" >&2
	exec 9>&-
}

if [ "${1:-}" = sqlite ]; then
	fetch_sqlite
	exit 0
fi

APT_BUILD="build-essential pkg-config clang libclang-rt-14-dev libuv1-dev node-llhttp libwslay-dev
libjansson-dev libsqlite3-dev libsodium-dev libinih-dev libcmocka-dev libpcre2-dev libssl-dev zlib1g-dev
libmaxminddb-dev libcurl4-openssl-dev libstemmer-dev libcmark-dev"
APT_TEST="nodejs npm chromium wrk nginx-light curl clang-format python3-aiosmtpd"

want="$APT_BUILD"
if [ "${EMMA_DEPS_NO_TEST:-0}" != 1 ]; then
	want="$want $APT_TEST"
elif [ "${EMMA_SQLITE:-bundled}" = bundled ]; then
	want="$want nodejs npm" # npm pack fetches the amalgamation
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

if [ "${EMMA_SQLITE:-bundled}" = bundled ]; then
	fetch_sqlite
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

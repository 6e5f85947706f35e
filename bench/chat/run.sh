#!/usr/bin/env bash
# Chat benchmark: emma against a minimal Node.js `ws` relay speaking the same protocol
# (bench/chat/relay.mjs, no storage), measured in the same run on this machine.
#
#   bench/chat/run.sh          (also the "chat" section of bench/run.sh)
#
# Load (bench/chat/load.mjs): 10,000 idle visitor WebSockets that only answer the server's
# pings, plus 500 conversations (a visitor socket each, served by 10 operator sockets of 50
# chats each). Every message of a visitor is answered by its operator; phase "fixed" offers a
# fixed rate of visitor messages, phase "max" keeps one round trip in flight per chat. Reports
# acked messages/s, round-trip and ack latency, memory per idle connection (server RSS from
# /proc/PID/status), and the CPU of the server and of the generator. Each round starts both
# peers fresh, one after the other (the order alternates); the table shows medians.
# The server and each generator worker run in their own session (setsid), so that with the
# kernel's autogroup scheduling they do not share one CPU share among themselves when other
# work runs on the machine; "msgs per server CPU-second" is the figure least moved by such
# sharing.
# It builds nothing: it runs ./emma or EMMA_BIN.
#
#   EMMA_BIN=./emma  BENCH_CHAT_ROUNDS=3  BENCH_CHAT_IDLE=10000  BENCH_CHAT_CONVS=500
#   BENCH_CHAT_OPS=10  BENCH_CHAT_RATE=1000 (visitor msgs/s in phase fixed)
#   BENCH_CHAT_DURATION=10  BENCH_CHAT_WARMUP=2 (seconds per phase)
#   BENCH_CHAT_WORKERS=2 (generator processes with the conversations and operators)
#   BENCH_CHAT_IDLE_WORKERS=2 (generator processes with the idle sockets)
#   BENCH_CHAT_PING_S=10 (server ping interval, both peers)
#   BENCH_CHAT_PERF=1 (perf record -g of emma during its last max phase; report printed)
#   BENCH_CHAT_KEEP=1 (keep bench/tmp/chat.* with the JSON reports and server logs)
#   BENCH_CHAT_AUTOGROUP_NICE=-10 (root: give the server's and the workers' sessions that nice
#     value, equally for both peers, to take CPU from other work on a shared machine; off by
#     default, since it slows whatever else runs)
set -euo pipefail
cd "$(dirname "$0")/../.."

EMMA_BIN="${EMMA_BIN:-./emma}"
ROUNDS="${BENCH_CHAT_ROUNDS:-3}"
IDLE="${BENCH_CHAT_IDLE:-10000}"
CONVS="${BENCH_CHAT_CONVS:-500}"
OPS="${BENCH_CHAT_OPS:-10}"
RATE="${BENCH_CHAT_RATE:-1000}"
DURATION="${BENCH_CHAT_DURATION:-10}"
WARMUP="${BENCH_CHAT_WARMUP:-2}"
WORKERS="${BENCH_CHAT_WORKERS:-2}"
IDLE_WORKERS="${BENCH_CHAT_IDLE_WORKERS:-2}"
PING_S="${BENCH_CHAT_PING_S:-10}"
PERF="${BENCH_CHAT_PERF:-0}"

for tool in node "$EMMA_BIN"; do
	if ! command -v "$tool" >/dev/null 2>&1 && [ ! -x "$tool" ]; then
		echo "bench/chat: $tool not found (run make deps / make all)" >&2
		exit 1
	fi
done
if [ ! -d node_modules/ws ]; then
	echo "bench/chat: node_modules/ws missing (npm ci)" >&2
	exit 1
fi

# Every socket is a file descriptor on both sides: the server holds all of them, each
# generator worker its share. Raise the soft limit as far as the hard limit allows.
need=$((IDLE + CONVS + OPS + 256))
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$need" ]; then
	echo "bench/chat: ulimit -n is $(ulimit -n) (hard $(ulimit -Hn)), need $need for $IDLE idle sockets" >&2
	exit 1
fi

mkdir -p bench/tmp
tmp=$(mktemp -d "$PWD/bench/tmp/chat.XXXXXX")
server_pid=
cleanup() {
	# Stop only the server this script started, by its process id.
	if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
		kill -KILL "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
	fi
	if [ "${BENCH_CHAT_KEEP:-0}" = 1 ]; then
		echo "bench/chat: kept $tmp" >&2
	else
		rm -rf "$tmp"
	fi
}
trap cleanup EXIT INT TERM

stop_server() {
	kill -TERM "$server_pid" 2>/dev/null || true
	for _ in $(seq 100); do
		kill -0 "$server_pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$server_pid" 2>/dev/null || true
	wait "$server_pid" 2>/dev/null || true
	server_pid=
}

# BENCH_CHAT_AUTOGROUP_NICE: the nice value of the server's session (autogroup); called once
# the server listens, so that setsid has made its session.
boost() {
	if [ -n "${BENCH_CHAT_AUTOGROUP_NICE:-}" ]; then
		echo "$BENCH_CHAT_AUTOGROUP_NICE" >"/proc/$server_pid/autogroup"
	fi
}

# Waits until the server logs a listening port in file $1; prints the port.
wait_port() {
	local port=
	for _ in $(seq 150); do
		port=$(sed -n 's/.*listening.*port=\([0-9][0-9]*\).*/\1/p' "$1" | head -n 1)
		if [ -n "$port" ] || ! kill -0 "$server_pid" 2>/dev/null; then
			break
		fi
		sleep 0.1
	done
	echo "$port"
}

common=(--idle "$IDLE" --convs "$CONVS" --ops "$OPS" --workers "$WORKERS" --idle-workers "$IDLE_WORKERS" --rate "$RATE"
	--duration "$DURATION" --warmup "$WARMUP")

run_emma() { # round
	local dir="$tmp/emma-$1" password="bench-chat-$RANDOM$RANDOM"
	mkdir -p "$dir"
	# Limits that would otherwise stop the load: connections, a visitor's messages per
	# minute, sign-ins per minute (the operators sign in at once), the queue.
	EMMA_LOG_ACCESS_LOG=false EMMA_INITIAL_ADMIN_PASSWORD="$password" \
		EMMA_SERVER_MAX_CONNECTIONS=$((need + 1000)) EMMA_CHAT_VISITOR_MSGS_PER_MIN=100000 \
		EMMA_AUTH_LOGIN_ATTEMPTS_PER_MIN=10000 EMMA_CHAT_QUEUE_MAX=100000 \
		EMMA_WS_PING_INTERVAL_S="$PING_S" EMMA_WS_SILENT_CLOSE_S=$((PING_S * 3)) \
		setsid "$EMMA_BIN" serve --listen 127.0.0.1:0 --data "$dir/data" >"$dir/out.log" 2>"$dir/err.log" &
	server_pid=$!
	local port
	port=$(wait_port "$dir/err.log")
	if [ -z "$port" ]; then
		echo "bench/chat: emma did not log msg=listening:" >&2
		cat "$dir/err.log" >&2
		exit 1
	fi
	boost
	local perf=()
	if [ "$PERF" = 1 ] && [ "$1" = "$ROUNDS" ]; then
		perf=(--perf-out "$tmp/perf.data")
	fi
	node bench/chat/load.mjs --target emma --url "http://127.0.0.1:$port" --pid "$server_pid" \
		--admin-password "$password" --json "$tmp/emma-$1.json" "${common[@]}" "${perf[@]}" >/dev/null
	stop_server
	if grep -q 'level=error' "$dir/err.log"; then
		echo "bench/chat: emma logged errors:" >&2
		grep 'level=error' "$dir/err.log" | head -n 5 >&2
	fi
}

run_relay() { # round
	local dir="$tmp/relay-$1"
	mkdir -p "$dir"
	RELAY_PING_S="$PING_S" setsid node bench/chat/relay.mjs --port 0 >"$dir/out.log" 2>"$dir/err.log" &
	server_pid=$!
	local port
	port=$(wait_port "$dir/out.log")
	if [ -z "$port" ]; then
		echo "bench/chat: the relay did not start:" >&2
		cat "$dir/err.log" >&2
		exit 1
	fi
	boost
	node bench/chat/load.mjs --target relay --url "http://127.0.0.1:$port" --pid "$server_pid" \
		--json "$tmp/relay-$1.json" "${common[@]}" >/dev/null
	stop_server
}

echo "bench/chat: $IDLE idle visitor sockets + $CONVS conversations ($OPS operators), $WORKERS+$IDLE_WORKERS generator" \
	"workers (chat+idle), $ROUNDS rounds of ${WARMUP}+${DURATION} s per phase, fixed rate $RATE visitor msgs/s," \
	"$(nproc) cores shared with whatever else runs (load average $(cut -d' ' -f1-3 /proc/loadavg))" \
	"${BENCH_CHAT_AUTOGROUP_NICE:+, autogroup nice $BENCH_CHAT_AUTOGROUP_NICE for both peers}"
for round in $(seq "$ROUNDS"); do
	# Alternate the order so that neither peer always runs first.
	if [ $((round % 2)) = 1 ]; then
		run_emma "$round"
		run_relay "$round"
	else
		run_relay "$round"
		run_emma "$round"
	fi
	echo "bench/chat: round $round/$ROUNDS done (load average $(cut -d' ' -f1-3 /proc/loadavg))" >&2
done

node bench/chat/summary.mjs "$tmp"/emma-*.json "$tmp"/relay-*.json

if [ "$PERF" = 1 ] && [ -s "$tmp/perf.data" ]; then
	echo
	echo "perf: emma during its last max phase (self time, top symbols)"
	{ perf report -i "$tmp/perf.data" --no-children --stdio -g none --sort dso,symbol 2>/dev/null |
		grep -v '^#' | grep '%' | head -n 40; } || true
fi

# Helpers shared by the site-monitor benchmarks (bench/beacon.sh,
# bench/import.sh); sourced, not run. Each script keeps its own temporary
# directory in $tmp and stops only the processes it started, by id.

# A free loopback port: bind port 0, read it back, release it.
free_port() {
	node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

# Polls until something answers HTTP on 127.0.0.1:$1, at most ~10 s.
wait_http() {
	for _ in $(seq 100); do
		if curl -s -o /dev/null "http://127.0.0.1:$1/"; then
			return 0
		fi
		sleep 0.1
	done
	return 1
}

# Starts `emma serve` on a free port with data dir $1 and logs in $2.err;
# further arguments are extra `env` assignments (EMMA_*=...). Sets emma_pid
# and emma_port, or fails with the log.
start_emma() {
	local data=$1 log=$2
	shift 2
	env EMMA_LOG_ACCESS_LOG=false EMMA_INITIAL_ADMIN_PASSWORD="bench-password-$RANDOM$RANDOM" "$@" \
		"$EMMA_BIN" serve --listen 127.0.0.1:0 --data "$data" >"$log.out" 2>"$log.err" &
	emma_pid=$!
	emma_port=
	for _ in $(seq 200); do
		emma_port=$(sed -n 's/.*msg=listening.*port=\([0-9][0-9]*\).*/\1/p' "$log.err" | head -n 1)
		if [ -n "$emma_port" ] || ! kill -0 "$emma_pid" 2>/dev/null; then
			break
		fi
		sleep 0.05
	done
	if [ -z "$emma_port" ]; then
		echo "bench: emma did not log msg=listening:" >&2
		cat "$log.err" >&2
		return 1
	fi
}

# Stops the emma started by start_emma (SIGTERM, waits for a clean exit).
stop_emma() {
	if [ -n "${emma_pid:-}" ] && kill -0 "$emma_pid" 2>/dev/null; then
		kill -TERM "$emma_pid" 2>/dev/null || true
		wait "$emma_pid" 2>/dev/null || true
	fi
	emma_pid=
}

# Median of the numbers given as arguments.
median() {
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print 0; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.6g\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# a / b with two decimals ("n/a" when b is 0).
ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'
}

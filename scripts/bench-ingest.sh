#!/usr/bin/env bash
# bench-ingest.sh: end-to-end ingest benchmark on this machine (`make bench-ingest`).
#
# A throwaway PostgreSQL cluster run DURABLE (fsync on, synchronous_commit on:
# an ack means the row is on disk, so the figures are honest), the server
# (`carevisit serve --register-unknown --max-conns-per-ip -1`) and
# `firmware-sim load` on loopback ports of its own. Phases:
#   1. COPY ceiling: firmware-sim copybench, the same row shape into positions;
#      and the ingest writer's own INSERT statement on the same rows (no server)
#   2. 15,000 idle-ish GT06 connections on a fresh server: VmRSS per connection
#   3. 10,000 GT06 connections at 20,000 positions/s: ack latency
#   4. the same at 20,000/s with --batch-delay 2ms (tuned group commit)
#   5. 10,000 GT06 connections as fast as acks allow: positions/s persisted
# Results: $WORK/results.md (printed at the end). Bounded (< 10 min), loopback
# only; everything started here is stopped on exit.
#
# Knobs (environment): BENCH_DIR (default var/bench-ingest), BENCH_DURATION
# (sending time per load phase, default 30s), BENCH_GT06_PORT (25023),
# BENCH_HTTP_PORT (28080), BENCH_SKIP_TUNED=1, BENCH_NO_BUILD=1 (use bin/ as is).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
WORK=${BENCH_DIR:-$ROOT/var/bench-ingest}
DUR=${BENCH_DURATION:-30s}
GT06_PORT=${BENCH_GT06_PORT:-25023}
GT06=""
HTTP=127.0.0.1:${BENCH_HTTP_PORT:-28080}
SRC_IPS=127.0.0.2-127.0.0.60
PG=scripts/pgctl.sh
CV=$ROOT/bin/carevisit
FS=$ROOT/bin/firmware-sim

# Device identities per phase: pre-registered, so the load measures ingest
# and not a storm of first logins (registration is one INSERT per device).
IDLE_BASE=359710040200000 IDLE_N=15000
RATE_BASE=359710040000000 RATE_N=10000
TUNED_BASE=359710040300000
MAX_BASE=359710040100000

server_pid=""
load_pid=""
cleanup() {
	set +e
	[ -n "$load_pid" ] && kill "$load_pid" 2>/dev/null && wait "$load_pid" 2>/dev/null
	stop_server
	[ -d "$WORK/pg" ] && bash "$PG" stop "$WORK/pg"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '%s %s\n' "$(date +%T)" "$*" >&2; }

psql_bin() {
	local d
	d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
	if [ -n "$d" ] && [ -x "$d/psql" ]; then echo "$d/psql"; else command -v psql; fi
}

metric() { # metric NAME: the value of an unlabelled or first-matching sample, as an integer
	local body
	body=$(curl -s "http://$HTTP/metrics" || true)
	awk -v n="$1" '($1 == n || index($1, n"{") == 1) && !done { printf "%d\n", $2; done = 1 }' <<<"$body"
}

metric_ms() { # metric_ms NAME: a seconds sample in milliseconds, as an integer
	local body
	body=$(curl -s "http://$HTTP/metrics" || true)
	awk -v n="$1" '$1 == n && !done { printf "%d\n", $2 * 1000; done = 1 }' <<<"$body"
}

rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$server_pid/status"; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
# pg_ticks: CPU ticks of every PostgreSQL process (backends live as long as the server's pool).
pg_ticks() { cat /proc/[0-9]*/stat 2>/dev/null | awk '$2 == "(postgres)" { t += $14 + $15 } END { print t + 0 }'; }

starts=0
start_server() { # start_server [extra serve flags]
	ulimit -n "$(ulimit -Hn)"
	# A fresh port each time, so one phase's closing connections never meet
	# the next phase's server.
	GT06=127.0.0.1:$((GT06_PORT + starts))
	starts=$((starts + 1))
	# BENCH_SERVER_ARGS adds flags to every server start (e.g. "--writers 4").
	# shellcheck disable=SC2086
	"$CV" serve --register-unknown --max-conns-per-ip -1 --http "$HTTP" --gt06 "$GT06" --h02 - --watch - \
		--osmand - --log-level warn ${BENCH_SERVER_ARGS:-} "$@" >>"$WORK/serve.log" 2>&1 &
	server_pid=$!
	for _ in $(seq 1 100); do
		curl -sf "http://$HTTP/readyz" >/dev/null 2>&1 && return 0
		kill -0 "$server_pid" 2>/dev/null || { tail -n 20 "$WORK/serve.log" >&2; exit 1; }
		sleep 0.2
	done
	log "server not ready after 20s"
	exit 1
}

stop_server() {
	if [ -n "$server_pid" ]; then
		kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
		server_pid=""
	fi
}

# run_load NAME ARGS...: one load phase; appends a results row.
run_load() {
	local name=$1
	shift
	local p0 c0 t0 out
	out="$WORK/load-$name.txt"
	p0=$(metric carevisit_ingest_positions_persisted_total)
	c0=$(cpu_ticks "$server_pid")
	local b0 n0 cs0 g0
	g0=$(pg_ticks)
	b0=$(metric carevisit_ingest_batch_size_sum)
	n0=$(metric carevisit_ingest_batch_size_count)
	cs0=$(metric_ms carevisit_ingest_commit_seconds_sum)
	t0=$(date +%s.%N)
	log "load $name: firmware-sim load $*"
	local TIMEFORMAT='%U %S %R'
	{ time "$FS" load -server "$GT06" -source-ips "$SRC_IPS" -duration "$DUR" "$@" >"$out" 2>&1 || true; } 2>"$WORK/time-$name"
	local p1 c1 t1 g1
	g1=$(pg_ticks)
	p1=$(metric carevisit_ingest_positions_persisted_total)
	c1=$(cpu_ticks "$server_pid")
	t1=$(date +%s.%N)
	local b1 n1 cs1
	b1=$(metric carevisit_ingest_batch_size_sum)
	n1=$(metric carevisit_ingest_batch_size_count)
	cs1=$(metric_ms carevisit_ingest_commit_seconds_sum)
	grep -v '^t=\|^connecting' "$out" | sed 's/^/    /' >&2
	local res secs persisted
	res=$(grep '^RESULT' "$out" || echo "RESULT none")
	secs=$(awk -v d="$DUR" 'BEGIN { sub(/s$/, "", d); print d }')
	persisted=$(( (p1 - p0) ))
	local hz wall
	hz=$(getconf CLK_TCK)
	wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
	printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s%% | %s%% | %s%% | %s | %s |\n' "$name" \
		"$(kv "$res" connected)" "$(kv "$res" sent_per_s)" "$(kv "$res" acked_per_s)" \
		"$(awk -v p="$persisted" -v s="$secs" 'BEGIN { printf "%.0f", p / s }')" \
		"$(kv "$res" p50_ms)" "$(kv "$res" p99_ms)" "$(kv "$res" max_ms)" \
		"$(awk -v c="$((c1 - c0))" -v w="$wall" -v hz="$hz" 'BEGIN { printf "%.0f", 100 * c / hz / w }')" \
		"$(awk -v c="$((g1 - g0))" -v w="$wall" -v hz="$hz" 'BEGIN { printf "%.0f", 100 * c / hz / w }')" \
		"$(awk '{ printf "%.0f", 100 * ($1 + $2) / $3 }' "$WORK/time-$name")" \
		"$(awk -v b="$((b1 - b0))" -v n="$((n1 - n0))" 'BEGIN { if (n > 0) printf "%.0f", b / n }')" \
		"$(awk -v c="$((cs1 - cs0))" -v n="$((n1 - n0))" 'BEGIN { if (n > 0) printf "%.1f", c / n }')" \
		>>"$WORK/rows.md"
	echo "$persisted" >"$WORK/persisted-$name"
}

kv() { echo "$1" | tr ' ' '\n' | awk -F= -v k="$2" '$1 == k { print $2 }'; }

main() {
	local t_start=$SECONDS
	mkdir -p "$WORK"
	if [ -d "$WORK/pg" ]; then bash "$PG" stop "$WORK/pg" || true; fi
	rm -rf "$WORK"/*
	if [ "${BENCH_NO_BUILD:-0}" = 1 ]; then
		log "using the binaries in bin/ (BENCH_NO_BUILD=1)"
	else
		log "building"
		go build -o "$CV" ./cmd/carevisit
		go build -o "$FS" ./firmware-sim
	fi

	log "starting a throwaway DURABLE PostgreSQL in $WORK/pg"
	DATABASE_URL=$(bash "$PG" start "$WORK/pg" durable)
	export DATABASE_URL
	"$CV" migrate >/dev/null
	local psql
	psql=$(psql_bin)
	"$psql" "$DATABASE_URL" -qAt -v ON_ERROR_STOP=1 >/dev/null <<-SQL
		INSERT INTO devices (ident, protocol, name)
		SELECT lpad((b + i)::text, 15, '0'), 'gt06', 'bench ' || (b + i)
		FROM (VALUES ($IDLE_BASE::bigint, $IDLE_N), ($RATE_BASE, $RATE_N), ($TUNED_BASE, $RATE_N), ($MAX_BASE, $RATE_N)) AS r(b, n),
		     generate_series(0, n - 1) AS i;
	SQL
	local settings
	settings=$("$psql" "$DATABASE_URL" -qAt -c "SELECT string_agg(name || '=' || setting, ', ' ORDER BY name) FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'full_page_writes', 'shared_buffers', 'wal_level')")
	log "postgres: $settings"

	log "COPY ceiling (firmware-sim copybench)"
	"$FS" copybench -rows 600000 -batch 2000 -writers 2 | tee "$WORK/copy-2000.txt" | sed 's/^/    /' >&2
	"$FS" copybench -rows 600000 -batch 20000 -writers 2 | tee "$WORK/copy-20000.txt" | sed 's/^/    /' >&2
	"$FS" copybench -mode insert -rows 300000 -batch 2000 -writers 2 -devices "$RATE_N" | tee "$WORK/insert-2000.txt" | sed 's/^/    /' >&2
	local copy_small copy_big copy_ceiling insert_db
	copy_small=$(kv "$(grep ^RESULT "$WORK/copy-2000.txt")" rows_per_s)
	copy_big=$(kv "$(grep ^RESULT "$WORK/copy-20000.txt")" rows_per_s)
	insert_db=$(kv "$(grep ^RESULT "$WORK/insert-2000.txt")" rows_per_s)
	copy_ceiling=$((copy_small > copy_big ? copy_small : copy_big))

	log "fresh server; idle-ish connections: $IDLE_N"
	start_server
	sleep 2
	local rss0 rss1 conns=0
	rss0=$(rss_kb)
	"$FS" load -server "$GT06" -source-ips "$SRC_IPS" -n "$IDLE_N" -rate 500 -duration 40s -dials 128 \
		-imei-base "$IDLE_BASE" >"$WORK/load-idle.txt" 2>&1 &
	load_pid=$!
	for _ in $(seq 1 90); do
		conns=$(metric carevisit_ingest_connections)
		[ "${conns:-0}" -ge "$IDLE_N" ] && break
		kill -0 "$load_pid" 2>/dev/null || break
		sleep 0.5
	done
	sleep 5
	rss1=$(rss_kb)
	conns=$(metric carevisit_ingest_connections)
	kill "$load_pid" 2>/dev/null || true
	wait "$load_pid" 2>/dev/null || true
	load_pid=""
	local per_conn per_conn_total
	per_conn=$(awk -v a="$rss0" -v b="$rss1" -v n="$conns" 'BEGIN { if (n > 0) printf "%.1f", (b - a) / n; else print "n/a" }')
	per_conn_total=$(awk -v b="$rss1" -v n="$conns" 'BEGIN { if (n > 0) printf "%.1f", b / n; else print "n/a" }')
	log "server RSS ${rss0} KiB -> ${rss1} KiB with $conns connections: $per_conn_total KiB per connection all included, delta $per_conn KiB"

	: >"$WORK/rows.md"
	sleep 3 # let the idle clients' connections close
	run_load rate-20k -n "$RATE_N" -rate 20000 -imei-base "$RATE_BASE"
	if [ "${BENCH_SKIP_TUNED:-0}" != 1 ]; then
		stop_server
		start_server --batch-delay 2ms
		sleep 1
		run_load rate-20k-delay2ms -n "$RATE_N" -rate 20000 -imei-base "$TUNED_BASE"
		stop_server
		start_server
		sleep 1
	fi
	run_load max -n "$RATE_N" -rate 0 -window 4 -imei-base "$MAX_BASE"
	local max_persisted
	max_persisted=$(awk -v p="$(cat "$WORK/persisted-max")" -v d="$DUR" 'BEGIN { sub(/s$/, "", d); printf "%.0f", p / d }')

	{
		echo "## Results ($(date -u +'%Y-%m-%d %H:%M UTC'), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg))"
		echo
		echo "PostgreSQL: $settings"
		echo
		echo "COPY ceiling (copybench, same row shape, 2 connections): $copy_small rows/s in 2,000-row transactions, $copy_big rows/s in 20,000-row ones."
		echo "The ingest writer's INSERT statement alone (copybench -mode insert, 2,000-row transactions, 2 connections, no server): $insert_db rows/s."
		echo
		echo "Idle-ish connections: server VmRSS $rss0 KiB before, $rss1 KiB with $conns connections: **$per_conn_total KiB per connection with every fixed cost included** (RSS / connections); the difference is $per_conn KiB per connection (understated: freed start-up heap is reused)."
		echo
		echo "| phase | connected | sent/s | acked/s | persisted/s | ack p50 ms | ack p99 ms | ack max ms | CPU server | CPU postgres | CPU load client | rows per commit | ms per commit |"
		echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
		cat "$WORK/rows.md"
		echo
		echo "CPU: share of one core over the phase (connect, send, drain); the machine has $(nproc) cores in all."
		echo "Max rate: $max_persisted positions/s persisted = $(awk -v a="$max_persisted" -v b="$copy_ceiling" 'BEGIN { printf "%.0f", 100 * a / b }')% of the COPY ceiling ($copy_ceiling rows/s)."
		echo
		echo "Whole run: $((SECONDS - t_start)) s. Logs: $WORK."
	} >"$WORK/results.md"
	cat "$WORK/results.md"
}

main "$@"

#!/usr/bin/env bash
# pgctl.sh: a private PostgreSQL cluster for tests, benchmarks and `make run`.
#   pgctl.sh start DIR [durable]  init DIR once (reused later), start it on a unix
#                                 socket in DIR, print the DSN on stdout
#   pgctl.sh stop DIR             stop it (fast shutdown)
#   pgctl.sh dsn DIR              print the DSN
# initdb refuses root, so as root the cluster runs as the `postgres` user.
# Without "durable", fsync is off: fine for throwaway test clusters only.
set -euo pipefail

find_bin() {
	if command -v pg_ctl >/dev/null 2>&1 && command -v initdb >/dev/null 2>&1; then
		dirname "$(command -v pg_ctl)"
		return
	fi
	local d
	d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
	if [ -n "$d" ] && [ -x "$d/pg_ctl" ]; then
		echo "$d"
		return
	fi
	echo "pgctl: PostgreSQL server binaries not found. Install them: apt-get update && apt-get install -y postgresql" >&2
	exit 1
}

as_owner() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 start|stop|dsn DIR [durable]" >&2; exit 2; }
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
# Unix socket paths are limited to ~107 bytes; keep the socket in a short /tmp path.
sockdir=/tmp/cvpg-$(printf '%s' "$dir" | md5sum | cut -c1-12)
dsn="host=$sockdir user=postgres dbname=postgres sslmode=disable"

case "$cmd" in
start)
	bin=$(find_bin)
	mkdir -p "$sockdir"
	if [ "$(id -u)" = 0 ]; then
		id postgres >/dev/null 2>&1 || { echo "pgctl: user postgres missing: apt-get install -y postgresql" >&2; exit 1; }
		chown postgres:postgres "$dir" "$sockdir"
	fi
	if [ ! -f "$dir/data/PG_VERSION" ]; then
		as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --no-locale --no-sync >"$dir/initdb.log" 2>&1 ||
			{ cat "$dir/initdb.log" >&2; exit 1; }
	fi
	if as_owner "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
		echo "$dsn"
		exit 0
	fi
	opts="-k $sockdir -c listen_addresses='' -c max_connections=200 -c shared_buffers=256MB"
	if [ "${3:-}" != durable ]; then
		opts="$opts -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
	fi
	as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 -o "$opts" start >/dev/null ||
		{ tail -n 30 "$dir/server.log" >&2; exit 1; }
	echo "$dsn"
	;;
stop)
	bin=$(find_bin)
	if [ -f "$dir/data/PG_VERSION" ]; then
		as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
	fi
	;;
dsn)
	echo "$dsn"
	;;
*)
	echo "usage: $0 start|stop|dsn DIR [durable]" >&2
	exit 2
	;;
esac

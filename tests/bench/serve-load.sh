#!/bin/bash
# Load benchmark of flowrun serve (issue 5).  Prints figures; asserts nothing.
#
#  1. the ceiling: a trivial libmicrohttpd server answering 202 at once
#     (tests/bench/sink.c), under wrk;
#  2. the ceiling of any durable webhook server: the same trivial server,
#     but answering only after the body is committed to SQLite (WAL,
#     synchronous FULL, one transaction for all waiting bodies);
#  3. flowrun serve accepting signed deliveries (HMAC verified, committed
#     and fsync'd before the 202) for an async flow, under the same wrk load;
#     with serve's peak RSS and the peak sum of Pss over serve and its
#     worker processes (tests/bench/pss.py);
#  4. end-to-end account flows/s: the example's account flow, its API calls
#     going to the sink, fed by wrk; counts executions finished per second.
#  5. with FLOWRUN_TEST_PG set (run it through tests/pgserver.py, which
#     starts a PostgreSQL server): 3 and 4 again on PostgreSQL, with one
#     serve process, then two (wrk on each with half the connections), and
#     the ratios PostgreSQL / SQLite.
#
# usage: tests/bench/serve-load.sh FLOWRUN SINK [SECONDS] [CONNECTIONS]
#        python3 tests/pgserver.py -- tests/bench/serve-load.sh FLOWRUN SINK ...
set -eu
FLOWRUN=$(realpath "$1") SINK=$(realpath "$2") SECS=${3:-10} CONNS=${4:-16}
cd "$(dirname "$0")/../.."
command -v wrk >/dev/null || { echo "wrk is missing (apt-get install wrk)"; exit 77; }
tmp=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT

secret=whsec_load_3b9d
body='{"event":"account.created","accounts":[{"id":"acc_1"},{"id":"acc_2"}]}'
sig=$(/usr/bin/python3 -c 'import hmac,hashlib,sys; print(hmac.new(sys.argv[1].encode(), sys.argv[2].encode(), hashlib.sha256).hexdigest())' "$secret" "$body")
cat > "$tmp/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '$body'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Signature"] = "sha256=$sig"
wrk.headers["X-Progix-Signature"] = "sha256=$sig"
LUA

start_serve() {	# ARGS...; the store is $STORE (default: a new SQLite file); sets $port, $spid
	local log="$tmp/serve.$RANDOM.log"
	"$FLOWRUN" serve "$@" --listen 127.0.0.1:0 --store "${STORE:-sqlite:$tmp/$RANDOM.db}" \
		2> "$log" &
	spid=$!
	pids+=("$spid")
	for _ in $(seq 100); do
		port=$(sed -n 's/.*serving on port \([0-9]*\).*/\1/p' "$log")
		[ -n "$port" ] && return 0
		sleep 0.1
	done
	cat "$log"; exit 1
}

cpu_ticks() {	# PID: CPU time of it, its reaped children and its live ones, in ticks
	local sum
	sum=$(awk '{ sub(/.*\) /, ""); print $12 + $13 + $14 + $15 }' "/proc/$1/stat")
	for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do
		sum=$((sum + $(awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$c/stat" 2>/dev/null || echo 0)))
	done
	echo "$sum"
}

load() {	# URL LABEL
	wrk -t2 -c"$CONNS" -d"${SECS}s" --latency -s "$tmp/post.lua" "$1" > "$tmp/wrk.out"
	rps=$(awk '/Requests\/sec/ {print $2}' "$tmp/wrk.out")
	p99=$(awk '$1 == "99%" {print $2}' "$tmp/wrk.out")
	p50=$(awk '$1 == "50%" {print $2}' "$tmp/wrk.out")
	non2xx=$(awk '/Non-2xx/ {print $5}' "$tmp/wrk.out")
	printf '%-44s %10s req/s  p50 %-8s p99 %-8s non-2xx %s\n' "$2" "$rps" "$p50" "$p99" "${non2xx:-0}"
}

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, $(uname -sr)"
echo "wrk: 2 threads, $CONNS connections, ${SECS}s, on the same 2 cores"

"$SINK" 2 > "$tmp/sink.out" &
pids+=("$!")
for _ in $(seq 50); do [ -s "$tmp/sink.out" ] && break; sleep 0.1; done
sinkport=$(awk '{print $2}' "$tmp/sink.out")
load "http://127.0.0.1:$sinkport/hooks/load/hook" "trivial server (202 at once)"
ceiling=$rps

"$SINK" 2 "$tmp/durable.db" > "$tmp/durable.out" &
dpid=$!
for _ in $(seq 50); do [ -s "$tmp/durable.out" ] && break; sleep 0.1; done
load "http://127.0.0.1:$(awk '{print $2}' "$tmp/durable.out")/hooks/load/hook" \
	"same, 202 after an fsync'd group commit"
durable=$rps
kill "$dpid"; wait "$dpid" 2>/dev/null || true

LOAD_SECRET=$secret start_serve tests/bench/flows/load --workers 2
/usr/bin/python3 tests/bench/pss.py "$spid" > "$tmp/pss.out" &
psspid=$!
load "http://127.0.0.1:$port/hooks/load/hook" "flowrun serve: verify + fsync'd queue + 202"
accepted=$rps
kill "$psspid"; wait "$psspid" 2>/dev/null || true
rss=$(awk '/VmHWM/ {print $2, $3}' "/proc/$spid/status")
echo "flowrun serve peak RSS: $rss; peak Pss: $(cat "$tmp/pss.out")"
awk -v a="$accepted" -v c="$ceiling" -v f="$durable" 'BEGIN {
	printf "accepted / trivial: %.2f; accepted / durable ceiling: %.2f\n", a / c, a / f }'
kill "$spid"; wait "$spid" 2>/dev/null || true

# end to end: deliveries accepted during the load, then executed
PROGIX_API_KEY=pk PROGIX_WEBHOOK_SECRET=$secret SLACK_TOKEN=xoxb \
	start_serve flows --workers 2 --set "progix_url=http://127.0.0.1:$sinkport" \
	--set "slack_url=http://127.0.0.1:$sinkport"
t0=$(date +%s.%N)
c0=$(cpu_ticks "$spid")
SECS=5 load "http://127.0.0.1:$port/hooks/progix-to-slack/account" "flowrun serve, account flow deliveries"
metric() { curl -s "http://127.0.0.1:$port/metrics" | awk -v m="$1" '$1 ~ m {s += $2} END {print s + 0}'; }
stored=$(metric '^flowrun_deliveries_stored_total')
while :; do
	done_n=$(metric '^flowrun_executions_total')
	[ "$done_n" -ge "$stored" ] && break
	sleep 0.2
done
t1=$(date +%s.%N)
c1=$(cpu_ticks "$spid")
awk -v n="$done_n" -v a="$t0" -v b="$t1" 'BEGIN { printf "end-to-end account flows: %d in %.1f s = %.0f flows/s (3 API calls each, to the sink)\n", n, b - a, n / (b - a) }'
awk -v n="$done_n" -v c="$((c1 - c0))" -v hz="$(getconf CLK_TCK)" 'BEGIN {
	printf "CPU of serve and its worker processes: %.0f us per account flow (accepting included)\n", c / hz / n * 1e6 }'

# 5. PostgreSQL beside SQLite
[ -n "${FLOWRUN_TEST_PG:-}" ] || {
	echo "(PostgreSQL figures: run through python3 tests/pgserver.py -- ...)"
	exit 0
}
newdb() {	# prints the URL of a new database
	local name="bench_$RANDOM$RANDOM"
	psql -q "$FLOWRUN_TEST_PG" -c "CREATE DATABASE $name" >/dev/null
	echo "${FLOWRUN_TEST_PG%/*}/$name"
}
sqlite_accepted=$accepted
STORE=$(newdb) LOAD_SECRET=$secret start_serve tests/bench/flows/load --workers 2
load "http://127.0.0.1:$port/hooks/load/hook" "PostgreSQL, one process: accepted"
pg1=$rps
kill "$spid"; wait "$spid" 2>/dev/null || true
db=$(newdb)
STORE=$db LOAD_SECRET=$secret start_serve tests/bench/flows/load --workers 1
p1=$port s1=$spid
STORE=$db LOAD_SECRET=$secret start_serve tests/bench/flows/load --workers 1
p2=$port s2=$spid
half=$((CONNS / 2))
wrk -t1 -c"$half" -d"${SECS}s" --latency -s "$tmp/post.lua" \
	"http://127.0.0.1:$p1/hooks/load/hook" > "$tmp/wrk1.out" &
w1=$!
wrk -t1 -c"$half" -d"${SECS}s" --latency -s "$tmp/post.lua" \
	"http://127.0.0.1:$p2/hooks/load/hook" > "$tmp/wrk2.out"
wait "$w1"
r1=$(awk '/Requests\/sec/ {print $2}' "$tmp/wrk1.out")
r2=$(awk '/Requests\/sec/ {print $2}' "$tmp/wrk2.out")
printf '%-44s %10s + %s req/s\n' "PostgreSQL, two processes, half each" "$r1" "$r2"
pg2=$(awk -v a="$r1" -v b="$r2" 'BEGIN { print a + b }')
kill "$s1" "$s2"; wait "$s1" "$s2" 2>/dev/null || true
awk -v s="$sqlite_accepted" -v a="$pg1" -v b="$pg2" 'BEGIN {
	printf "accepted: PostgreSQL one process / SQLite %.2f; two processes together / one %.2f\n", a / s, b / a }'

#!/usr/bin/env bash
# hol.sh OUT.jsonl [ROUNDS] - head-of-line blocking: !ping latency while a
# plugin job blocks 5 s on the thread pool and an HTTP request waits 5 s
# on a slow local server, against the same bot idle, in alternating
# rounds.  Starts a private ngIRCd, the slow server and the bot, and stops
# them by PID.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
BENCH=${OPSBOT_BENCH_DIR:-$ROOT/bench/harness}
BUILD_DIR=${OPSBOT_BUILD_DIR:-$ROOT/build}
OUT=$1 ROUNDS=${2:-3}
RUN=$(mktemp -d "${TMPDIR:-/tmp}/opsbot-hol.XXXXXX")
SLOW_PID= BOT_PID=
cleanup() {
    [ -n "$BOT_PID" ] && kill "$BOT_PID" 2>/dev/null && wait "$BOT_PID" 2>/dev/null
    [ -n "$SLOW_PID" ] && kill "$SLOW_PID" 2>/dev/null && wait "$SLOW_PID" 2>/dev/null
    "$ROOT/tests/servers/ngircd-stop" "$RUN/ircd" >/dev/null 2>&1
    rm -rf "$RUN"
}
trap cleanup EXIT
eval "$("$ROOT/tests/servers/ngircd-start" "$RUN/ircd" | grep -E '^(PORT|PID)=')"
SERVER_PID=$PID
python3 "$HERE/slow_http.py" "$RUN/slow.port" 5 & SLOW_PID=$!
for i in $(seq 50); do [ -s "$RUN/slow.port" ] && break; sleep 0.1; done
SLOW_PORT=$(cat "$RUN/slow.port")
(cd "$RUN" && HOST=127.0.0.1 PORT=$PORT CHANNEL='#bench' NICK=opsbot RUNDIR=$RUN \
    OPSBOT_BUILD_DIR=$BUILD_DIR sh "$HERE/setup-opsbot.sh")
"$BUILD_DIR/opsbot" -q -c "$RUN/opsbot.conf" > "$RUN/bot.log" 2>&1 & BOT_PID=$!
measure() {  # measure LABEL
    timeout 120 python3 "$BENCH/ircbench.py" --port "$PORT" --channel '#bench' \
        --bot-nick opsbot --bot-pid "$BOT_PID" --server-pid "$SERVER_PID" \
        --n 2000 --window '' --warmup 50 --wait-bot 30 \
        --extra "label=$1" --extra "bench=hol" 2>>"$RUN/ircbench.err" | tail -n 1 >> "$OUT"
}
for r in $(seq "$ROUNDS"); do
    measure "hol-idle"
    hits=$(cat "$RUN/slow.port.hits" 2>/dev/null || echo 0)
    python3 "$HERE/trigger.py" "$PORT" '#bench' "!example sleep 5000" \
        "!example fetch http://127.0.0.1:$SLOW_PORT/slow" || exit 1
    [ "$(cat "$RUN/slow.port.hits" 2>/dev/null || echo 0)" -gt "$hits" ] ||
        { echo "hol: the HTTP request did not reach the slow server" >&2; exit 1; }
    measure "hol-loaded"
    # Let the job and the request finish before the next idle round.
    sleep 5.5
done
grep -q "slept 5000 ms\|sleeping" "$RUN/bot.log" || true

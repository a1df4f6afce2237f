# tests/servers/lib.sh: shared shell helpers of the test-server kit.
# Sourced by the *-start, *-stop and cert scripts; not run on its own.
#
# Every process the kit starts has its PID written to DIR/<name>.pid next to
# DIR/<name>.cmd (the exact command line), and is only ever signalled after
# /proc/PID/cmdline is checked against that record, so a recycled PID that
# now belongs to someone else is never touched.

KIT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
KIT_PY=${PYTHON:-python3}
KIT_HOST=127.0.0.1

kit_die() { echo "${KIT_NAME:-kit}: $*" >&2; exit 2; }
kit_log() { echo "${KIT_NAME:-kit}: $*" >&2; }

# Milliseconds since the epoch, from bash's clock (no fork).
kit_now_ms() { local t=${EPOCHREALTIME/[.,]/}; echo $(( t / 1000 )); }

# kit_alive PID: running and not a zombie.
kit_alive() {
    local st
    [ -n "${1:-}" ] || return 1
    st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1) || return 1
    [ -n "$st" ] && [ "$st" != Z ]
}

# kit_is_ours DIR NAME: DIR/NAME.pid names a live process whose command line
# is still the one recorded in DIR/NAME.cmd when the kit started it.
kit_is_ours() {
    local dir=$1 name=$2 pid want have
    pid=$(cat "$dir/$name.pid" 2>/dev/null) || return 1
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    kit_alive "$pid" || return 1
    want=$(cat "$dir/$name.cmd" 2>/dev/null) || return 1
    have=$(tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null) || return 1
    [ "${have% }" = "$want" ]
}

# kit_spawn DIR NAME LOGFILE CMD...: start CMD in the background in DIR (so
# a core dump lands there), stdin from /dev/null, stdout+stderr to LOGFILE
# and no inherited descriptors above 2 (a caller reading our stdout through a
# pipe must see EOF when we exit), then record its PID and command line.
# Sets KIT_PID.
kit_spawn() {
    local dir=$1 name=$2 log=$3
    shift 3
    (
        cd "$dir" || exit 127
        # No core files: InspIRCd raises its own soft core limit, and with
        # m_ssl_gnutls loaded it crashes on its way out after SIGTERM.
        ulimit -Hc 0 2>/dev/null
        for fd in /proc/$BASHPID/fd/*; do
            fd=${fd##*/}
            [ "$fd" -gt 2 ] 2>/dev/null && eval "exec $fd>&-"
        done
        exec "$@"
    ) < /dev/null > "$log" 2>&1 &
    KIT_PID=$!
    echo "$KIT_PID" > "$dir/$name.pid"
    echo "$*" > "$dir/$name.cmd"
}

# kit_stop DIR NAME: SIGTERM the process recorded as DIR/NAME.pid if it is
# still ours, SIGKILL after 5 s, wait until it is gone (reaped by its parent,
# or a zombie), and remove the PID file.  Returns 0 when nothing is left.
kit_stop() {
    local dir=$1 name=$2 pid i
    pid=$(cat "$dir/$name.pid" 2>/dev/null) || return 0
    # Right after kit_spawn the child may not have exec'd yet (its command
    # line is still bash's): give it a moment before deciding it is not ours.
    for i in $(seq 1 20); do
        kit_alive "$pid" && ! kit_is_ours "$dir" "$name" || break
        sleep 0.05
    done
    if kit_is_ours "$dir" "$name"; then
        kill -TERM "$pid" 2>/dev/null
        for i in $(seq 1 100); do kit_alive "$pid" || break; sleep 0.05; done
        if kit_alive "$pid"; then
            kit_log "$name ($pid) still running 5 s after SIGTERM, sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null
            for i in $(seq 1 40); do kit_alive "$pid" || break; sleep 0.05; done
        fi
        # Reaps it when the caller is its parent (e.g. a script that sourced
        # the start script); otherwise init does.
        wait "$pid" 2>/dev/null
    fi
    if kit_alive "$pid" && kit_is_ours "$dir" "$name"; then
        kit_log "$name ($pid) did not exit"
        return 1
    fi
    rm -f "$dir/$name.pid"
    return 0
}

# kit_tail FILE: the last lines of a log, for error messages.
kit_tail() {
    [ -s "$1" ] || return 0
    echo "--- last lines of $1" >&2
    tail -n 20 "$1" >&2
}

# kit_emit VAR...: print VAR=value lines (shell-quoted) to stdout and append
# them to $KIT_ENV_FILE.
kit_emit() {
    local v line
    for v in "$@"; do
        printf -v line '%s=%q' "$v" "${!v}"
        echo "$line"
        [ -n "${KIT_ENV_FILE:-}" ] && echo "$line" >> "$KIT_ENV_FILE"
    done
    return 0
}

# kit_make_dir DIR_OR_EMPTY PREFIX: the run directory, absolute; mktemp when
# none is given.  The directory is world-readable (0755) because ngIRCd
# switches to "nobody" when started as root.
kit_make_dir() {
    local d=$1
    if [ -z "$d" ]; then
        d=$(mktemp -d "${TMPDIR:-/tmp}/$2.XXXXXX") || kit_die "mktemp failed"
    fi
    mkdir -p "$d" || kit_die "cannot create $d"
    chmod 755 "$d"
    (cd "$d" && pwd)
}

# kit_random HEXCHARS: a random token for passwords (not a secret worth
# anything: the servers listen on loopback only and live for one test run).
kit_random() { od -An -N"$(( $1 / 2 ))" -tx1 /dev/urandom | tr -d ' \n'; }

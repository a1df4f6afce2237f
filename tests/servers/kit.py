#!/usr/bin/env python3
"""kit.py: helpers of the test-server kit (Python 3 standard library only).

  kit.py free-ports N
      N distinct free TCP ports on 127.0.0.1, one a line (all N sockets are
      bound at once, so they differ; another process may still take one
      before the server binds it, which wait-listen detects).
  kit.py wait-listen [--pid PID] --timeout S PORT|PID:PORT...
      waits until every PORT is in LISTEN state on 127.0.0.1 through a socket
      owned by its PID (/proc/net/tcp inodes against /proc/PID/fd).  Exit 0
      when ready, 3 if a PID exited, 4 if another process listens on one of
      the ports (pick new ports and retry), 1 on timeout.
  kit.py wait-sasl --port P --timeout S [--mechs PLAIN,EXTERNAL]
      repeats CAP LS 302 until the server offers "sasl" with the listed
      mechanisms (InspIRCd offers the cap only while its SASL target, the
      services server, is linked; Atheme sends the mechanism list when it
      has finished its burst).  Exit 0 when ready, 1 on timeout.
  kit.py register --port P --account A --password X [--certfp FP] [--timeout S]
      connects as nick A, sends NickServ REGISTER (no e-mail verification in
      the kit's Atheme config), and with --certfp also NickServ CERT ADD FP.
      Exit 0 when NickServ confirmed each step.
  kit.py subreaper CMD [ARG...]
      runs CMD as a child subreaper (prctl PR_SET_CHILD_SUBREAPER): the
      servers that the start scripts leave running are re-parented to CMD
      instead of PID 1, so CMD (a bash script, or a test binary calling
      waitpid) reaps them when they exit.  Useful where PID 1 does not reap.
"""

import argparse
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from probe_client import Client, ProbeError  # noqa: E402


def free_ports(n):
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def listening_inodes():
    """{port: inode} of sockets listening on 127.0.0.1 or 0.0.0.0."""
    result = {}
    try:
        with open("/proc/net/tcp") as f:
            next(f)
            for line in f:
                fields = line.split()
                local, state, inode = fields[1], fields[3], fields[9]
                addr, port = local.split(":")
                if state == "0A" and addr in ("0100007F", "00000000"):
                    result[int(port, 16)] = inode
    except OSError:
        pass
    return result


def socket_inodes(pid):
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    except OSError:
        pass
    return inodes


def pid_alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except (OSError, IndexError):
        return False


def wait_listen(pairs, timeout):
    """pairs: [(pid, port)]."""
    deadline = time.monotonic() + timeout
    while True:
        listening = listening_inodes()
        pending = []
        for pid, port in pairs:
            if not pid_alive(pid):
                print(f"kit: process {pid} exited before listening on {port}", file=sys.stderr)
                return 3
            ours = socket_inodes(pid)
            inode = listening.get(port)
            if inode is None:
                pending.append(port)
            elif inode not in ours:
                # Someone else's socket: once the server has sockets of its
                # own and still not this one, it lost the race for the port.
                if ours:
                    print(f"kit: port {port} is taken by another process", file=sys.stderr)
                    return 4
                pending.append(port)
        if not pending:
            return 0
        if time.monotonic() >= deadline:
            print(f"kit: not listening on {pending} after {timeout}s", file=sys.stderr)
            return 1
        time.sleep(0.02)


def wait_sasl(host, port, timeout, mechs):
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            with Client(host, port, timeout=min(3.0, max(0.5, deadline - time.monotonic())),
                        name="wait-sasl").connect() as c:
                caps = c.cap_ls()
                offered = caps.get("sasl")
                c.send("QUIT")
                if offered is not None:
                    have = set(offered.split(",")) if offered else set()
                    if all(m in have for m in mechs):
                        return 0
                    last = f"sasl={offered}"
                else:
                    last = "no sasl capability yet"
        except (ProbeError, OSError) as e:
            last = str(e)
        time.sleep(0.1)
    print(f"kit: SASL not ready on {host}:{port} after {timeout}s ({last})", file=sys.stderr)
    return 1


def nickserv_step(c, command, ok_words, fail_words, what):
    c.send(f"PRIVMSG NickServ :{command}")
    while True:
        msg = c.expect(lambda m: m.command == "NOTICE" and m.nick.lower() == "nickserv",
                       f"NickServ reply to {what}")
        text = msg.params[-1].lower()
        if any(w in text for w in ok_words):
            return msg.params[-1]
        if any(w in text for w in fail_words):
            raise ProbeError(f"NickServ refused {what}: {msg.params[-1]}")


def register(host, port, account, password, certfp, timeout):
    with Client(host, port, timeout=timeout, name="register").connect() as c:
        c.register(account)
        c.finish_registration(cap_used=False)
        email = f"{account.lower()}@opsbot.invalid"
        reply = nickserv_step(
            c, f"REGISTER {password} {email}", ["is now registered", "registered to"],
            ["already registered", "invalid", "too many", "cannot", "not ", "must", "wait"],
            f"REGISTER {account}")
        print(f"kit: NickServ: {reply}", file=sys.stderr)
        if certfp:
            reply = nickserv_step(
                c, f"CERT ADD {certfp}", ["added"],
                ["already", "invalid", "not ", "cannot", "too many"], "CERT ADD")
            print(f"kit: NickServ: {reply}", file=sys.stderr)
        c.quit()
    return 0


def subreaper(cmd):
    import ctypes
    PR_SET_CHILD_SUBREAPER = 36
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        print("kit: prctl(PR_SET_CHILD_SUBREAPER) failed; running without it", file=sys.stderr)
    os.execvp(cmd[0], cmd)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["subreaper"]:
        if len(argv) < 2:
            print("usage: kit.py subreaper CMD [ARG...]", file=sys.stderr)
            return 2
        subreaper(argv[1:])
    p = argparse.ArgumentParser(description="test-server kit helpers")
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("subreaper", help="run CMD as a child subreaper")
    a = sub.add_parser("free-ports")
    a.add_argument("n", type=int)
    a = sub.add_parser("wait-listen")
    a.add_argument("--pid", type=int)
    a.add_argument("--timeout", type=float, default=10)
    a.add_argument("ports", nargs="+")
    a = sub.add_parser("wait-sasl")
    a.add_argument("--host", default="127.0.0.1")
    a.add_argument("--port", type=int, required=True)
    a.add_argument("--timeout", type=float, default=20)
    a.add_argument("--mechs", default="PLAIN,EXTERNAL")
    a = sub.add_parser("register")
    a.add_argument("--host", default="127.0.0.1")
    a.add_argument("--port", type=int, required=True)
    a.add_argument("--account", required=True)
    a.add_argument("--password", required=True)
    a.add_argument("--certfp")
    a.add_argument("--timeout", type=float, default=10)
    args = p.parse_args(argv)

    if args.cmd == "free-ports":
        for port in free_ports(args.n):
            print(port)
        return 0
    if args.cmd == "wait-listen":
        pairs = []
        for item in args.ports:
            pid, _, port = item.rpartition(":")
            if not pid and args.pid is None:
                p.error(f"{item}: give --pid or PID:PORT")
            pairs.append((int(pid) if pid else args.pid, int(port)))
        return wait_listen(pairs, args.timeout)
    if args.cmd == "wait-sasl":
        mechs = [m for m in args.mechs.split(",") if m]
        return wait_sasl(args.host, args.port, args.timeout, mechs)
    if args.cmd == "register":
        try:
            return register(args.host, args.port, args.account, args.password, args.certfp,
                            args.timeout)
        except (ProbeError, OSError) as e:
            print(f"kit: register {args.account}: {e}", file=sys.stderr)
            return 1
    return 2


if __name__ == "__main__":
    sys.exit(main())

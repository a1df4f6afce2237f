#!/usr/bin/env python3
"""probe_client.py: a minimal scripted IRC client that verifies the test servers.

Python 3 standard library only (socket, ssl).  Each subcommand runs one probe
against a running server, prints "ok: ..." lines, and exits 0, or prints
"FAIL: ..." with the last lines seen and exits 1.  Every wait is bounded by
--timeout (seconds, per step).

  caps           CAP LS 302 (multi-line aware); --require CAP... must be listed
  sasl-plain     CAP REQ sasl + AUTHENTICATE PLAIN; expects 903 and 900, then
                 WHOIS shows 330 (logged in as); --expect-fail expects 904
  sasl-external  over TLS with --cert/--key: AUTHENTICATE EXTERNAL, expects 903
  accounts       two clients: a receiver with account-tag, extended-join,
                 account-notify, message-tags and server-time; a sender that
                 logs in with SASL PLAIN, joins a channel (extended-join shows
                 its account), messages the receiver (account= tag present),
                 and WHOX (%tna) reports its account; an unauthenticated
                 sender's message carries no account tag
  tls            TLS handshake with verification against --ca for
                 --tls-hostname; --expect ok registers and sees 001,
                 --expect fail expects the handshake to be refused
  plain          registers without CAP and sees 001 and the MOTD (or 422)

The Client class is also used by kit.py (readiness checks, NickServ REGISTER).
"""

import argparse
import base64
import os
import socket
import ssl
import sys
import time

__all__ = ["Client", "Message", "ProbeError", "sasl_plain_payload"]


class ProbeError(Exception):
    """A probe step failed; the message says which and why."""


class Message:
    """One parsed IRC line: tags (dict), prefix, command, params (list)."""

    _TAG_UNESCAPE = {":": ";", "s": " ", "\\": "\\", "r": "\r", "n": "\n"}

    def __init__(self, line):
        self.raw = line
        self.tags = {}
        self.prefix = ""
        rest = line
        if rest.startswith("@"):
            tagpart, _, rest = rest[1:].partition(" ")
            for item in tagpart.split(";"):
                if not item:
                    continue
                key, _, value = item.partition("=")
                self.tags[key] = self._unescape(value)
            rest = rest.lstrip(" ")
        if rest.startswith(":"):
            self.prefix, _, rest = rest[1:].partition(" ")
            rest = rest.lstrip(" ")
        params = []
        while rest:
            if rest.startswith(":"):
                params.append(rest[1:])
                break
            word, _, rest = rest.partition(" ")
            params.append(word)
            rest = rest.lstrip(" ")
        self.command = params.pop(0).upper() if params else ""
        self.params = params

    @classmethod
    def _unescape(cls, value):
        out, i = [], 0
        while i < len(value):
            c = value[i]
            if c == "\\" and i + 1 < len(value):
                out.append(cls._TAG_UNESCAPE.get(value[i + 1], value[i + 1]))
                i += 2
                continue
            if c != "\\":
                out.append(c)
            i += 1
        return "".join(out)

    @property
    def nick(self):
        return self.prefix.split("!", 1)[0]

    def __repr__(self):
        return self.raw


def sasl_plain_payload(account, password, authzid=""):
    """AUTHENTICATE lines for a PLAIN response: base64 in 400-byte chunks,
    with a final "+" when the length is an exact multiple of 400."""
    data = base64.b64encode(f"{authzid}\0{account}\0{password}".encode()).decode()
    chunks = [data[i:i + 400] for i in range(0, len(data), 400)]
    if not chunks or len(chunks[-1]) == 400:
        chunks.append("+")
    return chunks


class Client:
    """A blocking IRC client with bounded waits and a transcript for errors."""

    def __init__(self, host, port, *, tls=False, ca=None, tls_hostname=None,
                 cert=None, key=None, verify=True, timeout=10.0, name="probe"):
        self.host, self.port = host, port
        self.tls, self.ca, self.cert, self.key = tls, ca, cert, key
        self.tls_hostname = tls_hostname or host
        self.verify = verify
        self.timeout = timeout
        self.name = name
        self.sock = None
        self.buf = b""
        self.transcript = []
        self.caps = {}
        self.nick = None
        self.sasl_account = None

    # --- connection ---------------------------------------------------------
    def connect(self):
        raw = socket.create_connection((self.host, self.port), timeout=self.timeout)
        if not self.tls:
            self.sock = raw
            return self
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        if self.verify:
            ctx.check_hostname = True
            ctx.verify_mode = ssl.CERT_REQUIRED
            if self.ca:
                ctx.load_verify_locations(cafile=self.ca)
            else:
                ctx.load_default_certs()
        else:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if self.cert:
            ctx.load_cert_chain(self.cert, self.key)
        try:
            self.sock = ctx.wrap_socket(raw, server_hostname=self.tls_hostname)
        except BaseException:
            raw.close()
            raise
        return self

    def close(self):
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
            self.sock = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, line):
        self.transcript.append(f"{self.name} >> {line}")
        self.sock.sendall(line.encode() + b"\r\n")

    # --- reading ------------------------------------------------------------
    def read(self, deadline):
        """The next line as a Message; answers PING by itself.  Raises
        ProbeError on timeout or when the server closes the connection."""
        while True:
            while b"\n" not in self.buf:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ProbeError(f"{self.name}: timed out waiting for the server")
                self.sock.settimeout(left)
                try:
                    data = self.sock.recv(65536)
                except socket.timeout:
                    raise ProbeError(f"{self.name}: timed out waiting for the server") from None
                if not data:
                    raise ProbeError(f"{self.name}: server closed the connection")
                self.buf += data
            line, _, self.buf = self.buf.partition(b"\n")
            text = line.rstrip(b"\r").decode("utf-8", "replace")
            if not text:
                continue
            self.transcript.append(f"{self.name} << {text}")
            msg = Message(text)
            if msg.command == "PING":
                self.send("PONG :" + (msg.params[-1] if msg.params else ""))
                continue
            return msg

    def expect(self, pred, what, timeout=None):
        """Read until pred(msg) is true; fail on ERROR or after timeout."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            msg = self.read(deadline)
            if pred(msg):
                return msg
            if msg.command == "ERROR":
                raise ProbeError(f"{self.name}: ERROR from server while waiting for {what}: {msg.raw}")

    def expect_cmd(self, commands, what=None, timeout=None):
        commands = {commands} if isinstance(commands, str) else set(commands)
        return self.expect(lambda m: m.command in commands, what or "/".join(sorted(commands)), timeout)

    # --- registration ---------------------------------------------------------
    def begin(self, nick, cap=True):
        """Open a registration as the CAP spec orders it: CAP LS 302 (when
        cap), then NICK and USER; returns the offered caps ({} without CAP).
        finish_registration() ends it."""
        if cap:
            self.send("CAP LS 302")
        self.register(nick)
        return self.read_cap_ls() if cap else {}

    def cap_ls(self):
        """CAP LS 302; returns {cap: value} over all (multi-line) replies."""
        self.send("CAP LS 302")
        return self.read_cap_ls()

    def read_cap_ls(self):
        caps = {}
        while True:
            msg = self.expect(lambda m: m.command == "CAP" and len(m.params) >= 3
                              and m.params[1].upper() == "LS", "CAP LS reply")
            more = len(msg.params) >= 4 and msg.params[2] == "*"
            for item in msg.params[-1].split():
                name, _, value = item.partition("=")
                caps[name] = value
            if not more:
                break
        self.caps = caps
        return caps

    def cap_req(self, caps):
        """CAP REQ; returns the acknowledged list or raises on NAK."""
        self.send("CAP REQ :" + " ".join(caps))
        msg = self.expect(lambda m: m.command == "CAP" and len(m.params) >= 3
                          and m.params[1].upper() in ("ACK", "NAK"), "CAP ACK/NAK")
        if msg.params[1].upper() == "NAK":
            raise ProbeError(f"{self.name}: server refused CAP REQ {' '.join(caps)}: {msg.raw}")
        return msg.params[-1].split()

    def authenticate(self, mechanism, chunks):
        """Run one SASL exchange; returns (numeric, message) with numeric one
        of 903 (success), 904, 905, 906, 907, 908."""
        self.send(f"AUTHENTICATE {mechanism}")
        msg = self.expect(lambda m: m.command == "AUTHENTICATE" or m.command in
                          ("904", "905", "906", "907", "908"), "AUTHENTICATE +")
        if msg.command != "AUTHENTICATE":
            return msg.command, msg
        for chunk in chunks:
            self.send(f"AUTHENTICATE {chunk}")
        account = None
        while True:
            msg = self.expect_cmd(("900", "903", "904", "905", "906", "907", "908"), "SASL result")
            if msg.command == "900":
                account = msg.params[2] if len(msg.params) > 2 else None
                self.sasl_account = account
                continue
            return msg.command, msg

    def register(self, nick, user=None, realname=None):
        """Send NICK and USER; finish_registration() waits for 001."""
        self.nick = nick
        self.send(f"NICK {nick}")
        self.send(f"USER {user or nick} 0 * :{realname or 'opsbot probe ' + nick}")

    def finish_registration(self, cap_used=True):
        if cap_used:
            self.send("CAP END")
        msg = self.expect(lambda m: m.command in ("001", "433", "432", "465"), "001 welcome")
        if msg.command != "001":
            raise ProbeError(f"{self.name}: registration refused: {msg.raw}")
        self.nick = msg.params[0]
        return msg

    def wait_motd_end(self):
        return self.expect_cmd(("376", "422"), "end of MOTD")

    def quit(self, reason="probe done"):
        if self.sock is None:
            return
        try:
            self.send(f"QUIT :{reason}")
            self.expect(lambda m: False, "close", timeout=2)
        except (ProbeError, OSError):
            pass
        self.close()


# --- probes ------------------------------------------------------------------
def unique_nick(prefix):
    return f"{prefix}{os.getpid() % 10000}{int(time.monotonic() * 1000) % 1000}"


def client_from(args, name="probe", **over):
    kw = dict(tls=args.tls, ca=args.ca, tls_hostname=args.tls_hostname, cert=None, key=None,
              timeout=args.timeout, name=name)
    kw.update(over)
    c = Client(args.host, args.port, **kw)
    args._clients.append(c)
    return c


def probe_plain(args, out):
    with client_from(args).connect() as c:
        c.begin(unique_nick("pp"), cap=False)
        c.finish_registration(cap_used=False)
        end = c.wait_motd_end()
        out(f"registered as {c.nick}; MOTD end: {end.command}")
        c.quit()


def probe_caps(args, out):
    with client_from(args).connect() as c:
        caps = c.begin(unique_nick("pc"))
        out("CAP LS 302: " + " ".join(f"{k}={v}" if v else k for k, v in sorted(caps.items())))
        missing = [cap for cap in args.require if cap not in caps]
        if missing:
            raise ProbeError("missing capabilities: " + " ".join(missing))
        c.finish_registration()
        c.quit()


def login_plain(c, nick, account, password):
    """begin() with CAP, then SASL PLAIN; returns (numeric, message)."""
    caps = c.begin(nick)
    if "sasl" not in caps:
        raise ProbeError(f"{c.name}: server does not offer sasl (services not linked?): {sorted(caps)}")
    if caps["sasl"] and "PLAIN" not in caps["sasl"].split(","):
        raise ProbeError(f"{c.name}: sasl={caps['sasl']} does not list PLAIN")
    c.cap_req(["sasl"])
    return c.authenticate("PLAIN", sasl_plain_payload(account, password))


def probe_sasl_plain(args, out):
    with client_from(args).connect() as c:
        numeric, msg = login_plain(c, unique_nick("sp"), args.account, args.password)
        if args.expect_fail:
            if numeric != "904":
                raise ProbeError(f"expected 904 for a wrong password, got {msg.raw}")
            out(f"SASL PLAIN with a wrong password refused: {msg.raw}")
            c.finish_registration()
            c.quit()
            return
        if numeric != "903":
            raise ProbeError(f"SASL PLAIN failed: {msg.raw}")
        if c.sasl_account != args.account:
            raise ProbeError(f"900 named account {c.sasl_account!r}, not {args.account!r}")
        out(f"SASL PLAIN ok: 900 account={c.sasl_account}, {msg.raw}")
        c.finish_registration()
        check_whois_account(c, c.nick, args.account, out)
        c.quit()


def check_whois_account(c, nick, account, out):
    c.send(f"WHOIS {nick}")
    got = None
    while True:
        msg = c.expect_cmd(("330", "318", "401"), "WHOIS reply")
        if msg.command == "330":
            got = msg.params[2]
        if msg.command in ("318", "401"):
            break
    if got != account:
        raise ProbeError(f"WHOIS {nick}: 330 account {got!r}, expected {account!r}")
    out(f"WHOIS {nick}: 330 logged in as {got}")


def probe_sasl_external(args, out):
    if not args.tls or not args.cert:
        raise ProbeError("sasl-external needs --tls and --cert/--key")
    with client_from(args, cert=args.cert, key=args.key or None).connect() as c:
        caps = c.begin(unique_nick("se"))
        if "sasl" not in caps or (caps["sasl"] and "EXTERNAL" not in caps["sasl"].split(",")):
            raise ProbeError(f"sasl EXTERNAL not offered: sasl={caps.get('sasl')!r}")
        c.cap_req(["sasl"])
        numeric, msg = c.authenticate("EXTERNAL", ["+"])
        if args.expect_fail:
            if numeric != "904":
                raise ProbeError(f"expected 904, got {msg.raw}")
            out(f"SASL EXTERNAL refused as expected: {msg.raw}")
        else:
            if numeric != "903":
                raise ProbeError(f"SASL EXTERNAL failed: {msg.raw}")
            if args.account and c.sasl_account != args.account:
                raise ProbeError(f"900 named {c.sasl_account!r}, not {args.account!r}")
            out(f"SASL EXTERNAL ok: 900 account={c.sasl_account}, {msg.raw}")
        c.finish_registration()
        if not args.expect_fail and args.account:
            check_whois_account(c, c.nick, args.account, out)
        c.quit()


def probe_accounts(args, out):
    want = ["account-tag", "extended-join", "account-notify", "message-tags", "server-time"]
    chan = "#probe" + str(os.getpid() % 100000)
    rx = client_from(args, name="receiver").connect()
    tx = client_from(args, name="sender").connect()
    anon = client_from(args, name="anon").connect()
    try:
        caps = rx.begin(unique_nick("rx"))
        missing = [c for c in want if c not in caps]
        if missing:
            raise ProbeError("receiver: server lacks " + " ".join(missing))
        rx.cap_req(want)
        rx.finish_registration()
        rx.send(f"JOIN {chan}")
        rx.expect_cmd("366", "end of NAMES for " + chan)

        numeric, msg = login_plain(tx, unique_nick("tx"), args.account, args.password)
        if numeric != "903":
            raise ProbeError(f"sender: SASL PLAIN failed: {msg.raw}")
        tx.finish_registration()
        tx.send(f"JOIN {chan}")
        tx.expect_cmd("366", "sender's end of NAMES")

        j = rx.expect(lambda m: m.command == "JOIN" and m.nick == tx.nick, "extended JOIN of sender")
        if len(j.params) < 3 or j.params[1] != args.account:
            raise ProbeError(f"extended-join: expected account {args.account!r} in {j.raw}")
        out(f"extended-join: {j.raw}")

        text = "probe " + str(time.time())
        tx.send(f"PRIVMSG {rx.nick} :{text}")
        m = rx.expect(lambda m: m.command == "PRIVMSG" and m.params[-1] == text, "PRIVMSG from sender")
        if m.tags.get("account") != args.account:
            raise ProbeError(f"account-tag: expected account={args.account}, got tags {m.tags}")
        if "time" not in m.tags:
            raise ProbeError(f"server-time: no time tag on {m.raw}")
        out(f"account-tag + server-time: {m.raw}")

        anon.begin(unique_nick("an"), cap=False)
        anon.finish_registration(cap_used=False)
        text2 = "anon " + text
        anon.send(f"PRIVMSG {rx.nick} :{text2}")
        m = rx.expect(lambda m: m.command == "PRIVMSG" and m.params[-1] == text2, "PRIVMSG from anon")
        if "account" in m.tags:
            raise ProbeError(f"an unauthenticated sender's message carries an account tag: {m.raw}")
        out(f"no account tag from an unauthenticated sender: {m.raw}")

        rx.send(f"WHO {chan} %tna,42")
        found = None
        while True:
            m = rx.expect_cmd(("354", "315"), "WHOX reply")
            if m.command == "315":
                break
            if len(m.params) >= 4 and m.params[1] == "42" and m.params[2] == tx.nick:
                found = m.params[3]
        if found != args.account:
            raise ProbeError(f"WHOX %tna: account of {tx.nick} is {found!r}, expected {args.account!r}")
        out(f"WHOX {chan} %tna: {tx.nick} account {found}")

        tx.send(f"PRIVMSG NickServ :LOGOUT")
        m = rx.expect(lambda m: m.command == "ACCOUNT" and m.nick == tx.nick, "ACCOUNT * (logout)")
        if m.params[0] != "*":
            raise ProbeError(f"account-notify: expected ACCOUNT *, got {m.raw}")
        out(f"account-notify: {m.raw}")
    finally:
        for c in (anon, tx, rx):
            c.quit()


def probe_tls(args, out):
    if not args.tls:
        raise ProbeError("the tls probe needs --tls")
    c = client_from(args)
    try:
        c.connect()
    except ssl.SSLCertVerificationError as e:
        if args.expect == "fail":
            out(f"handshake refused as expected: {e.verify_message} (verify code {e.verify_code})")
            return
        raise ProbeError(f"certificate verification failed: {e.verify_message}") from None
    except ssl.SSLError as e:
        if args.expect == "fail":
            out(f"handshake refused as expected: {e}")
            return
        raise ProbeError(f"TLS handshake failed: {e}") from None
    with c:
        if args.expect == "fail":
            raise ProbeError(f"TLS handshake to {args.tls_hostname or args.host} succeeded, "
                             f"but it should have been refused ({c.sock.version()})")
        c.begin(unique_nick("tl"), cap=False)
        c.finish_registration(cap_used=False)
        out(f"verified {c.sock.version()} {c.sock.cipher()[0]} for "
            f"{c.tls_hostname}, registered as {c.nick}")
        c.quit()


PROBES = {
    "plain": probe_plain,
    "caps": probe_caps,
    "sasl-plain": probe_sasl_plain,
    "sasl-external": probe_sasl_external,
    "accounts": probe_accounts,
    "tls": probe_tls,
}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("probe", choices=sorted(PROBES))
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--tls", action="store_true")
    p.add_argument("--ca", help="CA file to verify the server against (TLS)")
    p.add_argument("--tls-hostname", help="name to verify and send as SNI [--host]")
    p.add_argument("--cert", help="client certificate (PEM)")
    p.add_argument("--key", help="client private key (PEM)")
    p.add_argument("--account")
    p.add_argument("--password")
    p.add_argument("--require", nargs="*", default=[])
    p.add_argument("--expect", choices=["ok", "fail"], default="ok")
    p.add_argument("--expect-fail", action="store_true")
    p.add_argument("--timeout", type=float, default=10.0)
    args = p.parse_args(argv)
    if args.expect == "fail":
        args.expect_fail = True
    args._clients = []
    label = f"{args.probe} {args.host}:{args.port}{' tls' if args.tls else ''}"

    def out(text):
        print(f"ok: {label}: {text}", flush=True)

    try:
        PROBES[args.probe](args, out)
    except (ProbeError, OSError, ssl.SSLError) as e:
        print(f"FAIL: {label}: {e}", flush=True)
        for c in args._clients:
            for line in c.transcript[-25:]:
                print("    " + line)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

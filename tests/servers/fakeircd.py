#!/usr/bin/env python3
"""fakeircd.py: a scripted IRC server for the bot's fault tests.

Python 3 standard library only.  It listens on 127.0.0.1 (a free port),
accepts the bot, answers its registration (CAP LS 302, NICK, USER: it
replies "CAP * LS :", and after CAP END sends 001, 005, 375, 372 and 376;
a JOIN is echoed with 353/366), and then plays one scenario, recording
everything it sees into a JSON file that the C tests read.

  fakeircd.py --dir DIR --scenario NAME [options]

Files in DIR:
  port          the port, written once the socket listens
  done          written when the scenario has played to its end
  record.json   the record (below), written at "done" and again at exit

The server exits on SIGTERM or SIGINT (writing the record first), and on
its own after --max-seconds, so a test that dies cannot leave it behind.

Scenarios:
  hostile   >= 200 malformed and hostile server lines, some before
            registration and most after; after each one "PING :hostile-N",
            and the PONG is awaited (at most --pong-wait s) and timed.  Each
            case lists the reasons the bot must log for it ("ignored a
            server line: <reason>", one per line it must reject, or
            "skipped" for a line longer than the reader takes); lines that
            parse but make no sense must be handled silently.  At the end
            the bot's nick and ISUPPORT are restored and "asker" sends it
            "ping", which must be answered.
  flood     an RFC 1459 section 8.10 server: per client a message timer,
            set to now when it is behind, that gains --penalty-ms for each
            line parsed; a line is parsed while the timer is less than
            --window-ms ahead of now.  Where the RFC holds a line back
            until then, this server sends "ERROR :Closing Link: ...
            (Excess Flood)" and closes: so a burst of window/penalty lines
            passes, and after it one line per penalty.  Arrival times
            jitter on a busy machine, which matters when the penalty is
            scaled down to ms: --kernel-stamps times each line by the
            kernel's receive time (SO_TIMESTAMP) instead of when this
            server got to read it, and --jitter-ms J lets a line come up
            to J ms early (it is counted in "at_limit" instead).  After
            registration (and --ask-after-ms) "asker" asks for
            "!probe flood --lines" in the channel; PING every --ping-ms,
            with each PONG timed.  Done when all lines arrived (or
            --duration-ms passed).
  drop      completes registration, then closes the connection after
            --drop-after-ms (with --drop-mode fin, rst, or mixed:
            alternating FIN and RST); done after --duration-ms.
  kline     answers CAP END with "465 nick :You are banned" (unless
            --kline-mode error) and "ERROR :Closing Link: ... (K-lined)",
            then closes; done after --duration-ms.
  errkill   first connection: ERROR :Closing Link, then close; second: a
            KILL from an operator, then close; each --hold-ms after
            registration.  Done when a third connection has registered and
            joined the channel.

The record (times in ms since the server started, monotonic clock):
  {"scenario": ..., "done": bool, "errors": [text...],
   "connects": [{"index", "accepted_ms", "registered_ms", "joined_ms",
                 "closed_ms", "closed_by": "server"|"client"|null,
                 "close_how": "fin"|"rst"|null, "why"}],
   "lines": [{"conn", "ms", "line"}],   every line the bot sent
   "pings": [{"conn", "token", "sent_ms", "pong_ms"}],   pong_ms null if
                                                          none came
   "excess_flood": N, "max_ahead_ms": X,   (flood: the most the timer
                                            was ahead when a line came)
   "at_limit": N,                           (flood: lines that came with
                                            the timer at the window or
                                            beyond, within --jitter-ms)
   "ask_ms": X,                             (flood: when asker asked)
   "cases": [{"id", "name", "phase", "bytes", "expect": [...], "token",
              "latency_ms"}],               (hostile)
   "sanity": {"asked_ms", "answered_ms"}}   (hostile)
"""

import argparse
import json
import os
import queue
import signal
import socket
import struct
import sys
import threading
import time

SERVER = "irc.fake.test"
T0 = time.monotonic()
SO_TIMESTAMP = getattr(socket, "SO_TIMESTAMP", 29)  # 29: Linux, x86 and arm


def now_ms():
    return round((time.monotonic() - T0) * 1000.0, 3)


def parse(line):
    """(VERB, [params]) of a line from the bot (it sends no tags or
    source); the last parameter may be a ':' trailing one."""
    head, sep, trailing = line.partition(" :")
    words = [w for w in head.split(" ") if w]
    if not words:
        return "", []
    params = words[1:]
    if sep:
        params.append(trailing)
    return words[0].upper(), params


class Record:
    """Everything the server saw; guarded by self.lock."""

    def __init__(self, scenario, path):
        self.lock = threading.Lock()
        self.path = path
        self.data = {
            "scenario": scenario,
            "done": False,
            "errors": [],
            "connects": [],
            "lines": [],
            "pings": [],
            "excess_flood": 0,
            "max_ahead_ms": 0.0,
            "at_limit": 0,
            "cases": [],
        }

    def error(self, text):
        with self.lock:
            self.data["errors"].append(text)

    def write(self):
        with self.lock:
            text = json.dumps(self.data, ensure_ascii=True)
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, self.path)


class Conn:
    """One client connection: a reader thread cuts what arrives into lines,
    stamps each with the time recv() returned it, records it, and hands it
    to the scenario through a queue."""

    def __init__(self, server, sock, index):
        self.server = server
        self.sock = sock
        self.index = index
        self.lines = queue.Queue()
        self.wlock = threading.Lock()
        self.closed = False
        self.info = {
            "index": index,
            "accepted_ms": now_ms(),
            "registered_ms": None,
            "joined_ms": None,
            "closed_ms": None,
            "closed_by": None,
            "close_how": None,
            "why": None,
        }
        with server.rec.lock:
            server.rec.data["connects"].append(self.info)
        self.seen = set()  # verbs seen ("CAP END" for CAP END)
        self.on_line = None  # called in the reader thread, before queueing

    def start(self):
        self.reader = threading.Thread(target=self._reader, daemon=True)
        self.reader.start()

    def _recv(self):
        """(bytes, ms): what arrived, and when.  With --kernel-stamps, a
        line at a time with the kernel's receive time of its last byte
        (SO_TIMESTAMP), so a busy machine delaying this thread does not
        shift the times; else the time recv() returned."""
        if not self.stamped:
            data = self.sock.recv(65536)
            return data, now_ms()
        peek = self.sock.recv(65536, socket.MSG_PEEK)
        nl = peek.find(b"\n")
        want = nl + 1 if nl >= 0 else len(peek)
        data, anc, _, _ = self.sock.recvmsg(max(want, 1), socket.CMSG_SPACE(16))
        mono, real = time.monotonic(), time.time()
        for level, kind, raw in anc:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMP:
                sec, usec = struct.unpack("qq", raw[:16])
                return data, round((mono - (real - (sec + usec / 1e6)) - T0)
                                   * 1000.0, 3)
        return data, now_ms()

    def _reader(self):
        buf = b""
        self.stamped = False
        if self.server.args.kernel_stamps:
            try:
                self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMP, 1)
                self.stamped = True
            except OSError:
                pass
        while True:
            try:
                chunk, t = self._recv()
            except OSError:
                chunk, t = b"", now_ms()
            if not chunk:
                self._mark_closed("client", None, "end of stream from client")
                self.lines.put((t, None))
                return
            buf += chunk
            while b"\n" in buf:
                raw, buf = buf.split(b"\n", 1)
                if raw.endswith(b"\r"):
                    raw = raw[:-1]
                line = raw.decode("utf-8", "backslashreplace")
                with self.server.rec.lock:
                    self.server.rec.data["lines"].append(
                        {"conn": self.index, "ms": t, "line": line})
                words = line.split(" ")
                self.seen.add(words[0].upper())
                if len(words) >= 2:
                    self.seen.add(words[0].upper() + " " + words[1].upper())
                if self.on_line:
                    self.on_line(t, line)
                self.lines.put((t, line))
                if words[0].upper() == "QUIT":
                    # As a server does: the link ends with ERROR.
                    self.send_line("ERROR :Closing Link: 127.0.0.1 (Quit)")
                    self.close("fin", "QUIT from the client")

    def _mark_closed(self, by, how, why):
        with self.server.rec.lock:
            if self.info["closed_ms"] is None:
                self.info["closed_ms"] = now_ms()
                self.info["closed_by"] = by
                self.info["close_how"] = how
                self.info["why"] = why

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("utf-8", "surrogateescape")
        with self.wlock:
            if self.closed:
                return False
            try:
                self.sock.sendall(data)
                return True
            except OSError:
                return False

    def send_line(self, text):
        return self.send(text + "\r\n")

    def close(self, how="fin", why="closed by the scenario"):
        with self.wlock:
            if self.closed:
                return
            self.closed = True
        self._mark_closed("server", how, why)
        try:
            if how == "rst":
                # SO_LINGER with a zero timeout: close() sends a RST.
                # The reader must be out of recv() first (shutting
                # down the reading side wakes it and sends nothing),
                # or close() would not release the socket.
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                     struct.pack("ii", 1, 0))
                self.sock.shutdown(socket.SHUT_RD)
                self.reader.join(2)
            else:
                self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()

    def wait_for(self, pred, timeout):
        """The first queued line for which pred(line) holds, as (t, line);
        None on timeout or when the client closed (lines before it are
        consumed)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                t, line = self.lines.get(timeout=left)
            except queue.Empty:
                return None
            if line is None:
                self.lines.put((t, None))  # stays closed for later waits
                return None
            if pred(line):
                return t, line

    def wait_seen(self, key, timeout):
        deadline = time.monotonic() + timeout
        while key not in self.seen:
            if time.monotonic() > deadline or self.info["closed_ms"] is not None:
                return key in self.seen
            time.sleep(0.005)
        return True


class Server:
    def __init__(self, args):
        self.args = args
        self.rec = Record(args.scenario, os.path.join(args.dir, "record.json"))
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", args.port))
        self.sock.listen(16)
        self.conns = []
        self.stop = threading.Event()
        tmp = os.path.join(args.dir, "port.tmp")
        with open(tmp, "w") as f:
            f.write("%d\n" % self.sock.getsockname()[1])
        os.replace(tmp, os.path.join(args.dir, "port"))

    def accept_loop(self, setup, handler):
        while not self.stop.is_set():
            try:
                s, _ = self.sock.accept()
            except OSError:
                return
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            c = Conn(self, s, len(self.conns))
            self.conns.append(c)
            # The scenario's line hook is in place before the first byte.
            if setup:
                setup(self, c)
            c.start()
            threading.Thread(target=self._run, args=(handler, c),
                             daemon=True).start()

    def _run(self, handler, c):
        try:
            handler(self, c)
        except Exception as e:  # a broken scenario must show in the record
            self.rec.error("conn %d: %s: %s" % (c.index, type(e).__name__, e))

    def done(self):
        with self.rec.lock:
            self.rec.data["done"] = True
        self.rec.write()
        with open(os.path.join(self.args.dir, "done"), "w") as f:
            f.write("done\n")


# ---- registration ----------------------------------------------------------

def register(srv, c, nick=None, before_welcome=None, welcome=True):
    """Waits for CAP LS, NICK and USER; answers CAP LS; on CAP END sends the
    welcome burst.  before_welcome(c) runs before the CAP LS answer.
    Returns True once registered (or False if the client went away)."""
    a = srv.args
    nick = nick or a.nick
    if not c.wait_seen("USER", 10) or not c.wait_seen("NICK", 1):
        srv.rec.error("conn %d: no NICK/USER from the bot" % c.index)
        return False
    if "CAP LS" not in c.seen:
        srv.rec.error("conn %d: registration without CAP LS" % c.index)
    if before_welcome:
        before_welcome(c)
    c.send_line(":%s CAP * LS :" % SERVER)
    if not c.wait_seen("CAP END", 5):
        srv.rec.error("conn %d: no CAP END after CAP LS" % c.index)
        if c.info["closed_ms"] is not None:
            return False
    if not welcome:
        return True
    c.send_line(":%s 001 %s :Welcome to the fake network %s" % (SERVER, nick, nick))
    c.send_line(":%s 002 %s :Your host is %s" % (SERVER, nick, SERVER))
    c.send_line(":%s 005 %s CASEMAPPING=rfc1459 CHANTYPES=#& NICKLEN=30 "
                "USERLEN=10 HOSTLEN=63 :are supported by this server"
                % (SERVER, nick))
    c.send_line(":%s 375 %s :- %s Message of the day -" % (SERVER, nick, SERVER))
    c.send_line(":%s 372 %s :- a fake server for fault tests" % (SERVER, nick))
    c.send_line(":%s 376 %s :End of MOTD command" % (SERVER, nick))
    with srv.rec.lock:
        c.info["registered_ms"] = now_ms()
    return True


def answer_joins(srv, c):
    """Echoes the bot's JOINs (in the reader thread, so it works whatever
    the scenario is waiting for)."""
    nick = srv.args.nick

    def on_line(t, line):
        w = line.split(" ")
        if w[0].upper() == "JOIN" and len(w) >= 2:
            for ch in w[1].lstrip(":").split(","):
                c.send_line(":%s!%s@127.0.0.1 JOIN %s" % (nick, nick, ch))
                c.send_line(":%s 353 %s = %s :%s asker" % (SERVER, nick, ch, nick))
                c.send_line(":%s 366 %s %s :End of /NAMES list." % (SERVER, nick, ch))
                with srv.rec.lock:
                    if c.info["joined_ms"] is None:
                        c.info["joined_ms"] = t
    c.on_line = on_line


def wait_joined(c, timeout):
    deadline = time.monotonic() + timeout
    while c.info["joined_ms"] is None:
        if time.monotonic() > deadline or c.info["closed_ms"] is not None:
            return False
        time.sleep(0.005)
    return True


# ---- hostile ---------------------------------------------------------------

E_EMPTY = "empty line"
E_BAD = "nul, cr or lf inside the line"
E_LONG = "line too long"
E_TAGLONG = "tags too long"
E_TAGS = "too many tags"
E_TAG = "invalid tag"
E_SOURCE = "empty source"
E_NOCMD = "command missing"
E_CMD = "invalid command"
E_PARAMS = "too many parameters"
E_SKIP = "skipped"  # longer than the reader takes at all (8,703 bytes)


def hostile_cases(nick):
    """(name, phase, pieces, expect): pieces are the bytes to send (more
    than one: sent apart, 30 ms between them); expect lists what the bot
    must log for them, in order.  Every case ends with a line break, so
    the PING after it is a line of its own."""
    pre, post = [], []
    me = nick
    src = ":stranger!s@198.51.100.7"

    def add(lst, name, data, expect=(), pieces=None):
        if isinstance(data, str):
            data = data.encode("utf-8", "surrogateescape")
        if pieces is None:
            pieces = [data]
        assert b"".join(pieces).endswith(b"\n"), name
        lst.append((name, pieces, list(expect)))

    # Before registration: numerics, CAP and SASL out of order.
    for name, line in [
        ("pre: 904 without SASL", ":%s 904 * :SASL authentication failed" % SERVER),
        ("pre: 903 without SASL", ":%s 903 * :SASL authentication successful" % SERVER),
        ("pre: AUTHENTICATE +", "AUTHENTICATE +"),
        ("pre: CAP ACK before LS", ":%s CAP * ACK :sasl account-tag" % SERVER),
        ("pre: CAP NAK before LS", ":%s CAP * NAK :multi-prefix" % SERVER),
        ("pre: CAP LS continuation", ":%s CAP * LS * :away-notify" % SERVER),
        ("pre: CAP with no subcommand", ":%s CAP *" % SERVER),
        ("pre: 433 nick in use", ":%s 433 * %s :Nickname is already in use" % (SERVER, me)),
        ("pre: 005 before 001", ":%s 005 * NICKLEN=9 :are supported" % SERVER),
        ("pre: 376 before 001", ":%s 376 * :End of MOTD" % SERVER),
        ("pre: PRIVMSG before 001", src + " PRIVMSG %s :!ping" % me),
        ("pre: JOIN before 001", src + " JOIN #c"),
        ("pre: KICK before 001", ":op!o@h KICK #c %s :early" % me),
        ("pre: 900 before 001", ":%s 900 * x!y@z acct :You are now logged in" % SERVER),
        ("pre: AUTHENTICATE without params", "AUTHENTICATE"),
    ]:
        add(pre, name, line + "\r\n")
    add(pre, "pre: empty line", "\r\n", [E_EMPTY])
    add(pre, "pre: NUL inside", "NOTICE * :a\0b\r\n", [E_BAD])
    add(pre, "pre: invalid command", ":%s 0001 * :x\r\n" % SERVER, [E_CMD])

    # Truncated verbs, bare, with a source, with parameters: valid syntax.
    verbs = ["N", "NO", "NOT", "NOTI", "NOTIC", "P", "PR", "PRI", "PRIV",
             "PRIVM", "PRIVMS", "J", "JO", "JOI", "K", "KI", "KIC", "PIN",
             "PON", "E", "ERR", "C", "CA", "A", "AUTH"]
    for v in verbs:
        add(post, "truncated verb %s" % v, v + "\r\n")
        add(post, "truncated verb %s with source" % v, src + " " + v + "\r\n")
        add(post, "truncated verb %s with params" % v,
            src + " " + v + " " + me + " :!ping\r\n")

    # Verbs the bot handles, with 0 and 1 parameters, an empty trailing
    # one, or a channel only.  Not ERROR: it ends the link even when the
    # server keeps the socket open (the bot closes it and reconnects, as
    # tests/conformance testSts requires), so it cannot be played here.
    for v in ["PRIVMSG", "NOTICE", "JOIN", "PART", "KICK", "NICK", "MODE",
              "TOPIC", "QUIT", "KILL", "INVITE", "CAP", "AUTHENTICATE",
              "ACCOUNT", "PONG", "001", "005", "330", "318", "401",
              "354", "433", "900", "901", "903", "904", "908", "421", "474"]:
        s = (":%s" % SERVER) if v[0].isdigit() else src
        add(post, "%s without params" % v, "%s %s\r\n" % (s, v))
        add(post, "%s with one param" % v, "%s %s %s\r\n" % (s, v, me))
        add(post, "%s with empty trailing" % v, "%s %s :\r\n" % (s, v))
        add(post, "%s with a channel only" % v, "%s %s #c\r\n" % (s, v))
    add(post, "PRIVMSG without source", "PRIVMSG %s :!ping\r\n" % me)
    add(post, "NOTICE from NickServ without auth", ":NickServ!s@services NOTICE %s :You are now identified\r\n" % me)

    # CTCP: lone, doubled, unterminated, oversized, into a channel.
    for name, text in [
        ("lone \\x01", "\x01"), ("\\x01\\x01", "\x01\x01"),
        ("\\x01\\x01\\x01", "\x01\x01\x01"),
        ("unterminated VERSION", "\x01VERSION"),
        ("unterminated PING", "\x01PING 12345"),
        ("CTCP with empty verb", "\x01 x\x01"),
        ("CTCP with text after", "\x01VERSION\x01 and more"),
        ("CTCP TIME", "\x01TIME\x01"),
        ("CTCP PING with control codes", "\x01PING \x02\x03\x7f\x1b[0m\x01"),
        ("CTCP of 400 bytes", "\x01" + "A" * 400),
        ("CTCP unknown", "\x01CLIENTINFO\x01"),
        ("CTCP DCC", "\x01DCC SEND x 0 0 0\x01"),
    ]:
        add(post, "PRIVMSG " + name, "%s PRIVMSG %s :%s\r\n" % (src, me, text))
    add(post, "channel CTCP", "%s PRIVMSG #c :\x01VERSION\x01\r\n" % src)
    add(post, "NOTICE CTCP", "%s NOTICE %s :\x01VERSION\r\n" % (src, me))

    # Parameter counts: 32 is the most the bot takes.
    for n in (15, 16, 17, 31, 32):
        add(post, "%d params" % n,
            "%s NOTICE %s\r\n" % (src, " ".join(["p%d" % i for i in range(n)])))
    for n in (33, 40, 100):
        add(post, "%d params" % n,
            "%s NOTICE %s\r\n" % (src, " ".join(["p%d" % i for i in range(n)])),
            [E_PARAMS])
    add(post, "32 middle params and a trailing one",
        "%s NOTICE %s :last\r\n" % (src, " ".join(["p"] * 32)), [E_PARAMS])
    add(post, "40 params in a PRIVMSG",
        "%s PRIVMSG %s %s\r\n" % (src, me, " ".join(["x"] * 39)), [E_PARAMS])

    # Empty and space-only lines.
    add(post, "CRLF only", "\r\n", [E_EMPTY])
    add(post, "LF only", "\n", [E_EMPTY])
    add(post, "one space", " \r\n", [E_EMPTY])
    add(post, "many spaces", " " * 300 + "\r\n", [E_EMPTY])
    add(post, "three empty lines", "\n\r\n\n", [E_EMPTY] * 3)
    add(post, "tab only", "\t\r\n", [E_CMD])
    add(post, "CR CR LF", "\r\r\n", [E_BAD])

    # NUL inside.
    for name, line in [
        ("NUL in trailing", "%s PRIVMSG %s :a\0b" % (src, me)),
        ("NUL in verb", "PRI\0VMSG %s :x" % me),
        ("NUL alone", "\0"),
        ("three NULs", "\0\0\0"),
        ("NUL in source", ":sr\0v NOTICE x :y"),
        ("NUL in middle param", "%s NOTICE a\0b :y" % src),
        ("NUL in tag", "@a=b\0c :s NOTICE x :y"),
        ("NUL at the end", "%s NOTICE x :y\0" % src),
        ("NUL before CR", "%s NOTICE x\0" % src),
    ]:
        add(post, name, line + "\r\n", [E_BAD])

    # Invalid UTF-8 (parses: bytes are the caller's to check).
    for name, line in [
        ("invalid UTF-8 in text", "%s PRIVMSG %s :\xff\xfe!ping" % (src, me)),
        ("truncated UTF-8", "%s PRIVMSG #c :!\xc3" % src),
        ("overlong UTF-8", "%s PRIVMSG %s :\xc0\xaf" % (src, me)),
        ("UTF-16 surrogate", "%s PRIVMSG %s :\xed\xa0\x80" % (src, me)),
        ("invalid UTF-8 nick", ":\xff\xfe!\xfd@\xfc PRIVMSG %s :ping" % me),
        ("invalid UTF-8 target", "%s NOTICE \xff :x" % src),
        ("invalid UTF-8 channel JOIN", ":z!z@z JOIN #\xff\xfe"),
        ("invalid UTF-8 tag value", "@a=\xff\xfe :s NOTICE x :y"),
        ("invalid UTF-8 command", "%s PRIVMSG %s :!\xf8\x88\x80\x80\x80" % (src, me)),
        ("5-byte sequence", "%s PRIVMSG %s :\xf8\x88\x80\x80\x80" % (src, me)),
        ("0xFF flood", "%s PRIVMSG %s :%s" % (src, me, "\xff" * 400)),
    ]:
        add(post, name, line.encode("latin-1") + b"\r\n")
    add(post, "invalid UTF-8 in verb", b"PRIV\xffMSG x :y\r\n", [E_CMD])

    # Lengths: body = bytes before the CRLF.  510 is the longest body; the
    # reader takes up to 8,703 bytes (tags included) with the CR.
    def body(n, target=me):
        head = "%s NOTICE %s :" % (src, target)
        return head + "x" * (n - len(head))
    add(post, "510-byte body", body(510) + "\r\n")
    add(post, "511-byte body", body(511) + "\r\n", [E_LONG])
    add(post, "513-byte body", body(513) + "\r\n", [E_LONG])
    add(post, "513-byte line with CRLF", body(511) + "\r\n", [E_LONG])
    add(post, "1,024-byte body", body(1024) + "\r\n", [E_LONG])
    add(post, "4,096-byte body", body(4096) + "\r\n", [E_LONG])
    add(post, "8,701-byte body (8,703 with CRLF)", body(8701) + "\r\n", [E_LONG])
    add(post, "8,702-byte body", body(8702) + "\r\n", [E_LONG])
    add(post, "8,703-byte body with LF only", body(8703) + "\n", [E_LONG])
    add(post, "8,703-byte body", body(8703) + "\r\n", [E_SKIP])
    add(post, "8,704-byte body", body(8704) + "\r\n", [E_SKIP])
    add(post, "16,384-byte body", body(16384) + "\r\n", [E_SKIP])
    add(post, "65,536-byte line", body(65534) + "\r\n", [E_SKIP])
    add(post, "65,536-byte body", body(65536) + "\r\n", [E_SKIP])
    add(post, "100,000-byte body", body(100000) + "\r\n", [E_SKIP])
    add(post, "65,536 bytes of x", "x" * 65536 + "\r\n", [E_SKIP])
    big = (body(65536) + "\r\n").encode()
    add(post, "65,536-byte body in 4 pieces", big, [E_SKIP],
        pieces=[big[i:i + 16400] for i in range(0, len(big), 16400)])
    mid = (body(600) + "\r\n").encode()
    add(post, "600-byte body in 3 pieces", mid, [E_LONG],
        pieces=[mid[:5], mid[5:300], mid[300:]])
    edge = (body(8702) + "\r\n").encode()
    add(post, "8,702-byte body in 2 pieces", edge, [E_LONG],
        pieces=[edge[:8000], edge[8000:]])
    edge = (body(8703) + "\r\n").encode()
    add(post, "8,703-byte body in 2 pieces", edge, [E_SKIP],
        pieces=[edge[:8000], edge[8000:]])
    add(post, "a line in pieces", b"", [],
        pieces=[b"PRIV", b"MSG %s :!pi" % me.encode(), b"ng\r\n"])
    add(post, "CR and LF in different pieces", b"", [],
        pieces=[b"%s NOTICE %s :x\r" % (src.encode(), me.encode()), b"\n"])
    add(post, "long line then a good one in one write",
        body(9000) + "\r\n" + "%s NOTICE %s :fine\r\n" % (src, me), [E_SKIP])

    # Tag sections: "@tags " may take 8,191 bytes, '@' and space included.
    def tagged(section_len, rest=" :s NOTICE %s :y" % me):
        return "@a=" + "v" * (section_len - 4) + rest
    add(post, "8,000-byte tag section", tagged(8000) + "\r\n")
    add(post, "8,191-byte tag section", tagged(8191) + "\r\n")
    add(post, "8,192-byte tag section", tagged(8192) + "\r\n", [E_TAGLONG])
    add(post, "8,193-byte tag section", tagged(8193) + "\r\n", [E_TAGLONG])
    add(post, "tag key of 8,191 bytes", "@" + "k" * 8191 + " :s NOTICE x :y\r\n",
        [E_TAGLONG])
    add(post, "longest valid line: 8,191-byte tags + 510-byte body",
        tagged(8191, " " + body(510)) + "\r\n")
    add(post, "64 tags", "@" + ";".join("t%d" % i for i in range(64)) + " :s NOTICE x :y\r\n")
    add(post, "65 tags", "@" + ";".join("t%d" % i for i in range(65)) + " :s NOTICE x :y\r\n",
        [E_TAGS])
    add(post, "65 copies of one tag", "@" + ";".join(["a=1"] * 65) + " :s NOTICE x :y\r\n",
        [E_TAGS])
    for name, line, expect in [
        ("tags without values", "@a;b;c :s NOTICE %s :y" % me, []),
        ("tags with empty values", "@a=;b=;c= :s NOTICE %s :y" % me, []),
        ("duplicate tags", "@a=1;a=2;a :s NOTICE %s :y" % me, []),
        ("escapes in tag values", "@a=\\s\\:\\\\\\r\\n\\x;b=\\ :s NOTICE x :y", []),
        ("vendor and client tags", "@+example.com/k=v;+x :s NOTICE x :y", []),
        ("account tag without the cap", "@account=alice %s PRIVMSG %s :whoami" % (src, me), []),
        ("empty tag key", "@;a :s NOTICE x :y", [E_TAG]),
        ("empty key after ;", "@a;;b :s NOTICE x :y", [E_TAG]),
        ("@ alone with space", "@ :s NOTICE x :y", [E_TAG]),
        ("@ alone", "@", [E_TAG]),
        ("tag value without key", "@=v :s NOTICE x :y", [E_TAG]),
        ("tags only", "@a=b", [E_NOCMD]),
        ("tags and a space", "@a=b ", [E_NOCMD]),
        ("tags and a source", "@a=b :srv", [E_NOCMD]),
        ("CR inside a tag", "@a=x\ry :s NOTICE x :y", [E_BAD]),
        ("tag then two spaces", "@a=b  NOTICE x :y", []),
    ]:
        add(post, name, line + "\r\n", expect)

    # Sources.
    for name, line, expect in [
        ("colon alone", ":", [E_SOURCE]),
        ("colon and a space", ": PRIVMSG x :y", [E_SOURCE]),
        ("source only", ":srv.example", [E_NOCMD]),
        ("source and a space", ":srv.example ", [E_NOCMD]),
        ("source and spaces", ":srv.example    ", [E_NOCMD]),
        ("BEL in source", ":a\x07b!u@h PRIVMSG %s :ping" % me, []),
        ("ESC sequence in source", ":\x1b[31m!u@h NOTICE %s :x" % me, []),
        ("control codes in source", ":\x01\x02\x03!\x04@\x05 PRIVMSG %s :ping" % me, []),
        ("CR in source", ":a\rb NOTICE x :y", [E_BAD]),
        ("double colon source", "::x NOTICE %s :y" % me, []),
        ("empty nick in source", ":!@ PRIVMSG %s :ping" % me, []),
        ("@ only source", ":@ PRIVMSG %s :ping" % me, []),
        ("two ! and @ in source", ":a!b@c!d@e PRIVMSG %s :ping" % me, []),
        ("400-byte source", ":" + "n" * 400 + "!u@h PRIVMSG %s :ping" % me, []),
        ("500-byte source", ":" + "n" * 480 + " NOTICE x :y", []),
        ("leading spaces", "   :srv NOTICE x :y", []),
        ("source that is the bot", ":%s!%s@h PRIVMSG %s :!ping" % (me, me, me), []),
    ]:
        add(post, name, line + "\r\n", expect)

    # Bare CR and LF inside lines.
    for name, data, expect in [
        ("bare CR in trailing", "%s PRIVMSG %s :a\rb\r\n" % (src, me), [E_BAD]),
        ("bare CR before a command", "%s NOTICE x :a\rPRIVMSG #c :injected\r\n" % src, [E_BAD]),
        ("bare CR at the start", "\rNOTICE x :y\r\n", [E_BAD]),
        ("bare CR in verb", "NOT\rICE x :y\r\n", [E_BAD]),
        ("bare CR as line end", "%s NOTICE x :y\r\r\n" % src, [E_BAD]),
        ("bare LF in trailing", "%s PRIVMSG %s :a\nb\r\n" % (src, me), []),
        ("bare LF before a verb", "%s NOTICE x :a\nJOIN #evil\r\n" % src, []),
        ("bare LF then junk", "%s NOTICE x :a\n:\r\n" % src, [E_SOURCE]),
        ("LF LF", "%s NOTICE x :a\n\n" % src, [E_EMPTY]),
        ("CR LF CR LF", "a\r\n\r\n", [E_EMPTY]),
    ]:
        add(post, name, data, expect)

    # Commands that are not verbs.
    for name, line, expect in [
        ("three digits", ":s 999 x :y", []),
        ("four digits", ":s 1234 x :y", [E_CMD]),
        ("two digits", ":s 12 x :y", [E_CMD]),
        ("one digit", ":s 0", [E_CMD]),
        ("digits and letters", ":s 12a x", [E_CMD]),
        ("dash in verb", "PRIV-MSG x :y", [E_CMD]),
        ("underscore in verb", "PRIV_MSG x :y", [E_CMD]),
        ("lowercase verb", "%s privmsg %s :ping" % (src, me), []),
        ("\\x01 as verb", "\x01", [E_CMD]),
        ("\\x01\\x01 as verb", "\x01\x01", [E_CMD]),
        ("DEL as verb", "\x7f", [E_CMD]),
        ("non-ASCII verb", "\u00c9T\u00c9", [E_CMD]),
        ("space in verb", "PRIV MSG x :y", []),
        ("colon verb", ":s :PRIVMSG x", [E_CMD]),
    ]:
        add(post, name, line + "\r\n", expect)

    # CAP, SASL and numerics out of order, after registration.
    for name, line in [
        ("CAP LS again", ":%s CAP * LS :sasl account-tag multi-prefix" % SERVER),
        ("CAP LS continuation", ":%s CAP * LS * :a b c" % SERVER),
        ("CAP ACK sasl", ":%s CAP %s ACK :sasl" % (SERVER, me)),
        ("CAP NAK", ":%s CAP %s NAK :sasl" % (SERVER, me)),
        ("CAP ACK removal", ":%s CAP %s ACK :-account-tag" % (SERVER, me)),
        ("CAP ACK of 100 caps", ":%s CAP %s ACK :%s" % (SERVER, me, " ".join("c%d" % i for i in range(100)))),
        ("CAP ACK with a 100-byte name", ":%s CAP %s ACK :%s" % (SERVER, me, "a" * 100)),
        ("CAP NEW", ":%s CAP %s NEW :away-notify" % (SERVER, me)),
        ("CAP DEL", ":%s CAP %s DEL :multi-prefix" % (SERVER, me)),
        ("CAP unknown", ":%s CAP %s WHAT :x" % (SERVER, me)),
        ("AUTHENTICATE + after registration", "AUTHENTICATE +"),
        ("903 after registration", ":%s 903 %s :ok" % (SERVER, me)),
        ("904 after registration", ":%s 904 %s :failed" % (SERVER, me)),
        ("905", ":%s 905 %s :too long" % (SERVER, me)),
        ("906", ":%s 906 %s :aborted" % (SERVER, me)),
        ("907", ":%s 907 %s :already" % (SERVER, me)),
        ("908", ":%s 908 %s PLAIN,EXTERNAL :available" % (SERVER, me)),
        ("902", ":%s 902 %s :locked" % (SERVER, me)),
        ("900", ":%s 900 %s x!y@z account :You are now logged in" % (SERVER, me)),
        ("901", ":%s 901 %s x!y@z :You are now logged out" % (SERVER, me)),
        ("001 twice", ":%s 001 %s :Welcome again" % (SERVER, me)),
        ("001 with an empty nick", ":%s 001 :" % SERVER),
        ("005 with bogus values", ":%s 005 %s CASEMAPPING=bogus NICKLEN=0 USERLEN=999 HOSTLEN=-1 NICKLEN=abc :x" % (SERVER, me)),
        ("005 with empty CHANTYPES", ":%s 005 %s CHANTYPES= :x" % (SERVER, me)),
        ("PRIVMSG to a channel without CHANTYPES", "%s PRIVMSG #c :!ping" % src),
        ("005 restoring CHANTYPES", ":%s 005 %s CHANTYPES=#& CASEMAPPING=rfc1459 :x" % (SERVER, me)),
        ("005 with 40 tokens", ":%s 005 %s %s :x" % (SERVER, me, " ".join("T%d=%d" % (i, i) for i in range(29)))),
        ("005 WHOX", ":%s 005 %s WHOX :x" % (SERVER, me)),
        ("354 with a wrong token", ":%s 354 %s 999 nick acct" % (SERVER, me)),
        ("354 with our token", ":%s 354 %s 616 stranger acct" % (SERVER, me)),
        ("330 for a stranger", ":%s 330 %s stranger acct :is logged in as" % (SERVER, me)),
        ("318 for a stranger", ":%s 318 %s stranger :End of WHOIS" % (SERVER, me)),
        ("401 for a stranger", ":%s 401 %s stranger :No such nick" % (SERVER, me)),
        ("433 after registration", ":%s 433 %s x :in use" % (SERVER, me)),
        ("432 after registration", ":%s 432 %s x :erroneous" % (SERVER, me)),
        ("437 after registration", ":%s 437 %s x :unavailable" % (SERVER, me)),
        ("465 without a close", ":%s 465 %s :You are banned" % (SERVER, me)),
        ("474 cannot join", ":%s 474 %s #c :banned from channel" % (SERVER, me)),
        ("353 names", ":%s 353 %s = #c :@a +b c %s" % (SERVER, me, me)),
        ("366 end of names", ":%s 366 %s #nowhere :End" % (SERVER, me)),
        ("332 topic", ":%s 332 %s #c :topic" % (SERVER, me)),
        ("421 CAP", ":%s 421 %s CAP :Unknown command" % (SERVER, me)),
        ("MODE on the bot", ":%s MODE %s +iwx" % (SERVER, me)),
        ("KILL without a close", ":oper!o@h KILL %s :not really" % me),
        ("PING without params", "PING"),
        ("PONG from the server", ":%s PONG %s :x" % (SERVER, SERVER)),
    ]:
        add(post, name, line + "\r\n")

    # JOIN, KICK, NICK, PART and QUIT for nicks the bot does not know.
    for name, line in [
        ("JOIN of a stranger to an unknown channel", "%s JOIN #nowhere" % src),
        ("extended JOIN of a stranger", "%s JOIN #c acct :Real Name" % src),
        ("JOIN of many channels", "%s JOIN %s" % (src, ",".join("#c%d" % i for i in range(40)))),
        ("KICK of a ghost", "%s KICK #c ghost :bye" % src),
        ("KICK of the bot from an unknown channel", ":op!o@h KICK #nowhere %s :bye" % me),
        ("KICK of the bot", ":op!o@h KICK #c %s :bye" % me),
        ("KICK without a reason", ":op!o@h KICK #c %s" % me),
        ("JOIN of the bot", ":%s!%s@127.0.0.1 JOIN #c" % (me, me)),
        ("JOIN of the bot to an unknown channel", ":%s!%s@127.0.0.1 JOIN #other" % (me, me)),
        ("PART of the bot", ":%s!%s@127.0.0.1 PART #c" % (me, me)),
        ("PART of the bot from an unknown channel", ":%s!%s@127.0.0.1 PART #other" % (me, me)),
        ("NICK of a ghost", ":ghost!g@h NICK newghost"),
        ("NICK of a ghost to the bot's nick", ":ghost!g@h NICK %s" % me),
        ("NICK without params", ":ghost!g@h NICK"),
        ("QUIT of a ghost", ":ghost!g@h QUIT :bye"),
        ("QUIT of the bot", ":%s!%s@h QUIT :bye" % (me, me)),
        ("NICK of the bot", ":%s!%s@h NICK %s2" % (me, me, me)),
        ("NICK back", ":%s2!%s@h NICK %s" % (me, me, me)),
        ("ACCOUNT of a ghost", ":ghost!g@h ACCOUNT acct"),
        ("INVITE of the bot", ":op!o@h INVITE %s #secret" % me),
        ("TOPIC of a ghost", ":ghost!g@h TOPIC #c :new"),
        ("JOIN of the bot after the kick", ":%s!%s@127.0.0.1 JOIN #c" % (me, me)),
    ]:
        add(post, name, line + "\r\n")
    return pre, post


def scenario_hostile(srv, c):
    a = srv.args
    if c.index > 0:
        srv.rec.error("the bot connected again (connection %d)" % c.index)
        register(srv, c)
        return
    pre, post = hostile_cases(a.nick)
    seq = [0]
    pong_wait = a.pong_wait

    def ping(token):
        sent = now_ms()
        c.send_line("PING :" + token)
        got = c.wait_for(lambda l: parse(l) == ("PONG", [token]), pong_wait)
        entry = {"conn": c.index, "token": token, "sent_ms": sent,
                 "pong_ms": got[0] if got else None}
        with srv.rec.lock:
            srv.rec.data["pings"].append(entry)
        return (got[0] - sent) if got else None

    def play(cases, phase):
        for name, pieces, expect in cases:
            n = seq[0]
            seq[0] += 1
            token = "hostile-%d" % n
            for i, p in enumerate(pieces):
                if i:
                    time.sleep(0.03)
                c.send(p)
            latency = ping(token)
            with srv.rec.lock:
                srv.rec.data["cases"].append({
                    "id": n, "name": name, "phase": phase,
                    "bytes": sum(len(p) for p in pieces), "expect": expect,
                    "token": token, "latency_ms": latency})
            if latency is None and c.info["closed_ms"] is not None:
                srv.rec.error("the bot closed the connection at case %d (%s)"
                              % (n, name))
                return False
        return True

    def before_welcome(conn):
        ping("hostile-start")
        play(pre, "pre")

    if not register(srv, c, before_welcome=before_welcome):
        srv.done()
        return
    if not wait_joined(c, 5):
        srv.rec.error("the bot did not join after registration")
    if play(post, "post"):
        # Back to a sane state, then a command must still work.
        c.send_line(":%s 001 %s :Welcome back" % (SERVER, a.nick))
        c.send_line(":%s 005 %s CASEMAPPING=rfc1459 CHANTYPES=#& :ok" % (SERVER, a.nick))
        asked = now_ms()
        c.send_line(":asker!a@127.0.0.1 PRIVMSG %s :ping" % a.nick)
        got = c.wait_for(lambda l: parse(l) == ("PRIVMSG", ["asker", "pong"]),
                         10)
        with srv.rec.lock:
            srv.rec.data["sanity"] = {"asked_ms": asked,
                                      "answered_ms": got[0] if got else None}
    srv.done()


# ---- flood -----------------------------------------------------------------

def flood_setup(srv, c):
    """RFC 1459 section 8.10 on every line, as it arrives."""
    a = srv.args
    penalty, window = a.penalty_ms, a.window_ms
    state = {"timer": 0.0}

    def on_line(t, line):
        # RFC 1459 section 8.10, per line as it arrives.
        timer = max(state["timer"], t)
        ahead = timer - t
        with srv.rec.lock:
            if ahead > srv.rec.data["max_ahead_ms"]:
                srv.rec.data["max_ahead_ms"] = ahead
        if ahead >= window:
            with srv.rec.lock:
                srv.rec.data["at_limit"] += 1
        if ahead >= window + a.jitter_ms and not c.closed:
            with srv.rec.lock:
                srv.rec.data["excess_flood"] += 1
            c.send_line("ERROR :Closing Link: 127.0.0.1 (Excess Flood)")
            c.close("fin", "excess flood (timer %.1f ms ahead at %r)"
                    % (ahead, line[:40]))
        state["timer"] = timer + penalty
        w = line.split(" ")
        if w[0].upper() == "JOIN" and len(w) >= 2 and not c.closed:
            c.send_line(":%s!%s@127.0.0.1 JOIN %s" % (a.nick, a.nick, w[1]))
            with srv.rec.lock:
                if c.info["joined_ms"] is None:
                    c.info["joined_ms"] = t
    c.on_line = on_line


def scenario_flood(srv, c):
    a = srv.args
    if not register(srv, c):
        return
    if c.index > 0:
        return  # reconnected after a disconnect: the record shows it
    if not wait_joined(c, 5):
        srv.rec.error("the bot did not join")
        srv.done()
        return
    stop = threading.Event()

    def pinger():
        n = 0
        while not stop.wait(a.ping_ms / 1000.0):
            n += 1
            token = "flood-%d" % n
            sent = now_ms()
            entry = {"conn": c.index, "token": token, "sent_ms": sent,
                     "pong_ms": None}
            with srv.rec.lock:
                srv.rec.data["pings"].append(entry)
            pending[token] = entry
            if not c.send_line("PING :" + token):
                return
    pending = {}
    time.sleep(a.ask_after_ms / 1000.0)
    with srv.rec.lock:
        srv.rec.data["ask_ms"] = now_ms()
    c.send_line(":asker!a@127.0.0.1 PRIVMSG %s :!probe flood %d"
                % (a.channel, a.lines))
    if a.ping_ms > 0:
        threading.Thread(target=pinger, daemon=True).start()
    last = "flood line %d of %d" % (a.lines, a.lines)
    deadline = time.monotonic() + a.duration_ms / 1000.0
    while time.monotonic() < deadline:
        got = c.wait_for(lambda l: True, deadline - time.monotonic())
        if not got:
            break
        t, line = got
        verb, params = parse(line)
        if verb == "PONG" and params:
            entry = pending.pop(params[-1], None)
            if entry:
                with srv.rec.lock:
                    entry["pong_ms"] = t
        if line.endswith(last):
            break
    # The PINGs still out get their PONGs (or are recorded without).
    stop.set()
    deadline = time.monotonic() + 1.5
    while pending and time.monotonic() < deadline:
        got = c.wait_for(lambda l: parse(l)[0] == "PONG" and parse(l)[1],
                         deadline - time.monotonic())
        if not got:
            break
        entry = pending.pop(parse(got[1])[1][-1], None)
        if entry:
            with srv.rec.lock:
                entry["pong_ms"] = got[0]
    srv.done()


# ---- drop, kline, errkill --------------------------------------------------

def scenario_drop(srv, c):
    a = srv.args
    if not register(srv, c):
        return
    time.sleep(a.drop_after_ms / 1000.0)
    how = a.drop_mode
    if how == "mixed":
        how = "fin" if c.index % 2 == 0 else "rst"
    c.close(how, "dropped %d ms after registration" % a.drop_after_ms)


def scenario_kline(srv, c):
    a = srv.args
    if not register(srv, c, welcome=False):
        return
    if a.kline_mode == "465":
        c.send_line(":%s 465 %s :You are banned from this server" % (SERVER, a.nick))
    c.send_line("ERROR :Closing Link: %s[127.0.0.1] (K-lined)" % a.nick)
    time.sleep(0.05)
    c.close("fin", "K-line")


def scenario_errkill(srv, c):
    a = srv.args
    if not register(srv, c):
        return
    if c.index >= 2:
        if wait_joined(c, 10):
            srv.done()
        else:
            srv.rec.error("no JOIN on connection %d" % c.index)
        return
    wait_joined(c, 5)
    time.sleep(a.hold_ms / 1000.0)
    if c.index == 0:
        c.send_line("ERROR :Closing Link: %s[127.0.0.1] (Server going down)" % a.nick)
        time.sleep(0.02)
        c.close("fin", "ERROR")
    else:
        c.send_line(":oper!oper@%s KILL %s :%s!oper (go away)" % (SERVER, a.nick, SERVER))
        time.sleep(0.02)
        c.close("fin", "KILL")


SCENARIOS = {  # name: (setup before the first byte is read, scenario)
    "hostile": (answer_joins, scenario_hostile),
    "flood": (flood_setup, scenario_flood),
    "drop": (answer_joins, scenario_drop),
    "kline": (None, scenario_kline),
    "errkill": (answer_joins, scenario_errkill),
}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dir", required=True)
    p.add_argument("--scenario", required=True, choices=sorted(SCENARIOS))
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--nick", default="opsbot")
    p.add_argument("--channel", default="#c")
    p.add_argument("--max-seconds", type=float, default=120)
    p.add_argument("--pong-wait", type=float, default=3.0)
    p.add_argument("--penalty-ms", type=float, default=2000)
    p.add_argument("--window-ms", type=float, default=10000)
    p.add_argument("--jitter-ms", type=float, default=0)
    p.add_argument("--kernel-stamps", action="store_true")
    p.add_argument("--lines", type=int, default=500)
    p.add_argument("--ask-after-ms", type=float, default=0)
    p.add_argument("--ping-ms", type=float, default=500)
    p.add_argument("--duration-ms", type=float, default=5000)
    p.add_argument("--drop-after-ms", type=float, default=100)
    p.add_argument("--drop-mode", choices=("fin", "rst", "mixed"), default="mixed")
    p.add_argument("--kline-mode", choices=("465", "error"), default="465")
    p.add_argument("--hold-ms", type=float, default=700)
    args = p.parse_args()

    srv = Server(args)
    finished = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: finished.set())
    signal.signal(signal.SIGINT, lambda *_: finished.set())
    setup, handler = SCENARIOS[args.scenario]
    threading.Thread(target=srv.accept_loop, args=(setup, handler),
                     daemon=True).start()
    if args.scenario in ("drop", "kline"):
        def timed_done():
            if not finished.wait(args.duration_ms / 1000.0):
                srv.done()
        threading.Thread(target=timed_done, daemon=True).start()
    finished.wait(args.max_seconds)
    srv.stop.set()
    try:
        srv.sock.close()
    except OSError:
        pass
    # Let the readers record what the bot sent last (its QUIT).
    time.sleep(0.05)
    srv.rec.write()
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()

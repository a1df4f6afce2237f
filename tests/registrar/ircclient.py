"""A minimal IRC client for the registrar's chat tests: connect, join,
send, and collect PRIVMSG/NOTICE lines with their targets."""

import socket
import threading
import time


class IrcClient:
    def __init__(self, host, port, nick, user="tester", quickack=False):
        self.nick = nick
        self.quickack = quickack  # for latency benchmarks
        self.sock = socket.create_connection((host, port), timeout=10)
        self.lines = []   # (source nick, command, target, text, time)
        self.raw = []
        self.lock = threading.Lock()
        self.buf = b""
        self.welcome = threading.Event()
        self.names = {}
        self.send("NICK " + nick)
        self.send("USER %s 0 * :%s" % (user, nick))
        self.thread = threading.Thread(target=self.reader, daemon=True)
        self.thread.start()
        if not self.welcome.wait(10):
            raise RuntimeError("no 001 for " + nick)

    def send(self, line):
        self.sock.sendall((line + "\r\n").encode())

    def reader(self):
        while True:
            try:
                data = self.sock.recv(65536)
                if self.quickack:
                    # ACK at once: the server's Nagle otherwise holds its
                    # next line to us until our delayed ACK (40 ms)
                    self.sock.setsockopt(socket.IPPROTO_TCP,
                                         socket.TCP_QUICKACK, 1)
            except OSError:
                return
            if not data:
                return
            self.buf += data
            while b"\r\n" in self.buf:
                raw, self.buf = self.buf.split(b"\r\n", 1)
                self.handle(raw.decode("utf-8", "replace"))

    def handle(self, line):
        with self.lock:
            self.raw.append(line)
        if line.startswith("PING"):
            self.send("PONG" + line[4:])
            return
        parts = line.split(" ", 3)
        if len(parts) >= 2 and parts[1] == "001":
            self.welcome.set()
        if len(parts) == 4 and parts[1] in ("PRIVMSG", "NOTICE"):
            src = parts[0][1:].split("!")[0]
            text = parts[3][1:] if parts[3].startswith(":") else parts[3]
            with self.lock:
                self.lines.append((src, parts[1], parts[2], text,
                                   time.monotonic()))

    def join(self, channel):
        self.send("JOIN " + channel)

    def say(self, target, text):
        self.send("PRIVMSG %s :%s" % (target, text))

    def wait(self, pred, timeout=15.0, start=0):
        """First collected line (src, cmd, target, text, t) from index
        start on for which pred(...) holds, waiting up to timeout; None
        if none."""
        end = time.monotonic() + timeout
        seen = start
        while True:
            with self.lock:
                lines = self.lines[seen:]
            for ln in lines:
                seen += 1
                if pred(ln):
                    return ln
            if time.monotonic() >= end:
                return None
            time.sleep(0.005)

    def mark(self):
        with self.lock:
            n = len(self.lines)
        return n

    def since(self, n):
        with self.lock:
            return list(self.lines[n:])

    def close(self):
        try:
            self.send("QUIT :bye")
            self.sock.close()
        except OSError:
            pass

"""Shared machinery of the fake API servers: latency, fault injection and
the admin endpoint tests use to set them up and read back what happened.

Every fake is a ThreadingHTTPServer speaking HTTP/1.1 with keep-alive, like
the real services.  Requests under /_admin/ are never delayed or faulted:

  GET  /_admin/state              the service's recorded state (JSON)
  GET  /_admin/requests           {"requests": n}: requests so far (cheap)
  POST /_admin/reset              forget faults, latency and counters
  POST /_admin/latency            {"ms": 50}: delay before every answer
  POST /_admin/faults             {"rules": [RULE, ...]}: replace the rules
  POST /_admin/<other>            service-specific set-up (see each fake)

A fault RULE is a JSON object:

  {"method": "POST", "path": "^/1/cards$",   regexes on method and path
   "fault": "429" | "500" | "timeout" | "timeout_after" | "cut" |
            "cut_after" | "malformed" | "420",
   "retry_after": 2,       429/420: send Retry-After (seconds); else none
   "times": 3,             fire at most this often (-1: no limit)
   "skip": 0,              let this many matching requests pass first
   "prob": 1.0,            chance of firing on a matching request
   "hold": 40}             timeout*: seconds to hold the connection

"timeout" and "cut" drop the request before the service acts on it;
"timeout_after" and "cut_after" act on it (a card is created, a mail
queued) and then lose the answer: the outcome the client cannot know.
"""

import json
import os
import random
import re
import socket
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FaultRule:
    def __init__(self, spec):
        self.method = re.compile(spec.get("method", ".*"))
        self.path = re.compile(spec.get("path", ".*"))
        self.fault = spec["fault"]
        self.retry_after = spec.get("retry_after")
        self.times = spec.get("times", -1)
        self.skip = spec.get("skip", 0)
        self.prob = spec.get("prob", 1.0)
        self.hold = spec.get("hold", 40)
        self.fired = 0
        self.seen = 0

    def describe(self):
        return {"fault": self.fault, "fired": self.fired, "seen": self.seen}


class FakeState:
    """Latency, faults and counters of one fake; guarded by self.lock."""

    def __init__(self, seed=None):
        self.lock = threading.RLock()
        self.rng = random.Random(seed)
        self.latency_ms = 0
        self.rules = []
        self.requests = 0
        self.faults_fired = {}

    def reset(self):
        with self.lock:
            self.latency_ms = 0
            self.rules = []
            self.requests = 0
            self.faults_fired = {}

    def pick_fault(self, method, path):
        with self.lock:
            self.requests += 1
            for rule in self.rules:
                if not rule.method.search(method):
                    continue
                if not rule.path.search(path):
                    continue
                rule.seen += 1
                if rule.seen <= rule.skip:
                    continue
                if rule.times >= 0 and rule.fired >= rule.times:
                    continue
                if rule.prob < 1.0 and self.rng.random() >= rule.prob:
                    continue
                rule.fired += 1
                self.faults_fired[rule.fault] = (
                    self.faults_fired.get(rule.fault, 0) + 1)
                return rule
            return None


class FakeHandler(BaseHTTPRequestHandler):
    """Base handler.  A fake subclasses it and defines service(), which
    returns (code, headers, body) or raises nothing; `act_only` tells it
    the answer will be lost anyway."""

    protocol_version = "HTTP/1.1"
    server_version = "fake"
    sys_version = ""

    def log_message(self, fmt, *args):
        if os.environ.get("FAKE_VERBOSE"):
            sys.stderr.write("%s %s\n" % (self.server.name,
                                         fmt % args))

    # -- plumbing --------------------------------------------------------

    def read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def send(self, code, body=b"", headers=None, ctype=None):
        if isinstance(body, (dict, list)):
            body = json.dumps(body, indent=2).encode()
            ctype = ctype or "application/json; charset=UTF-8"
        elif isinstance(body, str):
            body = body.encode()
        self.send_response(code)
        if ctype:
            self.send_header("Content-Type", ctype)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        # Like nginx or Google's front ends: a client that asked to close
        # is told the connection closes (http.server closes it anyway).
        if self.headers.get("Connection", "").lower() == "close":
            self.send_header("Connection", "close")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def cut(self):
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def hold(self, seconds):
        # Keep the connection open without answering until the client
        # gives up (or the hold ends); then close it.
        end = time.monotonic() + seconds
        self.connection.settimeout(0.2)
        while time.monotonic() < end:
            try:
                if not self.connection.recv(1, socket.MSG_PEEK):
                    break
            except socket.timeout:
                continue
            except OSError:
                break
        self.cut()

    # -- dispatch --------------------------------------------------------

    def handle_any(self):
        url = urllib.parse.urlsplit(self.path)
        path = url.path
        query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
        body = self.read_body()
        if path.startswith("/_admin/"):
            self.admin(path[len("/_admin/"):], body)
            return
        state = self.server.state
        rule = state.pick_fault(self.command, path)
        with state.lock:
            latency = state.latency_ms
        if latency:
            time.sleep(latency / 1000.0)
        if rule is None:
            code, headers, out = self.service(self.command, path, query,
                                              body)
            self.send(code, out, headers)
            return
        fault = rule.fault
        if fault in ("429", "420"):
            headers = {}
            if rule.retry_after is not None:
                headers["Retry-After"] = str(rule.retry_after)
            code, hdrs, out = self.rate_limited(int(fault))
            headers.update(hdrs)
            self.send(int(fault), out, headers)
        elif fault == "500":
            self.send(500, self.server_error_body(), {},
                      "text/plain; charset=utf-8")
        elif fault == "malformed":
            code, headers, out = self.service(self.command, path, query,
                                              body)
            self.send(code, b'{"id": "trunc', {},
                      "application/json; charset=UTF-8")
        elif fault == "timeout":
            self.hold(rule.hold)
        elif fault == "timeout_after":
            self.service(self.command, path, query, body)
            self.hold(rule.hold)
        elif fault == "cut":
            self.cut()
        elif fault == "cut_after":
            self.service(self.command, path, query, body)
            self.cut()
        else:
            self.send(500, "unknown fault %s" % fault)

    do_GET = do_POST = do_PUT = do_DELETE = handle_any

    def admin(self, what, body):
        state = self.server.state
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            self.send(400, {"error": "admin: bad json"})
            return
        if what == "state" and self.command == "GET":
            with state.lock:
                out = self.server.service_state()
                out["requests"] = state.requests
                out["faults_fired"] = dict(state.faults_fired)
                out["rules"] = [r.describe() for r in state.rules]
            self.send(200, out)
        elif what == "requests" and self.command == "GET":
            with state.lock:
                n = state.requests
            self.send(200, {"requests": n})
        elif what == "reset":
            state.reset()
            self.server.service_reset(data)
            self.send(200, {"ok": True})
        elif what == "latency":
            with state.lock:
                state.latency_ms = int(data.get("ms", 0))
            self.send(200, {"ok": True})
        elif what == "faults":
            with state.lock:
                state.rules = [FaultRule(r) for r in data.get("rules", [])]
            self.send(200, {"ok": True})
        else:
            code, out = self.server.service_admin(what, data)
            self.send(code, out)

    # -- defaults a fake may override -----------------------------------

    def rate_limited(self, code):
        return code, {}, {"message": "rate limited"}

    def server_error_body(self):
        return "Internal Server Error"


class FakeServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, name, handler, port=0):
        super().__init__(("127.0.0.1", port), handler)
        self.name = name
        self.state = FakeState(int(os.environ.get("FAKE_SEED", "1")))

    # Overridden by each fake.
    def service_state(self):
        return {}

    def service_reset(self, data):
        pass

    def service_admin(self, what, data):
        return 404, {"error": "admin: unknown endpoint " + what}


def serve(servers, portfile=None):
    """Runs the servers until SIGTERM; writes NAME_PORT=N lines to
    portfile (and stdout) once all listen."""
    lines = ["%s_PORT=%d" % (s.name.upper(), s.server_address[1])
             for s in servers]
    text = "\n".join(lines) + "\n"
    if portfile:
        tmp = portfile + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.rename(tmp, portfile)
    sys.stdout.write(text)
    sys.stdout.flush()
    threads = []
    for s in servers[1:]:
        t = threading.Thread(target=s.serve_forever, daemon=True)
        t.start()
        threads.append(t)
    try:
        servers[0].serve_forever()
    except KeyboardInterrupt:
        pass


def form_fields(body, content_type):
    """Parses a urlencoded or multipart/form-data body into a list of
    (name, value) pairs, keeping repeated fields."""
    ctype = (content_type or "").split(";")[0].strip().lower()
    if ctype == "application/x-www-form-urlencoded":
        return urllib.parse.parse_qsl(body.decode(), keep_blank_values=True)
    if ctype == "multipart/form-data":
        from email.parser import BytesParser
        from email.policy import HTTP
        msg = BytesParser(policy=HTTP).parsebytes(
            b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
        out = []
        for part in msg.iter_parts():
            name = part.get_param("name", header="content-disposition")
            value = part.get_payload(decode=True) or b""
            out.append((name, value.decode("utf-8", "replace")))
        return out
    if ctype == "application/json":
        data = json.loads(body or b"{}")
        return [(k, v if isinstance(v, str) else json.dumps(v))
                for k, v in data.items()]
    return None

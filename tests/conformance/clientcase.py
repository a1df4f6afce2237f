"""clientcase.py - the harness of the IRC client conformance suite: a
listening "server" socket the test drives by hand, the bot started against
it by a controller with a generated config, IRC line parsing, a SCRAM
server and throw-away TLS certificates.

It re-implements, in this project's own code, the harness that irctest's
client tests run on (github.com/progval/irctest, MIT licence:
irctest/cases.py BaseClientTestCase, irctest/basecontrollers.py
BaseClientController, irctest/authentication.py, irctest/tls.py, and the
SCRAM server of irctest/scram), so that the cases in test_client.py can be
written as the upstream ones are: acceptClient, getMessage, sendLine,
readCapLs, negotiateCapabilities.

Only the standard library and the openssl command line are used; every
process is started here and stopped by its PID; every socket listens on
127.0.0.1.
"""

import base64
import dataclasses
import enum
import hashlib
import hmac
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import unittest
from typing import List, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BUILD = os.path.join(ROOT, os.environ.get("BUILD", "build"))
OPSBOT = os.path.join(BUILD, "opsbot")
# How long one read from the bot, or its connection, may take: longer
# when it runs under a wrapper (valgrind starts slowly on a busy machine).
READ_TIMEOUT = float(os.environ.get(
    "CONFORMANCE_TIMEOUT",
    "120" if os.environ.get("OPSBOT_BOT_WRAPPER") else "20"))


class ConnectionClosed(Exception):
    """The bot closed the connection (irctest.exceptions)."""


class ProcessStopped(Exception):
    """The bot exited while the test waited for it."""


# ---- messages ----

@dataclasses.dataclass
class Message:
    tags: dict
    prefix: Optional[str]
    command: str
    params: List[str]


def _unescape_tag(value):
    out, i = [], 0
    table = {":": ";", "s": " ", "\\": "\\", "r": "\r", "n": "\n"}
    while i < len(value):
        c = value[i]
        if c == "\\" and i + 1 < len(value):
            out.append(table.get(value[i + 1], value[i + 1]))
            i += 2
        elif c == "\\":
            i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def parse_message(line):
    """One IRC line (without CR LF) into a Message."""
    tags = {}
    prefix = None
    if line.startswith("@"):
        raw, _, line = line[1:].partition(" ")
        for item in raw.split(";"):
            key, eq, value = item.partition("=")
            tags[key] = _unescape_tag(value) if eq else None
    line = line.lstrip(" ")
    if line.startswith(":"):
        prefix, _, line = line[1:].partition(" ")
    trailing = None
    if " :" in line:
        line, trailing = line.split(" :", 1)
    elif line.startswith(":"):
        line, trailing = "", line[1:]
    words = [w for w in line.split(" ") if w]
    command = words[0].upper() if words else ""
    params = words[1:]
    if trailing is not None:
        params.append(trailing)
    return Message(tags, prefix, command, params)


def cap_list_to_dict(caps):
    out = {}
    for cap in caps:
        name, eq, value = cap.partition("=")
        out[name] = value if eq else None
    return out


# ---- what the controller is told (irctest.authentication, irctest.tls) ----

class Mechanisms(enum.Enum):
    plain = "PLAIN"
    ecdsa_nist256p_challenge = "ECDSA-NIST256P-CHALLENGE"
    scram_sha_256 = "SCRAM-SHA-256"


@dataclasses.dataclass
class Authentication:
    mechanisms: List[Mechanisms]
    username: str
    password: Optional[str] = None
    ecdsa_key: Optional[str] = None


@dataclasses.dataclass
class TlsConfig:
    enable: bool
    trusted_fingerprints: List[str]


# ---- SCRAM-SHA-256 server side (RFC 5802 / RFC 7677) ----

class NotAuthorizedException(Exception):
    pass


class ScramServer:
    """The server half of SCRAM-SHA-256, without channel binding."""

    def __init__(self, password, iterations=4096):
        self.password = password
        self.iterations = iterations
        self.first_bare = None
        self.server_first = None
        self.gs2 = None

    @staticmethod
    def _hmac(key, msg):
        return hmac.new(key, msg, hashlib.sha256).digest()

    def start(self, client_first):
        """client-first-message -> server-first-message."""
        gs2_flag, authz, bare = client_first.split(b",", 2)
        if gs2_flag not in (b"n", b"y"):
            raise NotAuthorizedException("channel binding requested")
        self.gs2 = gs2_flag + b"," + authz + b","
        attrs = dict(a.split(b"=", 1) for a in bare.split(b","))
        self.username = attrs[b"n"].replace(b"=2C", b",").replace(
            b"=3D", b"=").decode()
        self.authzid = authz[2:].decode() if authz.startswith(b"a=") \
            else None
        self.first_bare = bare
        nonce = attrs[b"r"] + base64.b64encode(os.urandom(18))
        self.nonce = nonce
        self.salt = os.urandom(16)
        self.server_first = (b"r=" + nonce + b",s=" +
                             base64.b64encode(self.salt) + b",i=" +
                             str(self.iterations).encode())
        return self.server_first

    def response(self, client_final):
        """client-final-message -> (properties, server-final-message);
        NotAuthorizedException when the proof is wrong."""
        without_proof, _, proof = client_final.rpartition(b",p=")
        attrs = dict(a.split(b"=", 1) for a in without_proof.split(b","))
        if attrs.get(b"r") != self.nonce:
            raise NotAuthorizedException("bad nonce")
        if not base64.b64decode(attrs[b"c"]).startswith(self.gs2):
            raise NotAuthorizedException("gs2 header mismatch")
        salted = hashlib.pbkdf2_hmac("sha256", self.password.encode(),
                                     self.salt, self.iterations)
        client_key = self._hmac(salted, b"Client Key")
        stored_key = hashlib.sha256(client_key).digest()
        server_key = self._hmac(salted, b"Server Key")
        auth_message = (self.first_bare + b"," + self.server_first + b"," +
                        without_proof)
        signature = self._hmac(stored_key, auth_message)
        got_key = bytes(a ^ b for a, b in
                        zip(base64.b64decode(proof), signature))
        if hashlib.sha256(got_key).digest() != stored_key:
            raise NotAuthorizedException("Authentication failed")
        server_sig = self._hmac(server_key, auth_message)
        return ({"authzid": self.authzid, "username": self.username},
                b"v=" + base64.b64encode(server_sig))


# ---- certificates ----

_CA_CONF = """[ca]
default_ca = c
[c]
database = {d}/index.txt
serial = {d}/serial
new_certs_dir = {d}
default_md = sha256
policy = p
unique_subject = no
[p]
commonName = supplied
"""


def make_ecdsa_key(directory):
    """A NIST P-256 private key, as PEM text ("EC PRIVATE KEY", like
    upstream's ECDSA_KEY)."""
    path = os.path.join(directory, "ecdsa.pem")
    subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey",
                    "-noout", "-out", path], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with open(path) as f:
        return f.read()


def make_cert(directory, name, startdate=None, enddate=None):
    """A self-signed certificate and key, as PEM text, and its SHA-256
    fingerprint (upper-case hex, no colons, as irctest writes them).
    startdate/enddate (YYMMDDHHMMSSZ) make one that has expired."""
    d = os.path.join(directory, name)
    os.makedirs(d, exist_ok=True)
    key, csr, crt = (os.path.join(d, n) for n in ("key.pem", "csr.pem",
                                                  "cert.pem"))
    run = dict(check=True, stdout=subprocess.DEVNULL,
               stderr=subprocess.DEVNULL)
    subprocess.run(["openssl", "req", "-new", "-newkey", "rsa:2048",
                    "-nodes", "-keyout", key, "-out", csr, "-subj",
                    "/CN=" + name], **run)
    if startdate:
        open(os.path.join(d, "index.txt"), "w").close()
        with open(os.path.join(d, "serial"), "w") as f:
            f.write("01\n")
        conf = os.path.join(d, "ca.cnf")
        with open(conf, "w") as f:
            f.write(_CA_CONF.format(d=d))
        subprocess.run(["openssl", "ca", "-batch", "-config", conf,
                        "-selfsign", "-keyfile", key, "-in", csr, "-out",
                        crt, "-notext", "-startdate", startdate,
                        "-enddate", enddate], **run)
    else:
        subprocess.run(["openssl", "x509", "-req", "-in", csr, "-signkey",
                        key, "-out", crt, "-days", "30"], **run)
    with open(crt) as f:
        cert_pem = f.read()
    with open(key) as f:
        key_pem = f.read()
    der = ssl.PEM_cert_to_DER_cert(cert_pem)
    return cert_pem, key_pem, hashlib.sha256(der).hexdigest().upper()


# ---- the controller: the bot with a generated config ----

# Controllers with a bot running: stopped (by PID) if the suite itself is
# terminated, so that no bot outlives it.
LIVE = set()


def _stop_live(signum, frame):
    for c in list(LIVE):
        c.kill()
    raise SystemExit(128 + signum)


signal.signal(signal.SIGTERM, _stop_live)


class OpsbotController:
    """Starts the bot against the test's socket, as irctest's client
    controllers (irctest/controllers/limnoria.py and the like) do: a
    config directory of its own, kept across terminate() so that what the
    bot persists (its STS policies) survives a restart, and removed by
    kill()."""

    supports_sts = True
    supported_sasl_mechanisms = {"PLAIN", "SCRAM-SHA-256",
                                 "ECDSA-NIST256P-CHALLENGE"}

    def __init__(self):
        self.proc = None
        self.directory = None
        self.runs = 0

    def run(self, hostname, port, auth, tls_config=None):
        if not self.directory:
            self.directory = tempfile.mkdtemp(prefix="opsbot-conformance-")
        self.runs += 1
        lines = ["[irc]",
                 "server = %s" % hostname,
                 "port = %d" % port,
                 "nick = opsbot",
                 "username = opsbot",
                 "realname = opsbot conformance",
                 "flood_control = false",
                 "reconnect_min = 200ms",
                 "reconnect_max = 1s",
                 "connect_timeout = 30s"]
        if tls_config:
            if tls_config.enable:
                lines.append("tls = true")
            if tls_config.trusted_fingerprints:
                lines.append("tls_fingerprint = %s" %
                             tls_config.trusted_fingerprints[0])
        if auth:
            names = [m.value for m in auth.mechanisms]
            lines.append("sasl_mechanism = %s" %
                         (names[0].lower() if len(names) == 1 else "auto"))
            lines.append("sasl_username = %s" % auth.username)
            if auth.password is not None:
                secret = os.path.join(self.directory, "sasl-password")
                fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
                             0o600)
                with os.fdopen(fd, "w", encoding="utf-8") as f:
                    f.write(auth.password + "\n")
                lines.append("sasl_password_file = %s" % secret)
            if auth.ecdsa_key is not None:
                keyfile = os.path.join(self.directory, "sasl-ecdsa.pem")
                fd = os.open(keyfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
                             0o600)
                with os.fdopen(fd, "w") as f:
                    f.write(auth.ecdsa_key)
                lines.append("sasl_ecdsa_key = %s" % keyfile)
        lines += ["", "[bot]",
                  "state = %s" % os.path.join(self.directory, "state.db"),
                  "shutdown_grace = 1s"]
        conf = os.path.join(self.directory, "opsbot.conf")
        fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("\n".join(lines) + "\n")
        argv = [OPSBOT, "-c", conf, "-v"]
        wrapper = os.environ.get("OPSBOT_BOT_WRAPPER")
        if wrapper:
            argv = wrapper.split() + argv
        self.log = open(os.path.join(self.directory,
                                     "bot-%d.log" % self.runs), "ab")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=self.log)
        LIVE.add(self)

    def check_is_alive(self):
        if self.proc is None:
            raise ProcessStopped("not started")
        if self.proc.poll() is not None:
            raise ProcessStopped("the bot exited with %d" %
                                 self.proc.returncode)

    def log_text(self):
        out = []
        if self.directory:
            for n in sorted(os.listdir(self.directory)):
                if n.startswith("bot-"):
                    with open(os.path.join(self.directory, n), "rb") as f:
                        out.append(f.read().decode("utf-8", "replace"))
        return "".join(out)

    def terminate(self):
        """Stops the bot gracefully; its directory stays."""
        if self.proc:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
            self.log.close()

    def kill(self):
        """Stops the bot (SIGTERM, so that a sanitizer build reports
        leaks in its exit status; SIGKILL after 15 s) and removes its
        directory.  Returns the exit status of a bot that was running,
        else None."""
        status = None
        LIVE.discard(self)
        if self.proc:
            self.proc.send_signal(signal.SIGTERM)
            try:
                status = self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                status = self.proc.wait()
            self.proc = None
            self.log.close()
        self.final_log = self.log_text()
        if self.directory:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None
        return status


SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                   "runtime error:", "==ERROR", "Invalid read",
                   "Invalid write", "definitely lost")


# ---- the test case ----

class BaseClientTestCase(unittest.TestCase):
    """A listening socket standing for the server, and the bot as the
    client (irctest.cases.BaseClientTestCase)."""

    nick = None
    user = None
    protocol_version = None
    acked_capabilities = None

    def setUp(self):
        self.controller = OpsbotController()
        self.conn = None
        self.conn_file = None
        self.server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(1)
        self.server.settimeout(1)

    def tearDown(self):
        if self.conn:
            try:
                self.conn.sendall(b"QUIT :end of test.")
            except OSError:
                pass
            # Closed before the bot is stopped, so that its QUIT is
            # answered by the end of the link, not by its quit timer.
            if self.conn_file:
                self.conn_file.close()
            self.conn.close()
        status = self.controller.kill()
        # Kept for the runner, which prints it when the test failed.
        self.bot_log = self.controller.final_log
        self.server.close()
        # Every case also checks the bot itself: no sanitizer or valgrind
        # report, and a clean exit on SIGTERM.
        marks = [m for m in SANITIZER_MARKS if m in self.bot_log]
        self.assertFalse(marks, "the bot's log has %s" % marks)
        self.assertIn(status, (None, 0),
                      "the bot exited with %s on SIGTERM" % status)

    def acceptClient(self, tls_cert=None, tls_key=None, server=None):
        """Accepts the bot's connection (TLS when a certificate is
        given)."""
        server = server or self.server
        deadline = time.monotonic() + READ_TIMEOUT
        while True:
            try:
                (conn, _) = server.accept()
                break
            except socket.timeout:
                self.controller.check_is_alive()
                if time.monotonic() > deadline:
                    raise AssertionError("the bot did not connect")
        if self.conn_file:
            self.conn_file.close()
        if self.conn:
            self.conn.close()
        self.conn, self.conn_file = conn, None
        self.conn.settimeout(READ_TIMEOUT)
        if tls_cert or tls_key:
            assert tls_cert and tls_key
            d = tempfile.mkdtemp(prefix="conformance-cert-")
            try:
                cf, kf = os.path.join(d, "c.pem"), os.path.join(d, "k.pem")
                with open(cf, "w") as f:
                    f.write(tls_cert)
                with open(kf, "w") as f:
                    f.write(tls_key)
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                context.load_cert_chain(certfile=cf, keyfile=kf)
            finally:
                shutil.rmtree(d, ignore_errors=True)
            self.conn = context.wrap_socket(self.conn, server_side=True)
        self.conn_file = self.conn.makefile(newline="\r\n", encoding="utf8")

    def getLine(self):
        return self.conn_file.readline()

    def getMessage(self, filter_pred=None):
        while True:
            line = self.getLine()
            if not line:
                raise ConnectionClosed()
            msg = parse_message(line[:-2] if line.endswith("\r\n")
                                else line.rstrip("\r\n"))
            if not filter_pred or filter_pred(msg):
                return msg

    def sendLine(self, line):
        self.conn.sendall(line.encode())
        if not line.endswith("\r\n"):
            self.conn.sendall(b"\r\n")

    def assertMessageMatch(self, msg, command=None, params=None,
                           fail_msg=None):
        if command is not None:
            self.assertEqual(msg.command, command,
                             (fail_msg or "{got}").format(got=msg))
        if params is not None:
            self.assertEqual(len(msg.params), len(params), msg)
            for got, want in zip(msg.params, params):
                if want is not ANYSTR:
                    self.assertEqual(got, want, msg)

    def readCapLs(self, auth=None, tls_config=None):
        (hostname, port) = self.server.getsockname()
        self.controller.run(hostname=hostname, port=port, auth=auth,
                            tls_config=tls_config)
        self.acceptClient()
        m = self.getMessage()
        self.assertEqual(m.command, "CAP", "First message is not CAP LS.")
        if m.params == ["LS"]:
            self.protocol_version = "301"
        elif m.params == ["LS", "302"]:
            self.protocol_version = "302"
        elif m.params == ["END"]:
            self.protocol_version = None
        else:
            raise AssertionError("Unknown CAP params: {}".format(m.params))

    def userNickPredicate(self, msg):
        """NICK and USER are taken in passing."""
        if msg.command == "NICK":
            self.assertEqual(len(msg.params), 1, msg)
            self.nick = msg.params[0]
            return False
        if msg.command == "USER":
            self.assertEqual(len(msg.params), 4, msg)
            self.user = msg.params
            return False
        return True

    def negotiateCapabilities(self, caps, cap_ls=True, auth=None):
        """CAP LS (when cap_ls) with caps, then ACK or NAK each REQ;
        returns the first message that is neither."""
        if cap_ls:
            self.readCapLs(auth)
            if not self.protocol_version:
                return None
            self.sendLine("CAP * LS :{}".format(" ".join(caps)))
        names = frozenset(cap_list_to_dict(caps))
        self.acked_capabilities = set()
        while True:
            m = self.getMessage(filter_pred=self.userNickPredicate)
            if m.command != "CAP":
                return m
            self.assertGreater(len(m.params), 0, m)
            if m.params[0] == "REQ":
                self.assertEqual(len(m.params), 2, m)
                requested = frozenset(m.params[1].split())
                if not requested.issubset(names):
                    self.sendLine("CAP {} NAK :{}".format(
                        self.nick or "*", m.params[1][0:100]))
                else:
                    self.sendLine("CAP {} ACK :{}".format(
                        self.nick or "*", m.params[1]))
                    self.acked_capabilities.update(requested)
            else:
                return m


class _AnyStr:
    def __repr__(self):
        return "ANYSTR"


ANYSTR = _AnyStr()


def skipUnlessHasMechanism(mech):
    """irctest's cases.skipUnlessHasMechanism."""
    def decorator(f):
        if mech in OpsbotController.supported_sasl_mechanisms:
            return f
        return unittest.skip("the bot does not implement %s" % mech)(f)
    return decorator

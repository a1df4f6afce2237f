"""Test harness of the ci plugin: the fakes (two Jenkins and a Zuul in one
child, tests/fakes/ci_fakes.py), a private ngIRCd, an opsbot config with
the webhook listener on a free loopback port, the bot itself, and IRC
clients.  Everything is started here and stopped by PID.

BUILD (environment) selects the build directory (default build)."""

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "registrar"))
from ircclient import IrcClient  # noqa: E402,F401

BUILD = os.path.join(ROOT, os.environ.get("BUILD", "build"))
OPSBOT = os.path.join(BUILD, "opsbot")
KIT = os.path.join(ROOT, "tests", "servers")
CHANNEL = "#opsbot"
HOOK_TOKEN = "hook-secret-4711"
API_TOKEN = "api-token-0815"
PASSWORD = "jenkins-password-42"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for(pred, timeout=10.0, step=0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


class Fakes:
    def __init__(self, workdir, nice=0):
        portfile = os.path.join(workdir, "ci-fakes.ports")
        self.log = open(os.path.join(workdir, "ci-fakes.log"), "w")
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(ROOT, "tests", "fakes",
                                          "ci_fakes.py"), portfile],
            stdout=subprocess.DEVNULL, stderr=self.log,
            preexec_fn=(lambda: os.nice(nice)) if nice else None)
        end = time.time() + 20
        while not os.path.exists(portfile):
            if time.time() > end or self.proc.poll() is not None:
                raise RuntimeError("ci fakes did not start")
            time.sleep(0.05)
        with open(portfile) as f:
            ports = dict(line.split("=") for line in f.read().split())
        self.port = {k[:-5].lower(): int(v) for k, v in ports.items()}

    def url(self, name):
        return "http://127.0.0.1:%d/" % self.port[name]

    def admin(self, name, what, data=None):
        get = what in ("state", "requests")
        req = urllib.request.Request(
            "%s_admin/%s" % (self.url(name), what),
            data=None if get else json.dumps(data or {}).encode(),
            method="GET" if get else "POST",
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as res:
            return json.load(res)

    def requests(self, name):
        return self.admin(name, "requests")["requests"]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


class World:
    """ngIRCd + fakes + the bot with the ci plugin."""

    def __init__(self, extra=None, nice_fakes=0, workdir=None, irc=True):
        self.dir = workdir or tempfile.mkdtemp(prefix="ci-")
        os.makedirs(self.dir, exist_ok=True)
        self.fakes = Fakes(self.dir, nice=nice_fakes)
        self.http_port = free_port()
        self.db = os.path.join(self.dir, "opsbot.db")
        self.irc_dir = os.path.join(self.dir, "irc")
        self.bot = None
        self.clients = []
        self.irc_host = self.irc_port = None
        if irc:
            out = subprocess.run([os.path.join(KIT, "ngircd-start"),
                                  self.irc_dir], capture_output=True,
                                 text=True, timeout=60)
            if out.returncode != 0:
                raise RuntimeError("ngircd-start failed: " + out.stderr)
            env = dict(line.split("=", 1) for line in out.stdout.split()
                       if "=" in line)
            self.irc_host, self.irc_port = env["HOST"], int(env["PORT"])
        self.extra = extra or {}

    def write_config(self, plugin=None, sections=None):
        plugin = dict({"poll_interval": "1s", "zuul_poll_interval": "1s",
                       "backoff_max": "3s", "channel_burst": "50",
                       "channel_per_minute": "600",
                       "flap_burst": "1000",
                       "http_timeout": "5s"}, **(plugin or {}))
        secs = {
            "jenkins.main": {"url": self.fakes.url("jenkins"),
                             "user": "bot", "token": API_TOKEN,
                             "webhook_token": HOOK_TOKEN},
            "jenkins.qa": {"url": self.fakes.url("jenkins2") + "ctx/",
                           "user": "bot", "password": PASSWORD},
            "zuul.oi": {"url": self.fakes.url("zuul"),
                        "tenant": "openstack"},
            "route.all": {"channel": CHANNEL, "events": "all"},
        }
        for k, v in (sections or {}).items():
            if v is None:
                secs.pop(k, None)
            else:
                secs.setdefault(k, {}).update(v)
        lines = []
        if self.irc_port:
            lines += ["[irc]", "server = %s" % self.irc_host,
                      "port = %d" % self.irc_port, "nick = cibot",
                      "channels = %s #elsewhere" % CHANNEL,
                      "flood_control = false"]
        lines += ["[bot]", "plugins = ci",
                  "plugin_dir = " + os.path.join(BUILD, "plugins"),
                  "state = " + self.db,
                  "[http]", "listen = 127.0.0.1:%d" % self.http_port,
                  "[access]",
                  "grant = mask dev!*@* ci.build ci.admin",
                  "[plugin.ci]"]
        for k, v in plugin.items():
            lines.append("%s = %s" % (k, v))
        for name, keys in secs.items():
            lines.append("[plugin.ci.%s]" % name)
            for k, v in keys.items():
                for item in (v if isinstance(v, list) else [v]):
                    lines.append("%s = %s" % (k, item))
        self.config = os.path.join(self.dir, "opsbot.conf")
        with open(self.config, "w") as f:
            f.write("\n".join(lines) + "\n")

    def start_bot(self):
        self.botlog = open(os.path.join(self.dir, "bot.log"), "a")
        self.bot = subprocess.Popen([OPSBOT, "-v", "-c", self.config],
                                    stdout=subprocess.DEVNULL,
                                    stderr=self.botlog)

    def stop_bot(self, sig=signal.SIGTERM):
        if self.bot and self.bot.poll() is None:
            self.bot.send_signal(sig)
            try:
                self.bot.wait(15)
            except subprocess.TimeoutExpired:
                self.bot.kill()
                self.bot.wait()
        self.bot = None
        if getattr(self, "botlog", None):
            self.botlog.close()
            self.botlog = None

    def client(self, nick):
        c = IrcClient(self.irc_host, self.irc_port, nick)
        c.join(CHANNEL)
        self.clients.append(c)
        return c

    def wait_bot_ready(self, c, timeout=30):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            n = c.mark()
            c.say(CHANNEL, "!ping")
            if c.wait(lambda ln: ln[0] == "cibot" and
                      ln[3].endswith("pong"), 1.0, n):
                return True
        raise RuntimeError("bot did not answer; see %s/bot.log" % self.dir)

    def post_hook(self, server, body, token=HOOK_TOKEN, raw=None):
        """POSTs a Notification-plugin body; returns (code, text)."""
        url = "http://127.0.0.1:%d/hooks/ci/jenkins/%s" % (self.http_port,
                                                          server)
        if token is not None:
            url += "?token=" + token
        data = raw if raw is not None else json.dumps(body).encode()
        req = urllib.request.Request(url, data=data, method="POST", headers={
            "Content-Type": "application/json;charset=UTF-8"})
        try:
            with urllib.request.urlopen(req, timeout=10) as res:
                return res.status, res.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def botlog_text(self):
        with open(os.path.join(self.dir, "bot.log")) as f:
            return f.read()

    def stop(self):
        for c in self.clients:
            c.close()
        self.stop_bot()
        self.fakes.stop()
        if self.irc_port:
            subprocess.run([os.path.join(KIT, "ngircd-stop"), self.irc_dir],
                           capture_output=True, timeout=30)


def notification(job_url, number, phase, status=None, culprits=None,
                 full_url=None, duration=42000):
    b = {"full_url": full_url, "number": number, "queue_id": 1,
         "timestamp": int(time.time() * 1000), "duration": duration,
         "phase": phase, "url": job_url + "%d/" % number, "log": ""}
    if full_url is None:
        del b["full_url"]
    if status:
        b["status"] = status
    if culprits:
        b["scm"] = {"culprits": culprits}
    return {"name": job_url.rstrip("/").split("/")[-1], "url": job_url,
            "build": b}

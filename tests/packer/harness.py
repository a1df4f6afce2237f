"""Test harness of the packer plugin: a templates folder with templates
for Debian's packer 1.6.6 (null and file builders, shell-local
provisioners that print, sleep and fail), an opsbot config, runs of
`opsbot run packer ...`, and looks at the process table.

BUILD (environment) selects the build directory (default build)."""

import json
import os
import shutil
import subprocess
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BUILD = os.path.join(ROOT, os.environ.get("BUILD", "build"))
OPSBOT = os.path.join(BUILD, "opsbot")
# the real packer, but for two templates (see fast-packer)
PACKER = os.path.join(HERE, "fast-packer")


def shell(*lines):
    return {"type": "shell-local", "inline": list(lines)}


def templates(out):
    """name -> template (dict, or text for broken ones)."""
    return {
        # two builders of different types: they run in parallel
        "demo": {
            "variables": {"greeting": "hello", "pause": "1"},
            "builders": [
                {"type": "null", "name": "nul", "communicator": "none"},
                {"type": "file", "name": "fil", "content": "x",
                 "target": out + "/demo-artifact.txt"}],
            "provisioners": [shell(
                "echo 'greeting: {{user `greeting`}}, with a comma'",
                "echo 'on stderr' >&2",
                "sleep {{user `pause`}}")]},
        "fail": {
            "builders": [{"type": "null", "name": "broken",
                          "communicator": "none"}],
            "provisioners": [shell("echo 'about to fail, sorry'",
                                   "exit 3")]},
        # two builders of one type: one lock, the second waits
        "queue": {
            "builders": [
                {"type": "null", "name": "first", "communicator": "none"},
                {"type": "null", "name": "second", "communicator": "none"}],
            "provisioners": [shell("echo working", "sleep 2")]},
        "slow": {
            "builders": [{"type": "null", "name": "slow",
                          "communicator": "none"}],
            "provisioners": [shell(
                "echo slow start",
                "i=0; while [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done")]},
        "secret": {
            "variables": {"password": "", "user": "admin"},
            "sensitive-variables": ["password"],
            "builders": [{"type": "null", "name": "sec",
                          "communicator": "none"}],
            "provisioners": [shell(
                "echo 'user {{user `user`}} password {{user `password`}}'",
                "echo 'stderr {{user `password`}}' >&2",
                "sleep 2")]},
        # many steps: many say lines, for the progress throttle
        "chatty": {
            "builders": [
                {"type": "null", "name": "c1", "communicator": "none"},
                {"type": "file", "name": "c2", "content": "y",
                 "target": out + "/chatty.txt"}],
            "provisioners": [shell("echo step %d; sleep 0.1" % i +
                                   ("; echo oops %d >&2" % i
                                    if i % 2 else ""))
                             for i in range(20)]},
        # whatever packer prints: 100,000 error lines (stderr)
        "flood": {
            "builders": [{"type": "null", "name": "flood",
                          "communicator": "none"}],
            "provisioners": [shell("seq 1 100000 >&2", "echo done")]},
        # 10 MB of output
        "big": {
            "builders": [{"type": "null", "name": "big",
                          "communicator": "none"}],
            "provisioners": [shell(
                "i=0; while [ $i -lt 100000 ]; do echo "
                "'0123456789012345678901234567890123456789012345678901234"
                "5678901234567890123456789012345678901234'; i=$((i+1)); "
                "done")]},
        "unknownbuilder": {
            "builders": [{"type": "nosuchbuilder", "name": "x"}]},
        # a build name packer computes: -only with the raw name matches
        # nothing, packer exits 0 and builds nothing
        "computed": {
            "variables": {"n": "real"},
            "builders": [{"type": "null", "name": "{{user `n`}}",
                          "communicator": "none"}],
            "provisioners": [shell("echo hi")]},
        "broken": '{"builders": [\n',
    }


class World:
    def __init__(self, extra=None, irc=None, access=None):
        self.dir = tempfile.mkdtemp(prefix="packer-test-")
        self.tdir = os.path.join(self.dir, "templates")
        self.out = os.path.join(self.dir, "out")
        self.logs = os.path.join(self.dir, "logs")
        os.makedirs(self.tdir)
        os.makedirs(self.out)
        for name, t in templates(self.out).items():
            with open(os.path.join(self.tdir, name + ".json"), "w") as f:
                f.write(t if isinstance(t, str) else json.dumps(t, indent=1))
        os.makedirs(os.path.join(self.tdir, "common"))
        with open(os.path.join(self.tdir, "common", "vars.json"), "w") as f:
            json.dump({"greeting": "from the var-file"}, f)
        self.db = os.path.join(self.dir, "state.db")
        self.write_config(extra or {}, irc, access)

    def write_config(self, extra, irc=None, access=None, tail=""):
        plugin = {"templates": self.tdir, "log_dir": self.logs,
                  "packer": PACKER, "kill_grace": "10s"}
        plugin.update(extra)
        lines = []
        if irc:
            lines.append("[irc]")
            lines += ["%s = %s" % kv for kv in irc.items()]
        lines += ["[bot]", "plugins = packer",
                  "plugin_dir = " + os.path.join(BUILD, "plugins"),
                  "state = " + self.db, "shutdown_grace = 1s"]
        if access:
            lines.append("[access]")
            lines += ["grant = " + g for g in access]
        lines.append("[plugin.packer]")
        for k, v in plugin.items():
            for item in (v if isinstance(v, list) else [v]):
                lines.append("%s = %s" % (k, item))
        self.config = os.path.join(self.dir, "opsbot.conf")
        with open(self.config, "w") as f:
            f.write("\n".join(lines) + "\n" + tail)

    def run(self, *args, timeout=120):
        p = subprocess.run([OPSBOT, "-c", self.config, "run", "packer"]
                           + list(args), capture_output=True, text=True,
                           timeout=timeout)
        # a sanitizer build reports memory errors and leaks at exit
        if "Sanitizer" in p.stderr:
            raise AssertionError("opsbot run %s:\n%s" % (args, p.stderr))
        return p

    def spawn(self, *args):
        return subprocess.Popen([OPSBOT, "-c", self.config, "run", "packer"]
                                + list(args), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def log_text(self):
        text = ""
        if os.path.isdir(self.logs):
            for name in sorted(os.listdir(self.logs)):
                p = os.path.join(self.logs, name)
                if os.path.isfile(p):
                    with open(p, errors="replace") as f:
                        text += f.read()
        return text

    def job_log(self, job):
        with open(os.path.join(self.logs, "job-%d.log" % job)) as f:
            return f.read()

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def processes_with(text):
    """(pid, argv) of every process whose command line holds text."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                argv = f.read().decode(errors="replace").split("\0")
        except OSError:
            continue
        if any(text in a for a in argv):
            found.append((int(pid), argv))
    return found


def wait_for(pred, timeout=30.0, step=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()

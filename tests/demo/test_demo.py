"""tests/demo/test_demo.py - ./run end to end: the banner's IRC server,
each plugin's demo answering in #opsbot (registrar, ceph, packer, ci,
example), the README's webhook curl announced, the guide's mentor page
served, and Ctrl-C stopping the bot, the server and the fakes."""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "registrar"))
from ircclient import IrcClient  # noqa: E402

CHANNEL = "#opsbot"


def from_bot(text):
    return lambda ln: (ln[0] == "opsbot" and ln[2] in (CHANNEL, "tester")
                       and text in ln[3])


class Demo(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.state = tempfile.mkdtemp(prefix="opsbot-demo-")
        env = dict(os.environ, OPSBOT_RUN_STATE=cls.state)
        cls.out = []
        cls.proc = subprocess.Popen(
            ["./run"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, start_new_session=True)
        cls.lines_lock = threading.Lock()
        threading.Thread(target=cls.read_out, daemon=True).start()
        cls.port = cls.wait_out(r"Connect any IRC client to 127\.0\.0\.1 "
                                r"port (\d+)", 240)
        if not cls.port or not cls.wait_out(r"\[irc\] joined #opsbot", 60):
            cls.stop()
            raise RuntimeError("./run did not start:\n" + cls.text())
        cls.irc = IrcClient("127.0.0.1", int(cls.port.group(1)), "tester")
        cls.irc.join(CHANNEL)
        time.sleep(1)

    @classmethod
    def read_out(cls):
        for raw in cls.proc.stdout:
            with cls.lines_lock:
                cls.out.append(raw.decode("utf-8", "replace"))

    @classmethod
    def text(cls):
        with cls.lines_lock:
            return "".join(cls.out)

    @classmethod
    def wait_out(cls, pattern, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            m = re.search(pattern, cls.text())
            if m:
                return m
            if cls.proc.poll() is not None:
                return re.search(pattern, cls.text())
            time.sleep(0.1)
        return None

    @classmethod
    def stop(cls):
        if cls.proc.poll() is None:
            os.killpg(cls.proc.pid, signal.SIGINT)
            try:
                cls.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(cls.proc.pid, signal.SIGKILL)
                cls.proc.wait()

    @classmethod
    def tearDownClass(cls):
        try:
            cls.irc.close()
        except Exception:
            pass
        cls.stop()
        shutil.rmtree(cls.state, ignore_errors=True)

    def ask(self, command, want, timeout=60):
        n = self.irc.mark()
        self.irc.say(CHANNEL, command)
        ln = self.irc.wait(from_bot(want), timeout, n)
        self.assertIsNotNone(ln, "%r: no reply containing %r; got %r" % (
            command, want, [x[3] for x in self.irc.since(n)]))
        return ln[3]

    def test_1_every_plugin_is_loaded(self):
        m = re.search(r"Plugins: ([a-z, ]+)\.", self.text())
        self.assertIsNotNone(m, self.text())
        loaded = set(p.strip() for p in m.group(1).split(","))
        self.assertEqual(loaded,
                         {"example", "registrar", "ceph", "packer", "ci"})
        self.assertNotIn("no offline demo", self.text())

    def test_2_plugins_answer(self):
        self.ask("!ping", "pong")
        self.ask("!example echo hello", "hello")
        self.ask("!reg stats", "registrants:")
        self.ask("!ceph templates", "debian12")
        self.ask("!ceph create demo nodes=1 osds=1", "demo ready in", 120)
        self.ask("!ceph list", "demo")
        self.ask("!packer templates", "example")
        self.ask("!zuul status 12345", "12345")

    def test_3_readme_curl_is_announced(self):
        hook = re.search(r"curl -X POST '(http://127\.0\.0\.1:\d+/hooks/ci/"
                         r"jenkins/demo\?token=opsbot-demo)'", self.text())
        self.assertIsNotNone(hook, self.text())
        n = self.irc.mark()
        req = urllib.request.Request(
            hook.group(1), method="POST",
            headers={"Content-Type": "application/json"},
            data=b'{"url":"job/kallithea/","build":{"number":212,'
                 b'"phase":"COMPLETED","status":"FAILURE",'
                 b'"duration":252000}}')
        with urllib.request.urlopen(req, timeout=10) as r:
            self.assertEqual(r.status, 200)
        ln = self.irc.wait(from_bot("kallithea #212"), 60, n)
        self.assertIsNotNone(ln, [x[3] for x in self.irc.since(n)])
        print("\n  announced: %s" % ln[3], file=sys.stderr)

    def test_4_guide_pages_open(self):
        m = re.search(r"the class \(mentor\): +(http://\S+)", self.text())
        self.assertIsNotNone(m, self.text())
        with urllib.request.urlopen(m.group(1), timeout=10) as r:
            self.assertEqual(r.status, 200)
            self.assertIn("Student 001", r.read().decode())

    def test_9_ctrl_c_stops_everything(self):
        pgid = self.proc.pid
        self.stop()
        self.assertIsNotNone(self.proc.returncode)
        # Nothing of ./run's process group is left (the server, the fakes).
        end = time.monotonic() + 15
        while True:
            left = subprocess.run(["pgrep", "-a", "-g", str(pgid)],
                                  stdout=subprocess.PIPE, text=True).stdout
            if not left.strip() or time.monotonic() > end:
                break
            time.sleep(0.2)
        self.assertEqual(left.strip(), "", "left running: " + left)


if __name__ == "__main__":
    unittest.main(verbosity=2)

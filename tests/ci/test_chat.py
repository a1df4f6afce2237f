#!/usr/bin/env python3
"""End-to-end tests of the ci plugin: the real bot and a real ngIRCd,
fake Jenkins (two servers: API token; password with session-bound
crumbs and a context path) and a fake Zuul.  Webhooks through the
bot's HTTP listener (tokens, caps, duplicates, order, injection),
polled sequences, matrix axes, the fake Jenkins' own Notification
deliveries, !ci build with and without the capability, Zuul items
leaving pipelines, an outage, and kill -9 in the middle of a sequence.
Run: BUILD=build python3 tests/ci/test_chat.py"""

import os
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import CHANNEL, notification  # noqa: E402


def from_bot(text=None, target=CHANNEL):
    return lambda ln: (ln[0] == "cibot" and ln[2] == target and
                       (text is None or text in ln[3]))


class ChatTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        w = cls.w = harness.World()
        j1 = {"jobs": {
            "poller": {"sequence": ["SUCCESS", "FAILURE", "FAILURE",
                                    "SUCCESS"]},
            "poller2": {"sequence": ["SUCCESS", "FAILURE", "SUCCESS"]},
            "deploy": {"params": ["ENV"], "sequence": ["SUCCESS"]},
            "notified": {"sequence": ["SUCCESS", "FAILURE"]},
        }, "user": "bot", "token": harness.API_TOKEN}
        w.fakes.admin("jenkins", "setup", j1)
        w.fakes.admin("jenkins2", "setup", {
            "user": "bot", "password": harness.PASSWORD, "crumb": True,
            "session_crumb": True, "context": "/ctx",
            "jobs": {"kallithea": {
                "kind": "matrix",
                "axes": ["database=sqlite", "database=mysql",
                         "database=postgresql"],
                "sequence": ["SUCCESS", {
                    "result": "FAILURE", "culprits": ["alice"],
                    "duration": 252000,
                    "runs": {"database=postgresql": "FAILURE"}}]},
                "plain": {}}})
        for job in ("poller", "poller2", "notified"):
            w.fakes.admin("jenkins", "advance", {"job": job})
        w.fakes.admin("jenkins2", "advance", {"job": "kallithea"})
        w.write_config({"still_failing_every": "0"})
        w.start_bot()
        cls.dev = w.client("dev")
        cls.stranger = w.client("stranger")
        w.wait_bot_ready(cls.dev)
        # the first polls (the baseline) are done when status says so
        end = time.monotonic() + 20
        while time.monotonic() < end:
            n = cls.dev.mark()
            cls.dev.say(CHANNEL, "!ci status")
            ln = cls.dev.wait(from_bot("jenkins qa:"), 3, n)
            if ln and "not polled" not in ln[3] and \
                    cls.dev.wait(from_bot("jenkins main:"), 0.1, n) and \
                    "not polled" not in cls.dev.wait(
                        from_bot("jenkins main:"), 0.1, n)[3]:
                break
            time.sleep(0.3)

    @classmethod
    def tearDownClass(cls):
        seen = "\n".join(ln[3] for c in (cls.dev, cls.stranger)
                         for ln in c.since(0))
        cls.w.stop()
        log = cls.w.botlog_text()
        # no secret in chat or in the (debug) log; no sanitizer report
        for secret in (harness.API_TOKEN, harness.HOOK_TOKEN,
                       harness.PASSWORD):
            assert secret not in log, "a secret in bot.log"
            assert secret not in seen, "a secret in chat"
        for bad in ("Sanitizer", "runtime error:"):
            assert bad not in log, "%s in %s/bot.log" % (bad, cls.w.dir)

    def said(self, text, since=0, timeout=15, target=CHANNEL):
        return self.dev.wait(from_bot(text, target), timeout, since)

    def count(self, text, since=0):
        return sum(1 for ln in self.dev.since(since)
                   if from_bot(text)(ln))

    # -- webhooks -------------------------------------------------------

    def test_webhook_announced(self):
        n = self.dev.mark()
        t0 = time.monotonic()
        code, text = self.w.post_hook("main", notification(
            "job/team/job/hooked/", 7, "COMPLETED", "FAILURE",
            culprits=["carol"], full_url="http://ci/job/team/job/hooked/7/"))
        self.assertEqual((code, text), (200, "ok"))
        ln = self.said("team/hooked #7 broken", n)
        self.assertIsNotNone(ln)
        self.assertIn("by carol: http://ci/job/team/job/hooked/7/", ln[3])
        self.assertLess(ln[4] - t0, 5.0)

    def test_webhook_refusals(self):
        n = self.dev.mark()
        body = notification("job/refused/", 1, "COMPLETED", "FAILURE")
        self.assertEqual(self.w.post_hook("main", body, token="wrong")[0],
                         403)
        self.assertEqual(self.w.post_hook("main", body, token=None)[0], 403)
        self.assertEqual(self.w.post_hook("main", None, raw=b"{nope")[0],
                         400)
        self.assertEqual(self.w.post_hook("main", None,
                                          raw=b"{" + b" " * 300000 +
                                          b"}")[0], 413)
        # the second server has no webhook_token: no route at all
        self.assertEqual(self.w.post_hook("qa", body)[0], 404)
        time.sleep(1.0)
        self.assertEqual(self.count("refused", n), 0)

    def test_webhook_duplicates_and_order(self):
        n = self.dev.mark()
        job = "job/dup/"
        for phase, number, status in (
                ("COMPLETED", 1, "SUCCESS"), ("STARTED", 2, None),
                ("COMPLETED", 2, "FAILURE"), ("COMPLETED", 2, "FAILURE"),
                ("FINALIZED", 2, "FAILURE"), ("STARTED", 2, None),
                ("FINALIZED", 1, "SUCCESS"), ("FINISHED", 2, "FAILURE")):
            code, _ = self.w.post_hook("main", notification(
                job, number, phase, status))
            self.assertEqual(code, 200)
        self.assertIsNotNone(self.said("dup #2 broken", n))
        time.sleep(1.0)
        self.assertEqual(self.count("dup #2 broken", n), 1)
        self.assertEqual(self.count("dup #2 started", n), 1)

    def test_webhook_injection(self):
        n = self.dev.mark()
        raw0 = len(self.dev.raw)
        body = notification("job/evil%0D%0AJOIN%20%23x%0D%0A/", 1,
                            "COMPLETED", "FAILURE",
                            culprits=["m\r\nPRIVMSG #elsewhere :hi",
                                      "\x01ACTION dances\x01",
                                      "\x0304red\x02bold\u202eevil"],
                            full_url="http://x/\r\nQUIT :bye")
        self.assertEqual(self.w.post_hook("main", body)[0], 200)
        ln = self.said("broken", n)
        self.assertIsNotNone(ln)
        time.sleep(1.0)
        for text in (l[3] for l in self.dev.since(n)):
            for bad in ("\r", "\n", "\x01", "\x02", "\x03", "\u202e"):
                self.assertNotIn(bad, text)
        # every line of the bot is a PRIVMSG to the channel: no JOIN, no
        # QUIT, nothing to another channel
        for raw in self.dev.raw[raw0:]:
            if raw.startswith(":cibot"):
                parts = raw.split(" ", 3)
                self.assertEqual(parts[1:3], ["PRIVMSG", CHANNEL], raw)
        self.assertIsNotNone(self.w.bot)
        self.assertIsNone(self.w.bot.poll())

    def test_fake_jenkins_delivers_notifications(self):
        # the fake sends QUEUED, STARTED, COMPLETED, FINALIZED itself;
        # polling sees the same build: still one line
        self.w.fakes.admin("jenkins", "setup", {
            # the plugin's own way: user:token@ becomes Basic auth
            "notify": ["http://jenkins:%s@127.0.0.1:%d/hooks/ci/jenkins/main"
                       % (harness.HOOK_TOKEN, self.w.http_port)],
            "user": "bot", "token": harness.API_TOKEN})
        try:
            n = self.dev.mark()
            self.w.fakes.admin("jenkins", "advance", {"job": "notified"})
            self.assertIsNotNone(self.said("notified #2 broken", n))
            harness.wait_for(lambda: self.w.fakes.admin(
                "jenkins", "state")["notified"] >= 4, 10)
            # QUEUED, STARTED, COMPLETED, FINALIZED: all taken (200)
            codes = self.w.fakes.admin("jenkins", "state")["notify_codes"]
            self.assertGreaterEqual(len(codes), 4)
            self.assertEqual(set(codes), {200})
            time.sleep(2.5)  # two more polls
            self.assertEqual(self.count("notified #2 broken", n), 1)
        finally:
            self.w.fakes.admin("jenkins", "setup", {
                "notify": [], "user": "bot", "token": harness.API_TOKEN})

    # -- polling ----------------------------------------------------------

    def test_polled_sequence(self):
        n = self.dev.mark()
        self.w.fakes.admin("jenkins", "advance", {"job": "poller"})
        self.assertIsNotNone(self.said("poller #2 broken", n))
        self.w.fakes.admin("jenkins", "advance", {"job": "poller"})
        self.assertIsNotNone(self.said("poller #3 still failing", n))
        self.w.fakes.admin("jenkins", "advance", {"job": "poller"})
        self.assertIsNotNone(self.said("poller #4 fixed", n))
        self.assertEqual(self.count("poller #", n), 3)

    def test_matrix_with_crumbs_server(self):
        n = self.dev.mark()
        self.w.fakes.admin("jenkins2", "advance", {"job": "kallithea"})
        ln = self.said("kallithea #2 broken", n)
        self.assertIsNotNone(ln)
        self.assertIn("kallithea #2 broken on database=postgresql "
                      "(sqlite, mysql ok), 4m12s, by alice: http://127.0.0."
                      "1:%d/ctx/job/kallithea/2/"
                      % self.w.fakes.port["jenkins2"], ln[3])

    # -- commands ---------------------------------------------------------

    def test_build_command(self):
        n = self.dev.mark()
        self.dev.say(CHANNEL, "!ci build deploy ENV=prod")
        self.assertIsNotNone(self.said("deploy queued as item", n))
        self.assertIsNotNone(self.said("deploy #1 started", n))
        self.assertIsNotNone(self.said("deploy #1 finished: success", n,
                                       timeout=30))
        trig = self.w.fakes.admin("jenkins", "state")["triggers"]
        self.assertIn({"job": "deploy", "params": {"ENV": "prod"},
                       "auth": "token"}, trig)
        # password auth: a crumb with its session cookie
        n = self.dev.mark()
        self.dev.say(CHANNEL, "!ci build qa:plain")
        self.assertIsNotNone(self.said("plain #1 finished: success", n,
                                       timeout=30))
        trig = self.w.fakes.admin("jenkins2", "state")["triggers"]
        self.assertEqual(trig[-1]["auth"], "password")

    def test_build_needs_capability(self):
        n = self.stranger.mark()
        before = len(self.w.fakes.admin("jenkins", "state")["triggers"])
        self.stranger.say(CHANNEL, "!ci build deploy ENV=evil")
        self.stranger.say(CHANNEL, "!ci watch deploy #opsbot")
        ln = self.stranger.wait(lambda l: l[0] == "cibot" and
                                "ci.build" in l[3], 10, n)
        self.assertIsNotNone(ln)
        self.assertIsNotNone(self.stranger.wait(
            lambda l: l[0] == "cibot" and "ci.admin" in l[3], 10, n))
        time.sleep(0.5)
        self.assertEqual(len(self.w.fakes.admin("jenkins", "state")[
            "triggers"]), before)

    def test_status_and_last(self):
        n = self.dev.mark()
        self.dev.say(CHANNEL, "!ci last qa:kallithea")
        self.assertIsNotNone(self.said("kallithea #", n))
        self.dev.say(CHANNEL, "!ci status")
        self.assertIsNotNone(self.said("zuul oi:", n))
        self.dev.say(CHANNEL, "!ci last nosuchjob")
        self.assertIsNotNone(self.said("not found (404)", n))

    def test_from_a_shell(self):
        import subprocess
        run = lambda *a: subprocess.run(
            [harness.OPSBOT, "-q", "-c", self.w.config, "run", "ci"] +
            list(a), capture_output=True, text=True, timeout=60)
        p = run("status")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("jenkins main: ", p.stdout)
        self.assertIn("jenkins qa: 2 jobs", p.stdout)
        p = run("last", "qa:kallithea")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("kallithea #", p.stdout)
        p = run("last", "nosuchjob")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("not found (404)", p.stderr)
        p = run("zuul", "status", "nothing-like-this")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("is in no pipeline now", p.stdout)

    # -- Zuul -------------------------------------------------------------

    def test_zuul_leaving_and_status(self):
        z = self.w.fakes
        n = self.dev.mark()
        z.admin("zuul", "enqueue", {"pipeline": "gate", "queue":
                                    "integrated", "change": "12345,6",
                                    "project": "org/repo",
                                    "jobs": ["tox-py311", "docs"]})
        z.admin("zuul", "enqueue", {"pipeline": "gate", "queue":
                                    "integrated", "change": "12346,1",
                                    "project": "org/repo",
                                    "jobs": ["tox-py311"]})
        time.sleep(2.5)
        self.dev.say(CHANNEL, "!zuul status 12346")
        ln = self.said("org/repo 12346,1 in gate", n)
        self.assertIsNotNone(ln)
        self.assertIn("queue integrated, #2", ln[3])
        z.admin("zuul", "result", {"change": "12345,6", "pipeline": "gate",
                                   "job": "docs", "result": "FAILURE"})
        z.admin("zuul", "result", {"change": "12345,6", "pipeline": "gate",
                                   "job": "tox-py311", "result": "SUCCESS"})
        time.sleep(2.5)
        z.admin("zuul", "dequeue", {"change": "12345,6", "pipeline": "gate"})
        self.assertIsNotNone(self.said(
            "zuul gate: org/repo 12345,6 failed (docs FAILURE)", n))
        # one that leaves before the bot saw its results: the buildsets
        z.admin("zuul", "result", {"change": "12346,1", "pipeline": "gate",
                                   "job": "tox-py311", "result": "SUCCESS"})
        z.admin("zuul", "dequeue", {"change": "12346,1", "pipeline": "gate"})
        self.assertIsNotNone(self.said("org/repo 12346,1 passed", n))
        self.dev.say(CHANNEL, "!ci zuul builds org/repo 2")
        self.assertIsNotNone(self.said("(gate, change 1234", n))

    # -- outage and restart (last: they disturb the others) ----------------

    def test_y_outage_once(self):
        n = self.dev.mark()
        self.w.fakes.admin("jenkins2", "outage", {"mode": "html"})
        self.assertIsNotNone(self.said("jenkins qa is unreachable", n))
        time.sleep(6)
        self.w.fakes.admin("jenkins2", "outage", {"mode": ""})
        self.assertIsNotNone(self.said("jenkins qa answers again", n,
                                       timeout=20))
        self.assertEqual(self.count("jenkins qa is unreachable", n), 1)
        self.assertEqual(self.w.botlog_text().count(
            "jenkins qa unreachable"), 1)

    def test_z_restart_mid_sequence(self):
        n = self.dev.mark()
        self.w.stop_bot(signal.SIGKILL)
        # while it is gone: poller2 breaks
        self.w.fakes.admin("jenkins", "advance", {"job": "poller2"})
        self.w.start_bot()
        self.assertIsNotNone(self.said("poller2 #2 broken", n, timeout=30))
        time.sleep(3)
        # nothing said before the kill is said again
        for old in ("poller #4 fixed", "poller #2 broken", "dup #2 broken",
                    "12345,6 failed", "kallithea #2 broken"):
            self.assertEqual(self.count(old, n), 0, old)
        self.assertEqual(self.count("poller2 #2 broken", n), 1)


if __name__ == "__main__":
    unittest.main(verbosity=2)

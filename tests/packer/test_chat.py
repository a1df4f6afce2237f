#!/usr/bin/env python3
"""The packer plugin in chat, through a real ngIRCd and the real packer:
progress throttled (lines per job per window counted), a final line per
job and one summary per request, cancel from chat (clean-up logged, no
packer left), the capability, sensitive variables (refused in a channel,
taken in private, never shown), a SIGHUP with a changed config during a
build, the log in private.
Run: BUILD=build /usr/bin/python3 tests/packer/test_chat.py"""

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402
from harness import processes_with, wait_for  # noqa: E402
sys.path.append(os.path.join(os.path.dirname(HERE), "registrar"))
from ircclient import IrcClient  # noqa: E402
from test_jenkins import JOB, TOKEN, FakeJenkins  # noqa: E402

KIT = os.path.join(harness.ROOT, "tests", "servers")
CHANNEL = "#builds"
BOT = "pkbot"
INTERVAL = 2.0  # progress, seconds
BURST = 2       # error_burst


def start_ngircd(workdir):
    out = subprocess.run([os.path.join(KIT, "ngircd-start"), workdir],
                         capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        raise RuntimeError("ngircd-start failed: " + out.stderr)
    env = dict(line.split("=", 1) for line in out.stdout.split()
               if "=" in line)
    return env["HOST"], int(env["PORT"])


def packer_builds(world):
    return [p for p in processes_with(world.tdir)
            if os.path.basename(p[1][0]) == "packer" and "build" in p[1]]


class ChatTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="packer-chat-")
        cls.irc_dir = os.path.join(cls.tmp, "irc")
        host, port = start_ngircd(cls.irc_dir)
        cls.irc = {"server": host, "port": str(port), "nick": BOT,
                   "channels": CHANNEL, "flood_control": "false"}
        cls.access = ["mask builder!*@* packer"]
        cls.extra = {"progress": "%ds" % INTERVAL,
                     "error_burst": str(BURST), "channel": CHANNEL,
                     "runner": "qemu=jenkins:main/" + JOB,
                     "jenkins_poll": "200ms"}
        cls.w = harness.World()
        cls.fake = FakeJenkins(cls.w.dir)
        cls.tail = ("[plugin.packer.jenkins.main]\nurl = %s/\nuser = bot\n"
                    "token = %s\n" % (cls.fake.url, TOKEN))
        with open(os.path.join(cls.w.tdir, "jk.json"), "w") as f:
            f.write('{"builders": [{"type": "qemu", "name": "qemu"}]}')
        cls.w.write_config(cls.extra, cls.irc, cls.access, cls.tail)
        cls.botlog_path = os.path.join(cls.tmp, "bot.log")
        cls.botlog = open(cls.botlog_path, "w")
        cls.bot = subprocess.Popen([harness.OPSBOT, "-v", "-c",
                                    cls.w.config],
                                   stdout=subprocess.DEVNULL,
                                   stderr=cls.botlog)
        cls.builder = IrcClient(host, port, "builder")
        cls.viewer = IrcClient(host, port, "viewer")
        for c in (cls.builder, cls.viewer):
            # builds are quiet for long: no read timeout on the client
            c.sock.settimeout(None)
            c.join(CHANNEL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            cls.builder.say(CHANNEL, "!ping")
            if cls.builder.wait(lambda ln: ln[0] == BOT and
                                ln[3].endswith("pong"), 1.0):
                break
        else:
            raise RuntimeError("bot did not join; see " + cls.botlog_path)

    @classmethod
    def tearDownClass(cls):
        for c in (cls.builder, cls.viewer):
            c.close()
        cls.bot.terminate()
        try:
            cls.bot.wait(15)
        except subprocess.TimeoutExpired:
            cls.bot.kill()
        cls.botlog.close()
        subprocess.run([os.path.join(KIT, "ngircd-stop"), cls.irc_dir],
                       capture_output=True)
        with open(cls.botlog_path) as f:
            log = f.read()
        left = packer_builds(cls.w)
        cls.fake.stop()
        cls.w.cleanup()
        if "Sanitizer" in log or cls.bot.returncode != 0 or left:
            raise AssertionError("bot exit %s, packer left %s; see %s" % (
                cls.bot.returncode, left, cls.botlog_path))

    def bot_lines(self, n, target=CHANNEL):
        return [ln for ln in self.builder.since(n)
                if ln[0] == BOT and ln[2].lower() == target.lower()]

    def ack(self, n, template):
        ln = self.builder.wait(lambda ln: ln[0] == BOT and
                               ln[3].startswith("packer %s: job" % template),
                               15, n)
        self.assertIsNotNone(ln, "no acknowledgement")
        return [int(x) for x in re.findall(r"job (\d+)", ln[3])]

    def final(self, n, job, timeout=90):
        return self.builder.wait(
            lambda ln: ln[0] == BOT and re.match(
                r"packer job %d \S+: (ok|FAILED|cancelled|interrupted|"
                r"TIMED OUT)" % job, ln[3]), timeout, n)

    def test_1_progress_is_throttled(self):
        n = self.builder.mark()
        self.builder.say(CHANNEL, "!packer build chatty")
        jobs = self.ack(n, "chatty")
        self.assertEqual(len(jobs), 2)
        finals = [self.final(n, j) for j in jobs]
        self.assertTrue(all(finals), "a job did not end")
        summary = self.builder.wait(
            lambda ln: ln[0] == BOT and ln[3].startswith("packer chatty: c"),
            10, n)
        self.assertIsNotNone(summary)
        self.assertRegex(summary[3], r"^packer chatty: c[12] ok \d+s, "
                                     r"c[12] ok \d+s$")
        time.sleep(INTERVAL + 0.5)  # nothing stale after the summary
        lines = self.bot_lines(n)
        self.assertEqual(len([ln for ln in lines if ln[3].startswith(
            "packer chatty: c")]), 1)
        for job, fin in zip(jobs, finals):
            mine = [ln for ln in lines
                    if ln[3].startswith("packer job %d " % job)]
            starts = [ln for ln in mine if ": started (" in ln[3]]
            ends = [ln for ln in mine if ln is fin or ln[3] == fin[3]]
            progress = [ln for ln in mine
                        if ln not in starts and ln not in ends]
            self.assertEqual(len(starts), 1)
            self.assertEqual(len(ends), 1)
            self.assertIs(mine[-1][3], fin[3])  # nothing after the final
            duration = fin[4] - starts[0][4]
            steps = [ln for ln in progress if ": ! " not in ln[3]]
            errors = [ln for ln in progress if ": ! " in ln[3]]
            # packer printed 20 steps; chat got at most one per interval
            self.assertGreaterEqual(len(steps), 1)
            self.assertLessEqual(len(steps),
                                 duration / INTERVAL + 2, steps)
            for a, b in zip(steps, steps[1:]):
                self.assertGreaterEqual(b[4] - a[4], INTERVAL - 0.25,
                                        (a[3], b[3]))
            # any window of one interval holds at most one step line
            for i, a in enumerate(steps):
                inside = [b for b in steps[i:]
                          if b[4] - a[4] < INTERVAL - 0.25]
                self.assertEqual(len(inside), 1)
            # 10 stderr lines: the first BURST at once, then at most one
            # per interval at once and one per interval as progress
            self.assertGreaterEqual(len(errors), min(BURST, 1))
            self.assertLessEqual(len(errors),
                                 BURST + 2 * (duration / INTERVAL + 1),
                                 errors)
        self.assertIn("Running local shell script", self.w.log_text())

    def test_1b_flood_of_output(self):
        """100,000 stderr lines: chat gets at most BURST + two lines per
        interval, and the bot answers at once meanwhile."""
        n = self.builder.mark()
        self.builder.say(CHANNEL, "!packer build flood")
        (job,) = self.ack(n, "flood")
        self.assertIsNotNone(self.builder.wait(
            lambda ln: ln[0] == BOT and ": ! " in ln[3], 60, n))
        m = self.builder.mark()
        t = time.monotonic()
        self.builder.say(CHANNEL, "!ping")
        self.assertIsNotNone(self.builder.wait(
            lambda ln: ln[0] == BOT and ln[3].endswith("pong"), 10, m))
        self.assertLess(time.monotonic() - t, 3)
        fin = self.final(n, job, 120)
        self.assertIsNotNone(fin)
        self.assertIn(": ok ", fin[3])
        mine = [ln for ln in self.bot_lines(n)
                if ln[3].startswith("packer job %d " % job)]
        start = [ln for ln in mine if ": started (" in ln[3]][0]
        duration = fin[4] - start[4]
        self.assertLessEqual(len(mine) - 2,
                             BURST + 2 * (duration / INTERVAL + 1),
                             [ln[3] for ln in mine])
        self.assertGreater(self.w.job_log(job).count("\n"), 100000)

    def test_2_cancel_from_chat(self):
        n = self.builder.mark()
        self.builder.say(CHANNEL, "!packer build slow")
        (job,) = self.ack(n, "slow")
        self.assertIsNotNone(self.builder.wait(
            lambda ln: ln[0] == BOT and "job %d slow/slow: started" % job
            in ln[3], 20, n))
        self.assertTrue(wait_for(
            lambda: "slow start" in self.w.job_log(job), 30))
        # someone without the capability cannot
        m = self.viewer.mark()
        self.viewer.say(CHANNEL, "!packer cancel %d" % job)
        refusal = self.viewer.wait(lambda ln: ln[0] == BOT and
                                   "permission denied" in ln[3], 10, m)
        self.assertIsNotNone(refusal)
        self.assertTrue(packer_builds(self.w))
        self.builder.say(CHANNEL, "!packer cancel %d" % job)
        self.assertIsNotNone(self.builder.wait(
            lambda ln: ln[0] == BOT and ln[3].startswith(
                "cancelling job %d" % job), 10, n))
        fin = self.final(n, job, 30)
        self.assertIsNotNone(fin)
        self.assertIn("cancelled", fin[3])
        self.assertEqual(packer_builds(self.w), [])
        log = self.w.job_log(job)
        # packer's own lines after the interrupt (it interrupts its steps,
        # or its step fails first: SIGINT reaches the whole group, as
        # Ctrl-C in a terminal does) still reach the log
        self.assertIn("==> Wait completed after", log)
        n = self.builder.mark()
        self.builder.say(CHANNEL, "!packer status %d" % job)
        st = self.builder.wait(lambda ln: ln[0] == BOT and
                               "job %d slow/slow" % job in ln[3], 10, n)
        self.assertIn("cancelled", st[3])

    def test_3_capability_needed_to_build(self):
        m = self.viewer.mark()
        self.viewer.say(CHANNEL, "!packer build demo")
        self.assertIsNotNone(self.viewer.wait(
            lambda ln: ln[0] == BOT and "permission denied" in ln[3], 10, m))
        time.sleep(0.5)
        self.assertFalse([ln for ln in self.viewer.since(m)
                          if "packer demo: job" in ln[3]])
        # but anyone may look
        self.viewer.say(CHANNEL, "!packer templates")
        self.assertIsNotNone(self.viewer.wait(
            lambda ln: ln[0] == BOT and ln[3].startswith("templates ("),
            10, m))

    def test_4_sensitive_variables(self):
        secret = "Pr1v-s3cret-Val"
        n = self.builder.mark()
        self.builder.say(CHANNEL, "!packer build secret sec password=" +
                         secret)
        err = self.builder.wait(lambda ln: ln[0] == BOT and
                                "is sensitive" in ln[3], 10, n)
        self.assertIsNotNone(err)
        self.assertNotIn(secret, err[3])
        time.sleep(0.3)
        self.assertFalse([ln for ln in self.builder.since(n)
                          if "packer secret: job" in ln[3]])
        # in private it is taken; lines go to the configured channel
        secret = "An0ther-s3cret"
        n = self.builder.mark()
        self.builder.say(BOT, "packer build secret sec password=" + secret)
        (job,) = self.ack(n, "secret")
        fin = self.final(n, job, 60)
        self.assertIsNotNone(fin)
        self.assertIn(" ok ", fin[3])
        self.assertEqual(fin[2].lower(), CHANNEL)
        self.assertIn("password <sensitive>", self.w.job_log(job))
        for ln in self.builder.since(0):
            self.assertNotIn(secret, ln[3])
        with open(self.botlog_path) as f:
            self.assertNotIn(secret, f.read())
        self.assertNotIn(secret, self.w.log_text())

    def test_5_sighup_never_kills_a_build(self):
        n = self.builder.mark()
        self.builder.say(CHANNEL, "!packer build queue")
        a, b = self.ack(n, "queue")
        self.assertIsNotNone(self.builder.wait(
            lambda ln: ln[0] == BOT and "job %d queue/first: started" % a
            in ln[3], 20, n))
        # a queued job says where it is
        self.assertIsNotNone(self.builder.wait(
            lambda ln: ln[0] == BOT and "job %d queue/second: waiting for "
            "lock null (position 1)" % b in ln[3], 10, n))
        extra = dict(self.extra, progress="3s")
        self.w.write_config(extra, self.irc, self.access, self.tail)
        self.bot.send_signal(signal.SIGHUP)
        for j in (a, b):
            fin = self.final(n, j, 60)
            self.assertIsNotNone(fin)
            self.assertRegex(fin[3], r": ok \d+s")
        self.w.write_config(self.extra, self.irc, self.access, self.tail)
        self.bot.send_signal(signal.SIGHUP)

    def test_6_log_in_private(self):
        n = self.builder.mark()
        self.builder.say(CHANNEL, "!packer build fail")
        (job,) = self.ack(n, "fail")
        fin = self.final(n, job, 60)
        self.assertIn("FAILED", fin[3])
        self.assertIn("non-zero exit status: 3", fin[3])
        n = self.builder.mark()
        self.builder.say(CHANNEL, "!packer log %d 5" % job)
        head = self.builder.wait(lambda ln: ln[0] == BOT and
                                 ln[3].startswith("log of job %d" % job),
                                 10, n)
        self.assertIsNotNone(head)
        self.assertEqual(head[2], "builder")
        time.sleep(0.5)
        self.assertEqual([ln for ln in self.bot_lines(n)
                          if "about to fail" in ln[3] or
                          ln[3].startswith("log of")], [])

    def test_7_jenkins_cancel(self):
        # a queue item that waits: cancelled in the Jenkins queue
        self.fake.admin("setup", {
            "user": "bot", "token": TOKEN, "queue_polls": 100000,
            "jobs": {JOB: {"params": ["machine", "builderlabel"]}}})
        n = self.builder.mark()
        self.builder.say(CHANNEL, "!packer build jk qemu")
        (job,) = self.ack(n, "jk")
        self.assertIsNotNone(self.builder.wait(
            lambda ln: ln[0] == BOT and "queued on jenkins main/" in ln[3],
            20, n))
        self.builder.say(CHANNEL, "!packer cancel %d" % job)
        fin = self.final(n, job, 30)
        self.assertIsNotNone(fin)
        self.assertIn("cancelled", fin[3])
        self.assertIn("queue item was cancelled", fin[3])
        self.assertEqual(self.fake.admin("state")["queue"], [])
        # a running build: stopped, reported cancelled
        self.fake.admin("setup", {
            "user": "bot", "token": TOKEN, "queue_polls": 1,
            "build_polls": 100000,
            "jobs": {JOB: {"params": ["machine", "builderlabel"]}}})
        n = self.builder.mark()
        self.builder.say(CHANNEL, "!packer build jk qemu")
        (job,) = self.ack(n, "jk")
        self.assertIsNotNone(self.builder.wait(
            lambda ln: ln[0] == BOT and "running as jenkins main build" in
            ln[3], 30, n))
        self.builder.say(CHANNEL, "!packer cancel %d" % job)
        fin = self.final(n, job, 30)
        self.assertIsNotNone(fin)
        self.assertRegex(fin[3], r": cancelled \d+s: jenkins main build 1")
        builds = self.fake.admin("state")["jobs"][JOB]["builds"]
        self.assertEqual(builds[-1]["result"], "ABORTED")


if __name__ == "__main__":
    unittest.main(verbosity=2)

#!/usr/bin/env python3
"""The packer plugin's Jenkins runner against the fake Jenkins
(tests/fakes/jenkins.py, after api-contracts.md section 4): a build
queued then built (parameters machine and builderlabel), a failure, 303
for an item already queued, 409 for a disabled job, 404, bad
credentials, an outage during the polls (one notice, not one per poll),
and a build followed again by the daemon after the bot was killed.
Run: BUILD=build /usr/bin/python3 tests/packer/test_jenkins.py"""

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import unittest
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402
from harness import wait_for  # noqa: E402

FAKE = os.path.join(harness.ROOT, "tests", "fakes", "jenkins.py")
TOKEN = "11aa22bb33cc44dd55ee66ff77889900aa"
JOB = "team/packer-build"


class FakeJenkins:
    def __init__(self, workdir):
        portfile = os.path.join(workdir, "jenkins.ports")
        self.log = open(os.path.join(workdir, "jenkins.log"), "w")
        self.proc = subprocess.Popen([sys.executable, FAKE, portfile],
                                     stdout=subprocess.DEVNULL,
                                     stderr=self.log)
        if not wait_for(lambda: os.path.exists(portfile), 20):
            raise RuntimeError("fake jenkins did not start")
        with open(portfile) as f:
            ports = dict(line.split("=") for line in f.read().split())
        self.url = "http://127.0.0.1:%s" % list(ports.values())[0]

    def admin(self, what, data=None):
        req = urllib.request.Request(
            "%s/_admin/%s" % (self.url, what),
            data=None if what == "state" else json.dumps(data or {}).encode(),
            method="GET" if what == "state" else "POST",
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as res:
            return json.load(res)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)
        self.log.close()


class JenkinsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.w = harness.World()
        cls.fake = FakeJenkins(cls.w.dir)
        with open(os.path.join(cls.w.tdir, "jk.json"), "w") as f:
            json.dump({"variables": {"v": "1"}, "builders": [
                {"type": "qemu", "name": "qemu"},
                {"type": "docker", "name": "docker"},
                {"type": "virtualbox-iso", "name": "vbox"},
                {"type": "null", "name": "local-one",
                 "communicator": "none"}]}, f)

    @classmethod
    def tearDownClass(cls):
        cls.fake.stop()
        cls.w.cleanup()

    def setup_fake(self, **kw):
        spec = {"user": "bot", "token": TOKEN, "queue_polls": 1,
                "build_polls": 1,
                "jobs": {JOB: {"params": ["machine", "builderlabel"]},
                         "team/disabled": {"params": ["machine"],
                                           "disabled": True}}}
        spec.update(kw)
        self.fake.admin("setup", spec)

    def config(self, token=TOKEN, runner="team/packer-build"):
        extra = {"runner": ["qemu=jenkins:main/" + runner,
                            "docker=jenkins:main/team/disabled",
                            "vbox=jenkins:main/team/nosuch"],
                 "jenkins_poll": "100ms"}
        self.w.write_config(extra)
        with open(self.w.config, "a") as f:
            f.write("[plugin.packer.jenkins.main]\nurl = %s/\nuser = bot\n"
                    "token = %s\n" % (self.fake.url, token))

    def setUp(self):
        self.setup_fake()
        self.config()

    def test_1_queue_then_build(self):
        p = self.w.run("build", "jk", "qemu")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        out = p.stdout
        self.assertRegex(out, r"queued on jenkins main/team/packer-build "
                              r"\(queue item \d+\)")
        self.assertRegex(out, r"running as jenkins main build 1 ")
        self.assertRegex(out, r"packer job \d+ jk/qemu: ok \d+s: jenkins "
                              r"main build 1 http://127.0.0.1:\d+/job/team/"
                              r"job/packer-build/1/")
        trig = self.fake.admin("state")["triggers"]
        self.assertEqual(trig[-1]["params"],
                         {"machine": "jk", "builderlabel": "packer-qemu"})
        self.assertNotIn(TOKEN, out + p.stderr + self.w.log_text())

    def test_2_failure(self):
        self.setup_fake(jobs={JOB: {"params": ["machine", "builderlabel"],
                                    "sequence": ["FAILURE"]}})
        p = self.w.run("build", "jk", "qemu")
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertRegex(p.stdout, r"FAILED \d+s: jenkins main build 1 "
                                   r"\S+ \(FAILURE\)")

    def test_3_disabled_unknown_auth(self):
        p = self.w.run("build", "jk", "docker")
        self.assertEqual(p.returncode, 1)
        self.assertIn("(409)", p.stdout)
        p = self.w.run("build", "jk", "vbox")
        self.assertEqual(p.returncode, 1)
        self.assertIn("(404)", p.stdout)
        self.config(token="wrong-token-0000")
        p = self.w.run("build", "jk", "qemu")
        self.assertEqual(p.returncode, 1)
        self.assertIn("(401)", p.stdout)
        self.assertNotIn("wrong-token-0000", p.stdout + p.stderr)
        # variables cannot go to a Jenkins job: refused before anything
        self.config()
        p = self.w.run("build", "jk", "qemu", "v=2")
        self.assertEqual(p.returncode, 1)
        self.assertIn("takes no variables", p.stderr)
        # an unknown server is refused before anything starts
        self.w.write_config({"runner": "qemu=jenkins:other/x"})
        p = self.w.run("build", "jk", "qemu")
        self.assertEqual(p.returncode, 1)
        self.assertIn("no [plugin.packer.jenkins.other]", p.stderr)

    def test_4_same_item_queued_303(self):
        self.setup_fake(queue_polls=15)
        a = self.w.spawn("build", "jk", "qemu")
        self.assertTrue(wait_for(
            lambda: self.fake.admin("state")["queue"], 20))
        b = self.w.run("build", "jk", "qemu")
        out_a, _ = a.communicate(60)
        self.assertEqual(b.returncode, 0, b.stdout + b.stderr)
        self.assertIn("the same build was already queued", b.stdout)
        self.assertEqual(a.returncode, 0, out_a)
        qa = re.search(r"queue item (\d+)", out_a).group(1)
        qb = re.search(r"queue item (\d+)", b.stdout).group(1)
        self.assertEqual(qa, qb)

    def test_5_outage_one_notice(self):
        self.setup_fake(build_polls=400)
        p = self.w.spawn("build", "jk", "qemu")
        self.assertTrue(wait_for(
            lambda: any(b.get("building") for j in
                        self.fake.admin("state")["jobs"].values()
                        for b in j.get("builds", [])), 20))
        time.sleep(0.5)
        self.fake.admin("outage", {"mode": "503"})
        time.sleep(3)
        self.fake.admin("outage", {"mode": ""})
        self.fake.admin("finish", {"job": JOB, "result": "SUCCESS"})
        out, err = p.communicate(60)
        self.assertEqual(p.returncode, 0, out + err)
        self.assertEqual(out.count("cannot reach jenkins main"), 1, out)
        self.assertEqual(out.count("jenkins main answers again"), 1, out)
        self.assertRegex(out, r"jk/qemu: ok ")

    def test_6_followed_again_after_a_kill(self):
        self.setup_fake(build_polls=100000)
        p = self.w.spawn("build", "jk", "qemu")
        con = sqlite3.connect(self.w.db)
        before = con.execute("SELECT count(*) FROM packer_jobs").fetchone()
        self.assertTrue(wait_for(lambda: [r for r in con.execute(
            "SELECT remote FROM packer_jobs WHERE remote LIKE 'build %' "
            "AND id > ?", before)], 20))
        p.send_signal(signal.SIGKILL)
        p.wait()
        (job,) = con.execute("SELECT id FROM packer_jobs WHERE state = "
                             "'running'").fetchone()
        # a daemon (with no IRC server to reach) follows it again
        with open(self.w.config) as f:
            conf = f.read()
        with open(self.w.config, "w") as f:
            f.write("[irc]\nserver = 127.0.0.1\nport = 9\nnick = pk\n"
                    + conf)
        botlog = open(os.path.join(self.w.dir, "daemon.log"), "w")
        bot = subprocess.Popen([harness.OPSBOT, "-c", self.w.config],
                               stdout=subprocess.DEVNULL, stderr=botlog)
        try:
            time.sleep(1)
            self.fake.admin("finish", {"job": JOB, "result": "SUCCESS"})
            self.assertTrue(wait_for(lambda: con.execute(
                "SELECT state FROM packer_jobs WHERE id = ?",
                (job,)).fetchone()[0] == "ok", 30))
            (res,) = con.execute("SELECT result FROM packer_jobs WHERE "
                                 "id = ?", (job,)).fetchone()
            self.assertIn("jenkins main build", res)
        finally:
            bot.terminate()
            bot.wait(15)
            botlog.close()
            con.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)

#!/usr/bin/env python3
"""Chat tests of the registrar through a real ngIRCd: status lookups,
privacy (an e-mail address never appears in a channel line), permission
refusals (ticking and un-ticking steps need registrar.mentor, not only
registrar.view), announcements by name only.
Run: BUILD=build /usr/bin/python3 tests/registrar/test_chat.py"""

import os
import re
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from ircclient import IrcClient  # noqa: E402

KIT = os.path.join(harness.ROOT, "tests", "servers")
CHANNEL = "#organisers"
EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")


def start_ngircd(workdir):
    out = subprocess.run([os.path.join(KIT, "ngircd-start"), workdir],
                         capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        raise RuntimeError("ngircd-start failed: " + out.stderr)
    env = dict(line.split("=", 1) for line in out.stdout.split()
               if "=" in line)
    return env["HOST"], int(env["PORT"])


class ChatTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="registrar-chat-")
        cls.irc_dir = os.path.join(cls.tmp, "irc")
        host, port = start_ngircd(cls.irc_dir)
        cls.host, cls.port = host, port
        cls.w = harness.World(students=12, mentors=3,
                              workdir=os.path.join(cls.tmp, "world"))
        cls.w.write_config({}, irc={"server": host, "port": str(port),
                                    "nick": "regbot",
                                    "channels": CHANNEL,
                                    "flood_control": "false"},
                           access=["mask organiser!*@* registrar.admin "
                                   "registrar.view",
                                   "mask organiser2!*@* registrar.admin "
                                   "registrar.view",
                                   "mask mentor!*@* registrar.view",
                                   "mask tutor!*@* registrar.view "
                                   "registrar.mentor"])
        cls.botlog = open(os.path.join(cls.tmp, "bot.log"), "w")
        # -v: debug lines too, where a leaked secret would show first
        cls.bot = subprocess.Popen([harness.OPSBOT, "-v", "-c",
                                    cls.w.config],
                                   stdout=subprocess.DEVNULL,
                                   stderr=cls.botlog)
        cls.org = IrcClient(host, port, "organiser")
        cls.mentor = IrcClient(host, port, "mentor")
        cls.stranger = IrcClient(host, port, "stranger")
        cls.org2 = IrcClient(host, port, "organiser2")
        cls.tutor = IrcClient(host, port, "tutor")
        for c in (cls.org, cls.mentor, cls.stranger, cls.org2, cls.tutor):
            c.join(CHANNEL)
        # the bot is ready when it answers !ping in the channel
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            n = cls.org.mark()
            cls.org.say(CHANNEL, "!ping")
            if cls.org.wait(lambda ln: ln[0] == "regbot" and
                            ln[3].endswith("pong"), 1.0):
                break
        else:
            raise RuntimeError("bot did not join; see bot.log")
        del n

    @classmethod
    def tearDownClass(cls):
        for c in (cls.org, cls.mentor, cls.stranger, cls.org2, cls.tutor):
            c.close()
        cls.bot.terminate()
        try:
            cls.bot.wait(10)
        except subprocess.TimeoutExpired:
            cls.bot.kill()
        cls.botlog.close()
        cls.w.stop()
        subprocess.run([os.path.join(KIT, "ngircd-stop"), cls.irc_dir],
                       capture_output=True)
        with open(os.path.join(cls.tmp, "bot.log")) as f:
            log = f.read()
        # a sanitizer build reports memory errors and leaks at exit
        if "Sanitizer" in log or cls.bot.returncode != 0:
            raise AssertionError("bot exit %s; see %s/bot.log" % (
                cls.bot.returncode, cls.tmp))

    def channel_lines(self, client):
        return [ln for ln in client.since(0)
                if ln[0] == "regbot" and ln[2].lower() == CHANNEL]

    def test_1_sync_from_chat_and_announcement(self):
        self.org.say(CHANNEL, "!reg sync")
        # acknowledged at once, before the sync reads anything
        ack = self.org.wait(lambda ln: ln[0] == "regbot" and
                            "sync started" in ln[3], 10)
        self.assertIsNotNone(ack)
        done = self.org.wait(lambda ln: ln[0] == "regbot" and
                             "sync done" in ln[3], 60)
        self.assertIsNotNone(done)
        self.assertLessEqual(ack[4], done[4])
        self.assertIn("15 new, 12 cards, 15 mails, 15 marked", done[3])
        ann = self.org.wait(lambda ln: ln[0] == "regbot" and
                            "new registrations:" in ln[3], 5)
        self.assertIsNotNone(ann)
        self.assertIn("Student 000 (student)", ann[3])
        self.assertEqual(ann[3].count("(student)") +
                         ann[3].count("(mentor)"), 15)
        self.assertEqual(ann[2].lower(), CHANNEL)
        self.w.check_exactly_once(self, allow_unknown=False)

    def test_2_status_privacy(self):
        self.w.run("sync")
        n = self.mentor.mark()
        self.mentor.say(CHANNEL, "!reg status student.004@example.org")
        public = self.mentor.wait(lambda ln: ln[0] == "regbot" and
                                  ln[2].lower() == CHANNEL and
                                  "Student 004 (#" in ln[3], 10, n)
        self.assertIsNotNone(public)
        self.assertIn("student, status new, done", public[3])
        self.assertIn("details sent privately", public[3])
        private = self.mentor.wait(lambda ln: ln[0] == "regbot" and
                                   ln[2] == "mentor" and
                                   "student.004@example.org" in ln[3], 10,
                                   n)
        self.assertIsNotNone(private)
        self.assertIsNotNone(self.mentor.wait(
            lambda ln: ln[2] == "mentor" and "IRC nick: stud4" in ln[3], 5,
            n))
        self.assertIsNotNone(self.mentor.wait(
            lambda ln: ln[2] == "mentor" and "https://trello.com/c/" in
            ln[3], 5, n))

    def test_3_permission_refusals(self):
        self.stranger.say(CHANNEL, "!reg status Student 001")
        refusal = self.stranger.wait(lambda ln: ln[0] == "regbot" and
                                     "permission denied" in ln[3], 10)
        self.assertIsNotNone(refusal)
        self.assertIn("registrar.view", refusal[3])
        self.mentor.say(CHANNEL, "!reg sync")
        refusal = self.mentor.wait(lambda ln: ln[0] == "regbot" and
                                   "permission denied" in ln[3] and
                                   "registrar.admin" in ln[3], 10)
        self.assertIsNotNone(refusal)
        self.mentor.say(CHANNEL, "!reg resend Mentor 01")
        self.assertIsNotNone(self.mentor.wait(
            lambda ln: ln[0] == "regbot" and "permission denied" in ln[3]
            and "resend" in ln[3], 10))
        # a refused stranger learnt nothing about the registrant
        for ln in self.stranger.since(0):
            self.assertNotIn("Student 001:", ln[3])

    def test_3b_ticking_steps_needs_registrar_mentor(self):
        self.w.run("sync")

        def ask(client, text):
            n = client.mark()
            client.say(CHANNEL, text)
            self.assertIsNotNone(client.wait(
                lambda ln: ln[0] == "regbot", 10, n), text)
            time.sleep(0.3)  # a second line would have come by now
            return [ln[3] for ln in client.since(n) if ln[0] == "regbot"]

        # registrar.view alone: refused, in one line naming the fix
        for cmd in ("done", "undo"):
            lines = ask(self.mentor, "!reg %s Student 003 cla" % cmd)
            self.assertEqual(len(lines), 1, lines)
            self.assertIn("permission denied: !reg %s needs capability "
                          "registrar.mentor (or registrar.admin)" % cmd,
                          lines[0])
        # nothing was ticked
        lines = ask(self.mentor, "!reg progress Student 003")
        self.assertIn("cla to do", lines[0])
        # registrar.mentor: accepted
        lines = ask(self.tutor, "!reg done Student 003 cla")
        self.assertEqual(len(lines), 1, lines)
        self.assertIn("Student 003: cla done", lines[0])
        lines = ask(self.mentor, "!reg progress Student 003")
        self.assertIn("cla done", lines[0])
        lines = ask(self.tutor, "!reg undo Student 003 cla")
        self.assertEqual(len(lines), 1, lines)
        self.assertIn("Student 003: cla is to do again", lines[0])
        lines = ask(self.tutor, "!reg undo Student 003 cla")
        self.assertEqual(len(lines), 1, lines)
        self.assertIn("Student 003: cla was not done", lines[0])
        lines = ask(self.mentor, "!reg progress Student 003")
        self.assertIn("cla to do", lines[0])
        # registrar.admin grants it too; errors stay one line
        lines = ask(self.org, "!reg done Student 003 git-review")
        self.assertEqual(len(lines), 1, lines)
        self.assertIn("Student 003: git-review done", lines[0])
        lines = ask(self.org, "!reg undo Student 003 git-review")
        self.assertEqual(len(lines), 1, lines)
        self.assertIn("Student 003: git-review is to do again", lines[0])
        lines = ask(self.tutor, "!reg undo Student 003 nosuch")
        self.assertEqual(len(lines), 1, lines)
        self.assertIn('no step "nosuch"; the steps are', lines[0])
        lines = ask(self.tutor, "!reg undo Mentor 01 cla")
        self.assertEqual(len(lines), 1, lines)
        self.assertIn("only students have a path", lines[0])
        # who ticked and un-ticked, and when, is in the ledger
        import sqlite3
        con = sqlite3.connect(self.w.db)
        try:
            log = con.execute(
                "SELECT l.step, l.action, l.by, l.at FROM "
                "registrar_guide_step_log l JOIN registrar_registrant r ON"
                " r.id = l.registrant WHERE r.name = 'Student 003'"
                " ORDER BY l.id").fetchall()
        finally:
            con.close()
        self.assertEqual([(s_, a, b) for s_, a, b, _ in log], [
            ("cla", "done", "mentor nick:tutor"),
            ("cla", "undone", "mentor nick:tutor"),
            ("git-review", "done", "mentor nick:organiser"),
            ("git-review", "undone", "mentor nick:organiser")])
        self.assertTrue(all(at > 1.7e12 for _, _, _, at in log))

    def test_4_list_stats_set(self):
        self.w.run("sync")
        self.mentor.say(CHANNEL, "!reg stats")
        st = self.mentor.wait(lambda ln: ln[0] == "regbot" and
                              ln[3].startswith("registrants:"), 10)
        self.assertIsNotNone(st)
        self.assertIn("3 mentor done, 12 student done", st[3])
        self.org.say(CHANNEL, "!reg set Student 007 waitlist")
        self.assertIsNotNone(self.org.wait(
            lambda ln: "status set to waitlist" in ln[3], 10))
        self.mentor.say(CHANNEL, "!reg list done")
        ls = self.mentor.wait(lambda ln: ln[0] == "regbot" and
                              "registrant(s) done" in ln[3], 10)
        self.assertIsNotNone(ls)

    def test_5_list_is_capped_in_a_channel(self):
        self.w.run("sync")
        n = self.mentor.mark()
        self.mentor.say(CHANNEL, "!reg list")
        ls = self.mentor.wait(lambda ln: ln[0] == "regbot" and
                              "registrant(s)" in ln[3], 10, n)
        self.assertIsNotNone(ls)
        self.assertEqual(ls[2].lower(), CHANNEL)
        self.assertIn("15 registrant(s): ", ls[3])
        self.assertEqual(len(re.findall(r"\((?:student|mentor), \w+\)",
                                        ls[3])), 10, ls[3])
        self.assertIn(", and 5 more (ask me in private for more)", ls[3])
        # in private: all of them
        n = self.mentor.mark()
        self.mentor.say("regbot", "reg list")
        ls = self.mentor.wait(lambda ln: ln[0] == "regbot" and
                              "registrant(s)" in ln[3], 10, n)
        self.assertIsNotNone(ls)
        self.assertEqual(ls[2], "mentor")
        self.assertNotIn("more", ls[3])
        self.assertEqual(len(re.findall(r"\((?:student|mentor), \w+\)",
                                        ls[3])), 15, ls[3])

    def test_6_resend_is_confirmed_by_its_asker_only(self):
        self.w.run("sync")
        sent = self.w.fakes.state("mailgun")["sent"]
        n = self.org.mark()
        self.org.say(CHANNEL, "!reg resend Mentor 02")
        ask = self.org.wait(lambda ln: ln[0] == "regbot" and
                            "confirm within" in ln[3], 10, n)
        self.assertIsNotNone(ask)
        confirm = ask[3].split("with: ")[1]
        self.assertRegex(confirm, r"^!reg resend #\d+ \d{6}$")
        # another organiser who saw the code cannot use it
        n2 = self.org2.mark()
        self.org2.say(CHANNEL, confirm)
        no = self.org2.wait(lambda ln: ln[0] == "regbot" and
                            "someone else asked" in ln[3], 10, n2)
        self.assertIsNotNone(no)
        self.assertEqual(self.w.fakes.state("mailgun")["sent"], sent)
        n = self.org.mark()
        self.org.say(CHANNEL, confirm)
        self.assertIsNotNone(self.org.wait(
            lambda ln: "resending the welcome mail to Mentor 02" in ln[3],
            10, n))
        self.assertTrue(harness.wait_for(
            lambda: self.w.fakes.state("mailgun")["sent"] == sent + 1, 30))

    def test_7_shell_syncs_are_announced_by_the_daemon_in_brief(self):
        # 50 registrations synced from the shell: the channel hears of
        # them at the daemon's next sync, in three lines and a count
        self.w.fakes.admin("sheets", "append", {
            "id": harness.STUDENT_SHEET, "tab": harness.STUDENT_TAB,
            "rows": [harness.student_row(i) for i in range(100, 150)]})
        n = self.org.mark()
        p = self.w.run("sync")
        self.assertIn("50 new", p.stdout)
        self.assertNotIn("new registrations", p.stdout)
        self.org.say(CHANNEL, "!reg sync")
        self.assertIsNotNone(self.org.wait(
            lambda ln: ln[0] == "regbot" and "sync done" in ln[3], 60, n))
        more = self.org.wait(lambda ln: ln[0] == "regbot" and
                             "more new registrations" in ln[3], 10, n)
        self.assertIsNotNone(more)
        self.assertEqual(more[3], "and 5 more new registrations "
                         "(!reg list)")
        lines = [ln for ln in self.org.since(n) if ln[0] == "regbot" and
                 ln[3].startswith("new registrations:")]
        self.assertEqual(len(lines), 3)
        self.assertIn("Student 100 (student)", lines[0][3])
        self.assertEqual(sum(ln[3].count("(student)") for ln in lines), 45)

    def test_8_no_secret_in_the_log_or_chat(self):
        # a sync that meets failures (a 500, a lost answer, a refused key)
        # logs the most; then every secret is looked for everywhere
        self.w.fakes.admin("sheets", "append", {
            "id": harness.STUDENT_SHEET, "tab": harness.STUDENT_TAB,
            "rows": [harness.student_row(50), harness.student_row(51)]})
        self.w.fakes.faults("trello", [{"method": "POST", "fault": "500",
                                        "times": 1}])
        self.w.fakes.faults("mailgun", [{"fault": "cut", "times": 1}])
        self.w.fakes.admin("sheets", "expire_tokens", {})
        n = self.org.mark()
        self.org.say(CHANNEL, "!reg sync")
        self.assertIsNotNone(self.org.wait(
            lambda ln: ln[0] == "regbot" and "sync done" in ln[3], 60, n))
        self.org.say(CHANNEL, "!reg status Student 050")
        self.org.wait(lambda ln: "Student 050" in ln[3], 10, n)
        self.botlog.flush()
        with open(os.path.join(self.tmp, "bot.log")) as f:
            log = f.read()
        self.assertIn("debug", log)
        self.assertGreater(len(self.w.fakes.state("sheets")["tokens"]), 0)
        self.w.assert_no_secret(self, log, "the bot's log")
        for client in (self.org, self.mentor, self.stranger, self.org2):
            self.w.assert_no_secret(
                self, "\n".join(ln[3] for ln in client.since(0)),
                "what %s received" % client.nick)
        with open("/proc/%d/cmdline" % self.bot.pid, "rb") as f:
            self.w.assert_no_secret(self, f.read().decode(), "argv")

    def test_9_no_email_in_any_channel_line(self):
        for client in (self.org, self.mentor, self.stranger, self.org2):
            for ln in self.channel_lines(client):
                self.assertIsNone(EMAIL.search(ln[3]), ln)

    def test_9z_long_and_hostile_names_keep_the_announcement_promise(self):
        # 17 registrations, two with 2,000-character names and one with
        # CR/LF, IRC formatting and a direction override in its name: up
        # to 15 names a line, at most 3 lines, whole entries (a long name
        # cut with "…"), nothing that starts a line of its own
        rows = [harness.student_row(i) for i in range(200, 217)]
        rows[3][1] = "L" * 2000
        rows[9][1] = "M" * 2000
        rows[5][1] = ("Eve\r\nPRIVMSG #organisers :INJECTED \x02bold\x02"
                      " \x0304red\x0f \x16\x1f\u202egnp.exe")
        self.w.fakes.admin("sheets", "append", {
            "id": harness.STUDENT_SHEET, "tab": harness.STUDENT_TAB,
            "rows": rows})
        n = self.org.mark()
        self.org.say(CHANNEL, "!reg sync")
        self.assertIsNotNone(self.org.wait(
            lambda ln: ln[0] == "regbot" and "sync done" in ln[3], 60, n))
        self.assertIsNotNone(self.org.wait(
            lambda ln: ln[0] == "regbot" and
            ln[3].startswith("new registrations:"), 10, n))
        time.sleep(2)
        self.mentor.say(CHANNEL, "!reg status eve")
        self.assertIsNotNone(self.org.wait(
            lambda ln: ln[0] == "regbot" and "INJECTED" in ln[3], 10, n))
        time.sleep(1)
        lines = [ln for ln in self.org.since(n) if ln[0] == "regbot"]
        control = re.compile("[\x00-\x1f\x7f\u202a-\u202e"
                             "\u2066-\u2069]")
        for ln in lines:
            self.assertFalse(ln[3].startswith(("INJECTED", "PRIVMSG")), ln)
            self.assertIsNone(control.search(ln[3]), ln)
            self.assertLessEqual(len(ln[3].encode()), 400, ln)
        ann = [ln[3] for ln in lines
               if ln[3].startswith("new registrations:")]
        more = [ln[3] for ln in lines if "more new registrations" in ln[3]]
        self.assertLessEqual(len(ann), 3, ann)
        self.assertLessEqual(len(more), 1, more)
        shown = sum(a.count(" (student)") for a in ann)
        left = int(more[0].split()[1]) if more else 0
        self.assertEqual(shown + left, 17, (ann, more))
        for a in ann:
            entries = a[len("new registrations: "):].split(", ")
            self.assertLessEqual(len(entries), 15)
            for e in entries:
                self.assertTrue(e.endswith(" (student)"), e)
                self.assertLessEqual(len(e.encode()), 60, e)
        text = "\n".join(ann)
        self.assertNotIn("L" * 41, text)
        self.assertIn("Eve PRIVMSG #organisers :INJECTED bol… (student)",
                      text)


class PeriodicTest(unittest.TestCase):
    """A daemon with a periodic sync against slow services: a !reg sync
    that meets it says so, and the bot keeps answering at once."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="registrar-periodic-")
        cls.irc_dir = os.path.join(cls.tmp, "irc")
        host, port = start_ngircd(cls.irc_dir)
        cls.w = harness.World(students=40, mentors=0,
                              workdir=os.path.join(cls.tmp, "world"))
        cls.w.write_config({"sync_interval": "1h", "sync_start_delay": "2s",
                            "concurrency": "2"},
                           irc={"server": host, "port": str(port),
                                "nick": "regbot", "channels": CHANNEL,
                                "flood_control": "false"},
                           access=["mask organiser!*@* registrar.admin "
                                   "registrar.view"])
        for s in ("trello", "mailgun"):
            cls.w.fakes.latency(s, 150)
        cls.botlog = open(os.path.join(cls.tmp, "bot.log"), "w")
        cls.bot = subprocess.Popen([harness.OPSBOT, "-c", cls.w.config],
                                   stdout=subprocess.DEVNULL,
                                   stderr=cls.botlog)
        cls.org = IrcClient(host, port, "organiser")
        cls.org.join(CHANNEL)

    @classmethod
    def tearDownClass(cls):
        cls.org.close()
        cls.bot.terminate()
        try:
            cls.bot.wait(10)
        except subprocess.TimeoutExpired:
            cls.bot.kill()
        cls.botlog.close()
        cls.w.stop()
        subprocess.run([os.path.join(KIT, "ngircd-stop"), cls.irc_dir],
                       capture_output=True)

    def ping(self):
        n = self.org.mark()
        t = time.monotonic()
        self.org.say(CHANNEL, "!ping")
        ln = self.org.wait(lambda x: x[0] == "regbot" and
                           x[3].endswith("pong"), 5, n)
        return (ln[4] - t) * 1000 if ln else None

    def test_periodic_and_requested_sync_collide(self):
        self.assertTrue(harness.wait_for(lambda: self.ping() is not None,
                                         30, 0.5), "the bot did not join")
        # the periodic sync starts 2 s after the bot
        self.assertTrue(harness.wait_for(
            lambda: self.w.fakes.state("mailgun")["sent"] > 0, 30))
        n = self.org.mark()
        self.org.say(CHANNEL, "!reg sync")
        no = self.org.wait(lambda ln: ln[0] == "regbot" and
                           "already running" in ln[3], 10, n)
        self.assertIsNotNone(no)
        self.assertRegex(no[3], r"the periodic sync is already running "
                         r"\(started \d+ s ago\); try again when it ends")
        # every call takes 150 ms, yet the bot answers at once: the loop
        # never waits for a service
        rtts = [self.ping() for _ in range(10)]
        self.assertNotIn(None, rtts)
        self.assertLess(sorted(rtts)[5], 100, rtts)
        self.assertLess(self.w.fakes.state("mailgun")["sent"], 40,
                        "the sync ended before the pings: no evidence")
        # when it is over, a requested sync runs
        self.assertTrue(harness.wait_for(
            lambda: self.w.fakes.state("mailgun")["sent"] == 40, 60))
        self.assertTrue(harness.wait_for(
            lambda: {r["progress"] for r in self.w.ledger()} == {"done"},
            20))
        n = self.org.mark()
        self.org.say(CHANNEL, "!reg sync")
        done = self.org.wait(lambda ln: ln[0] == "regbot" and
                             "sync done" in ln[3], 30, n)
        self.assertIsNotNone(done)
        self.assertIn("0 new, 0 cards, 0 mails", done[3])
        self.w.mentors = 0
        self.w.check_exactly_once(self, allow_unknown=False)


if __name__ == "__main__":
    unittest.main(verbosity=2)

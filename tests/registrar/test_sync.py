#!/usr/bin/env python3
"""End-to-end tests of the registrar plugin: the real opsbot binary
(`opsbot run registrar ...`) against the fake Sheets, Trello and Mailgun
servers.  Run: BUILD=build /usr/bin/python3 tests/registrar/test_sync.py"""

import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402


class SyncTest(unittest.TestCase):
    def world(self, students=100, mentors=20, **extra):
        w = harness.World(students, mentors, extra_config=extra)
        self.addCleanup(w.stop)
        return w

    def test_clean_sync_and_idempotence(self):
        w = self.world()
        p = w.run("sync", check=True)
        self.assertIn("120 new, 100 cards, 120 mails, 120 marked", p.stdout)
        # the shell has no channel: announcing is left to the daemon
        self.assertNotIn("new registrations", p.stdout)
        self.assertEqual({r["announced"] for r in w.ledger()}, {0})
        # no e-mail anywhere on stdout
        self.assertNotIn("@", p.stdout.replace("@ Org", ""))
        self.assertEqual(w.check_exactly_once(self, allow_unknown=False), 0)
        # card title template, description with every column and marker
        card = [c for c in w.fakes.state("trello")["cards"]
                if c["name"].startswith("Student 000,")][0]
        self.assertEqual(card["name"], "Student 000, Engineer 0 @ Org 0")
        self.assertIn("Email: Student.000@Example.org", card["desc"])
        self.assertIn("\n\nOrganization: Org 0\n\n", card["desc"])
        self.assertNotIn("upstream-registrar", card["desc"])
        # the mail: text + html from the templates, cc, reply-to, tags
        msg = [m for m in w.fakes.state("mailgun")["messages"]
               if dict(m["fields"])["to"] == "student.000@example.org"][0]
        fields = msg["fields"]
        get = dict(fields)
        self.assertEqual(get["subject"], "Welcome to OpenStack Upstream "
                         "Training, Student 000!")
        self.assertIn("Hello Student 000,", get["text"])
        self.assertEqual(get["cc"], "organisers@example.org")
        self.assertEqual(get["h:Reply-To"], "mentors@example.org")
        self.assertEqual(get["from"], "Upstream Training "
                         "<training@example.org>")
        self.assertLessEqual([k for k, _ in fields].count("o:tag"), 3)
        student1 = [m for m in w.fakes.state("mailgun")["messages"]
                    if dict(m["fields"])["to"] == "student.001@example.org"]
        self.assertIn("<p>Hello Student 001 of Org 1,</p>",
                      dict(student1[0]["fields"])["html"])
        # marks: RAW batch writes into the status column found by header
        writes = w.fakes.state("sheets")["writes"]
        self.assertTrue(all(x["col"] == 8 for x in writes
                            if x["tab"] == harness.STUDENT_TAB))
        # a second sync does nothing
        before = w.fakes.state("trello")["requests"]
        p = w.run("sync", check=True)
        self.assertIn("0 new, 0 cards, 0 mails, 0 marked", p.stdout)
        self.assertEqual(w.fakes.state("trello")["requests"], before)
        self.assertEqual(w.fakes.state("sheets")["tokens_issued"], 2)
        # new rows later: only they are processed
        w.fakes.admin("sheets", "append", {
            "id": harness.STUDENT_SHEET, "tab": harness.STUDENT_TAB,
            "rows": [harness.student_row(100), harness.student_row(101)]})
        w.students = 102
        p = w.run("sync", check=True)
        self.assertIn("2 new, 2 cards, 2 mails, 2 marked", p.stdout)
        w.check_exactly_once(self, allow_unknown=False)

    def test_commands(self):
        w = self.world(students=5, mentors=2, resend_confirm_time="2s")
        w.run("sync", check=True)
        ids = {r["name"]: r["id"] for r in w.ledger()}
        p = w.run("status", "student.003@EXAMPLE.org", check=True)
        self.assertIn("Student 003 (#%d): student, status new, done, card "
                      "created, mail sent" % ids["Student 003"], p.stdout)
        self.assertIn("https://trello.com/c/", p.stdout)
        self.assertIn("  Organization: Org 3", p.stdout)
        self.assertIn("student.003@example.org", p.stdout)
        p = w.run("status", "Student 00")
        self.assertEqual(p.returncode, 1)
        self.assertIn("5 registrants match", p.stderr)
        p = w.run("list", "done", check=True)
        self.assertIn("7 registrant(s) done", p.stdout)
        # a bad word is a usage error (exit 2) that names it
        p = w.run("list", "bogus")
        self.assertEqual(p.returncode, 2)
        self.assertIn('unknown progress "bogus"; use new, carded, mailed, '
                      'done, failed, unknown or withdrawn', p.stderr)
        p = w.run("stats", check=True)
        self.assertIn("2 mentor done, 5 student done", p.stdout)
        p = w.run("set", "Student 004", "gone")
        self.assertEqual(p.returncode, 2)
        self.assertIn('unknown status "gone"; use new, active, waitlist, '
                      'withdrawn or complete', p.stderr)
        p = w.run("set", "Student 004", "withdrawn", check=True)
        self.assertIn("Student 004: status set to withdrawn (was new)",
                      p.stdout)
        p = w.run("set", "Student 004", "withdrawn", check=True)
        self.assertIn("status was already withdrawn", p.stdout)
        p = w.run("list", "withdrawn", check=True)
        self.assertIn("Student 004", p.stdout)
        # retry of someone with nothing failed says so and changes nothing
        p = w.run("retry", "Student 001", check=True)
        self.assertEqual(p.stdout.strip(),
                         "nothing to retry: Student 001 is done")
        p = w.run("retry", "Student 004")
        self.assertEqual(p.returncode, 1)
        self.assertIn("Student 004 is withdrawn; opsbot run registrar set "
                      "#%d active first" % ids["Student 004"], p.stderr)
        p = w.run("resend", "Student 004")
        self.assertEqual(p.returncode, 1)
        self.assertIn("Student 004 is withdrawn", p.stderr)
        # every command's usage and help, from the shell too
        for cmd, usage in (("status", "status <name|e-mail|#number>"),
                           ("resend", "resend <name|e-mail|#number> [code]"),
                           ("set", "set <name|e-mail|#number> <new|active|"
                            "waitlist|withdrawn|complete>")):
            h = subprocess.run([harness.OPSBOT, "-c", w.config, "run",
                                "help", "registrar", cmd],
                               capture_output=True, text=True)
            self.assertEqual(h.returncode, 0)
            self.assertIn("opsbot run registrar " + usage, h.stdout)
            self.assertIn("(needs capability registrar.", h.stdout)
        # resend asks for a code, then sends exactly one more mail
        m1 = "#%d" % ids["Mentor 01"]
        p = w.run("resend", "Mentor 01", check=True, user="alice")
        self.assertIn("confirm within 1 minute with: opsbot run registrar "
                      "resend %s " % m1, p.stdout)
        code = p.stdout.split("resend %s " % m1)[1].split()[0]
        sent = w.fakes.state("mailgun")["sent"]
        # only the asker can confirm
        p = w.run("resend", m1, code, user="bob")
        self.assertEqual(p.returncode, 1)
        self.assertIn("someone else asked for this resend", p.stderr)
        p = w.run("resend", m1, code, check=True, user="alice")
        self.assertIn("resending the welcome mail to Mentor 01", p.stdout)
        self.assertIn("1 mails", p.stdout)
        self.assertEqual(w.fakes.state("mailgun")["sent"], sent + 1)
        p = w.run("sync", check=True)
        self.assertIn("0 mails", p.stdout)
        # a wrong code cancels; a late one is refused
        p = w.run("resend", m1, check=True, user="alice")
        code = p.stdout.split("resend %s " % m1)[1].split()[0]
        p = w.run("resend", m1, "%06d" % ((int(code) + 1) % 1000000),
                  user="alice")
        self.assertIn("wrong code, the resend is cancelled", p.stderr)
        p = w.run("resend", m1, code, user="alice")
        self.assertIn("no resend of Mentor 01 waits for a code", p.stderr)
        p = w.run("resend", m1, check=True, user="alice")
        code = p.stdout.split("resend %s " % m1)[1].split()[0]
        time.sleep(2.2)
        p = w.run("resend", m1, code, user="alice")
        self.assertEqual(p.returncode, 1)
        self.assertIn("the code expired (1 minute); run opsbot run "
                      "registrar resend %s again" % m1, p.stderr)
        self.assertEqual(w.fakes.state("mailgun")["sent"], sent + 1)

    def test_lookups(self):
        # two people called Ann, one of them on both sheets, and a name
        # with accents: every one can be reached
        w = self.world(students=0, mentors=0)
        sh = harness.STUDENT_HEADER
        w.fakes.admin("sheets", "sheet", {
            "id": harness.STUDENT_SHEET, "tab": harness.STUDENT_TAB,
            "rows": [sh,
                     ["t", "Ann", "ann@example.org", "T", "O"],
                     ["t", "Ann", "ann.b@example.org", "T", "O"],
                     ["t", "Émile Zola", "emile@example.org", "W", "O"]]})
        w.fakes.admin("sheets", "sheet", {
            "id": harness.MENTOR_SHEET, "tab": harness.MENTOR_TAB,
            "rows": [harness.MENTOR_HEADER,
                     ["t", "Ann", "ANN@example.org ", "O", "nova"]]})
        w.run("sync", check=True)
        ids = {(r["role"], r["email"]): r["id"] for r in w.ledger()}
        p = w.run("status", "ann")
        self.assertEqual(p.returncode, 1)
        self.assertIn("3 registrants match: Ann (student, #%d), Ann "
                      "(student, #%d), Ann (mentor, #%d); give the number "
                      "instead of the name" % (
                          ids["student", "ann@example.org"],
                          ids["student", "ann.b@example.org"],
                          ids["mentor", "ann@example.org"]), p.stderr)
        p = w.run("status", "Ann@Example.org")
        self.assertIn("2 registrants match", p.stderr)
        mentor = ids["mentor", "ann@example.org"]
        p = w.run("status", "#%d" % mentor, check=True)
        self.assertIn("Ann (#%d): mentor," % mentor, p.stdout)
        for who in ("émile", "EMILE ZOLA", "zola"):
            p = w.run("status", who, check=True)
            self.assertIn("Émile Zola (#%d): student" % ids[
                "student", "emile@example.org"], p.stdout)
        p = w.run("status", "Nobody Here")
        self.assertEqual(p.returncode, 1)
        self.assertEqual(p.stderr.strip(), 'no registrant matches "Nobody '
                         'Here"; try part of the name, the e-mail or '
                         'opsbot run registrar list')

    def test_faults_converge_exactly_once(self):
        w = self.world()
        f = w.fakes
        f.faults("trello", [
            {"method": "POST", "fault": "429", "times": 3},
            {"method": "POST", "fault": "429", "retry_after": 1, "times": 2},
            {"method": "POST", "fault": "500", "times": 2},
            {"method": "POST", "fault": "timeout_after", "hold": 8,
             "times": 2},
            {"method": "POST", "fault": "cut", "times": 2},
            {"method": "POST", "fault": "cut_after", "times": 2},
            {"method": "POST", "fault": "malformed", "times": 2},
            {"method": "POST", "fault": "timeout", "hold": 8, "times": 1},
            {"method": "GET", "fault": "500", "times": 1},
        ])
        f.faults("mailgun", [
            {"fault": "429", "times": 3},
            {"fault": "420", "retry_after": 1, "times": 1},
            {"fault": "500", "times": 3},
            {"fault": "cut", "times": 2},
            {"fault": "timeout", "hold": 8, "times": 1},
            {"fault": "cut_after", "times": 2},
            {"fault": "timeout_after", "hold": 8, "times": 1},
            {"fault": "malformed", "times": 1},
        ])
        f.faults("sheets", [
            {"method": "GET", "path": "values", "fault": "429",
             "retry_after": 1, "times": 1},
            {"method": "GET", "path": "values", "fault": "malformed",
             "times": 1},
            {"method": "POST", "path": "/token", "fault": "500",
             "times": 1},
            {"method": "POST", "path": "batchUpdate", "fault": "cut_after",
             "times": 1},
            {"method": "POST", "path": "batchUpdate", "fault": "429",
             "times": 1},
        ])
        for _ in range(6):
            p = w.run("sync")
            st = {r["progress"] for r in w.ledger()}
            if p.returncode == 0 and st <= {"done", "unknown"}:
                break
        unknown = w.check_exactly_once(self)
        # Unknown: every mail whose answer was lost after sending (the
        # cut and timeout faults, whether or not the fake acted first),
        # and nothing resent blindly.  A transport error of the host on a
        # closing connection may add one.
        fired = f.state("mailgun")["faults_fired"]
        lost = sum(fired.get(k, 0) for k in ("cut", "cut_after",
                                              "timeout", "timeout_after"))
        self.assertEqual(lost, 6)
        self.assertGreaterEqual(unknown, lost)
        self.assertLessEqual(unknown, lost + 2)
        p = w.run("list", "unknown", check=True)
        self.assertIn("registrant(s) unknown", p.stdout)
        # sync output names causes, never addresses
        self.assertNotIn("example.org", p.stdout + p.stderr)

    def test_kill_at_random_points(self):
        # 50 kills, each at a random point of a sync's own progress: after
        # the k-th request the services receive (k random, 1..12), plus a
        # random part of a call's latency, so a kill lands while a request
        # is out as often as between two.  A wall-clock point would miss
        # the later syncs, which have less to do.
        w = self.world(concurrency="3")
        for s in ("sheets", "trello", "mailgun"):
            w.fakes.latency(s, 40)
        rng = random.Random(1234)
        kills = spawns = 0
        while kills < 50 and spawns < 80:
            k, extra = rng.randint(1, 12), rng.uniform(0, 0.04)
            base = w.fakes.requests()
            proc = w.spawn("sync")
            spawns += 1
            harness.wait_for(lambda: proc.poll() is not None or
                             w.fakes.requests() >= base + k,
                             timeout=30, step=0.002)
            time.sleep(extra)
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
            proc.communicate()
        self.assertEqual(kills, 50, "only %d of %d syncs were still "
                         "running at their kill point" % (kills, spawns))
        for s in ("sheets", "trello", "mailgun"):
            w.fakes.latency(s, 0)
        for _ in range(3):
            p = w.run("sync")
            if {r["progress"] for r in w.ledger()} <= {"done", "unknown"}:
                break
        unknown = w.check_exactly_once(self)
        # every row is marked: so every registrant is done, or has its
        # mail visibly unknown (a mark whose answer a kill cut off counts)
        harness.assert_progress_follows_marks(self, w)
        self.assertLessEqual({r["progress"] for r in w.ledger()},
                             {"done", "unknown"})
        p = w.run("list", "unknown", check=True)
        if unknown:
            self.assertIn("%d registrant(s) unknown" % unknown, p.stdout)
        print("\nkill test: 50 kills in %d syncs, %d mails unknown" % (
            spawns, unknown), file=sys.stderr)

    def test_a_mark_whose_answer_was_lost_is_recorded(self):
        # Google applies the writes, then the connection is cut: the
        # cells hold "processed" but the sync never heard it.  The next
        # sync finds them in place and records them: done, not "mailed".
        w = self.world(students=10, mentors=2, max_attempts="2")
        # two batches (one per sheet), each tried twice
        w.fakes.faults("sheets", [{"method": "POST", "path": "batchUpdate",
                                   "fault": "cut_after", "times": 4}])
        w.run("sync")
        self.assertEqual({r["mark_state"] for r in w.ledger()}, {"pending"})
        writes = len(w.fakes.state("sheets")["writes"])
        p = w.run("sync", check=True)
        self.assertIn("0 marked", p.stdout)
        self.assertEqual(len(w.fakes.state("sheets")["writes"]), writes)
        self.assertEqual({r["progress"] for r in w.ledger()}, {"done"})
        harness.assert_progress_follows_marks(self, w)
        p = w.run("stats", check=True)
        self.assertIn("2 mentor done, 10 student done", p.stdout)
        w.check_exactly_once(self, allow_unknown=False)

    def test_sheet_text_is_cleaned_where_it_enters(self):
        # A name with CR/LF, IRC formatting and a direction override, and
        # a paragraph answer: chat, mail headers and card names get one
        # clean line; card descriptions and mail bodies keep the
        # paragraph's line breaks, and nothing else.
        w = self.world(students=3, mentors=0)
        w.mentors = 0
        evil = ("Eve\r\nPRIVMSG #registrar :INJECTED \x02bold\x02 "
                "\x0304red\x0f \x16rev\x1f \u202egnp.exe\u202c\x7f")
        row = harness.student_row(3)
        row[1] = evil
        row[5] = "ten years\r\nof \x1bC and\u2066 Python"
        w.fakes.admin("sheets", "append", {
            "id": harness.STUDENT_SHEET, "tab": harness.STUDENT_TAB,
            "rows": [row]})
        w.students = 4
        p = w.run("sync", check=True)
        bad = re.compile("[\x00-\x09\x0b-\x1f\x7f\u202a-\u202e"
                         "\u2066-\u2069]")
        one_line = re.compile("[\x00-\x1f\x7f\u202a-\u202e"
                              "\u2066-\u2069]")
        card = [c for c in w.fakes.state("trello")["cards"]
                if "INJECTED" in c["name"]][0]
        self.assertIsNone(one_line.search(card["name"]), card["name"])
        self.assertTrue(card["name"].startswith(
            "Eve PRIVMSG #registrar :INJECTED bold red rev gnp.exe,"),
            card["name"])
        self.assertIsNone(bad.search(card["desc"]), card["desc"])
        self.assertIn("Professional experience: ten years\nof C and "
                      "Python", card["desc"])
        msg = [m for m in w.fakes.state("mailgun")["messages"]
               if dict(m["fields"])["to"] == "student.003@example.org"][0]
        fields = dict(msg["fields"])
        for key in ("subject", "to", "from"):
            self.assertIsNone(one_line.search(fields[key]), fields[key])
        self.assertIn("INJECTED bold red", fields["subject"])
        self.assertIsNone(bad.search(fields["text"]), fields["text"])
        self.assertIsNone(bad.search(fields["html"]), fields["html"])
        led = [r for r in w.ledger() if "INJECTED" in r["name"]][0]
        self.assertIsNone(one_line.search(led["name"]), led["name"])
        # the shell's replies: no line of the reply starts anew
        for args in (("status", "#%d" % led["id"]), ("list",)):
            p = w.run(*args, check=True)
            for line in p.stdout.splitlines():
                self.assertFalse(line.startswith("PRIVMSG"), line)
                self.assertIsNone(bad.search(line), line)
            self.assertIn("Eve PRIVMSG #registrar :INJECTED", p.stdout)
        w.check_exactly_once(self, allow_unknown=False)

    def test_the_summary_is_one_line_newest_cause_first(self):
        w = self.world(students=5, mentors=2, max_attempts="2")
        # both sheets refused alike: Google's long message once
        w.fakes.faults("sheets", [{"method": "GET", "path": "values",
                                   "fault": "429", "times": 100}])
        p = w.run("sync")
        self.assertEqual(p.returncode, 1)
        lines = [ln for ln in p.stderr.splitlines()
                 if re.search("sync (done|cancelled) in", ln)]
        self.assertEqual(len(lines), 1, p.stderr)
        line = lines[0]
        self.assertLessEqual(len(line.encode()), 400, line)
        self.assertEqual(line.count("Quota exceeded"), 1, line)
        self.assertIn("Mentors", line)
        self.assertLess(line.index("Mentors"), line.index("Form Responses"))
        # an older error first, the real cause later: the later one
        # leads, the older follows if it fits, the rest is in the log
        w.fakes.faults("sheets", [{"method": "GET",
                                   "path": harness.MENTOR_SHEET,
                                   "fault": "429", "times": 100}])
        w.write_config({"trello_list": "Applicants 2026"})
        p = w.run("sync")
        lines = [ln for ln in p.stderr.splitlines()
                 if re.search("sync (done|cancelled) in", ln)]
        self.assertEqual(len(lines), 1, p.stderr)
        line = lines[0]
        self.assertLessEqual(len(line.encode()), 400, line)
        self.assertIn('trello: list "Applicants 2026" not found', line)
        self.assertLess(line.index("trello:"), line.index("sheets:")
                        if "sheets:" in line else len(line))

    def test_short_lived_tokens_are_not_fetched_per_call(self):
        # tokens living 120 s: renewed at 80 % of their life, not five
        # minutes early (which was before every call)
        w = self.world(students=100, mentors=20)
        w.fakes.admin("sheets", "setup", dict(w.sheets_setup,
                                              token_ttl=120))
        w.run("sync", check=True)
        self.assertEqual(w.fakes.state("sheets")["tokens_issued"], 1)

    def test_two_syncs_at_once(self):
        w = self.world(students=40, mentors=0, concurrency="2")
        for s in ("trello", "mailgun"):
            w.fakes.latency(s, 30)
        a = w.spawn("sync")
        time.sleep(0.3)
        b = w.run("sync")
        self.assertNotEqual(b.returncode, 0)
        self.assertIn("a sync is already running (pid %d" % a.pid, b.stderr)
        out, err = a.communicate(timeout=120)
        self.assertEqual(a.returncode, 0, err)
        w.mentors = 0
        w.check_exactly_once(self, allow_unknown=False)

    def test_long_retry_after_does_not_hold_the_sync(self):
        # Mailgun's 420 may ask for hours: the sync does not wait (it
        # would hold the lease); the mail stays pending for a later sync
        w = self.world(students=0, mentors=3, concurrency="1")
        w.fakes.faults("mailgun", [{"fault": "420", "retry_after": 3600,
                                    "times": 1}])
        t = time.monotonic()
        p = w.run("sync", timeout=60)
        self.assertLess(time.monotonic() - t, 10)
        self.assertEqual(p.returncode, 1)
        self.assertIn("paused for 3600 s, left for a later sync", p.stderr)
        self.assertIn("0 mails", p.stderr)
        self.assertEqual({r["mail_state"] for r in w.ledger()}, {"pending"})
        p = w.run("sync", check=True)
        self.assertIn("3 mails", p.stdout)
        w.check_exactly_once(self, allow_unknown=False)

    def test_a_sync_that_loses_its_lease_stops(self):
        # a sync that stalled past lease_ttl has lost its lease to
        # another process: it must start nothing more (two syncs at once
        # would process registrants twice)
        w = self.world(students=30, mentors=0, concurrency="1",
                       lease_ttl="3s")
        for s in ("trello", "mailgun"):
            w.fakes.latency(s, 100)
        a = w.spawn("sync")
        self.assertTrue(harness.wait_for(
            lambda: w.fakes.state("mailgun")["sent"] >= 2, 20))
        con = sqlite3.connect(w.db, timeout=10)
        with con:
            con.execute("UPDATE registrar_lease SET owner = 'other:1:x', "
                        "pid = 1, host = 'elsewhere', expires_at = "
                        "expires_at + 600000")
        con.close()
        t = time.monotonic()
        out, err = a.communicate(timeout=60)
        self.assertLess(time.monotonic() - t, 5)
        self.assertEqual(a.returncode, 1)
        self.assertIn("sync lease lost to another process; this sync "
                      "stopped", err)
        self.assertIn("sync cancelled", err)
        done = w.fakes.state("mailgun")["sent"]
        self.assertLess(done, 30)
        # the other process's lease holds until it expires
        p = w.run("sync")
        self.assertIn("a sync is already running (pid 1 on elsewhere)",
                      p.stderr)
        con = sqlite3.connect(w.db)
        with con:
            con.execute("DELETE FROM registrar_lease")
        con.close()
        for s in ("trello", "mailgun"):
            w.fakes.latency(s, 0)
        w.run("sync", check=True)
        w.mentors = 0
        w.check_exactly_once(self, allow_unknown=False)

    def test_list_not_found_names_the_cause(self):
        w = self.world(students=3, mentors=1, trello_list="Applicants 2026")
        p = w.run("sync")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn('trello: list "Applicants 2026" not found on board '
                      + harness.BOARD, p.stderr)
        # mentors still get their mail; students wait for the card
        led = {r["email"]: r for r in w.ledger()}
        self.assertEqual(led["mentor00@example.net"]["mail_state"], "sent")
        self.assertEqual(led["student.000@example.org"]["mail_state"],
                         "pending")
        self.assertIn("not found on board",
                      led["student.000@example.org"]["last_error"])
        self.assertEqual(w.fakes.state("trello")["created"], 0)
        # a wrong board id: the same, with its own cause
        w.write_config({"trello_board": "5f0000000000000000000bad"})
        p = w.run("sync")
        self.assertEqual(p.returncode, 1)
        self.assertIn('trello: board "5f0000000000000000000bad" not found '
                      '(400 invalid id); check [plugin.registrar] '
                      'trello_board', p.stderr)
        self.assertEqual({r["card_state"] for r in w.ledger()
                          if r["role"] == "student"}, {"pending"})
        # fixed: everything goes through, nobody needed a retry
        w.write_config({})
        w.run("sync", check=True)
        w.check_exactly_once(self, allow_unknown=False)

    def test_bad_credentials_name_the_cause(self):
        w = self.world(students=2, mentors=1)
        w.fakes.admin("trello", "setup", {"key": harness.TRELLO_KEY,
                                          "token": "other",
                                          "boards": {}})
        w.fakes.admin("mailgun", "setup", {"key": "other",
                                           "domains": [harness.DOMAIN]})
        p = w.run("sync")
        self.assertIn("trello: board lists: 401 invalid token; check "
                      "[plugin.registrar] trello_key and trello_token",
                      p.stderr)
        self.assertIn("mailgun: 401 Forbidden; check [plugin.registrar] "
                      "mailgun_key", p.stderr)
        w.assert_no_secret(self, p.stdout + p.stderr, "the output")
        # wrong credentials fail nobody: once they are right again, the
        # next sync does everything, without !reg retry
        self.assertEqual({r["progress"] for r in w.ledger()}, {"new"})
        w.fakes.admin("trello", "setup", {
            "key": harness.TRELLO_KEY, "token": harness.TRELLO_TOKEN,
            "boards": {harness.BOARD: ["Applicants"]}})
        w.fakes.admin("mailgun", "setup", {"key": harness.MAILGUN_KEY,
                                           "domains": [harness.DOMAIN]})
        w.run("sync", check=True)
        w.check_exactly_once(self, allow_unknown=False)

    def test_no_secret_in_output_even_at_debug(self):
        w = self.world(students=3, mentors=1)
        w.fakes.faults("trello", [{"method": "POST", "fault": "500",
                                   "times": 1},
                                  {"method": "GET", "fault": "cut",
                                   "times": 1}])
        w.fakes.faults("mailgun", [{"fault": "cut_after", "times": 1},
                                   {"fault": "429", "times": 1}])
        w.fakes.faults("sheets", [{"method": "POST", "path": "batchUpdate",
                                   "fault": "500", "times": 1}])
        out = ""
        for _ in range(2):
            p = subprocess.run([harness.OPSBOT, "-vv", "-c", w.config, "run",
                                "registrar", "sync"], capture_output=True,
                               text=True, timeout=120)
            out += p.stdout + p.stderr
            w.fakes.admin("sheets", "expire_tokens", {})
        for who in ("Student 000", "Mentor 00"):
            p = w.run("status", who)
            out += p.stdout + p.stderr
        self.assertIn("debug", out)
        self.assertGreaterEqual(len(w.fakes.state("sheets")["tokens"]), 1)
        w.assert_no_secret(self, out, "the output of opsbot -vv run")

    def test_moved_column_and_missing_column(self):
        w = self.world(students=4, mentors=1)
        w.run("sync", check=True)
        # the form grew a column before the status column
        f = w.fakes
        f.admin("sheets", "move_column", {"id": harness.STUDENT_SHEET,
                                          "tab": harness.STUDENT_TAB,
                                          "from": 7, "to": 2})
        f.admin("sheets", "append", {
            "id": harness.STUDENT_SHEET, "tab": harness.STUDENT_TAB,
            "rows": [["t", "Late Comer", "", "late@example.org", "T", "O"]]})
        p = w.run("sync", check=True)
        self.assertIn("1 new, 1 cards, 1 mails, 1 marked", p.stdout)
        rows = f.state("sheets")["sheets"][harness.STUDENT_SHEET][
            harness.STUDENT_TAB]
        self.assertEqual(rows[0][2], "upstream-registrar")
        self.assertEqual(rows[-1][2], "processed")
        # a sheet without the status column: clear error, no duplicate
        f.admin("sheets", "sheet", {"id": harness.MENTOR_SHEET,
                                    "tab": harness.MENTOR_TAB,
                                    "rows": [harness.MENTOR_HEADER[:-1],
                                             harness.mentor_row(0)[:-1],
                                             harness.mentor_row(7)[:-1]]})
        p = w.run("sync")
        self.assertIn('sheets: no column "upstream-registrar" in row 1 of '
                      'mentor sheet "Mentors"; add it', p.stderr)
        self.assertIn("1 new, 0 cards, 1 mails", p.stderr)

    def test_bad_sheets_name_the_cause_and_lose_nothing(self):
        w = self.world(students=0, mentors=0)
        f = w.fakes
        S, T = harness.STUDENT_SHEET, harness.STUDENT_TAB

        def sheet(rows, **kw):
            f.admin("sheets", "sheet", dict(id=S, tab=T, rows=rows, **kw))

        # only a header: nothing to do, not an error
        sheet([harness.STUDENT_HEADER])
        p = w.run("sync", check=True)
        self.assertIn("0 rows, 0 new", p.stdout)
        # no name column: the sheet waits (no "(no name)" registrants)
        sheet([["Timestamp", "Nom", "Email", "upstream-registrar"],
               ["t", "Zoé", "zoe@example.org"]])
        p = w.run("sync")
        self.assertEqual(p.returncode, 1)
        self.assertIn('sheets: no column "Name" in row 1 of student sheet '
                      '"Form Responses 1"; add it or set name_column',
                      p.stderr)
        self.assertEqual(w.ledger(), [])
        # no e-mail column likewise
        sheet([["Timestamp", "Name", "Courriel"], ["t", "Zoé", "z@x.org"]])
        p = w.run("sync")
        self.assertIn('no column "Email" in row 1 of student sheet "Form '
                      'Responses 1"; add it or set email_column', p.stderr)
        self.assertEqual(w.ledger(), [])
        # a form sent twice, with the address in other case and blanks:
        # one registrant, one card, one mail, both rows marked, a note
        H = harness.STUDENT_HEADER
        sheet([H, ["t1", "Zoé Ünal", "zoe@example.org", "T", "O"],
               ["t2", "Zoé Ünal", " ZOE@Example.org ", "T2", "O2"],
               ["t3", "Bob", "bob@example.org", "T", "O"]])
        p = w.run("sync", check=True)
        self.assertIn("3 rows, 2 new, 2 cards, 2 mails, 3 marked", p.stdout)
        self.assertIn('note: 1 row(s) of student sheet "Form Responses 1" '
                      'repeat an e-mail (row 3 repeats row 2); the later '
                      "row's answers are used", p.stdout)
        self.assertEqual(f.state("trello")["created"], 2)
        rows = f.state("sheets")["sheets"][S][T]
        self.assertEqual([r[7] for r in rows[1:]], ["processed"] * 3)
        card = [c for c in f.state("trello")["cards"]
                if c["name"].startswith("Zoé")][0]
        self.assertEqual(card["name"], "Zoé Ünal, T2 @ O2")
        # a malformed answer names the sheet, and loses nothing
        f.admin("sheets", "append", {"id": S, "tab": T, "rows": [
            ["t4", "Cem", "cem@example.org", "T", "O"]]})
        f.faults("sheets", [{"method": "GET", "path": "values",
                             "fault": "malformed", "times": 1}])
        p = w.run("sync")
        self.assertIn('sheets: student sheet "Form Responses 1" read: the '
                      'answer is not json; retried at the next sync',
                      p.stderr)
        p = w.run("sync", check=True)
        self.assertIn("1 new, 1 cards, 1 mails", p.stdout)

    def test_wrong_tab_and_timeouts_name_the_fix(self):
        w = self.world(students=1, mentors=0, http_timeout="1s",
                       max_attempts="2", sheet=[
                           "student %s Responses" % harness.STUDENT_SHEET])
        p = w.run("sync")
        self.assertIn("sheets: student sheet \"Responses\" read: 400 "
                      "Unable to parse range: 'Responses'; check the tab "
                      "name in [plugin.registrar] sheet", p.stderr)
        w.write_config({"http_timeout": "1s", "max_attempts": "2"})
        w.fakes.faults("trello", [{"method": "GET", "fault": "timeout",
                                   "hold": 3, "times": 2}])
        p = w.run("sync")
        self.assertRegex(p.stderr, r"trello: board lists: .*[Tt]imed? ?out"
                         r".*; retried at the next sync")
        p = w.run("sync", check=True)
        w.mentors = 0
        w.check_exactly_once(self, allow_unknown=False)

    def test_config_mistakes_name_the_key(self):
        w = self.world(students=1, mentors=1)
        latin1 = os.path.join(w.dir, "latin1.txt")
        with open(latin1, "wb") as fh:
            fh.write("Subject: Bienvenue\n\nCher étudiant\n".encode(
                "latin-1"))
        empty = os.path.join(w.dir, "empty.txt")
        with open(empty, "w") as fh:
            fh.write("Subject: Welcome {Name}\n\n  \n")
        nosubject = os.path.join(w.dir, "nosubject.txt")
        with open(nosubject, "w") as fh:
            fh.write("Hello {Name}\n")
        cases = [
            ({"mailgun_region": "mars"},
             '[plugin.registrar] mailgun_region: "mars" is neither us '
             'nor eu'),
            ({"sheet": ["teacher 1abc"]},
             '[plugin.registrar] sheet: "teacher 1abc": the role must be '
             'student or mentor'),
            ({"sheet": ["student"]},
             '[plugin.registrar] sheet: "student": no spreadsheet id'),
            ({"sheet": ["mentor 1x Tab", "mentor 1x Tab"]},
             '[plugin.registrar] sheet: "mentor 1x Tab" is configured '
             'twice'),
            ({"student_template": "/nonexistent/student.txt"},
             "[plugin.registrar] student_template: cannot read "
             "/nonexistent/student.txt: No such file or directory"),
            ({"student_template": latin1},
             "[plugin.registrar] student_template: %s is not UTF-8 text "
             "(byte 26); save it as UTF-8" % latin1),
            ({"mentor_template": nosubject},
             '[plugin.registrar] mentor_template: %s: the first line must '
             'be "Subject: ..."' % nosubject),
            ({"mentor_template": empty},
             "[plugin.registrar] mentor_template: %s: the text is empty; "
             "write the welcome mail" % empty),
            ({"mentor_template": None},
             "[plugin.registrar] mentor_template: mentor sheets need a "
             "mail template file"),
            ({"card_title": "{Name, {Title}"},
             '[plugin.registrar] card_title: unclosed "{" near "{Name, '
             '{Title}"'),
            ({"trello_board": None},
             "[plugin.registrar] trello_board: student sheets need "
             "trello_key, trello_token and trello_board"),
            ({"trello_url": "api.trello.com/1"},
             '[plugin.registrar] trello_url: "api.trello.com/1" is not an '
             'http:// or https:// URL'),
            ({"mentor": ["alice"]},
             '[plugin.registrar] mentor: "alice" is not ACCOUNT MENTOR '
             'NAME'),
            ({"mentor": ["alice Grace Hopper", "ALICE Ada"]},
             '[plugin.registrar] mentor: the account "ALICE" is mapped '
             'twice'),
        ]
        for extra, want in cases:
            w.write_config(extra)
            # a plugin that refuses its config cannot start: exit 2
            p = w.run("stats")
            self.assertEqual(p.returncode, 2, extra)
            self.assertIn(want, p.stderr, extra)
            # and --check-config finds the same mistake, without a db
            c = w.run_opsbot(["--check-config"])
            self.assertEqual(c.returncode, 2, extra)
            self.assertIn(want, c.stderr, extra)
        # what the host checks before any plugin code runs: required
        # keys, with the file, for --check-config too
        w.write_config({"mailgun_domain": None, "mailgun_key_file": None})
        p = subprocess.run([harness.OPSBOT, "-c", w.config,
                            "--check-config"], capture_output=True,
                           text=True)
        self.assertEqual(p.returncode, 2)
        self.assertIn("%s: [plugin.registrar] mailgun_domain: required"
                      % w.config, p.stderr)
        self.assertIn("%s: [plugin.registrar] mailgun_key: required"
                      % w.config, p.stderr)
        w.write_config({})
        w.run("stats", check=True)

    def test_empty_sheet_and_api_key(self):
        w = self.world(students=0, mentors=0)
        f = w.fakes
        f.admin("sheets", "sheet", {"id": harness.STUDENT_SHEET,
                                    "tab": harness.STUDENT_TAB, "rows": []})
        p = w.run("sync")
        self.assertIn('sheets: student sheet "Form Responses 1" is empty',
                      p.stderr)
        # API key for a public sheet: read only, so rows are not marked
        f.admin("sheets", "sheet", {"id": harness.STUDENT_SHEET,
                                    "tab": harness.STUDENT_TAB,
                                    "rows": [harness.STUDENT_HEADER,
                                             harness.student_row(1)],
                                    "public": True})
        f.admin("sheets", "sheet", {"id": harness.MENTOR_SHEET,
                                    "tab": harness.MENTOR_TAB,
                                    "rows": [harness.MENTOR_HEADER],
                                    "public": True})
        issued = f.state("sheets")["tokens_issued"]
        w.write_config({"google_key_file": "/dev/null",
                        "google_api_key": "AIzaPublicKey"})
        # google_key_file pointing at an empty file: use a config without
        with open(w.config) as fh:
            text = fh.read().replace("google_key_file = /dev/null\n", "")
        with open(w.config, "w") as fh:
            fh.write(text)
        p = w.run("sync")
        self.assertIn("sheets: an api key cannot write", p.stderr)
        self.assertIn("1 new, 1 cards, 1 mails, 0 marked", p.stderr)
        self.assertEqual(f.state("sheets")["tokens_issued"], issued)

    def test_template_error_waits_for_the_fix(self):
        # a template naming a column the sheet lacks is a configuration
        # mistake: the role's mails wait (pending, with the cause), the
        # other role is not held up, and fixing the file is enough
        w = self.world(students=1, mentors=2)
        with open(os.path.join(w.dir, "mentor.txt"), "w") as fh:
            fh.write("Subject: Hi {Nickname}\n\nHello\n")
        p = w.run("sync")
        self.assertEqual(p.returncode, 1)
        self.assertIn('mentor_template: no column "Nickname" in the sheet; '
                      'fix the template or the header row', p.stderr)
        self.assertIn("1 mails", p.stderr)
        p = w.run("list", "failed", check=True)
        self.assertIn("no registrants in failed", p.stdout)
        led = {r["email"]: r for r in w.ledger()}
        for m in ("mentor00@example.net", "mentor01@example.net"):
            self.assertEqual(led[m]["mail_state"], "pending")
            self.assertIn("mentor_template", led[m]["last_error"])
        self.assertEqual(w.fakes.state("mailgun")["sent"], 1)
        with open(os.path.join(w.dir, "mentor.txt"), "w") as fh:
            fh.write("Subject: Hi {Name}\n\nHello\n")
        p = w.run("sync", check=True)
        self.assertIn("2 mails", p.stdout)
        msgs = w.fakes.state("mailgun")["messages"]
        self.assertIn("Hi Mentor 01", [dict(m["fields"])["subject"]
                                       for m in msgs])
        w.check_exactly_once(self, allow_unknown=False)

    def test_config_refused_by_mailgun_waits_for_the_fix(self):
        # Mailgun refusing the configured cc is no registrant's fault:
        # nobody is marked failed, mails stop for the sync, and the next
        # sync after the fix sends them all
        w = self.world(students=0, mentors=6, mail_cc="organisers",
                       concurrency="2")
        p = w.run("sync")
        self.assertEqual(p.returncode, 1)
        self.assertIn("mailgun: 400 cc parameter is not a valid address. "
                      "please check documentation; check mail_from, "
                      "mail_cc and mail_reply_to", p.stderr)
        self.assertIn("0 failed", p.stderr)
        self.assertEqual({r["mail_state"] for r in w.ledger()}, {"pending"})
        # not every mail was tried: the service stopped at the first
        self.assertLessEqual(w.fakes.state("mailgun")["requests"], 2)
        w.write_config({})
        p = w.run("sync", check=True)
        self.assertIn("6 mails", p.stdout)
        w.check_exactly_once(self, allow_unknown=False)

    def test_refused_address_fails_that_registrant_only(self):
        w = self.world(students=0, mentors=3)
        w.fakes.admin("mailgun", "setup", {
            "key": harness.MAILGUN_KEY, "domains": [harness.DOMAIN],
            "refuse_to": ["mentor01@example.net"]})
        p = w.run("sync")
        self.assertEqual(p.returncode, 1)
        self.assertIn("mailgun: 400 to parameter is not a valid address. "
                      "please check documentation; check the registrant's "
                      "address, then !reg retry", p.stderr)
        self.assertIn("2 mails", p.stderr)
        self.assertIn("1 failed", p.stderr)
        p = w.run("list", "failed", check=True)
        self.assertIn("1 registrant(s) failed: Mentor 01", p.stdout)
        # a failed step is not tried again by the next sync
        before = w.fakes.state("mailgun")["requests"]
        w.run("sync")
        self.assertEqual(w.fakes.state("mailgun")["requests"], before)
        # until someone retries it
        w.fakes.admin("mailgun", "setup", {"key": harness.MAILGUN_KEY,
                                           "domains": [harness.DOMAIN]})
        p = w.run("retry", "Mentor 01", check=True)
        self.assertIn("1 mails", p.stdout)
        w.check_exactly_once(self, allow_unknown=False)

    def test_jwt_rejected_names_the_cause(self):
        w = self.world(students=1, mentors=0)
        other = harness.fakectl.make_service_account(
            os.path.join(w.dir, "x") if os.makedirs(
                os.path.join(w.dir, "x")) is None else w.dir,
            w.fakes.url("sheets") + "/token")
        w.write_config({"google_key_file": other[0]})
        p = w.run("sync")
        self.assertIn("google: token request failed: 400 Invalid JWT "
                      "Signature.; check the service-account key",
                      p.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)

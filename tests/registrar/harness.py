"""Test harness of the registrar plugin: fakes, a generated sheet, an
opsbot config pointing the plugin at the fakes, runs of
`opsbot run registrar ...`, and the invariants every test checks.

BUILD (environment) selects the build directory (default build)."""

import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "fakes"))
import fakectl  # noqa: E402

BUILD = os.path.join(ROOT, os.environ.get("BUILD", "build"))
OPSBOT = os.path.join(BUILD, "opsbot")

STUDENT_SHEET = "1StudentSheetId_abcdefghijklmnopqrstuv"
MENTOR_SHEET = "1MentorSheetId_abcdefghijklmnopqrstuvw"
STUDENT_TAB = "Form Responses 1"
MENTOR_TAB = "Mentors"
BOARD = "57f039fbc0f98772398d289d"
DOMAIN = "mg.example.org"
TRELLO_KEY = "trellokey0123456789abcdef0123456"
TRELLO_TOKEN = "ATTAtoken" + "x" * 67
MAILGUN_KEY = "key-0123456789abcdef0123456789abcdef"

STUDENT_HEADER = ["Timestamp", "Name", "Email", "Title", "Organization",
                  "Professional experience", "IRC nick",
                  "upstream-registrar"]
MENTOR_HEADER = ["Timestamp", "Name", "Email", "Organization", "Topics",
                 "upstream-registrar"]

STUDENT_TEMPLATE = """Subject: Welcome to OpenStack Upstream Training, {Name}!

Hello {Name},

thank you for registering for the Upstream Training session.
We will contact you at this address about your mentor.
"""
STUDENT_HTML = "<p>Hello {Name} of {Organization},</p><p>welcome!</p>\n"
MENTOR_TEMPLATE = """Subject: Welcome to OpenStack Upstream mentoring!

Hello {Name},

thank you for volunteering as a mentor ({Topics}).
"""


def student_row(i, ragged=False):
    row = ["2026-11-%02d 10:%02d:00" % (1 + i % 28, i % 60),
           "Student %03d" % i, "Student.%03d@Example.org" % i,
           "Engineer %d" % i, "Org %d" % (i % 7),
           "some years, \"quotes\" & <html>", "stud%d" % i, ""]
    if ragged:
        # trailing empty cells are left out by Sheets
        row = row[:5]
    return row


def mentor_row(i):
    return ["2026-11-%02d 09:00:00" % (1 + i % 28), "Mentor %02d" % i,
            "mentor%02d@example.net" % i, "Mentor Org", "nova, neutron", ""]


class World:
    """Fakes + key + config in a temporary directory."""

    def __init__(self, students=100, mentors=20, extra_config=None,
                 workdir=None, fakes_nice=0):
        self.dir = workdir or tempfile.mkdtemp(prefix="registrar-")
        os.makedirs(self.dir, exist_ok=True)
        self.fakes = fakectl.Fakes(self.dir, nice=fakes_nice)
        self.students = students
        self.mentors = mentors
        sheets = self.fakes.url("sheets")
        self.keyfile, pub, email = fakectl.make_service_account(
            self.dir, sheets + "/token")
        self.sheets_setup = {"client_email": email, "public_key_pem": pub,
                             "api_key": "AIzaPublicKey"}
        f = self.fakes
        f.admin("sheets", "setup", self.sheets_setup)
        f.admin("trello", "setup", {"key": TRELLO_KEY, "token": TRELLO_TOKEN,
                                    "boards": {BOARD: ["Inbox", "Applicants",
                                                       "Done"]}})
        f.admin("mailgun", "setup", {"key": MAILGUN_KEY,
                                     "domains": [DOMAIN]})
        self.set_rows(students, mentors)
        self.db = os.path.join(self.dir, "opsbot.db")
        self.write_config(extra_config or {})

    def set_rows(self, students, mentors):
        rows = [STUDENT_HEADER] + [student_row(i, ragged=i % 3 == 0)
                                   for i in range(students)]
        self.fakes.admin("sheets", "sheet", {"id": STUDENT_SHEET,
                                             "tab": STUDENT_TAB,
                                             "rows": rows})
        rows = [MENTOR_HEADER] + [mentor_row(i) for i in range(mentors)]
        self.fakes.admin("sheets", "sheet", {"id": MENTOR_SHEET,
                                             "tab": MENTOR_TAB,
                                             "rows": rows})

    def write_config(self, extra, irc=None, access=None, http=None):
        for name, text in (("student.txt", STUDENT_TEMPLATE),
                           ("student.html", STUDENT_HTML),
                           ("mentor.txt", MENTOR_TEMPLATE)):
            with open(os.path.join(self.dir, name), "w") as f:
                f.write(text)
        for name, text in (("trello.key", TRELLO_KEY),
                           ("mailgun.key", MAILGUN_KEY + "\n")):
            with open(os.path.join(self.dir, name), "w") as f:
                f.write(text)
            os.chmod(os.path.join(self.dir, name), 0o600)
        os.environ["REGISTRAR_TEST_TRELLO_TOKEN"] = TRELLO_TOKEN
        plugin = {
            "sheet": ["student %s %s" % (STUDENT_SHEET, STUDENT_TAB),
                      "mentor %s %s" % (MENTOR_SHEET, MENTOR_TAB)],
            "sheets_url": self.fakes.url("sheets") + "/v4/spreadsheets",
            "google_key_file": self.keyfile,
            "trello_url": self.fakes.url("trello") + "/1",
            "trello_key_file": os.path.join(self.dir, "trello.key"),
            "trello_token_env": "REGISTRAR_TEST_TRELLO_TOKEN",
            "trello_board": BOARD,
            "mailgun_url": self.fakes.url("mailgun") + "/v3",
            "mailgun_domain": DOMAIN,
            "mailgun_key_file": os.path.join(self.dir, "mailgun.key"),
            "mail_from": "Upstream Training <training@example.org>",
            "mail_cc": "organisers@example.org",
            "mail_reply_to": "mentors@example.org",
            "student_template": os.path.join(self.dir, "student.txt"),
            "student_template_html": os.path.join(self.dir, "student.html"),
            "mentor_template": os.path.join(self.dir, "mentor.txt"),
            "channel": "#organisers",
            "sync_interval": "0",
            "concurrency": "8",
            "http_timeout": "5s",
            "backoff_base": "100ms",
            "backoff_max": "2s",
            "trello_429_backoff": "300ms",
            "trello_rate_limit": "0",
            "sheets_rate_limit": "0",
            "lease_ttl": "10s",
        }
        plugin.update(extra)
        lines = []
        if irc:
            lines.append("[irc]")
            for k, v in irc.items():
                lines.append("%s = %s" % (k, v))
        lines += ["[bot]", "plugins = registrar",
                  "plugin_dir = " + os.path.join(BUILD, "plugins"),
                  "state = " + self.db]
        if http:
            lines.append("[http]")
            for k, v in http.items():
                lines.append("%s = %s" % (k, v))
        if access:
            lines.append("[access]")
            for g in access:
                lines.append("grant = " + g)
        lines.append("[plugin.registrar]")
        for k, v in plugin.items():
            if v is None:  # left out
                continue
            for item in (v if isinstance(v, list) else [v]):
                lines.append("%s = %s" % (k, item))
        self.config = os.path.join(self.dir, "opsbot.conf")
        with open(self.config, "w") as f:
            f.write("\n".join(lines) + "\n")

    def run(self, *args, timeout=300, check=False, user=None):
        """`opsbot -c CONF run registrar ARGS` (as USER user); returns the
        process."""
        env = dict(os.environ, USER=user) if user else None
        p = subprocess.run([OPSBOT, "-c", self.config, "run", "registrar"]
                           + list(args), capture_output=True, text=True,
                           timeout=timeout, env=env)
        if check and p.returncode != 0:
            raise AssertionError("opsbot run %s: exit %d\n%s\n%s" % (
                " ".join(args), p.returncode, p.stdout, p.stderr))
        return p

    def run_opsbot(self, args, timeout=60):
        """`opsbot -c CONF ARGS` (e.g. --check-config); returns the
        process."""
        return subprocess.run([OPSBOT, "-c", self.config] + list(args),
                              capture_output=True, text=True,
                              timeout=timeout)

    def spawn(self, *args):
        return subprocess.Popen([OPSBOT, "-c", self.config, "run",
                                 "registrar"] + list(args),
                                stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def ledger(self):
        con = sqlite3.connect(self.db)
        con.row_factory = sqlite3.Row
        rows = [dict(r) for r in con.execute(
            "SELECT r.*, p.progress FROM registrar_registrant r JOIN "
            "registrar_progress p ON p.id = r.id")]
        con.close()
        return rows

    def secrets(self):
        """Every secret the bot holds: the configured ones, the private
        key's lines, and the access tokens the fake token endpoint gave
        out.  None of them may appear in a log, a reply or argv."""
        with open(self.keyfile) as f:
            pem = json.load(f)["private_key"]
        out = [TRELLO_KEY, TRELLO_TOKEN, MAILGUN_KEY, "AIzaPublicKey"]
        out += [line for line in pem.splitlines()
                if line and "PRIVATE KEY" not in line]
        out += self.fakes.state("sheets")["tokens"]
        return out

    def assert_no_secret(self, tc, text, where):
        for secret in self.secrets():
            tc.assertNotIn(secret, text, "a secret in %s" % where)

    def stop(self):
        self.fakes.stop()

    # -- invariants --------------------------------------------------------

    def check_exactly_once(self, tc, allow_unknown=True, expect_all=True):
        """Exactly one card per student, one mail per registrant (or a
        visible unknown), every row marked."""
        st_t = self.fakes.state("trello")
        st_m = self.fakes.state("mailgun")
        st_s = self.fakes.state("sheets")
        ledger = {(r["role"], r["email"]): r for r in self.ledger()}
        cards = {}
        for c in st_t["cards"]:
            for line in c["desc"].splitlines():
                if line.startswith("opsbot-registrar-ref: "):
                    cards.setdefault(line.split(": ")[1], []).append(c)
        mails = {}
        for m in st_m["messages"]:
            to = [v for k, v in m["fields"] if k == "to"]
            tc.assertEqual(len(to), 1)
            mails.setdefault(to[0], []).append(m)
        tc.assertEqual(st_m["violations"], [])
        # cards
        for ref, cs in cards.items():
            tc.assertEqual(len(cs), 1, "duplicate card for %s" % ref)
        tc.assertEqual(len(st_t["cards"]), len(cards))
        unknown = 0
        for i in range(self.students):
            email = "student.%03d@example.org" % i
            r = ledger.get(("student", email))
            tc.assertIsNotNone(r, email)
            if expect_all:
                tc.assertEqual(r["card_state"], "done", r)
                tc.assertEqual(len(cards.get(r["marker"], [])), 1, r)
            got = len(mails.get(email, []))
            if r["mail_state"] == "unknown":
                tc.assertTrue(allow_unknown, r)
                tc.assertLessEqual(got, 1)
                unknown += 1
            elif expect_all:
                tc.assertEqual(r["mail_state"], "sent", r)
                tc.assertEqual(got, 1, email)
            else:
                tc.assertLessEqual(got, 1, email)
        for i in range(self.mentors):
            email = "mentor%02d@example.net" % i
            r = ledger.get(("mentor", email))
            tc.assertIsNotNone(r, email)
            got = len(mails.get(email, []))
            if r["mail_state"] == "unknown":
                tc.assertTrue(allow_unknown, r)
                tc.assertLessEqual(got, 1)
                unknown += 1
            elif expect_all:
                tc.assertEqual(r["mail_state"], "sent", r)
                tc.assertEqual(got, 1, email)
        if expect_all:
            tc.assertEqual(len(cards), self.students)
        if expect_all:
            for sid, tab in ((STUDENT_SHEET, STUDENT_TAB),
                             (MENTOR_SHEET, MENTOR_TAB)):
                rows = st_s["sheets"][sid][tab]
                col = rows[0].index("upstream-registrar")
                for n, row in enumerate(rows[1:], start=2):
                    value = row[col] if len(row) > col else ""
                    tc.assertIn(value, ("processed", "mail unknown"),
                                "row %d of %s not marked" % (n, tab))
        return unknown


def assert_progress_follows_marks(tc, world):
    """Every registrant whose rows are marked "processed" is done: a mark
    in the sheet that the ledger does not know would leave it at "mailed"
    for ever."""
    st = world.fakes.state("sheets")
    marked = set()
    for sid, tab in ((STUDENT_SHEET, STUDENT_TAB), (MENTOR_SHEET, MENTOR_TAB)):
        rows = st["sheets"][sid][tab]
        col = rows[0].index("upstream-registrar")
        email = rows[0].index("Email")
        for row in rows[1:]:
            if len(row) > col and row[col] == "processed":
                marked.add(row[email].strip().lower())
    for r in world.ledger():
        if r["email"] in marked:
            tc.assertEqual(r["progress"], "done", r)
            tc.assertEqual(r["mark_state"], "done", r)


def wait_for(pred, timeout=10.0, step=0.05):
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return True
        time.sleep(step)
    return pred()

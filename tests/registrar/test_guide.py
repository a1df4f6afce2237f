#!/usr/bin/env python3
"""The registrar's guide end to end: the real bot with its HTTP listener,
a real ngIRCd, the fakes (Sheets, Trello, Mailgun, Gerrit) and a real
headless chromium driven through chromedriver's W3C WebDriver API.

A student opens the link from their welcome mail, sees the steps, ticks
one, reloads and finds it kept, un-ticks it, reloads and finds it open
again; wrong and revoked tokens get a plain 404; a mentor's link from
chat shows their students ([plugin.registrar] mentor maps them to the
sheet's mentor name) and the whole class by a link, an expired or forged
one is refused; a step a mentor ticked or Gerrit verified has no un-tick
form; a name with <script> and entities is text; a change merged in
the fake Gerrit turns the step green and is announced once, also across
a restart.  Screenshots of each page are kept under $GUIDE_ARTEFACTS
(default: the test's temporary directory, out/).

Run: BUILD=build /usr/bin/python3 tests/registrar/test_guide.py"""

import hashlib
import hmac
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import webdriver  # noqa: E402
from ircclient import IrcClient  # noqa: E402
from test_chat import start_ngircd, KIT  # noqa: E402

CHANNEL = "#organisers"
HEADER = ["Timestamp", "Name", "Email", "Title", "Organization", "Class",
          "Mentor", "upstream-registrar"]
EVIL = "<script>alert(1)</script> Zoë &amp; \"Bob\" O'Neil"
STUDENTS = [
    ("Ada Lovelace", "ada@example.org", "Berlin 2026", "Grace"),
    ("Alan Turing", "alan@example.org", "Berlin 2026", "Grace"),
    (EVIL, "evil@example.org", "Berlin <2026>", "Linus & co"),
    ("Barbara Liskov", "barbara@example.org", "Berlin 2026", "Grace"),
]
TEMPLATE = """Subject: Welcome, {Name}!

Hello {Name},

your path to a first merged change: {GuideURL}
"""
STEP_IDS = ["foundation-account", "cla", "gerrit-account", "git-review",
            "first-change", "first-merge"]
GERRIT_USER, GERRIT_PW = "regbot", "gerrit-http-pw-0123456789"
TOKEN_URL = re.compile(r"http://127\.0\.0\.1:\d+/hooks/registrar/guide\?"
                       r"t=([A-Za-z0-9_-]{32})")


def http(url, data=None, headers=None):
    """(status, headers, body) of a request, without following
    redirects."""
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *a, **k):
            return None
    opener = urllib.request.build_opener(NoRedirect)
    req = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with opener.open(req, timeout=10) as res:
            return res.status, res.headers, res.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


@unittest.skipUnless(webdriver.available(),
                     "needs chromium and chromium-driver")
class GuideTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="registrar-guide-")
        cls.out = os.environ.get("GUIDE_ARTEFACTS",
                                 os.path.join(cls.tmp, "out"))
        os.makedirs(cls.out, exist_ok=True)
        cls.irc_dir = os.path.join(cls.tmp, "irc")
        host, port = start_ngircd(cls.irc_dir)
        cls.w = w = harness.World(students=0, mentors=1,
                                  workdir=os.path.join(cls.tmp, "world"))
        rows = [HEADER] + [["2026-11-01 10:00:00", n, e, "Engineer", "Org",
                            c, m, ""] for n, e, c, m in STUDENTS]
        w.fakes.admin("sheets", "sheet", {"id": harness.STUDENT_SHEET,
                                          "tab": harness.STUDENT_TAB,
                                          "rows": rows})
        w.fakes.admin("gerrit", "setup", {"users": {GERRIT_USER:
                                                    GERRIT_PW}})
        tpl = os.path.join(w.dir, "guide-student.txt")
        with open(tpl, "w") as f:
            f.write(TEMPLATE)
        pwfile = os.path.join(w.dir, "gerrit.pw")
        with open(pwfile, "w") as f:
            f.write(GERRIT_PW)
        os.chmod(pwfile, 0o600)
        cls.http_port = webdriver.free_port()
        cls.base = "http://127.0.0.1:%d" % cls.http_port
        w.write_config(
            {"student_template": tpl, "student_template_html": None,
             "guide_url": cls.base, "gerrit_url": w.fakes.url("gerrit"),
             "gerrit_username": GERRIT_USER,
             "gerrit_password_file": pwfile,
             "gerrit_poll_interval": "1s", "guide_channel": CHANNEL,
             "mentor": ["nick:mentor Grace"]},
            irc={"server": host, "port": str(port), "nick": "regbot",
                 "channels": CHANNEL, "flood_control": "false"},
            access=["mask organiser!*@* registrar.admin registrar.view",
                    "mask mentor!*@* registrar.view registrar.mentor"],
            http={"listen": "127.0.0.1:%d" % cls.http_port})
        cls.host, cls.port = host, port
        cls.logs = []
        cls.start_bot()
        cls.org = IrcClient(host, port, "organiser")
        cls.mentor = IrcClient(host, port, "mentor")
        cls.stranger = IrcClient(host, port, "stranger")
        for c in (cls.org, cls.mentor, cls.stranger):
            # the browser keeps them idle for longer than the client's
            # connect timeout, which would end its reader
            c.sock.settimeout(None)
            c.join(CHANNEL)
        cls.wait_ready()
        n = cls.org.mark()
        cls.org.say(CHANNEL, "!reg sync")
        if not cls.org.wait(lambda ln: ln[0] == "regbot" and
                            "sync done" in ln[3], 60, n):
            raise RuntimeError("no sync; see %s" % cls.tmp)
        cls.tokens = {}
        for m in w.fakes.state("mailgun")["messages"]:
            f = dict(m["fields"])
            found = TOKEN_URL.search(f.get("text", ""))
            if found:
                cls.tokens[f["to"]] = found.group(0)
        cls.browser = webdriver.Browser(cls.tmp)

    @classmethod
    def start_bot(cls):
        path = os.path.join(cls.tmp, "bot%d.log" % len(cls.logs))
        cls.logs.append(path)
        cls.botlog = open(path, "w")
        # -v: debug lines, where a logged URL would show
        cls.bot = subprocess.Popen([harness.OPSBOT, "-v", "-c",
                                    cls.w.config],
                                   stdout=subprocess.DEVNULL,
                                   stderr=cls.botlog)
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                if http(cls.base + "/healthz")[0] == 200:
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("no listener; see " + path)

    @classmethod
    def stop_bot(cls):
        cls.bot.terminate()
        try:
            cls.bot.wait(15)
        except subprocess.TimeoutExpired:
            cls.bot.kill()
        cls.botlog.close()

    @classmethod
    def wait_ready(cls):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            n = cls.org.mark()
            cls.org.say(CHANNEL, "!ping")
            if cls.org.wait(lambda ln: ln[0] == "regbot" and
                            ln[3].endswith("pong"), 1.0, n):
                return
        raise RuntimeError("bot did not join")

    @classmethod
    def tearDownClass(cls):
        cls.browser.close()
        for c in (cls.org, cls.mentor, cls.stranger):
            c.close()
        cls.stop_bot()
        cls.w.stop()
        subprocess.run([os.path.join(KIT, "ngircd-stop"), cls.irc_dir],
                       capture_output=True)
        # tokens and signatures are never logged
        for path in cls.logs:
            with open(path) as f:
                log = f.read()
            if "Sanitizer" in log:
                raise AssertionError("sanitizer report in " + path)
            for url in cls.tokens.values():
                if url.split("t=")[1] in log:
                    raise AssertionError("a token in " + path)
            if "&s=" in log or GERRIT_PW in log:
                raise AssertionError("a signature or password in " + path)
        print("artefacts: " + cls.out)

    # -- helpers -----------------------------------------------------------

    def shot(self, name):
        self.browser.screenshot(os.path.join(self.out, name + ".png"))

    def chat(self, client, text, pred, timeout=10):
        n = client.mark()
        client.say(CHANNEL, text)
        return client.wait(lambda ln: ln[0] == "regbot" and pred(ln),
                           timeout, n)

    def mentor_link(self):
        ln = self.chat(self.mentor, "!reg guide",
                       lambda ln: "/hooks/registrar/class?" in ln[3])
        self.assertIsNotNone(ln)
        self.assertEqual(ln[2], "mentor")  # in private only
        return re.search(r"http://\S+", ln[3]).group(0)

    def key(self):
        """The plugin's signing key, from the host's state table."""
        con = sqlite3.connect(self.w.db)
        try:
            row = con.execute("SELECT value FROM host_state WHERE plugin ="
                              " 'registrar' AND key = 'guide_key'").fetchone()
        finally:
            con.close()
        self.assertIsNotNone(row)
        return bytes(row[0])

    def sign(self, who, exp):
        msg = b"class\0" + who.encode() + b"\0" + str(exp).encode() + b"\0"
        return hmac.new(self.key(), msg, hashlib.sha256).hexdigest()

    # -- the student's page ----------------------------------------------

    def test_1_student_opens_ticks_reloads(self):
        url = self.tokens["ada@example.org"]
        b = self.browser
        b.get(url)
        self.assertEqual(b.text(b.find("h1")), "Ada Lovelace")
        steps = b.find_all("ol > li")
        self.assertEqual([b.attribute(s, "id") for s in steps],
                         ["step-" + i for i in STEP_IDS])
        self.assertIn("Class: Berlin 2026", b.body_text())
        self.assertIn("Mentor: Grace", b.body_text())
        self.shot("student-before")
        li = b.find("#step-cla")
        self.assertEqual(b.attribute(li, "class"), "todo")
        b.click(b.find("#step-cla button"))
        # post/redirect/get: back on the page, the step done
        li = b.find("#step-cla")
        self.assertEqual(b.attribute(li, "class"), "done")
        self.assertIn("done", b.text(b.find("#step-cla .state")))
        self.assertIsNone(b.find("#step-cla button[name=tick]"))
        self.assertIsNotNone(b.find("#step-cla button[name=untick]"))
        b.refresh()
        self.assertEqual(b.attribute(b.find("#step-cla"), "class"), "done")
        # green, from the page's own style (the CSP let it apply)
        self.assertEqual(b.css(b.find("#step-cla h2"), "color"),
                         "rgba(26, 127, 55, 1)")
        self.assertIn("1 of 6 steps done", b.body_text())
        self.shot("student-after-tick")
        # Gerrit steps have no button: they turn green by themselves
        self.assertIsNone(b.find("#step-first-merge button"))
        # chat sees the same
        ln = self.chat(self.mentor, "!reg progress ada",
                       lambda ln: "Ada Lovelace" in ln[3])
        self.assertIn("1/6 steps", ln[3])
        self.assertIn("cla done", ln[3])

    def test_1b_student_unticks_and_reloads(self):
        url = self.tokens["ada@example.org"]
        b = self.browser
        b.get(url)
        self.assertEqual(b.attribute(b.find("#step-cla"), "class"), "done")
        # ticked by Ada herself: an un-tick form, with the page's token
        button = b.find("#step-cla button[name=untick]")
        self.assertIsNotNone(button)
        self.assertEqual(len(b.find_all("#step-cla input[name=csrf]")), 1)
        self.shot("student-before-untick")
        b.click(button)
        self.assertEqual(b.attribute(b.find("#step-cla"), "class"), "todo")
        b.refresh()
        self.assertEqual(b.attribute(b.find("#step-cla"), "class"), "todo")
        self.assertIn("0 of 6 steps done", b.body_text())
        self.assertIsNotNone(b.find("#step-cla button[name=tick]"))
        self.assertIsNone(b.find("#step-cla button[name=untick]"))
        self.shot("student-after-untick")
        # the same CSRF protection as ticking: a stale token is refused
        status, _, body = http(
            self.base + "/hooks/registrar/guide",
            urllib.parse.urlencode({"t": url.split("t=")[1],
                                    "step": "cla", "csrf": "0" * 64,
                                    "untick": "1"}).encode())
        self.assertEqual(status, 403)
        # Gerrit steps cannot be un-ticked by a forged form either
        b.click(b.find("#step-cla button[name=tick]"))
        self.assertEqual(b.attribute(b.find("#step-cla"), "class"), "done")
        csrf = b.attribute(b.find("#step-cla input[name=csrf]"), "value")
        status, _, body = http(
            self.base + "/hooks/registrar/guide",
            urllib.parse.urlencode({"t": url.split("t=")[1],
                                    "step": "first-merge", "csrf": csrf,
                                    "untick": "1"}).encode())
        self.assertEqual(status, 400)
        self.assertIn("cannot be un-ticked", body)
        ln = self.chat(self.mentor, "!reg progress ada",
                       lambda ln: "Ada Lovelace" in ln[3])
        self.assertIn("cla done", ln[3])

    def test_2_wrong_and_revoked_tokens(self):
        b = self.browser
        for bad in ("A" * 32, "short", self.tokens["alan@example.org"]
                    [:-1] + "x", ""):
            status, _, body = http(self.base +
                                   "/hooks/registrar/guide?t=" + bad)
            self.assertEqual((status, body), (404, "Not Found"))
        b.get(self.base + "/hooks/registrar/guide?t=" + "B" * 32)
        self.assertEqual(b.body_text(), "Not Found")
        self.shot("wrong-token")
        url = self.tokens["alan@example.org"]
        self.assertEqual(http(url)[0], 200)
        ln = self.chat(self.org, "!reg revoke alan",
                       lambda ln: "--yes" in ln[3] or "confirm" in ln[3])
        self.assertIsNotNone(ln)
        ln = self.chat(self.org, "!reg revoke alan --yes",
                       lambda ln: "revoked" in ln[3])
        self.assertIsNotNone(ln)
        status, _, body = http(url)
        self.assertEqual((status, body), (404, "Not Found"))
        self.assertNotIn("Alan", body)
        b.get(url)
        self.assertEqual(b.body_text(), "Not Found")
        self.shot("revoked-token")
        # a new link works; the stranger cannot ask for one
        ln = self.chat(self.stranger, "!reg link alan",
                       lambda ln: True)
        self.assertNotIn("hooks/registrar", ln[3])
        ln = self.chat(self.org, "!reg link alan",
                       lambda ln: "/hooks/registrar/guide?t=" in ln[3])
        self.assertEqual(ln[2], "organiser")
        new = TOKEN_URL.search(ln[3]).group(0)
        self.assertEqual(http(new)[0], 200)
        self.tokens["alan@example.org"] = new

    def test_3_csrf_and_headers(self):
        url = self.tokens["barbara@example.org"]
        token = url.split("t=")[1]
        status, headers, body = http(url)
        self.assertEqual(status, 200)
        csp = headers["Content-Security-Policy"]
        self.assertIn("default-src 'none'", csp)
        self.assertIn("form-action 'self'", csp)
        self.assertNotIn("unsafe-inline", csp)
        self.assertEqual(headers["X-Robots-Tag"], "noindex, nofollow")
        self.assertEqual(headers["Referrer-Policy"], "same-origin")
        self.assertEqual(headers["Cache-Control"], "no-store")
        self.assertIn('name="robots" content="noindex', body)
        self.assertNotIn("<script", body)
        self.assertNotRegex(body, r'(src|href)="(https?:)?//[^"]*\.(css|js)')
        csrf = re.search(r'name="csrf" value="([0-9a-f]{64})"',
                         body).group(1)
        target = self.base + "/hooks/registrar/guide"

        def post(fields, headers=None):
            return http(target, urllib.parse.urlencode(fields).encode(),
                        dict({"Content-Type":
                              "application/x-www-form-urlencoded"},
                             **(headers or {})))

        # no per-page token, another's, from another site: refused
        self.assertEqual(post({"t": token, "step": "cla"})[0], 403)
        self.assertEqual(post({"t": token, "step": "cla",
                               "csrf": "0" * 64})[0], 403)
        self.assertEqual(post({"t": token, "step": "cla", "csrf": csrf},
                              {"Origin": "https://evil.example"})[0], 403)
        self.assertEqual(post({"t": token, "step": "cla", "csrf": csrf},
                              {"Sec-Fetch-Site": "cross-site"})[0], 403)
        # a Gerrit step cannot be ticked by hand; a bad token is 404
        self.assertEqual(post({"t": token, "step": "first-merge",
                               "csrf": csrf})[0], 400)
        self.assertEqual(post({"t": "C" * 32, "step": "cla",
                               "csrf": csrf})[0], 404)
        self.assertNotIn("cla done", self.chat(
            self.mentor, "!reg progress barbara",
            lambda ln: "Barbara" in ln[3])[3])
        status, headers, _ = post({"t": token, "step": "cla", "csrf": csrf},
                                  {"Origin": self.base})
        self.assertEqual(status, 303)
        self.assertTrue(headers["Location"].startswith("guide?t=" + token))

    def test_4_name_with_script_is_text(self):
        b = self.browser
        b.get(self.tokens["evil@example.org"])
        self.assertEqual(b.text(b.find("h1")), EVIL)
        self.assertIn("Class: Berlin <2026>", b.body_text())
        self.assertIn("Mentor: Linus & co", b.body_text())
        # no element came from the name, nothing ran
        self.assertEqual(b.find_all("script"), [])
        self.assertIn("&lt;script&gt;alert(1)&lt;/script&gt;", b.source())
        self.shot("student-script-name")

    def test_5_mentor_page(self):
        url = self.mentor_link()
        b = self.browser
        b.get(url)
        # their students by default, the filter said on the page
        self.assertEqual(b.text(b.find("h1")), "Your students")
        self.assertIn("Mentor: Grace; 3 of the class's 4 students",
                      b.text(b.find(".filter")))
        names = [b.text(e) for e in b.find_all("tbody td:first-child")]
        self.assertEqual(sorted(names), sorted(s[0] for s in STUDENTS
                                               if s[3] == "Grace"))
        self.assertEqual(b.find_all("script"), [])
        self.shot("mentor-own-students")
        # the whole class by the link
        b.click(b.find("#whole-class"))
        self.assertIn("all=1", b.url())
        self.assertEqual(b.text(b.find("h1")), "The class")
        self.assertIn("Only your students (Grace)",
                      b.text(b.find(".filter")))
        names = [b.text(e) for e in b.find_all("tbody td:first-child")]
        self.assertEqual(sorted(names), sorted(s[0] for s in STUDENTS))
        self.assertIn(EVIL, names)  # escaped, shown as text
        self.assertEqual(b.find_all("script"), [])
        self.shot("mentor-class")
        # sortable without JavaScript: a link per column (the whole
        # class still)
        b.click(b.find("th:nth-child(4) a"))
        self.assertIn("sort=done", b.url())
        self.assertIn("all=1", b.url())
        self.assertEqual(len(b.find_all("tbody tr")), len(STUDENTS))
        first = b.text(b.find("tbody tr:first-child td:first-child"))
        self.assertIn(first, ("Ada Lovelace", "Barbara Liskov"))
        self.shot("mentor-class-by-done")
        # a registrant's page from there, read only
        b.click(b.find("tbody tr:first-child td:first-child a"))
        self.assertEqual(b.text(b.find("h1")), first)
        self.assertIsNone(b.find("form"))
        # a stranger gets no link
        ln = self.chat(self.stranger, "!reg guide", lambda ln: True)
        self.assertNotIn("hooks/registrar", ln[3])
        # forged and expired links are refused, with no data
        q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
        later = str(int(q["e"]) + 3600)
        forged = url.replace("e=" + q["e"], "e=" + later)
        status, _, body = http(forged)
        self.assertEqual((status, body), (404, "Not Found"))
        past = int(time.time()) - 60
        expired = "%s/hooks/registrar/class?m=%s&e=%d&s=%s" % (
            self.base, urllib.parse.quote(q["m"], safe=""), past,
            self.sign(q["m"], past))
        status, _, body = http(expired)
        self.assertEqual(status, 403)
        self.assertIn("expired", body)
        self.assertNotIn("Ada", body)
        b.get(expired)
        self.assertIn("expired", b.body_text())
        self.shot("mentor-expired")
        # the same key signs a link that is still valid: the test's
        # signing is right, so the refusal above is the expiry's
        fresh = int(time.time()) + 600
        ok = "%s/hooks/registrar/class?m=%s&e=%d&s=%s" % (
            self.base, urllib.parse.quote(q["m"], safe=""), fresh,
            self.sign(q["m"], fresh))
        self.assertEqual(http(ok)[0], 200)

    def test_6_chat_done_and_stuck(self):
        ln = self.chat(self.mentor, "!reg done ada git-review",
                       lambda ln: "git-review" in ln[3])
        self.assertIn("Ada Lovelace: git-review done", ln[3])
        ln = self.chat(self.mentor, "!reg done ada git-review",
                       lambda ln: "git-review" in ln[3])
        self.assertIn("already done", ln[3])
        ln = self.chat(self.mentor, "!reg done ada nosuch",
                       lambda ln: "nosuch" in ln[3])
        self.assertIn("the steps are foundation-account", ln[3])
        ln = self.chat(self.stranger, "!reg done ada cla", lambda ln: True)
        self.assertIn("permission denied", ln[3])
        b = self.browser
        b.get(self.tokens["ada@example.org"])
        self.assertEqual(b.attribute(b.find("#step-git-review"), "class"),
                         "done")
        # a mentor's tick: no un-tick form for Ada, and the page says why
        self.assertIsNone(b.find("#step-git-review form"))
        self.assertIn("ticked by your mentor",
                      b.text(b.find("#step-git-review .nountick")))
        self.shot("student-mentor-ticked")
        ln = self.chat(self.mentor, "!reg undo ada git-review",
                       lambda ln: "git-review" in ln[3])
        self.assertIn("Ada Lovelace: git-review is to do again", ln[3])
        b.refresh()
        self.assertEqual(b.attribute(b.find("#step-git-review"), "class"),
                         "todo")
        ln = self.chat(self.mentor, "!reg done ada git-review",
                       lambda ln: "git-review" in ln[3])
        self.assertIn("Ada Lovelace: git-review done", ln[3])
        ln = self.chat(self.mentor, "!reg stuck", lambda ln: True)
        self.assertIn("nobody is stuck", ln[3])

    def test_7_gerrit_merge_turns_green_and_is_announced_once(self):
        f = self.w.fakes
        acc = f.admin("gerrit", "account", {"email": "Ada@Example.org",
                                            "name": "Ada"})
        ch = f.admin("gerrit", "change", {"owner": acc["_account_id"],
                                          "project": "openstack/nova"})
        b = self.browser
        url = self.tokens["ada@example.org"]

        def state(step):
            b.get(url)
            return b.attribute(b.find("#step-" + step), "class")

        self.assertTrue(harness.wait_for(
            lambda: state("first-change") == "done", 20, 0.5))
        self.assertEqual(state("gerrit-account"), "done")
        # verified by Gerrit: no un-tick form, and the page says so
        self.assertIsNone(b.find("#step-first-change form"))
        self.assertIn("verified by Gerrit",
                      b.text(b.find("#step-first-change .nountick")))
        self.shot("student-gerrit-verified")
        self.assertEqual(state("first-merge"), "todo")
        # an outage: the round ends, the next one goes on
        f.faults("gerrit", [{"path": "^/a/changes/", "fault": "500",
                             "times": 8}])
        n = self.org.mark()
        f.admin("gerrit", "merge", {"_number": ch["_number"]})
        self.assertTrue(harness.wait_for(
            lambda: state("first-merge") == "done", 60, 0.5))
        self.assertEqual(b.css(b.find("#step-first-merge h2"), "color"),
                         "rgba(26, 127, 55, 1)")
        self.shot("student-merged")
        ann = self.org.wait(lambda ln: ln[0] == "regbot" and
                            "milestone" in ln[3], 10, n)
        self.assertIsNotNone(ann)
        self.assertEqual(ann[2].lower(), CHANNEL)
        self.assertIn("Ada Lovelace's first change in openstack/nova is "
                      "merged", ann[3])
        # the queries went to /a/ with the HTTP password, gently
        queries = f.state("gerrit")["queries"]
        self.assertIn(["/accounts/", "email:ada@example.org"], queries)
        # once, also across a restart
        self.__class__.stop_bot()
        self.__class__.start_bot()
        self.__class__.wait_ready()
        f.admin("gerrit", "change", {"owner": acc["_account_id"],
                                     "project": "openstack/neutron",
                                     "status": "MERGED"})
        time.sleep(4)  # several rounds at gerrit_poll_interval 1s
        lines = [ln for ln in self.org.since(n)
                 if ln[0] == "regbot" and "milestone" in ln[3]]
        self.assertEqual(len(lines), 1, lines)
        self.assertEqual(state("first-merge"), "done")

    def test_8_gerrit_refuses_credentials(self):
        f = self.w.fakes
        f.admin("gerrit", "setup", {"users": {GERRIT_USER: "changed"}})
        f.admin("gerrit", "account", {"email": "barbara@example.org"})
        n = len(f.state("gerrit")["queries"])
        time.sleep(3)
        # 401 answers: nothing recorded, one line per round in the log
        self.assertEqual(len(f.state("gerrit")["queries"]), n)
        b = self.browser
        b.get(self.tokens["barbara@example.org"])
        self.assertEqual(b.attribute(b.find("#step-gerrit-account"),
                                     "class"), "todo")
        with open(self.logs[-1]) as fh:
            self.assertIn("check gerrit_username and gerrit_password",
                          fh.read())
        f.admin("gerrit", "setup", {"users": {GERRIT_USER: GERRIT_PW}})
        self.assertTrue(harness.wait_for(lambda: (
            b.get(self.tokens["barbara@example.org"]) or
            b.attribute(b.find("#step-gerrit-account"), "class")) ==
            "done", 20, 0.5))


if __name__ == "__main__":
    unittest.main(verbosity=2)

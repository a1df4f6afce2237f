"""A minimal W3C WebDriver client over Python's standard library: starts
Debian's chromedriver on a free loopback port and drives a headless
chromium (no pip packages).  Only what the guide's tests need: open a
URL, find elements by CSS selector, click, read text, the page source,
refresh, screenshots."""

import base64
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")


def available():
    return os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class WebDriverError(Exception):
    pass


class Browser:
    def __init__(self, workdir, width=412, height=915):
        self.port = free_port()
        self.profile = tempfile.mkdtemp(prefix="chromium-", dir=workdir)
        self.log = open(os.path.join(workdir, "chromedriver.log"), "w")
        self.proc = subprocess.Popen(
            [CHROMEDRIVER, "--port=%d" % self.port],
            stdout=self.log, stderr=subprocess.STDOUT)
        self.base = "http://127.0.0.1:%d" % self.port
        deadline = time.time() + 20
        while True:
            try:
                if self._call("GET", "/status")["ready"]:
                    break
            except (OSError, WebDriverError):
                pass
            if time.time() > deadline or self.proc.poll() is not None:
                self.close()
                raise RuntimeError("chromedriver did not start")
            time.sleep(0.1)
        caps = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--no-first-run",
                         "--user-data-dir=" + self.profile,
                         "--window-size=%d,%d" % (width, height)]}}}}
        self.session = self._call("POST", "/session", caps)["sessionId"]

    def _call(self, method, path, data=None):
        body = None if data is None else json.dumps(data).encode()
        req = urllib.request.Request(
            self.base + path, data=body, method=method,
            headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as res:
                out = json.load(res)
        except urllib.error.HTTPError as e:
            out = json.load(e)
            raise WebDriverError("%s %s: %s" % (method, path,
                                                out.get("value")))
        return out.get("value")

    def _s(self, method, path, data=None):
        return self._call(method, "/session/%s%s" % (self.session, path),
                          data)

    def get(self, url):
        self._s("POST", "/url", {"url": url})

    def refresh(self):
        self._s("POST", "/refresh", {})

    def url(self):
        return self._s("GET", "/url")

    def title(self):
        return self._s("GET", "/title")

    def source(self):
        return self._s("GET", "/source")

    def find(self, css):
        """The element id of the first match, or None."""
        found = self._s("POST", "/elements",
                        {"using": "css selector", "value": css})
        if not found:
            return None
        return list(found[0].values())[0]

    def find_all(self, css):
        return [list(e.values())[0] for e in self._s(
            "POST", "/elements", {"using": "css selector", "value": css})]

    def text(self, element):
        return self._s("GET", "/element/%s/text" % element)

    def attribute(self, element, name):
        return self._s("GET", "/element/%s/attribute/%s" % (element, name))

    def css(self, element, prop):
        return self._s("GET", "/element/%s/css/%s" % (element, prop))

    def click(self, element, timeout=15):
        """Clicks a link or a form's button and waits for the page it
        leads to: chromedriver may return while a POST and its redirect
        are still under way, with no document to search."""
        old = self.find("html")
        self._s("POST", "/element/%s/click" % element, {})
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                now = self.find("html")
                if now and now != old and self.execute(
                        "return document.readyState") == "complete":
                    return
            except WebDriverError:
                pass  # between two documents
            time.sleep(0.05)
        raise WebDriverError("no new page %d s after the click" % timeout)

    def body_text(self):
        return self.text(self.find("body"))

    def execute(self, script, args=None):
        return self._s("POST", "/execute/sync",
                       {"script": script, "args": args or []})

    def screenshot(self, path):
        png = base64.b64decode(self._s("GET", "/screenshot"))
        with open(path, "wb") as f:
            f.write(png)
        return path

    def close(self):
        try:
            if getattr(self, "session", None):
                self._s("DELETE", "")
        except (OSError, WebDriverError):
            pass
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.profile, ignore_errors=True)

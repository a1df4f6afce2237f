#!/usr/bin/env python3
"""Fake Mailgun sending API, after shared/reference/api-contracts.md
section 3.

  POST /v3/{domain}/messages   urlencoded or multipart/form-data

Auth: HTTP Basic "api:<key>"; otherwise 401 text/plain "Forbidden" with
WWW-Authenticate.  Unknown domain: 404 {"message": "Domain not found: X"}.
Missing from/to/subject or text+html: 400 {"message": ...}.  Success:
{"id": "<...@domain>", "message": "Queued. Thank you."}.

Admin (besides fakecommon's):
  POST /_admin/setup {"key": ..., "domains": [...], "refuse_to": [...]}
      refuse_to: addresses answered 400 "to parameter is not a valid
      address" (what Mailgun says of an address it cannot use)
State: {"messages": [{"id", "domain", "fields": [[name, value], ...]}],
        "sent": n, "violations": [...]}
"""

import base64
import secrets
import sys
import time

import fakecommon


class MailgunServer(fakecommon.FakeServer):
    def __init__(self, port=0):
        super().__init__("mailgun", MailgunHandler, port)
        self.key = None
        self.domains = []
        self.refuse_to = []
        self.service_reset({})

    def service_reset(self, data):
        with self.state.lock:
            self.messages = []
            self.violations = []

    def service_state(self):
        return {"messages": self.messages, "sent": len(self.messages),
                "violations": self.violations}

    def service_admin(self, what, data):
        if what == "setup":
            with self.state.lock:
                self.key = data.get("key")
                self.domains = data.get("domains", [])
                self.refuse_to = data.get("refuse_to", [])
            return 200, {"ok": True}
        return 404, {"error": "admin: unknown endpoint " + what}


class MailgunHandler(fakecommon.FakeHandler):
    def rate_limited(self, code):
        if code == 420:
            return code, {}, {"message": "Domain is not allowed to send: "
                              "recipient limit exceeded, try again after "
                              "Mon, 25 Aug 2025 07:00:31 UTC"}
        return code, {}, {"message": "Too many requests"}

    def authorised(self):
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(auth[6:]).decode() \
                .partition(":")
        except ValueError:
            return False
        return user == "api" and password == self.server.key

    def service(self, method, path, query, body):
        srv = self.server
        if not self.authorised():
            return 401, {"Content-Type": "text/plain; charset=utf-8",
                         "Www-Authenticate": 'Basic realm="MG API"'}, \
                "Forbidden"
        parts = path.strip("/").split("/")
        if len(parts) != 3 or parts[0] != "v3" or parts[2] != "messages" \
                or method != "POST":
            return 404, {}, {"message": "Invalid URL"}
        domain = parts[1]
        if domain not in srv.domains:
            return 404, {}, {"message": "Domain not found: " + domain}
        try:
            fields = fakecommon.form_fields(
                body, self.headers.get("Content-Type"))
        except ValueError:
            fields = None
        if fields is None:
            return 400, {}, {"message": "unsupported content type"}
        names = [n for n, _ in fields]
        for need in ("from", "to", "subject"):
            if need not in names:
                return 400, {}, {"message": "%s parameter is missing" % need}
        if "text" not in names and "html" not in names:
            return 400, {}, {"message": "Need at least one of 'text' or "
                             "'html' parameters specified"}
        for n, v in fields:
            if n == "to" and v in srv.refuse_to or \
                    n in ("to", "cc", "from") and "@" not in v:
                return 400, {}, {"message": "%s parameter is not a valid "
                                 "address. please check documentation" % n}
        with srv.state.lock:
            if names.count("o:tag") > 3:
                srv.violations.append("more than 3 o:tag")
            mid = "<%s.%s@%s>" % (time.strftime("%Y%m%d%H%M%S"),
                                  secrets.token_hex(4), domain)
            srv.messages.append({"id": mid, "domain": domain,
                                 "fields": [list(f) for f in fields]})
        return 200, {}, {"id": mid, "message": "Queued. Thank you."}


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    portfile = sys.argv[2] if len(sys.argv) > 2 else None
    fakecommon.serve([MailgunServer(port)], portfile)


if __name__ == "__main__":
    main()

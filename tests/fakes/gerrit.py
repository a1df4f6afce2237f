#!/usr/bin/env python3
"""Fake Gerrit REST API, the part the registrar's guide uses (Gerrit's
REST documentation: rest-api.html, rest-api-accounts.html,
rest-api-changes.html):

  GET [/a]/accounts/?q=email:ADDR[&n=N]          [{"_account_id": N, ...}]
  GET [/a]/changes/?q=owner:N[+status:merged][&n=N]
                                                 [{"id", "project", ...}]

Every JSON answer starts with the ")]}'" line Gerrit puts before it
against cross-site script inclusion.  /a/... needs HTTP Basic auth (an
HTTP password): otherwise 401 "Unauthorized".  With "require_auth", the
anonymous endpoints answer 401 too (a server that allows no anonymous
reads; an account query anonymous users may not run).  An unknown
endpoint is 404 "Not found"; a query Gerrit cannot parse is 400.
Query terms are separated by blanks ('+' in the URL); known: email:,
owner:, status:(open|merged|abandoned).  Faults come from fakecommon
(429, 500, timeout, cut, ...).

Admin (besides fakecommon's):
  POST /_admin/setup   {"users": {"name": "http-password"},
                        "require_auth": false}
  POST /_admin/account {"email": ..., "name": ...}  -> {"_account_id": N}
  POST /_admin/change  {"owner": N, "project": ..., "subject": ...,
                        "status": "NEW"}            -> {"_number": n}
  POST /_admin/merge   {"_number": n}
State: {"accounts": [...], "changes": [...], "queries": [[path, q], ...]}
"""

import base64
import sys

import fakecommon

PREFIX = ")]}'\n"


class GerritServer(fakecommon.FakeServer):
    def __init__(self, port=0):
        super().__init__("gerrit", GerritHandler, port)
        self.users = {}
        self.require_auth = False
        self.service_reset({})

    def service_reset(self, data):
        with self.state.lock:
            self.accounts = []
            self.changes = []
            self.queries = []

    def service_state(self):
        return {"accounts": self.accounts, "changes": self.changes,
                "queries": self.queries}

    def service_admin(self, what, data):
        with self.state.lock:
            if what == "setup":
                self.users = data.get("users", {})
                self.require_auth = bool(data.get("require_auth"))
                return 200, {"ok": True}
            if what == "account":
                acc = {"_account_id": 1000000 + len(self.accounts),
                       "name": data.get("name", ""),
                       "email": data["email"],
                       "username": data.get("username", "")}
                self.accounts.append(acc)
                return 200, acc
            if what == "change":
                n = len(self.changes) + 1
                ch = {"id": "%s~master~I%040x" % (data["project"].replace(
                          "/", "%2F"), n),
                      "project": data["project"], "branch": "master",
                      "change_id": "I%040x" % n,
                      "subject": data.get("subject", "Fix a typo"),
                      "status": data.get("status", "NEW"),
                      "_number": n,
                      "owner": {"_account_id": int(data["owner"])}}
                self.changes.append(ch)
                return 200, ch
            if what == "merge":
                for ch in self.changes:
                    if ch["_number"] == int(data["_number"]):
                        ch["status"] = "MERGED"
                        return 200, ch
                return 404, {"error": "no such change"}
        return 404, {"error": "admin: unknown endpoint " + what}


class GerritHandler(fakecommon.FakeHandler):
    def rate_limited(self, code):
        return code, {"Content-Type": "text/plain; charset=UTF-8"}, \
            "Too many requests"

    def user(self):
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("Basic "):
            return None
        try:
            name, _, pw = base64.b64decode(auth[6:]).decode().partition(":")
        except ValueError:
            return None
        return name if self.server.users.get(name) == pw else None

    def text(self, code, text):
        return code, {"Content-Type": "text/plain; charset=UTF-8"}, text

    def json(self, data):
        import json
        return 200, {"Content-Type": "application/json; charset=UTF-8"}, \
            PREFIX + json.dumps(data, indent=2)

    def service(self, method, path, query, body):
        srv = self.server
        authed = path.startswith("/a/")
        if authed:
            path = path[2:]
            if self.user() is None:
                return self.text(401, "Unauthorized")
        elif srv.require_auth:
            return self.text(401, "Unauthorized")
        if method != "GET" or path not in ("/accounts/", "/changes/"):
            return self.text(404, "Not found")
        q = query.get("q", [""])[0]
        limit = int(query.get("n", ["500"])[0] or 500)
        terms = q.split()
        with srv.state.lock:
            srv.queries.append([path, q])
            if path == "/accounts/":
                if len(terms) != 1 or not terms[0].startswith("email:"):
                    return self.text(400, "unsupported query: " + q)
                email = terms[0][6:].lower()
                out = [{"_account_id": a["_account_id"]}
                       for a in srv.accounts if a["email"].lower() == email]
                return self.json(out[:limit])
            owner = status = None
            for t in terms:
                if t.startswith("owner:"):
                    owner = t[6:]
                elif t.startswith("status:") and t[7:] in (
                        "open", "merged", "abandoned"):
                    status = {"open": "NEW"}.get(t[7:], t[7:].upper())
                else:
                    return self.text(400, "unsupported query: " + q)
            if owner is None or not owner.isdigit():
                return self.text(400, "unsupported query: " + q)
            out = [c for c in srv.changes
                   if c["owner"]["_account_id"] == int(owner) and
                   (status is None or c["status"] == status)]
            return self.json(out[:limit])


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    portfile = sys.argv[2] if len(sys.argv) > 2 else None
    fakecommon.serve([GerritServer(port)], portfile)


if __name__ == "__main__":
    main()

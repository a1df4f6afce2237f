#!/usr/bin/env python3
"""Self-test of the fakes: they follow the contracts the plugin is written
against (api-contracts.md sections 1-3) and inject the faults they claim.
Run: python3 tests/fakes/test_fakes.py"""

import base64
import http.client
import json
import os
import socket
import sys
import tempfile
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fakectl  # noqa: E402

from cryptography.hazmat.primitives import hashes, serialization  # noqa
from cryptography.hazmat.primitives.asymmetric import padding  # noqa


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def request(port, method, path, body=None, headers=None, timeout=10):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    conn.request(method, path, body=body, headers=headers or {})
    res = conn.getresponse()
    data = res.read()
    conn.close()
    return res.status, dict(res.getheaders()), data


class FakesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="fakes-")
        cls.f = fakectl.Fakes(cls.dir)
        cls.token_uri = cls.f.url("sheets") + "/token"
        cls.keypath, pub, cls.email = fakectl.make_service_account(
            cls.dir, cls.token_uri)
        with open(cls.keypath) as f:
            cls.key = json.load(f)
        cls.f.admin("sheets", "setup", {"client_email": cls.email,
                                        "public_key_pem": pub,
                                        "api_key": "AIzaPUBLIC"})
        cls.f.admin("trello", "setup", {"key": "K", "token": "T",
                                        "boards": {"B1": ["Applicants",
                                                          "Done"]}})
        cls.f.admin("mailgun", "setup", {"key": "MGKEY",
                                         "domains": ["mg.example.org"]})

    @classmethod
    def tearDownClass(cls):
        cls.f.stop()

    def setUp(self):
        for s in ("sheets", "trello", "mailgun"):
            self.f.faults(s, [])
            self.f.latency(s, 0)

    # -- sheets ----------------------------------------------------------

    def jwt(self, **over):
        now = int(time.time())
        claims = {"iss": self.email,
                  "scope": "https://www.googleapis.com/auth/spreadsheets",
                  "aud": self.token_uri, "iat": now, "exp": now + 3600}
        claims.update(over)
        head = b64url(json.dumps({"alg": "RS256", "typ": "JWT"}).encode())
        body = b64url(json.dumps(claims).encode())
        key = serialization.load_pem_private_key(
            self.key["private_key"].encode(), None)
        sig = key.sign((head + "." + body).encode(), padding.PKCS1v15(),
                       hashes.SHA256())
        return head + "." + body + "." + b64url(sig)

    def token(self, assertion=None):
        form = urllib.parse.urlencode({
            "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
            "assertion": assertion or self.jwt()})
        return request(self.f.port["sheets"], "POST", "/token", form,
                       {"Content-Type":
                        "application/x-www-form-urlencoded"})

    def test_token_ok_and_bad_signature(self):
        code, _, body = self.token()
        self.assertEqual(code, 200)
        out = json.loads(body)
        self.assertEqual(out["token_type"], "Bearer")
        self.assertEqual(out["expires_in"], 3599)
        bad = self.jwt()
        bad = bad[:-4] + ("AAAA" if not bad.endswith("AAAA") else "BBBB")
        code, _, body = self.token(bad)
        self.assertEqual(code, 400)
        self.assertEqual(json.loads(body)["error_description"],
                         "Invalid JWT Signature.")
        code, _, body = self.token(self.jwt(exp=int(time.time()) + 7200))
        self.assertEqual(code, 400)
        self.assertIn("short-lived", json.loads(body)["error_description"])

    def test_values_ragged_empty_and_write(self):
        self.f.admin("sheets", "sheet", {"id": "S1", "tab": "Form 1",
                                         "rows": [["Name", "Email", "x"],
                                                  ["A", "a@x", ""],
                                                  ["", "", ""]]})
        tok = json.loads(self.token()[2])["access_token"]
        auth = {"Authorization": "Bearer " + tok}
        path = "/v4/spreadsheets/S1/values/" + urllib.parse.quote(
            "'Form 1'", safe="")
        code, _, body = request(self.f.port["sheets"], "GET", path,
                                headers=auth)
        self.assertEqual(code, 200)
        out = json.loads(body)
        self.assertEqual(out["values"], [["Name", "Email", "x"],
                                         ["A", "a@x"]])
        self.assertEqual(out["range"], "'Form 1'!A1:Z1000")
        code, _, body = request(self.f.port["sheets"], "GET", path +
                                urllib.parse.quote("!D5", safe=""),
                                headers=auth)
        self.assertNotIn("values", json.loads(body))
        wpath = "/v4/spreadsheets/S1/values/" + urllib.parse.quote(
            "'Form 1'!C2", safe="")
        code, _, body = request(self.f.port["sheets"], "PUT", wpath,
                                json.dumps({"values": [["done"]]}), auth)
        self.assertEqual(code, 400)
        self.assertIn("valueInputOption", body.decode())
        code, _, body = request(self.f.port["sheets"], "PUT",
                                wpath + "?valueInputOption=RAW",
                                json.dumps({"values": [["done"]]}), auth)
        self.assertEqual(code, 200)
        self.assertEqual(json.loads(body)["updatedRange"], "'Form 1'!C2")
        code, _, body = request(
            self.f.port["sheets"], "POST",
            "/v4/spreadsheets/S1/values:batchUpdate",
            json.dumps({"valueInputOption": "RAW",
                        "data": [{"range": "'Form 1'!C3",
                                  "values": [["done"]]}]}), auth)
        self.assertEqual(code, 200)
        self.assertEqual(json.loads(body)["totalUpdatedCells"], 1)

    def test_sheets_auth(self):
        self.f.admin("sheets", "sheet", {"id": "PUB", "rows": [["a"]],
                                         "public": True})
        self.f.admin("sheets", "sheet", {"id": "PRIV", "rows": [["a"]]})
        code, _, _ = request(self.f.port["sheets"], "GET",
                             "/v4/spreadsheets/PUB/values/Sheet1?key="
                             "AIzaPUBLIC")
        self.assertEqual(code, 200)
        code, _, body = request(self.f.port["sheets"], "GET",
                                "/v4/spreadsheets/PRIV/values/Sheet1?key="
                                "AIzaPUBLIC")
        self.assertEqual(code, 403)
        self.assertEqual(json.loads(body)["error"]["status"],
                         "PERMISSION_DENIED")
        code, _, body = request(self.f.port["sheets"], "GET",
                                "/v4/spreadsheets/PRIV/values/Sheet1",
                                headers={"Authorization": "Bearer nope"})
        self.assertEqual(code, 401)
        tok = json.loads(self.token()[2])["access_token"]
        code, _, body = request(self.f.port["sheets"], "GET",
                                "/v4/spreadsheets/NOPE/values/Sheet1",
                                headers={"Authorization": "Bearer " + tok})
        self.assertEqual(code, 404)

    # -- trello ----------------------------------------------------------

    def test_trello(self):
        port = self.f.port["trello"]
        code, hdrs, body = request(port, "GET", "/1/boards/B1/lists?key=K")
        self.assertEqual((code, body), (401, b"invalid token"))
        self.assertTrue(hdrs["Content-Type"].startswith("text/plain"))
        code, _, body = request(port, "GET",
                                "/1/boards/B1/lists?key=K&token=T")
        lists = json.loads(body)
        lid = [x["id"] for x in lists if x["name"] == "Applicants"][0]
        form = urllib.parse.urlencode({"idList": lid, "name": "A, B @ C",
                                       "desc": "x\n\nref: 1"})
        code, _, body = request(port, "POST", "/1/cards?key=K&token=T",
                                form, {"Content-Type":
                                       "application/x-www-form-urlencoded"})
        self.assertEqual(code, 200)
        card = json.loads(body)
        self.assertEqual(len(card["id"]), 24)
        self.assertTrue(card["shortUrl"].startswith("https://trello.com/c/"))
        code, _, body = request(port, "GET", "/1/lists/%s/cards?key=K&"
                                "token=T&fields=desc,shortUrl" % lid)
        cards = json.loads(body)
        self.assertEqual(set(cards[-1]), {"id", "desc", "shortUrl"})
        code, _, body = request(port, "POST", "/1/cards?key=K&token=T&"
                                "idList=nope&name=x")
        self.assertEqual((code, body), (400, b"invalid value for idList"))

    # -- mailgun ---------------------------------------------------------

    def test_mailgun(self):
        port = self.f.port["mailgun"]
        good = "Basic " + base64.b64encode(b"api:MGKEY").decode()
        form = urllib.parse.urlencode([("from", "a@x"), ("to", "b@y"),
                                       ("subject", "hi"), ("text", "t")])
        ctype = {"Content-Type": "application/x-www-form-urlencoded"}
        code, hdrs, body = request(port, "POST",
                                   "/v3/mg.example.org/messages", form,
                                   dict(ctype, Authorization="Basic eA=="))
        self.assertEqual((code, body), (401, b"Forbidden"))
        self.assertIn("Www-Authenticate", hdrs)
        code, _, body = request(port, "POST", "/v3/other.org/messages",
                                form, dict(ctype, Authorization=good))
        self.assertEqual(json.loads(body)["message"],
                         "Domain not found: other.org")
        code, _, body = request(port, "POST",
                                "/v3/mg.example.org/messages", form,
                                dict(ctype, Authorization=good))
        self.assertEqual(code, 200)
        out = json.loads(body)
        self.assertTrue(out["id"].startswith("<"))
        self.assertEqual(out["message"], "Queued. Thank you.")
        mp = (b"--XX\r\nContent-Disposition: form-data; name=\"from\"\r\n\r\n"
              b"a@x\r\n--XX\r\nContent-Disposition: form-data; name=\"to\""
              b"\r\n\r\nb@y\r\n--XX\r\nContent-Disposition: form-data; "
              b"name=\"subject\"\r\n\r\nhi\r\n--XX\r\nContent-Disposition: "
              b"form-data; name=\"text\"\r\n\r\nbody\r\n--XX--\r\n")
        code, _, body = request(port, "POST", "/v3/mg.example.org/messages",
                                mp, {"Content-Type":
                                     "multipart/form-data; boundary=XX",
                                     "Authorization": good})
        self.assertEqual(code, 200, body)
        msgs = self.f.state("mailgun")["messages"]
        self.assertIn(["text", "body"], msgs[-1]["fields"])

    # -- faults ----------------------------------------------------------

    def test_gerrit(self):
        port = self.f.port["gerrit"]
        self.f.admin("gerrit", "reset", {})
        self.f.admin("gerrit", "setup", {"users": {"bot": "pw"}})
        acc = self.f.admin("gerrit", "account", {"email": "Ann@Example.org"})
        ch = self.f.admin("gerrit", "change", {
            "owner": acc["_account_id"], "project": "openstack/nova"})
        auth = {"Authorization": "Basic " +
                base64.b64encode(b"bot:pw").decode()}

        def get(path, headers=None):
            code, hdrs, body = request(port, "GET", path, headers=headers)
            return code, hdrs, body.decode()

        # JSON behind the ")]}'" line; /a/ needs the HTTP password
        code, hdrs, body = get("/a/accounts/?q=email:ann%40example.org&n=1",
                               auth)
        self.assertEqual(code, 200)
        self.assertTrue(body.startswith(")]}'\n"))
        self.assertEqual(json.loads(body[5:]),
                         [{"_account_id": acc["_account_id"]}])
        self.assertEqual(get("/a/accounts/?q=email:x%40y")[0], 401)
        self.assertEqual(get("/a/accounts/?q=email:x%40y", {
            "Authorization": "Basic " + base64.b64encode(b"bot:no")
            .decode()})[0], 401)
        q = "/changes/?q=owner:%d+status:merged" % acc["_account_id"]
        self.assertEqual(json.loads(get(q)[2][5:]), [])
        self.f.admin("gerrit", "merge", {"_number": ch["_number"]})
        got = json.loads(get(q)[2][5:])
        self.assertEqual([c["project"] for c in got], ["openstack/nova"])
        self.assertEqual(got[0]["status"], "MERGED")
        self.assertEqual(get("/changes/?q=owner:x")[0], 400)
        self.assertEqual(get("/projects/")[0], 404)
        self.f.admin("gerrit", "setup", {"users": {"bot": "pw"},
                                         "require_auth": True})
        self.assertEqual(get(q)[0], 401)
        self.f.faults("gerrit", [{"path": "/changes/", "fault": "500",
                                  "times": 1}])
        self.assertEqual(get("/a" + q, auth)[0], 500)
        self.assertEqual(get("/a" + q, auth)[0], 200)
        self.f.faults("gerrit", [])

    def test_faults(self):
        port = self.f.port["trello"]
        self.f.faults("trello", [{"path": "lists$", "fault": "429",
                                  "retry_after": 3, "times": 1},
                                 {"path": "lists$", "fault": "429",
                                  "times": 1},
                                 {"path": "lists$", "fault": "malformed",
                                  "times": 1},
                                 {"path": "lists$", "fault": "cut",
                                  "times": 1},
                                 {"path": "lists$", "fault": "timeout",
                                  "hold": 3, "times": 1}])
        url = "/1/boards/B1/lists?key=K&token=T"
        code, hdrs, body = request(port, "GET", url)
        self.assertEqual((code, hdrs.get("Retry-After")), (429, "3"))
        self.assertEqual(json.loads(body)["error"],
                         "API_TOKEN_LIMIT_EXCEEDED")
        code, hdrs, _ = request(port, "GET", url)
        self.assertEqual(code, 429)
        self.assertNotIn("Retry-After", hdrs)
        code, _, body = request(port, "GET", url)
        self.assertRaises(ValueError, json.loads, body)
        self.assertRaises((http.client.HTTPException, ConnectionError),
                          request, port, "GET", url)
        self.assertRaises(socket.timeout, request, port, "GET", url,
                          timeout=0.5)
        code, _, _ = request(port, "GET", url)
        self.assertEqual(code, 200)

    def test_latency(self):
        self.f.latency("mailgun", 200)
        t = time.monotonic()
        request(self.f.port["mailgun"], "POST", "/v3/x/messages", "")
        self.assertGreaterEqual(time.monotonic() - t, 0.2)


if __name__ == "__main__":
    unittest.main(verbosity=1)

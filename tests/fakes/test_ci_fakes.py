#!/usr/bin/env python3
"""Self-test of the Jenkins and Zuul fakes: they follow the contracts the
ci plugin is written against (api-contracts.md sections 4 and 5) and
inject the faults they claim.  Run: python3 tests/fakes/test_ci_fakes.py"""

import base64
import http.client
import json
import os
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))


def request(port, method, path, body=None, headers=None, auth=None):
    headers = dict(headers or {})
    if auth:
        headers["Authorization"] = "Basic " + base64.b64encode(
            auth.encode()).decode()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request(method, path, body=body, headers=headers)
    res = conn.getresponse()
    data = res.read()
    conn.close()
    return res.status, {k.lower(): v for k, v in res.getheaders()}, data


class CiFakesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="ci-fakes-")
        portfile = os.path.join(cls.dir, "ports")
        cls.proc = subprocess.Popen([sys.executable,
                                     os.path.join(HERE, "ci_fakes.py"),
                                     portfile], stdout=subprocess.DEVNULL)
        end = time.time() + 20
        while not os.path.exists(portfile) and time.time() < end:
            time.sleep(0.05)
        with open(portfile) as f:
            ports = dict(line.split("=") for line in f.read().split())
        cls.j = int(ports["JENKINS_PORT"])
        cls.j2 = int(ports["JENKINS2_PORT"])
        cls.z = int(ports["ZUUL_PORT"])

    @classmethod
    def tearDownClass(cls):
        cls.proc.terminate()
        cls.proc.wait(10)

    def admin(self, port, what, data):
        st, _, body = request(port, "POST", "/_admin/" + what,
                              json.dumps(data))
        self.assertEqual(st, 200, body)
        return json.loads(body)

    def test_jenkins_contract(self):
        p = self.j
        self.admin(p, "reset", {})
        self.admin(p, "setup", {"user": "u", "token": "T", "jobs": {
            "team/app": {"params": ["K"], "sequence": ["SUCCESS",
                                                       "FAILURE"]},
            "off": {"disabled": True}, "plain": {}}})
        self.admin(p, "advance", {"job": "team/app", "n": 2})
        tree = urllib.parse.quote("jobs[name,color,jobs[name,color,"
                                  "lastCompletedBuild[number,result]]]")
        st, _, body = request(p, "GET", "/api/json?tree=" + tree,
                              auth="u:T")
        self.assertEqual(st, 200)
        doc = json.loads(body)
        team = [j for j in doc["jobs"] if j["name"] == "team"][0]
        app = team["jobs"][0]
        # tree honoured: only what was asked (and _class)
        self.assertEqual(set(app), {"_class", "name", "color",
                                    "lastCompletedBuild"})
        self.assertEqual(app["lastCompletedBuild"]["result"], "FAILURE")
        self.assertEqual(app["color"], "red")
        # auth
        self.assertEqual(request(p, "GET", "/api/json", auth="u:bad")[0],
                         401)
        self.assertEqual(request(p, "GET", "/api/json")[0], 403)
        # triggers: 201 + Location, 303 same params, 409, 404, 500
        st, h, _ = request(p, "POST", "/job/team/job/app/buildWithParameters",
                           "K=1", {"Content-Type":
                                   "application/x-www-form-urlencoded"},
                           auth="u:T")
        self.assertEqual(st, 201)
        self.assertRegex(h["location"], r"/queue/item/\d+/$")
        st2, h2, _ = request(p, "POST",
                             "/job/team/job/app/buildWithParameters", "K=1",
                             {"Content-Type":
                              "application/x-www-form-urlencoded"},
                             auth="u:T")
        self.assertEqual((st2, h2["location"]), (303, h["location"]))
        self.assertEqual(request(p, "POST", "/job/off/build",
                                 auth="u:T")[0], 409)
        self.assertEqual(request(p, "POST", "/job/nope/build",
                                 auth="u:T")[0], 404)
        st, h, body = request(p, "POST", "/job/plain/buildWithParameters",
                              "x=1", auth="u:T")
        self.assertEqual(st, 500)
        self.assertIn(b"not parameterized", body)
        self.assertTrue(h["content-type"].startswith("text/html"))
        # queue item: waiting, then left with the build, then the build
        qpath = urllib.parse.urlsplit(h2["location"]).path + "api/json"
        item = json.loads(request(p, "GET", qpath, auth="u:T")[2])
        self.assertIn("WaitingItem", item["_class"])
        item = json.loads(request(p, "GET", qpath, auth="u:T")[2])
        self.assertIn("LeftItem", item["_class"])
        number = item["executable"]["number"]
        b = json.loads(request(p, "GET", "/job/team/job/app/%d/api/json"
                               % number, auth="u:T")[2])
        self.assertIn(b["result"], ("SUCCESS", None))
        # stop and cancel
        self.assertEqual(request(p, "POST", "/queue/cancelItem?id=99999",
                                 auth="u:T")[0], 404)

    def test_jenkins_crumbs_and_outages(self):
        p = self.j2
        self.admin(p, "reset", {})
        self.admin(p, "setup", {"user": "u", "password": "P", "token": "T",
                                "crumb": True, "session_crumb": True,
                                "context": "/ctx", "jobs": {"x": {}}})
        self.assertEqual(request(p, "POST", "/ctx/job/x/build",
                                 auth="u:P")[0], 403)
        # a token is exempt
        self.assertEqual(request(p, "POST", "/ctx/job/x/build",
                                 auth="u:T")[0], 201)
        st, h, body = request(p, "GET", "/ctx/crumbIssuer/api/json",
                              auth="u:P")
        crumb = json.loads(body)
        cookie = h["set-cookie"].split(";")[0]
        hdr = {crumb["crumbRequestField"]: crumb["crumb"]}
        # the crumb is tied to its session
        self.assertEqual(request(p, "POST", "/ctx/job/x/build",
                                 headers=hdr, auth="u:P")[0], 403)
        hdr["Cookie"] = cookie
        self.assertIn(request(p, "POST", "/ctx/job/x/build", headers=hdr,
                              auth="u:P")[0], (201, 303))
        # outages
        self.admin(p, "outage", {"mode": "html"})
        st, h, body = request(p, "GET", "/ctx/api/json", auth="u:T")
        self.assertEqual(st, 200)
        self.assertTrue(body.lstrip().startswith(b"<"))
        self.admin(p, "outage", {"mode": "503"})
        self.assertEqual(request(p, "GET", "/ctx/api/json",
                                 auth="u:T")[0], 503)
        self.admin(p, "outage", {"mode": "cut"})
        with self.assertRaises((http.client.HTTPException, OSError)):
            request(p, "GET", "/ctx/api/json", auth="u:T")
        self.admin(p, "outage", {"mode": ""})
        self.assertEqual(request(p, "GET", "/ctx/api/json",
                                 auth="u:T")[0], 200)

    def test_zuul_layouts(self):
        p = self.z
        self.admin(p, "reset", {})
        self.admin(p, "enqueue", {"pipeline": "gate", "queue": "q",
                                  "change": "1,1", "project": "o/r",
                                  "jobs": ["a", "b"]})
        self.admin(p, "enqueue", {"pipeline": "gate", "queue": "q",
                                  "change": "2,1", "project": "o/r"})
        doc = json.loads(request(p, "GET",
                                 "/api/tenant/openstack/status")[2])
        heads = doc["pipelines"][0]["change_queues"][0]["heads"]
        self.assertEqual(len(heads[0]), 2)
        first, second = heads[0]
        self.assertEqual(first["refs"][0]["id"], "1,1")
        self.assertEqual(second["item_ahead"], first["id"])
        self.assertIsNone(first["jobs"][0]["result"])
        self.admin(p, "setup", {"layout": "legacy"})
        doc = json.loads(request(p, "GET", "/status.json")[2])
        item = doc["pipelines"][0]["change_queues"][0]["heads"][0][0]
        self.assertEqual(item["id"], "1,1")
        self.assertNotIn("refs", item)
        self.admin(p, "setup", {"layout": "v10"})
        flat = json.loads(request(
            p, "GET", "/api/tenant/openstack/status/change/2,1")[2])
        self.assertEqual(len(flat), 1)
        self.admin(p, "result", {"change": "1,1", "pipeline": "gate",
                                 "job": "a", "result": "FAILURE"})
        self.admin(p, "dequeue", {"change": "1,1", "pipeline": "gate"})
        bs = json.loads(request(
            p, "GET", "/api/tenant/openstack/buildsets?change=1&limit=1")[2])
        self.assertEqual(bs[0]["result"], "FAILURE")
        builds = json.loads(request(
            p, "GET", "/api/tenant/openstack/builds?project=o/r")[2])
        self.assertEqual([b["job_name"] for b in builds], ["b", "a"])
        st, _, body = request(p, "GET", "/api/tenant/nope/status")
        self.assertEqual(st, 404)
        self.assertIn(b"Tenant nope does not exist.", body)


if __name__ == "__main__":
    unittest.main(verbosity=2)

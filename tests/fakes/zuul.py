#!/usr/bin/env python3
"""Fake Zuul web API, after shared/reference/api-contracts.md section 5.

  GET /api/tenant/{t}/status                 pipelines -> change_queues ->
                                             heads -> items ("v10": items
                                             with refs[]; "legacy": the
                                             pre-10 item layout)
  GET /api/tenant/{t}/status/change/{c},{p}  flat list of matching items
  GET /api/tenant/{t}/builds?project=&pipeline=&change=&limit=&skip=
  GET /api/tenant/{t}/buildsets?project=&pipeline=&change=&limit=&skip=
  GET /status.json                           the v2 document (legacy)
Unknown tenant: 404 "Tenant X does not exist." (HTML, like cherrypy).

Admin (besides fakecommon's):
  POST /_admin/setup {"tenant": "openstack", "layout": "v10"|"legacy"}
  POST /_admin/enqueue {"pipeline", "queue", "change": "12345,6",
        "project", "jobs": ["tox", {"name": "docs", "voting": false}]}
        -> {"id": item uuid}
  POST /_admin/result {"change", "pipeline", "job", "result"}
  POST /_admin/dequeue {"change", "pipeline"}   item leaves; a buildset
        (and its builds) is recorded with the item's result
  POST /_admin/outage {"mode": "503" | "html" | "layout" | ""}
  POST /_admin/bulk {"pipeline", "n": 200, "project_prefix": "org/p"}
State: {"items": n, "buildsets": n}
"""

import sys
import time
import uuid

import fakecommon


class ZuulServer(fakecommon.FakeServer):
    def __init__(self, port=0):
        super().__init__("zuul", ZuulHandler, port)
        self.service_reset({})

    def service_reset(self, data):
        with self.state.lock:
            self.tenant = "openstack"
            self.layout = "v10"
            self.items = []   # dicts, in queue order
            self.builds = []
            self.buildsets = []
            self.next_id = 1
            self.outage = ""

    def service_state(self):
        return {"items": len(self.items), "buildsets": len(self.buildsets),
                "builds": len(self.builds)}

    def find(self, change, pipeline):
        for it in self.items:
            if it["change"] == change and (not pipeline or
                                           it["pipeline"] == pipeline):
                return it
        return None

    def enqueue(self, data):
        jobs = []
        for j in data.get("jobs", ["noop"]):
            if isinstance(j, str):
                j = {"name": j}
            jobs.append({"name": j["name"], "voting": j.get("voting", True),
                         "result": None, "estimated_time": 600,
                         "uuid": uuid.uuid4().hex, "start_time": time.time(),
                         "remaining": j.get("remaining", 300000)})
        it = {"uuid": uuid.uuid4().hex, "pipeline": data.get("pipeline",
                                                             "check"),
              "queue": data.get("queue", ""), "change": data["change"],
              "project": data.get("project", "org/repo"),
              "enqueue_time": int(time.time() * 1000), "jobs": jobs}
        self.items.append(it)
        return it

    def dequeue(self, it):
        self.items.remove(it)
        results = [j["result"] for j in it["jobs"] if j["voting"]]
        ok = all(r in ("SUCCESS", "SKIPPED") for r in results)
        bsid = self.next_id
        self.next_id += 1
        change, _, patchset = it["change"].partition(",")
        ref = {"project": it["project"], "branch": "master",
               "change": int(change) if change.isdigit() else None,
               "patchset": patchset or None,
               "ref": "refs/changes/%s" % it["change"]}
        self.buildsets.append({"_id": bsid, "uuid": uuid.uuid4().hex,
                               "result": "SUCCESS" if ok else "FAILURE",
                               "pipeline": it["pipeline"], "refs": [ref],
                               "message": "Build succeeded." if ok else
                               "Build failed."})
        for j in it["jobs"]:
            self.builds.append({
                "_id": self.next_id, "uuid": j["uuid"],
                "job_name": j["name"], "result": j["result"] or "CANCELED",
                "voting": j["voting"], "pipeline": it["pipeline"],
                "duration": 61.5, "start_time": "2026-12-01T12:00:00",
                "end_time": "2026-12-01T12:01:01", "ref": ref,
                "log_url": "https://logs.example/%s/" % j["uuid"][:8],
                "buildset": {"uuid": self.buildsets[-1]["uuid"]}})
            self.next_id += 1

    def service_admin(self, what, data):
        with self.state.lock:
            if what == "setup":
                self.tenant = data.get("tenant", self.tenant)
                self.layout = data.get("layout", self.layout)
                return 200, {"ok": True}
            if what == "enqueue":
                return 200, {"id": self.enqueue(data)["uuid"]}
            if what == "bulk":
                for i in range(int(data.get("n", 1))):
                    self.enqueue({"pipeline": data.get("pipeline", "check"),
                                  "change": "%d,1" % (20000 + i),
                                  "project": "%s%d" % (
                                      data.get("project_prefix", "org/p"),
                                      i % 20),
                                  "jobs": ["a", "b", "c", "d"]})
                return 200, {"ok": True}
            if what == "outage":
                self.outage = data.get("mode", "")
                return 200, {"ok": True}
            it = self.find(data.get("change"), data.get("pipeline"))
            if it is None:
                return 404, {"error": "no such item"}
            if what == "result":
                for j in it["jobs"]:
                    if j["name"] == data["job"]:
                        j["result"] = data["result"]
                return 200, {"ok": True}
            if what == "dequeue":
                self.dequeue(it)
                return 200, {"ok": True}
        return 404, {"error": "admin: unknown endpoint " + what}

    # -- documents --------------------------------------------------------

    def job_json(self, it, j):
        now = time.time()
        started = j["start_time"]
        if self.layout == "legacy":
            return {"name": j["name"], "result": j["result"],
                    "voting": j["voting"],
                    "elapsed_time": int((now - started) * 1000),
                    "remaining_time": None if j["result"] else
                    j["remaining"], "url": None, "uuid": j["uuid"]}
        return {"name": j["name"], "dependencies": [],
                "elapsed_time": int((now - started) * 1000),
                "remaining_time": None if j["result"] else j["remaining"],
                "url": "stream/%s?logfile=console.log" % j["uuid"],
                "report_url": None, "result": j["result"],
                "voting": j["voting"], "uuid": j["uuid"],
                "execute_time": started, "start_time": started,
                "end_time": None, "estimated_time": j["estimated_time"],
                "pipeline": it["pipeline"], "canceled": False,
                "paused": False, "pre_fail": False, "retry": False,
                "tries": 1, "queued": False, "waiting_status": None}

    def item_json(self, it, ahead, behind):
        jobs = [self.job_json(it, j) for j in it["jobs"]]
        running = [j for j in it["jobs"] if not j["result"]]
        remaining = max([j["remaining"] for j in running] or [0])
        url = "https://review.example.org/%s" % it["change"].split(",")[0]
        if self.layout == "legacy":
            return {"id": it["change"], "project": it["project"],
                    "url": url, "ref": "refs/changes/" + it["change"],
                    "enqueue_time": it["enqueue_time"],
                    "remaining_time": remaining, "item_ahead":
                    ahead["change"] if ahead else None,
                    "items_behind": [b["change"] for b in behind],
                    "failing_reasons": [], "active": True, "live": True,
                    "owner": None, "jobs": jobs}
        return {"id": it["uuid"], "active": True, "live": True,
                "refs": [{"id": it["change"], "url": url,
                          "ref": "refs/changes/" + it["change"],
                          "project": it["project"],
                          "project_canonical": "review.example.org/" +
                          it["project"], "owner": None}],
                "item_ahead": ahead["uuid"] if ahead else None,
                "items_behind": [b["uuid"] for b in behind],
                "failing_reasons": [], "zuul_ref": "Z" + it["uuid"][:8],
                "enqueue_time": it["enqueue_time"],
                "remaining_time": remaining, "jobs": jobs}

    def status(self):
        pipelines = []
        names = []
        for it in self.items:
            if it["pipeline"] not in names:
                names.append(it["pipeline"])
        for name in names:
            queues = {}
            order = []
            for it in self.items:
                if it["pipeline"] != name:
                    continue
                q = it["queue"]
                if q not in queues:
                    queues[q] = []
                    order.append(q)
                queues[q].append(it)
            cqs = []
            for q in order:
                its = queues[q]
                if q:  # a dependent queue: one head, items behind
                    heads = [[self.item_json(it, its[i - 1] if i else None,
                                             its[i + 1:i + 2])
                              for i, it in enumerate(its)]]
                else:  # independent: each item its own head
                    heads = [[self.item_json(it, None, [])] for it in its]
                cqs.append({"name": q, "window": 20, "branch": "master",
                            "heads": heads})
            pipelines.append({"name": name, "description": name,
                              "state": "normal", "manager": "dependent",
                              "change_queues": cqs})
        return {"zuul_version": "10.1.0" if self.layout == "v10" else
                "9.5.0", "last_reconfigured": 1,
                "trigger_event_queue": {"length": 0},
                "management_event_queue": {"length": 0},
                "pipelines": pipelines}


class ZuulHandler(fakecommon.FakeHandler):
    def not_found(self, text):
        return (404, {"Content-Type": "text/html"},
                "<html><body><h2>404 Not Found</h2><p>%s</p></body></html>"
                % text)

    def send(self, code, body=b"", headers=None, ctype=None):
        headers = dict(headers or {})
        if "Content-Type" in headers and ctype is None:
            ctype = headers.pop("Content-Type")
        super().send(code, body, headers, ctype)

    @staticmethod
    def filtered(rows, query, builds):
        def want(row):
            ref = row["ref"] if builds else (row["refs"] or [{}])[0]
            if "project" in query and ref.get("project") != \
                    query["project"][0]:
                return False
            if "pipeline" in query and row["pipeline"] != \
                    query["pipeline"][0]:
                return False
            if "change" in query and str(ref.get("change")) != \
                    query["change"][0]:
                return False
            if builds and "job_name" in query and row["job_name"] != \
                    query["job_name"][0]:
                return False
            return True
        out = [r for r in reversed(rows) if want(r)]
        skip = int((query.get("skip") or ["0"])[0])
        limit = int((query.get("limit") or ["50"])[0])
        return out[skip:skip + limit]

    def service(self, method, path, query, body):
        srv = self.server
        with srv.state.lock:
            if srv.outage == "503":
                return (503, {"Content-Type": "text/html"},
                        "<html><body>503 Service Unavailable</body></html>")
            if srv.outage == "html":
                return (200, {"Content-Type": "text/html"},
                        "<!DOCTYPE html><html><body>Zuul</body></html>")
            if srv.outage == "layout":
                return 200, {}, {"queues": []}
            if path == "/status.json" and srv.layout == "legacy":
                return 200, {}, srv.status()
            prefix = "/api/tenant/"
            if not path.startswith(prefix):
                return self.not_found("Nothing matches the given URI")
            rest = path[len(prefix):].split("/")
            if rest[0] != srv.tenant:
                return self.not_found("Tenant %s does not exist." % rest[0])
            what = rest[1] if len(rest) > 1 else ""
            if what == "status" and len(rest) == 2:
                return 200, {"Cache-Control": "public, max-age=1"}, \
                    srv.status()
            if what == "status" and len(rest) == 4 and rest[2] == "change":
                doc = srv.status()
                out = []
                for p in doc["pipelines"]:
                    for q in p["change_queues"]:
                        for h in q["heads"]:
                            for it in h:
                                ids = [r["id"] for r in it.get("refs", [])] \
                                    or [it["id"]]
                                if rest[3] in ids:
                                    out.append(it)
                return 200, {}, out
            if what == "builds":
                return 200, {}, self.filtered(srv.builds, query, True)
            if what == "buildsets":
                return 200, {}, self.filtered(srv.buildsets, query, False)
            return self.not_found("Nothing matches the given URI")


def main():
    portfile = sys.argv[1] if len(sys.argv) > 1 else None
    fakecommon.serve([ZuulServer()], portfile)


if __name__ == "__main__":
    main()

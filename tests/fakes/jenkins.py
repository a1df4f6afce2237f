#!/usr/bin/env python3
"""Fake Jenkins remote access API, after shared/reference/api-contracts.md
section 4 (remote API, CSRF crumbs, triggering; Notification plugin).

  GET  [/ctx]/api/json?tree=jobs[...]           root listing (tree honoured)
  GET  .../job/A/job/B/api/json                 one job / folder
  GET  .../job/X/{lastBuild,lastCompletedBuild,N}/api/json
  GET  /queue/api/json, /queue/item/N/api/json
  GET  /crumbIssuer/api/json                    404 when crumbs are off
  POST .../job/X/build, .../buildWithParameters 201 + Location, 303 when the
                                                same item is queued, 409
                                                disabled, 404, 500 (params
                                                on a job without any)
  POST .../job/X/N/stop, /queue/cancelItem?id=N

Auth: Basic user:token (crumb-exempt) or user:password (crumb needed on
POSTs when crumbs are on; with "session_crumb" the crumb is only valid
with the JSESSIONID cookie it was issued with).  Anonymous reads only with
"anonymous_read".  Errors are HTML pages, like Jenkins'.

Jobs move on by admin calls and by being polled, so tests are
deterministic without clocks:
  - a triggered build waits in the queue for `queue_polls` GETs of its
    queue item (default 1), then starts (Left + executable, building);
    it finishes after `build_polls` GETs of the build (default 1) with
    the next result of the job's sequence (else SUCCESS);
  - /_admin/advance runs the next `n` results of a job's sequence as
    completed builds at once (what polling tests use).

Admin (besides fakecommon's):
  POST /_admin/setup {"user","token","password","crumb": bool,
        "session_crumb": bool, "anonymous_read": bool, "context": "/jenkins",
        "queue_polls": 1, "build_polls": 1, "notify": [URL, ...],
        "jobs": {"team/app": {"kind": "job"|"matrix"|"folder",
                 "axes": ["database=sqlite", ...], "params": ["K", ...],
                 "disabled": false, "sequence": [RESULT | BUILD, ...]}}}
     BUILD = {"result": "FAILURE", "runs": {"database=pg": "FAILURE"},
              "culprits": ["alice"], "duration": 252000}
  POST /_admin/advance {"job": J, "n": 1}            completed builds
  POST /_admin/start {"job": J}                      a build that runs
  POST /_admin/finish {"job": J, "result": R}        ends the running one
  POST /_admin/sequence {"job": J, "sequence": [...]} (appends)
  POST /_admin/delete {"job": J}; /_admin/rename {"from": A, "to": B}
  POST /_admin/add {"job": J, ...spec}
  POST /_admin/outage {"mode": "503" | "html" | "cut" | "" (over)}
State: {"jobs": {J: {"builds": [...], "disabled"}}, "queue": [...],
        "triggers": [{"job", "params", "auth"}], "notified": n}

Notification: with "notify" URLs, every build sends QUEUED, STARTED,
COMPLETED and FINALIZED bodies (Notification plugin 1.19 JSON) to each.
"""

import base64
import json
import sys
import threading
import time
import urllib.parse
import urllib.request

import fakecommon

HTML_404 = ("<html><head><title>Error 404 Not Found</title></head><body>"
            "<h2>HTTP ERROR 404 Not Found</h2></body></html>")
COLORS = {"SUCCESS": "blue", "FAILURE": "red", "UNSTABLE": "yellow",
          "ABORTED": "aborted", "NOT_BUILT": "notbuilt"}
RANK = {"SUCCESS": 0, "UNSTABLE": 1, "FAILURE": 2, "NOT_BUILT": 3,
        "ABORTED": 4}


def parse_tree(text):
    """ "a,b[c,d{0,2}],e" -> {"a": None, "b": {"c": None, ...}, ...} """
    pos = 0

    def level():
        nonlocal pos
        out = {}
        name = ""
        while pos < len(text):
            ch = text[pos]
            pos += 1
            if ch == "[":
                out[name.strip()] = level()
                name = ""
            elif ch == "]":
                break
            elif ch == "{":
                while pos < len(text) and text[pos] != "}":
                    pos += 1
                pos += 1
            elif ch == ",":
                if name.strip():
                    out[name.strip()] = None
                name = ""
            else:
                name += ch
        if name.strip():
            out[name.strip()] = None
        return out

    return level()


def apply_tree(obj, tree):
    if tree is None:
        return obj
    if isinstance(obj, list):
        return [apply_tree(o, tree) for o in obj]
    if not isinstance(obj, dict):
        return obj
    out = {"_class": obj["_class"]} if "_class" in obj else {}
    for key, sub in tree.items():
        if key in obj:
            out[key] = apply_tree(obj[key], sub)
    return out


class Job:
    def __init__(self, name, spec):
        self.name = name
        self.kind = spec.get("kind", "job")
        self.axes = spec.get("axes", [])
        self.params = spec.get("params", [])
        self.disabled = spec.get("disabled", False)
        self.sequence = list(spec.get("sequence", []))
        self.builds = []

    def next_number(self):
        return (self.builds[-1]["number"] + 1) if self.builds else 1


class JenkinsServer(fakecommon.FakeServer):
    def __init__(self, port=0, name="jenkins"):
        super().__init__(name, JenkinsHandler, port)
        self.service_reset({})

    def service_reset(self, data):
        with self.state.lock:
            self.cfg = {}
            self.jobs = {}
            self.queue = []
            self.left = {}
            self.next_queue_id = 100
            self.triggers = []
            self.crumbs = {}
            self.outage = ""
            self.notified = 0
            self.notify_errors = 0

    def root(self):
        return "http://127.0.0.1:%d%s/" % (self.server_address[1],
                                           self.cfg.get("context", ""))

    def job_path(self, name):
        return "".join("job/%s/" % urllib.parse.quote(seg, safe="")
                       for seg in name.split("/"))

    def job_url(self, name):
        return self.root() + self.job_path(name)

    def service_state(self):
        return {"jobs": {n: {"builds": j.builds, "disabled": j.disabled,
                             "sequence": j.sequence}
                         for n, j in self.jobs.items()},
                "queue": self.queue, "triggers": self.triggers,
                "notified": self.notified,
                "notify_errors": self.notify_errors}

    # -- builds ---------------------------------------------------------

    def take_result(self, job):
        item = job.sequence.pop(0) if job.sequence else "SUCCESS"
        if isinstance(item, str):
            item = {"result": item}
        return dict(item)

    def new_build(self, job, spec, building, queue_id=0, params=None):
        number = job.next_number()
        b = {"number": number, "queueId": queue_id,
             "url": self.job_url(job.name) + "%d/" % number,
             "timestamp": int(time.time() * 1000),
             "estimatedDuration": 60000, "building": building,
             "result": None, "duration": 0,
             "fullDisplayName": "%s #%d" % (job.name.replace("/", " » "),
                                            number),
             "culprits": [{"fullName": c} for c in spec.get("culprits",
                                                             [])],
             "_spec": spec, "_polls": 0, "params": params or {}}
        job.builds.append(b)
        self.notify(job, b, "QUEUED")
        self.notify(job, b, "STARTED")
        if not building:
            self.finish(job, b, spec.get("result", "SUCCESS"))
        return b

    def finish(self, job, b, result):
        spec = b["_spec"]
        runs = spec.get("runs", {})
        if job.kind == "matrix":
            b["runs"] = []
            worst = "SUCCESS"
            for axis in job.axes:
                r = runs.get(axis, "SUCCESS" if result != "ABORTED"
                             else "ABORTED")
                if RANK.get(r, 0) > RANK.get(worst, 0):
                    worst = r
                b["runs"].append({"number": b["number"], "result": r,
                                  "building": False,
                                  "url": self.job_url(job.name) +
                                  "%s/%d/" % (axis, b["number"])})
            if runs:
                result = worst
        b["building"] = False
        b["result"] = result
        b["duration"] = spec.get("duration", 42000)
        self.notify(job, b, "COMPLETED")
        self.notify(job, b, "FINALIZED")

    def build_json(self, job, b):
        out = {k: v for k, v in b.items() if not k.startswith("_")
               and k != "params"}
        out["_class"] = ("hudson.matrix.MatrixBuild" if job.kind == "matrix"
                         else "hudson.model.FreeStyleBuild")
        out["id"] = str(b["number"])
        out["displayName"] = "#%d" % b["number"]
        out["actions"] = [{"_class": "hudson.model.ParametersAction",
                           "parameters": [{"name": k, "value": v} for k, v
                                          in b["params"].items()]}]
        if b["building"]:
            out["result"] = None
        return out

    def job_json(self, job, prefix_depth=0):
        if job.kind == "folder":
            children = [j for n, j in sorted(self.jobs.items())
                        if n.startswith(job.name + "/")
                        and "/" not in n[len(job.name) + 1:]]
            return {"_class": "com.cloudbees.hudson.plugins.folder.Folder",
                    "name": job.name.split("/")[-1], "fullName": job.name,
                    "url": self.job_url(job.name),
                    "jobs": [self.job_json(c) for c in children]}
        last = job.builds[-1] if job.builds else None
        done = [b for b in job.builds if not b["building"]]
        lc = done[-1] if done else None
        if job.disabled:
            color = "disabled"
        else:
            color = COLORS.get(lc["result"], "notbuilt") if lc else "notbuilt"
            if last and last["building"]:
                color += "_anime"
        cls = ("hudson.matrix.MatrixProject" if job.kind == "matrix"
               else "hudson.model.FreeStyleProject")
        out = {"_class": cls, "name": job.name.split("/")[-1],
               "fullName": job.name, "displayName": job.name.split("/")[-1],
               "url": self.job_url(job.name), "buildable": not job.disabled,
               "color": color, "inQueue": any(
                   q["job"] == job.name for q in self.queue),
               "nextBuildNumber": job.next_number(),
               "lastBuild": self.build_json(job, last) if last else None,
               "lastCompletedBuild": self.build_json(job, lc) if lc
               else None,
               "builds": [{"number": b["number"], "url": b["url"]}
                          for b in reversed(job.builds)],
               "property": [{"_class":
                             "hudson.model.ParametersDefinitionProperty",
                             "parameterDefinitions": [
                                 {"name": p} for p in job.params]}]
               if job.params else []}
        if job.kind == "matrix":
            out["activeConfigurations"] = [
                {"name": a, "url": self.job_url(job.name) + a + "/"}
                for a in job.axes]
        return out

    # -- notifications --------------------------------------------------

    def notify(self, job, b, phase):
        urls = self.cfg.get("notify") or []
        if not urls:
            return
        body = {"name": job.name.split("/")[-1],
                "display_name": job.name.split("/")[-1],
                "url": self.job_path(job.name),
                "build": {"full_url": b["url"], "number": b["number"],
                          "queue_id": b["queueId"],
                          "timestamp": b["timestamp"],
                          "duration": b["duration"], "phase": phase,
                          "url": self.job_path(job.name) +
                          "%d/" % b["number"], "log": "",
                          "parameters": b["params"]}}
        if phase in ("COMPLETED", "FINALIZED"):
            body["build"]["status"] = b["result"]
        data = json.dumps(body).encode()
        for url in urls:
            threading.Thread(target=self.send_notification,
                             args=(url, data), daemon=True).start()

    def send_notification(self, url, data):
        req = urllib.request.Request(
            url, data=data, method="POST",
            headers={"Content-Type": "application/json;charset=UTF-8"})
        try:
            # the plugin ignores the receiver's status
            with urllib.request.urlopen(req, timeout=30) as res:
                res.read()
            with self.state.lock:
                self.notified += 1
        except urllib.error.HTTPError:
            with self.state.lock:
                self.notified += 1
        except OSError:
            with self.state.lock:
                self.notify_errors += 1

    # -- admin ----------------------------------------------------------

    def add_job(self, name, spec):
        self.jobs[name] = Job(name, spec)
        parts = name.split("/")
        for i in range(1, len(parts)):
            folder = "/".join(parts[:i])
            if folder not in self.jobs:
                self.jobs[folder] = Job(folder, {"kind": "folder"})

    def service_admin(self, what, data):
        with self.state.lock:
            if what == "setup":
                self.cfg = dict(data)
                for name, spec in data.get("jobs", {}).items():
                    self.add_job(name, spec)
                return 200, {"ok": True, "root": self.root()}
            if what == "add":
                self.add_job(data["job"], data)
                return 200, {"ok": True}
            job = self.jobs.get(data.get("job", data.get("from", "")))
            if job is None:
                if what == "outage":
                    self.outage = data.get("mode", "")
                    return 200, {"ok": True}
                return 404, {"error": "no such job"}
            if what == "advance":
                for _ in range(int(data.get("n", 1))):
                    self.new_build(job, self.take_result(job), False)
                return 200, {"ok": True, "last": job.builds[-1]["number"]}
            if what == "start":
                b = self.new_build(job, self.take_result(job), True)
                return 200, {"ok": True, "number": b["number"]}
            if what == "finish":
                for b in job.builds:
                    if b["building"]:
                        self.finish(job, b, data.get(
                            "result", b["_spec"].get("result", "SUCCESS")))
                return 200, {"ok": True}
            if what == "sequence":
                job.sequence.extend(data.get("sequence", []))
                return 200, {"ok": True}
            if what == "delete":
                del self.jobs[job.name]
                return 200, {"ok": True}
            if what == "rename":
                del self.jobs[job.name]
                job.name = data["to"]
                self.jobs[job.name] = job
                for b in job.builds:
                    b["url"] = self.job_url(job.name) + "%d/" % b["number"]
                return 200, {"ok": True}
        return 404, {"error": "admin: unknown endpoint " + what}


class JenkinsHandler(fakecommon.FakeHandler):
    def html(self, code, title):
        return (code, {"Content-Type": "text/html;charset=utf-8"},
                "<html><head><title>Error %d %s</title></head><body><h2>"
                "HTTP ERROR %d %s</h2><pre>%s</pre></body></html>"
                % (code, title, code, title, title))

    def send(self, code, body=b"", headers=None, ctype=None):
        headers = dict(headers or {})
        if "Content-Type" in headers and ctype is None:
            ctype = headers.pop("Content-Type")
        super().send(code, body, headers, ctype)

    def auth(self):
        """None (anonymous), "token", "password" or False (bad)."""
        cfg = self.server.cfg
        value = self.headers.get("Authorization", "")
        if not value.startswith("Basic "):
            return None
        try:
            user, _, secret = base64.b64decode(
                value[6:]).decode().partition(":")
        except ValueError:
            return False
        if user != cfg.get("user"):
            return False
        if cfg.get("token") and secret == cfg["token"]:
            return "token"
        if cfg.get("password") and secret == cfg["password"]:
            return "password"
        return False

    def session(self):
        for part in self.headers.get("Cookie", "").split(";"):
            name, _, value = part.strip().partition("=")
            if name.startswith("JSESSIONID"):
                return value
        return None

    def service(self, method, path, query, body):
        srv = self.server
        with srv.state.lock:
            if srv.outage == "503":
                return self.html(503, "Service Unavailable")
            if srv.outage == "html":
                return (200, {"Content-Type": "text/html"},
                        "<!DOCTYPE html><html><body>Please sign in"
                        "</body></html>")
            return self.jenkins(method, path, query, body)

    def handle_any(self):
        # an outage of kind "cut" answers nothing at all
        with self.server.state.lock:
            cut = self.server.outage == "cut"
        if cut and not self.path.startswith("/_admin/"):
            self.read_body()
            self.cut()
            return
        super().handle_any()

    do_GET = do_POST = do_PUT = do_DELETE = handle_any

    def jenkins(self, method, path, query, body):
        srv = self.server
        cfg = srv.cfg
        ctx = cfg.get("context", "")
        if ctx:
            if not path.startswith(ctx + "/"):
                return self.html(404, "Not Found")
            path = path[len(ctx):]
        who = self.auth()
        if who is False:
            return (401, {"Content-Type": "text/html",
                          "WWW-Authenticate": 'Basic realm="Jenkins"'},
                    "<html><body>Invalid password/token for user"
                    "</body></html>")
        if who is None and cfg.get("user") and not (
                method == "GET" and cfg.get("anonymous_read")):
            return self.html(403, "Forbidden")
        if path == "/crumbIssuer/api/json":
            if not cfg.get("crumb"):
                return self.html(404, "Not Found")
            crumb = "%032x" % srv.state.rng.getrandbits(128)
            headers = {}
            session = self.session()
            if cfg.get("session_crumb"):
                session = "%016x" % srv.state.rng.getrandbits(64)
                headers["Set-Cookie"] = (
                    "JSESSIONID.4f2a1b3c=%s; Path=/; HttpOnly" % session)
            srv.crumbs[crumb] = session
            return (200, headers,
                    {"_class": "hudson.security.csrf.DefaultCrumbIssuer",
                     "crumb": crumb, "crumbRequestField": "Jenkins-Crumb"})
        if method == "POST" and cfg.get("crumb") and who != "token":
            crumb = self.headers.get("Jenkins-Crumb")
            if crumb not in srv.crumbs or (
                    cfg.get("session_crumb") and
                    srv.crumbs[crumb] != self.session()):
                return self.html(403, "No valid crumb was included in "
                                 "the request")
        tree = None
        if "tree" in query:
            tree = parse_tree(query["tree"][0])
        if path in ("/api/json", "/"):
            if method != "GET":
                return self.html(405, "Method Not Allowed")
            top = [j for n, j in sorted(srv.jobs.items()) if "/" not in n]
            out = {"_class": "hudson.model.Hudson",
                   "jobs": [srv.job_json(j) for j in top]}
            return 200, {}, apply_tree(out, tree)
        if path == "/queue/api/json":
            return 200, {}, apply_tree({"items": [self.item_json(q) for q
                                                  in srv.queue]}, tree)
        if path.startswith("/queue/item/"):
            return self.queue_item(path, tree)
        if path == "/queue/cancelItem" and method == "POST":
            qid = int((query.get("id") or ["0"])[0])
            for q in srv.queue:
                if q["id"] == qid:
                    srv.queue.remove(q)
                    srv.left[qid] = {"cancelled": True, "job": q["job"]}
                    return 204, {}, b""
            return self.html(404, "Not Found")
        # /job/A/job/B/rest
        segs = [urllib.parse.unquote(s) for s in path.strip("/").split("/")]
        names = []
        while len(segs) >= 2 and segs[0] == "job":
            names.append(segs[1])
            segs = segs[2:]
        name = "/".join(names)
        job = srv.jobs.get(name)
        if not names or job is None:
            return self.html(404, "Not Found")
        rest = "/".join(segs)
        if rest in ("api/json", ""):
            return 200, {}, apply_tree(srv.job_json(job), tree)
        if rest in ("build", "buildWithParameters"):
            return self.trigger(job, rest, query, body, who)
        if len(segs) >= 2 and segs[-1] in ("api", "json") or \
                rest.endswith("api/json"):
            which = segs[0]
            b = self.find_build(job, which)
            if b is None:
                return self.html(404, "Not Found")
            if b["building"] and which.isdigit():
                b["_polls"] += 1
                if b["_polls"] >= cfg.get("build_polls", 1) and \
                        b.get("_from_queue"):
                    srv.finish(job, b, b["_spec"].get("result", "SUCCESS"))
            return 200, {}, apply_tree(srv.build_json(job, b), tree)
        if len(segs) == 2 and segs[1] == "stop" and method == "POST":
            b = self.find_build(job, segs[0])
            if b is None:
                return self.html(404, "Not Found")
            if b["building"]:
                srv.finish(job, b, "ABORTED")
            return 302, {"Location": b["url"]}, b""
        return self.html(404, "Not Found")

    def find_build(self, job, which):
        if which == "lastBuild":
            return job.builds[-1] if job.builds else None
        if which == "lastCompletedBuild":
            done = [b for b in job.builds if not b["building"]]
            return done[-1] if done else None
        if which == "lastSuccessfulBuild":
            done = [b for b in job.builds if b["result"] == "SUCCESS"]
            return done[-1] if done else None
        if which.isdigit():
            for b in job.builds:
                if b["number"] == int(which):
                    return b
        return None

    def trigger(self, job, kind, query, body, who):
        srv = self.server
        if self.command != "POST":
            return self.html(405, "Method Not Allowed")
        if job.kind == "folder":
            return self.html(404, "Not Found")
        if job.disabled:
            return self.html(409, "%s is not buildable" % job.name)
        params = {}
        for k, v in query.items():
            params[k] = v[0]
        ctype = self.headers.get("Content-Type", "")
        fields = fakecommon.form_fields(body, ctype) if body else []
        for k, v in fields or []:
            params[k] = v
        params.pop("delay", None)
        if kind == "buildWithParameters" and not job.params:
            return (500, {"Content-Type": "text/html"},
                    "<html><body><h2>Oops!</h2><pre>java.lang."
                    "IllegalStateException: This build is not "
                    "parameterized!</pre></body></html>")
        params = {k: v for k, v in params.items() if k in job.params}
        srv.triggers.append({"job": job.name, "params": params,
                             "auth": who})
        for q in srv.queue:
            if q["job"] == job.name and q["params"] == params:
                return 303, {"Location": srv.root() +
                             "queue/item/%d/" % q["id"]}, b""
        srv.next_queue_id += 1
        qid = srv.next_queue_id
        srv.queue.append({"id": qid, "job": job.name, "params": params,
                          "polls": 0,
                          "inQueueSince": int(time.time() * 1000)})
        return 201, {"Location": srv.root() + "queue/item/%d/" % qid}, b""

    def item_json(self, q):
        srv = self.server
        return {"_class": "hudson.model.Queue$WaitingItem", "id": q["id"],
                "blocked": False, "buildable": False, "stuck": False,
                "inQueueSince": q["inQueueSince"],
                "params": "".join("\n%s=%s" % kv
                                  for kv in q["params"].items()),
                "task": {"name": q["job"].split("/")[-1],
                         "url": srv.job_url(q["job"]), "color": "blue"},
                "url": "queue/item/%d/" % q["id"],
                "why": "Waiting for next available executor"}

    def queue_item(self, path, tree):
        srv = self.server
        try:
            qid = int(path.split("/")[3])
        except (IndexError, ValueError):
            return self.html(404, "Not Found")
        for q in srv.queue:
            if q["id"] == qid:
                q["polls"] += 1
                if q["polls"] <= srv.cfg.get("queue_polls", 1):
                    return 200, {}, apply_tree(self.item_json(q), tree)
                srv.queue.remove(q)
                job = srv.jobs[q["job"]]
                b = srv.new_build(job, srv.take_result(job), True, qid,
                                  q["params"])
                b["_from_queue"] = True
                srv.left[qid] = {"cancelled": False, "job": job.name,
                                 "number": b["number"], "url": b["url"]}
                break
        left = srv.left.get(qid)
        if left is None:
            return self.html(404, "Not Found")
        out = {"_class": "hudson.model.Queue$LeftItem", "id": qid,
               "cancelled": left["cancelled"], "blocked": False,
               "task": {"name": left["job"].split("/")[-1],
                        "url": srv.job_url(left["job"])}}
        out["executable"] = ({"_class": "hudson.model.FreeStyleBuild",
                              "number": left["number"], "url": left["url"]}
                             if not left["cancelled"] else None)
        return 200, {}, apply_tree(out, tree)


def main():
    portfile = sys.argv[1] if len(sys.argv) > 1 else None
    fakecommon.serve([JenkinsServer()], portfile)


if __name__ == "__main__":
    main()

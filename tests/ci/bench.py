#!/usr/bin/env python3
"""Benchmark of the ci plugin (a benchmark, not a test: it prints
figures and asserts nothing).

1. Watching cost.  500 Jenkins jobs on two servers (250 each, in 25
   folders of 10; 5 multi-configuration) and a Zuul tenant with 200 queue
   items, polled every POLL seconds (default 1 s, to get many cycles in a
   short run) for SECONDS (default 60), while 10 jobs a second change
   result.  The same bot with the ci plugin and no servers is the
   baseline, measured in the same run for the same time.  Reported: the
   bot's CPU seconds per poll cycle, scaled to the issue's 30 s interval
   (120 cycles an hour) as CPU seconds per hour and % of one core, and
   requests per cycle from the fakes' counters.
2. Webhook to announcement.  HOOKS (default 600) Notification-plugin
   deliveries at RATE per second (default 20) to a webhook-only server,
   each a new failing job; the time from sending the POST to the
   announcement arriving at an IRC client through ngIRCd (flood control
   and the channel budget set out of the way).  p50, p99, max.

Run: BUILD=build python3 tests/ci/bench.py  (make bench-ci)."""

import os
import random
import statistics
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import CHANNEL, notification  # noqa: E402

POLL = float(os.environ.get("POLL", "1"))
SECONDS = float(os.environ.get("SECONDS_RUN", os.environ.get("SECONDS",
                                                             "60")))
HOOKS = int(os.environ.get("HOOKS", "600"))
RATE = float(os.environ.get("RATE", "20"))


def cpu_seconds(pid):
    """CPU time of every thread of pid, in seconds (schedstat: ns)."""
    total = 0
    task = "/proc/%d/task" % pid
    for tid in os.listdir(task):
        try:
            with open("%s/%s/schedstat" % (task, tid)) as f:
                total += int(f.read().split()[0])
        except OSError:
            pass
    return total / 1e9


def jobs_spec(prefix):
    jobs = {}
    for f in range(25):
        for j in range(10):
            name = "%s%02d/job%02d" % (prefix, f, j)
            spec = {"sequence": ["SUCCESS"]}
            if f == 0 and j < 5:
                spec = {"kind": "matrix", "axes": ["db=a", "db=b", "db=c"],
                        "sequence": ["SUCCESS"]}
            jobs[name] = spec
    return jobs


def world(servers):
    w = harness.World(nice_fakes=10)
    sections = {"jenkins.qa": None, "jenkins.main": None, "zuul.oi": None}
    if servers:
        sections = {
            "jenkins.main": {"url": w.fakes.url("jenkins"), "user": "bot",
                             "token": harness.API_TOKEN},
            "jenkins.qa": {"url": w.fakes.url("jenkins2") + "ctx/",
                           "user": "bot", "token": harness.API_TOKEN},
            "zuul.oi": {"url": w.fakes.url("zuul"), "tenant": "openstack"},
            "jenkins.hooks": {"webhook_token": harness.HOOK_TOKEN,
                              "poll": "false"},
        }
    else:
        sections["jenkins.hooks"] = {"webhook_token": harness.HOOK_TOKEN,
                                     "poll": "false"}
    w.write_config({"poll_interval": "%gs" % POLL,
                    "zuul_poll_interval": "%gs" % POLL,
                    "channel_burst": "1000", "channel_per_minute": "6000",
                    "flap_burst": "1000"}, sections)
    return w


def setup_fakes(w):
    w.fakes.admin("jenkins", "setup", {"user": "bot",
                                       "token": harness.API_TOKEN,
                                       "jobs": jobs_spec("f")})
    w.fakes.admin("jenkins2", "setup", {"user": "bot",
                                        "token": harness.API_TOKEN,
                                        "context": "/ctx",
                                        "jobs": jobs_spec("g")})
    for name, prefix in (("jenkins", "f"), ("jenkins2", "g")):
        for f in range(25):
            for j in range(10):
                w.fakes.admin(name, "advance",
                              {"job": "%s%02d/job%02d" % (prefix, f, j)})
    w.fakes.admin("zuul", "bulk", {"pipeline": "check", "n": 100})
    w.fakes.admin("zuul", "bulk", {"pipeline": "gate", "n": 100,
                                   "project_prefix": "org/g"})


def measure_idle():
    w = world(False)
    try:
        w.start_bot()
        c = w.client("bench")
        w.wait_bot_ready(c)
        time.sleep(2)
        c0 = cpu_seconds(w.bot.pid)
        time.sleep(SECONDS)
        return cpu_seconds(w.bot.pid) - c0
    finally:
        w.stop()


def measure_watching():
    w = world(True)
    stop = threading.Event()
    changes = [0]

    def changer():
        rng = random.Random(7)
        while not stop.is_set():
            for _ in range(10):
                name, prefix = rng.choice((("jenkins", "f"),
                                           ("jenkins2", "g")))
                job = "%s%02d/job%02d" % (prefix, rng.randrange(25),
                                          rng.randrange(10))
                w.fakes.admin(name, "sequence", {
                    "job": job, "sequence": [rng.choice(
                        ["SUCCESS", "SUCCESS", "FAILURE"])]})
                w.fakes.admin(name, "advance", {"job": job})
                changes[0] += 1
            stop.wait(1.0)

    try:
        setup_fakes(w)
        w.start_bot()
        c = w.client("bench")
        w.wait_bot_ready(c)
        time.sleep(3 * POLL + 2)  # the baseline polls are done
        t = threading.Thread(target=changer, daemon=True)
        t.start()
        r0 = {n: w.fakes.requests(n) for n in ("jenkins", "jenkins2",
                                                "zuul")}
        c0 = cpu_seconds(w.bot.pid)
        t0 = time.monotonic()
        n0 = c.mark()
        time.sleep(SECONDS)
        cpu = cpu_seconds(w.bot.pid) - c0
        wall = time.monotonic() - t0
        stop.set()
        t.join()
        r1 = {n: w.fakes.requests(n) for n in r0}
        lines = len(c.since(n0))
        return cpu, wall, {n: r1[n] - r0[n] for n in r0}, lines, changes[0]
    finally:
        stop.set()
        w.stop()


def measure_webhooks():
    w = world(False)
    try:
        w.start_bot()
        c = w.client("bench")
        w.wait_bot_ready(c)
        sent = {}
        got = {}
        n0 = c.mark()
        interval = 1.0 / RATE
        next_at = time.monotonic()
        for i in range(HOOKS):
            job = "hook%05d" % i
            next_at += interval
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            sent[job] = time.monotonic()
            code, _ = w.post_hook("hooks", notification(
                "job/%s/" % job, 1, "COMPLETED", "FAILURE"))
            if code != 200:
                raise RuntimeError("webhook answered %d" % code)
        harness.wait_for(lambda: len(c.since(n0)) >= HOOKS, 30)
        for ln in c.since(n0):
            if ln[0] == "cibot" and ln[2] == CHANNEL and " #1 broken" in \
                    ln[3]:
                got[ln[3].split(" ")[0]] = ln[4]
        lat = sorted((got[j] - sent[j]) * 1000 for j in sent if j in got)
        return lat, len(got)
    finally:
        w.stop()


def pct(values, p):
    if not values:
        return float("nan")
    k = min(len(values) - 1, int(round(p / 100.0 * (len(values) - 1))))
    return values[k]


def main():
    print("ci benchmark: poll every %gs for %gs; %d webhooks at %g/s"
          % (POLL, SECONDS, HOOKS, RATE))
    idle = measure_idle()
    cpu, wall, reqs, lines, changes = measure_watching()
    cycles = wall / POLL
    per_cycle = max(cpu - idle * wall / SECONDS, 0.0) / cycles
    per_hour = per_cycle * 120 + idle * 3600 / SECONDS
    print("baseline (ci loaded, no servers): %.2f CPU s in %.0f s"
          % (idle, SECONDS))
    print("watching 500 jobs (2 Jenkins) + 200 Zuul items: %.2f CPU s in "
          "%.0f s, %.0f cycles, %d job changes, %d lines said"
          % (cpu, wall, cycles, changes, lines))
    print("requests per poll cycle: jenkins %.2f, jenkins2 %.2f, zuul "
          "%.2f (one listing per server per cycle, plus one per failing "
          "build for its culprits/axes)"
          % (reqs["jenkins"] / cycles, reqs["jenkins2"] / cycles,
             reqs["zuul"] / cycles))
    print("CPU per poll cycle above the baseline: %.2f ms"
          % (per_cycle * 1000))
    print("at a 30 s interval: %.1f CPU s per hour = %.3f%% of a core "
          "(baseline included: %.2f CPU s per hour; ratio %.1f)"
          % (per_hour, per_hour / 36.0, idle * 3600 / SECONDS,
             per_hour / max(idle * 3600 / SECONDS, 1e-9)))
    lat, n = measure_webhooks()
    print("webhook -> announcement (%d of %d): p50 %.1f ms, p99 %.1f ms, "
          "max %.1f ms, mean %.1f ms"
          % (n, HOOKS, pct(lat, 50), pct(lat, 99), lat[-1] if lat else 0,
             statistics.mean(lat) if lat else 0))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Benchmark of the registrar (issue 3): a sync of N new rows against the
fakes with L ms of latency per call, started from chat in the daemon.

Reports: calls made, wall time against the bound calls x latency /
concurrency, the bot's VmRSS during the sync (flat memory), and !ping
round trips during the sync against idle.  Exits non-zero if a row is
not done, the sync is slower than 1.3x the bound, the bot's memory grows
by more than 512 KiB between the end of the sync's first quarter and its
end (flat: it does not grow with the rows), or !ping during the sync is
slower than 2x idle (medians).

  make bench-registrar            (builds, then runs this with defaults)
  BUILD=build /usr/bin/python3 tests/registrar/bench.py [--rows 1000]
      [--latency 50] [--concurrency 16] [--json FILE]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from ircclient import IrcClient  # noqa: E402
from test_chat import CHANNEL, KIT, start_ngircd  # noqa: E402


def vmrss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ping_rtt(client, timeout=5.0):
    n = client.mark()
    t = time.monotonic()
    client.say(CHANNEL, "!ping")
    ln = client.wait(lambda x: x[0] == "regbot" and x[3].endswith("pong"),
                     timeout, n)
    return (ln[4] - t) * 1000.0 if ln else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1000)
    ap.add_argument("--latency", type=int, default=50)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--json")
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="registrar-bench-")
    irc_dir = os.path.join(tmp, "irc")
    host, port = start_ngircd(irc_dir)
    w = harness.World(students=args.rows, mentors=0,
                      workdir=os.path.join(tmp, "world"),
                      extra_config={"concurrency": str(args.concurrency),
                                    "http_timeout": "30s"},
                      fakes_nice=10)
    w.write_config({"concurrency": str(args.concurrency),
                    "http_timeout": "30s"},
                   irc={"server": host, "port": str(port), "nick": "regbot",
                        "channels": CHANNEL, "flood_control": "false"},
                   access=["mask organiser!*@* registrar.admin "
                           "registrar.view"])
    log = open(os.path.join(tmp, "bot.log"), "w")
    bot = subprocess.Popen([harness.OPSBOT, "-c", w.config],
                           stdout=subprocess.DEVNULL, stderr=log)
    org = None
    try:
        org = IrcClient(host, port, "organiser")
        org.join(CHANNEL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and ping_rtt(org, 1.0) is None:
            pass
        rss_loaded = vmrss_kb(bot.pid)
        idle = [ping_rtt(org) for _ in range(200)]
        for s in ("sheets", "trello", "mailgun"):
            w.fakes.latency(s, args.latency)
        before = {s: w.fakes.state(s)["requests"]
                  for s in ("sheets", "trello", "mailgun")}

        rss = []
        busy = []
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                rss.append(vmrss_kb(bot.pid))
                time.sleep(0.1)

        sampler = threading.Thread(target=sample, daemon=True)
        n = org.mark()
        cpu0 = cpu_s(bot.pid)
        t0 = time.monotonic()
        org.say(CHANNEL, "!reg sync")
        sampler.start()
        done = None
        while done is None and time.monotonic() - t0 < 600:
            r = ping_rtt(org)
            if r is not None:
                busy.append(r)
            time.sleep(0.02)
            done = org.wait(lambda x: x[0] == "regbot" and
                            "sync done" in x[3], 0.0, n)
        stop.set()
        sampler.join()
        if done is None:
            raise SystemExit("the sync did not finish; see " + tmp)
        # the summary line is sent when the sync ends
        wall = done[4] - t0
        cpu = cpu_s(bot.pid) - cpu0
        after = {s: w.fakes.state(s)["requests"]
                 for s in ("sheets", "trello", "mailgun")}
        calls = sum(after[s] - before[s] for s in after)
        bound = calls * args.latency / 1000.0 / args.concurrency
        led = w.ledger()
        ok_rows = sum(1 for r in led if r["progress"] == "done")
        q = len(rss) // 4
        result = {
            "rows": args.rows, "latency_ms": args.latency,
            "concurrency": args.concurrency, "calls": calls,
            "calls_by_service": {s: after[s] - before[s] for s in after},
            "wall_s": round(wall, 3), "bound_s": round(bound, 3),
            "ratio": round(wall / bound, 3), "rows_done": ok_rows,
            "bot_cpu_s": round(cpu, 3),
            "rss_loaded_kb": rss_loaded,
            "rss_first_quarter_kb": max(rss[:q] or [0]),
            "rss_max_kb": max(rss or [0]),
            "rss_last_kb": rss[-1] if rss else 0,
            "ping_idle_median_ms": round(statistics.median(
                [x for x in idle if x is not None]), 3),
            "ping_sync_median_ms": round(statistics.median(busy), 3),
            "ping_sync_p95_ms": round(sorted(busy)[int(len(busy) * .95)],
                                      3),
            "ping_sync_samples": len(busy),
            "summary": done[3],
        }
        print(json.dumps(result, indent=2))
        if args.json:
            with open(args.json, "a") as f:
                f.write(json.dumps(result) + "\n")
        failures = []
        if ok_rows != args.rows:
            failures.append("%d of %d rows done" % (ok_rows, args.rows))
        if result["ratio"] > 1.3:
            failures.append("sync took %.2fx the bound" % result["ratio"])
        growth = result["rss_max_kb"] - result["rss_first_quarter_kb"]
        if q == 0 or growth > 512:
            failures.append("memory not flat: %d KiB more after the first "
                            "quarter of the sync" % growth)
        if result["ping_sync_median_ms"] > 2 * max(
                result["ping_idle_median_ms"], 0.05):
            failures.append("!ping during sync over 2x idle")
        for f in failures:
            print("FAIL: " + f)
        return 1 if failures else 0
    finally:
        if org:
            org.close()
        bot.terminate()
        try:
            bot.wait(10)
        except subprocess.TimeoutExpired:
            bot.kill()
        log.close()
        w.stop()
        subprocess.run([os.path.join(KIT, "ngircd-stop"), irc_dir],
                       capture_output=True)


if __name__ == "__main__":
    sys.exit(main())

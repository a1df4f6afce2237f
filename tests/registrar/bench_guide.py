#!/usr/bin/env python3
"""Benchmark of the registrar's guide (issue 13): pages served with wrk
(Debian's) at 64 connections on loopback while !ping's round trip is
measured through a real ngIRCd, against !ping idle; and the class page
of N students (500) fetched one at a time (its request time bounds its
render time).

Reports requests/s of a student's page and of the class page, !ping p50
and p99 idle and under load, and the class page's median request time.
Exits non-zero if pages are served at fewer than 5,000 requests/s, !ping
p99 under load is more than 2x idle p99 (with a 2 ms floor for the
idle figure: loopback round trips of a few hundred microseconds would
make the ratio noise), or the class page takes 10 ms or more.

  BUILD=build /usr/bin/python3 tests/registrar/bench_guide.py
      [--students 500] [--seconds 10] [--json FILE]
      [--per-pass N] [--nice] [--wrk-cpus LIST]

--per-pass sets [http] requests_per_pass (default: the host's, 4;
10000 is as good as no bound: the control).  --nice runs wrk under
`nice -n 19`, a control for the CPU the client takes from the bot and
ngIRCd on a small machine; --wrk-cpus runs it under `taskset -c LIST`
(e.g. 1: wrk on one core, the other left to the bot and ngIRCd).  The
load average before and after the run is printed with the figures.
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import webdriver  # noqa: E402  (free_port)
from bench import ping_rtt  # noqa: E402
from ircclient import IrcClient  # noqa: E402
from test_chat import CHANNEL, KIT, start_ngircd  # noqa: E402


NICE = []


def wrk(url, seconds, connections=64, threads=2):
    out = subprocess.run(NICE + ["wrk", "-t%d" % threads, "-c%d" % connections,
                          "-d%ds" % seconds, "--latency", url],
                         capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return rps, int(non2xx.group(1)) if non2xx else 0, out


def ms(value, unit):
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def p(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def pings(client, n):
    out = []
    for _ in range(n):
        rtt = ping_rtt(client)
        if rtt is not None:
            out.append(rtt)
        time.sleep(0.02)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--students", type=int, default=500)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--json")
    ap.add_argument("--per-pass", type=int)
    ap.add_argument("--nice", action="store_true")
    ap.add_argument("--wrk-cpus")
    ap.add_argument("--perf", help="perf record the bot during the "
                    "class page's run into this file")
    args = ap.parse_args()
    if args.nice:
        NICE[:] = ["nice", "-n", "19"]
    if args.wrk_cpus:
        NICE[:0] = ["taskset", "-c", args.wrk_cpus]
    load = open("/proc/loadavg").read().split()[:3]
    tmp = tempfile.mkdtemp(prefix="bench-guide-")
    irc_dir = os.path.join(tmp, "irc")
    host, port = start_ngircd(irc_dir)
    w = harness.World(students=args.students, mentors=0,
                      workdir=os.path.join(tmp, "world"))
    http_port = webdriver.free_port()
    base = "http://127.0.0.1:%d" % http_port
    w.write_config({"guide_url": base, "concurrency": "16"},
                   irc={"server": host, "port": str(port), "nick": "regbot",
                        "channels": CHANNEL, "flood_control": "false"},
                   access=["mask *!*@* registrar.admin registrar.view"],
                   http={"listen": "127.0.0.1:%d" % http_port,
                         "max_connections": "256",
                         "max_connections_per_ip": "128",
                         **({"requests_per_pass": str(args.per_pass)}
                            if args.per_pass else {})})
    w.run("sync", check=True)
    link = re.search(r"http://\S+", w.run("link", "Student 001",
                                          check=True).stdout).group(0)
    klass = re.search(r"http://\S+", w.run("guide", check=True)
                      .stdout).group(0)
    log = open(os.path.join(tmp, "bot.log"), "w")
    bot = subprocess.Popen([harness.OPSBOT, "-c", w.config],
                           stdout=subprocess.DEVNULL, stderr=log)
    client = None
    try:
        client = IrcClient(host, port, "bencher", quickack=True)
        client.sock.settimeout(None)
        client.join(CHANNEL)
        if not harness.wait_for(lambda: ping_rtt(client, 1.0) is not None,
                                30, 0.1):
            raise SystemExit("bench: the bot did not answer !ping")
        idle = pings(client, 100)
        # the class page, one request at a time (wrk on one keep-alive
        # connection: no client start-up in the figure)
        with urllib.request.urlopen(klass, timeout=10) as res:
            rows = res.read().count(b"<tr><td>")
        _, _, out1 = wrk(klass, 5, connections=1, threads=1)
        times = {q: ms(v, u) for q, v, u in re.findall(
            r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)$", out1, re.M)}
        # pages under load, !ping meanwhile
        loaded = []
        stop = threading.Event()

        def pinger():
            while not stop.is_set():
                rtt = ping_rtt(client)
                if rtt is not None:
                    loaded.append(rtt)
                time.sleep(0.02)
        th = threading.Thread(target=pinger)
        th.start()
        rps, bad, out = wrk(link, args.seconds)
        stop.set()
        th.join()
        prof = subprocess.Popen(["perf", "record", "-g", "-o", args.perf,
                                 "-p", str(bot.pid)],
                                stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL) \
            if args.perf else None
        rps_class, bad_class, _ = wrk(klass, max(3, args.seconds // 3))
        if prof:
            prof.send_signal(2)
            prof.wait()
    finally:
        if client:
            client.close()
        bot.terminate()
        bot.wait(15)
        log.close()
        w.stop()
        subprocess.run([os.path.join(KIT, "ngircd-stop"), irc_dir],
                       capture_output=True)
    res = {
        "loadavg_before": " ".join(load),
        "loadavg_after": " ".join(open("/proc/loadavg").read().split()[:3]),
        "requests_per_pass": args.per_pass or 4,
        "wrk_nice": bool(args.nice),
        "wrk_cpus": args.wrk_cpus,
        "students": args.students,
        "class_rows": rows,
        "student_page_rps_64c": rps,
        "student_page_non2xx": bad,
        "class_page_rps_64c": rps_class,
        "class_page_non2xx": bad_class,
        "class_page_ms_median": times["50"],
        "class_page_ms_p99": times["99"],
        "ping_idle_ms_p50": statistics.median(idle),
        "ping_idle_ms_p99": p(idle, 0.99),
        "ping_loaded_ms_p50": statistics.median(loaded) if loaded else None,
        "ping_loaded_ms_p99": p(loaded, 0.99) if loaded else None,
        "ping_loaded_n": len(loaded),
    }
    print(json.dumps(res, indent=2))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=2)
    ok = True
    if rps < 5000 or bad:
        print("bench: student page %.0f req/s (%d non-2xx); want >= 5000"
              % (rps, bad))
        ok = False
    if rows != args.students:
        print("bench: the class page shows %d rows of %d" % (
            rows, args.students))
        ok = False
    if res["class_page_ms_median"] >= 10:
        print("bench: class page %.1f ms; want < 10" %
              res["class_page_ms_median"])
        ok = False
    if not loaded or res["ping_loaded_ms_p99"] > 2 * max(
            res["ping_idle_ms_p99"], 2.0):
        print("bench: !ping p99 under load %s ms vs idle %.2f ms" % (
            res["ping_loaded_ms_p99"], res["ping_idle_ms_p99"]))
        ok = False
    print("bench: %s; details in %s" % ("ok" if ok else "FAILED", tmp))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()

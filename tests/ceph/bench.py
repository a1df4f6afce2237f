#!/usr/bin/env python3
"""The ceph plugin's benchmark (docs/ceph.md), against a real libvirtd with
QEMU in software emulation, started and stopped by PID like the suite:

  1. create 3 nodes x 2 OSDs (full clones of a template with 128 MiB of
     data, started) by the bot (`opsbot run ceph create`) against the same
     libvirt calls from a plain C program (tests/ceph/bench_direct.c), in
     alternating rounds of the same run; the ratio of the medians;
  2. overlay clones of a 128 MiB and a 2 GiB template (and full clones of
     both, for contrast);
  3. !ping round trips through a private ngIRCd, idle and while a create
     runs: p50 and p99.

Run as root: BUILD=build /usr/bin/python3 tests/ceph/bench.py [ROUNDS]
(HV_CPU=1: libvirtd and its children on CPU 1, the rest on the others)"""

import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import test_libvirt as T  # noqa: E402
from ircclient import IrcClient  # noqa: E402

ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 3


def med(v):
    return statistics.median(v)


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


def template(name, size, mac):
    path = os.path.join(T.LAB["pool_dir"], name + ".qcow2")
    T.sh("qemu-img", "create", "-q", "-f", "qcow2", path, size)
    # Real data, so a full copy has something to copy.
    mib = int(size[:-1]) * (1024 if size.endswith("G") else 1)
    cmds = []
    for off in range(0, mib, 1024):  # qemu-io writes < 2 GiB at a time
        cmds += ["-c", "write -P 0xab %dM %dM" % (off, min(1024, mib - off))]
    T.sh("qemu-io", "-f", "qcow2", *cmds, path, timeout=600)
    T.virsh("pool-refresh", T.POOL)
    xml = os.path.join(T.LAB["tmp"], name + ".xml")
    with open(xml, "w") as f:
        f.write(T.TEMPLATE_XML.format(name=name, disk=path, mac=mac))
    T.virsh("define", xml)


def bot_create(b, cluster, *opts):
    t0 = time.monotonic()
    out = b.ok("create", cluster, *opts)
    wall = (time.monotonic() - t0) * 1000
    m = re.search(r"ready in ([0-9.]+) s", out)
    b.ok("destroy", cluster, "--yes")
    return float(m.group(1)) * 1000, wall


def main():
    # HV_CPU=1: libvirtd (and what it starts: qemu-img, QEMU) on that CPU,
    # the bot, ngIRCd and the pinger on the others, as when the hypervisor
    # is another machine (qemu+ssh://) or the bot has a core of its own.
    hv = os.environ.get("HV_CPU")
    if hv:
        os.sched_setaffinity(0, set(range(os.cpu_count())) - {int(hv)})
    T.setUpModule()
    if hv:
        for pid in subprocess.run(["pgrep", "-x", "libvirtd"],
                                  capture_output=True,
                                  text=True).stdout.split():
            subprocess.run(["taskset", "-a", "-p", "-c", hv, pid],
                           stdout=subprocess.DEVNULL, check=True)
        print("libvirtd on CPU %s, the bot and ngIRCd on the others\n" % hv)
    try:
        run()
    finally:
        T.tearDownModule()


def run():
    direct = os.path.join(T.LAB["tmp"], "bench_direct")
    T.sh("cc", "-O2", "-o", direct, os.path.join(HERE, "bench_direct.c"),
         "-lvirt")
    template("csb-128", "128M", "11")
    template("csb-2g", "2G", "12")
    n = 0

    # 1. the bot against the plain C program, alternating.
    b = T.Bot("bench1", {"template": ["csb-128", "csb-2g"],
                         "cloud_init": "no", "quota_nodes": "0",
                         "quota_disk": "0", "quota_clusters": "0"})
    bs = T.Bot("bench1s", {"template": "csb-128", "quota_nodes": "0",
                           "quota_disk": "0", "quota_clusters": "0"})
    rows = []
    for start in ("1", "0"):
        d_ms, b_ms, b_wall = [], [], []
        for r in range(ROUNDS):
            out = T.sh(direct, T.LAB["uri"], T.POOL, "csb-128", "csd", "3",
                       "2", str(1 << 30), start).stdout
            d_ms.append(float(out.strip()))
            T.sh(direct, T.LAB["uri"], T.POOL, "-", "csd", "3", "2", "0",
                 "0", "clean")
            n += 1
            ms, wall = bot_create(b, "csr%d" % n, "nodes=3", "osds=2",
                                  "osd-size=1G", "template=csb-128",
                                  "start=" + ("yes" if start == "1"
                                              else "no"))
            b_ms.append(ms)
            b_wall.append(wall)
        rows.append((start, d_ms, b_ms, b_wall))
    n += 1
    seeds, _ = bot_create(bs, "csr%d" % n, "nodes=3", "osds=2",
                          "osd-size=1G")
    print("## create 3 nodes x 2 OSDs, full clones of a template with 128 "
          "MiB of data (%d rounds, medians, ms)\n" % ROUNDS)
    print("| | plain C, same libvirt calls | bot: create job (`ready in`) "
          "| bot: `opsbot run` wall time | ratio (job / wall) |")
    print("|---|---|---|---|---|")
    for start, d_ms, b_ms, b_wall in rows:
        print("| %s | %.0f | %.0f | %.0f | **%.2f** / %.2f |" % (
            "started" if start == "1" else "not started", med(d_ms),
            med(b_ms), med(b_wall), med(b_ms) / med(d_ms),
            med(b_wall) / med(d_ms)))
        print("|  rounds | %s | %s | %s | |" % (
            " ".join("%.0f" % x for x in d_ms),
            " ".join("%.0f" % x for x in b_ms),
            " ".join("%.0f" % x for x in b_wall)))
    print("\nwith cloud-init seeds too (3 x cloud-localds + upload, started, "
          "1 round): %.0f ms\n" % seeds)

    # 2. overlay against full, 128 MiB against 2 GiB.
    res = {}
    for mode in ("overlay", "full"):
        bm = T.Bot("bench2" + mode, {
            "template": ["csb-128", "csb-2g"], "clone": mode,
            "cloud_init": "no", "quota_nodes": "0", "quota_disk": "0",
            "quota_clusters": "0"})
        for tpl in ("csb-128", "csb-2g"):
            v = []
            for r in range(ROUNDS):
                n += 1
                ms, _ = bot_create(bm, "csr%d" % n, "nodes=3", "osds=2",
                                   "start=no", "template=" + tpl)
                v.append(ms)
            res[(mode, tpl)] = med(v)
    print("## clone mode and template size (3 x 2, not started; medians)\n")
    print("| clone | 128 MiB template | 2 GiB template |")
    print("|---|---|---|")
    for mode in ("overlay", "full"):
        print("| %s | %.0f ms | %.0f ms |" % (
            mode, res[(mode, "csb-128")], res[(mode, "csb-2g")]))
    print()

    # 3. !ping during a create.
    irc_dir = os.path.join(T.LAB["tmp"], "irc")
    out = T.sh(os.path.join(T.KIT, "ngircd-start"), irc_dir).stdout
    env = dict(ln.split("=", 1) for ln in out.split() if "=" in ln)
    host, port = env["HOST"], int(env["PORT"])
    bp = T.Bot("bench3", {"template": "csb-128", "cloud_init": "no"},
               irc={"server": host, "port": str(port), "nick": "cephbot",
                    "channels": "#ceph", "flood_control": "false"},
               access=["mask alice!*@* ceph"])
    bot = subprocess.Popen([T.OPSBOT, "-c", bp.config],
                           stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    # quickack: the pinger ACKs at once, or ngIRCd's Nagle holds the pong
    # behind a progress line it sent us until our delayed ACK (40 ms)
    alice = IrcClient(host, port, "alice", quickack=True)
    alice.sock.settimeout(None)  # the reader ends at a 10 s silence
    try:
        alice.join("#ceph")
        time.sleep(3)

        def ping():
            m = alice.mark()
            t0 = time.monotonic()
            alice.say("#ceph", "!ping")
            ok = alice.wait(lambda ln: ln[3] == "pong", timeout=10, start=m)
            assert ok, "no pong"
            # the reader thread's time of arrival, not the 5 ms poll's
            return (ok[4] - t0) * 1000

        idle = [ping() for _ in range(300)]
        # Control: the same create by the plain C program (the bot
        # idle): what the machine's load alone does to the round trip.
        control, control_ns = [], []
        for start, into in (("1", control), ("0", control_ns)):
            for r in range(ROUNDS):
                p = subprocess.Popen([direct, T.LAB["uri"], T.POOL,
                                      "csb-128", "csd", "3", "2",
                                      str(1 << 30), start],
                                     stdout=subprocess.DEVNULL)
                while p.poll() is None:
                    into.append(ping())
                T.sh(direct, T.LAB["uri"], T.POOL, "-", "csd", "3", "2",
                     "0", "0", "clean")
        busy, busy_ns = [], []
        k = 0
        for start, into in (("yes", busy), ("no", busy_ns)):
            for r in range(ROUNDS):
                k += 1
                c = "csp%d" % k
                m = alice.mark()
                alice.say("#ceph", "!ceph create %s nodes=3 osds=2 start=%s"
                          % (c, start))
                while not alice.wait(lambda ln: c + " ready" in ln[3] or
                                     "failed" in ln[3], timeout=0, start=m):
                    into.append(ping())
                m = alice.mark()
                alice.say("#ceph", "!ceph destroy %s" % c)
                alice.wait(lambda ln: "--yes" in ln[3], timeout=10, start=m)
                alice.say("#ceph", "!ceph destroy %s --yes" % c)
                alice.wait(lambda ln: "destroyed" in ln[3], timeout=60,
                           start=m)
        print("## !ping round trip through ngIRCd (ms)\n")
        print("| | n | p50 | p99 |")
        print("|---|---|---|---|")
        print("| idle | %d | %.1f | %.1f |" % (len(idle), pct(idle, 50),
                                              pct(idle, 99)))
        print("| while the plain C program creates 3 x 2 (control) | %d | "
              "%.1f | %.1f |" % (len(control), pct(control, 50),
                                 pct(control, 99)))
        print("| during the bot's create 3 x 2 (started) | %d | %.1f | %.1f |"
              % (len(busy), pct(busy, 50), pct(busy, 99)))
        print("| while the plain C program creates 3 x 2, not started "
              "(control) | %d | %.1f | %.1f |" % (
                  len(control_ns), pct(control_ns, 50), pct(control_ns, 99)))
        print("| during the bot's create 3 x 2 (not started) | %d | %.1f | "
              "%.1f |" % (len(busy_ns), pct(busy_ns, 50), pct(busy_ns, 99)))
        print("\np99 during / idle: started **%.2f**, not started **%.2f**; "
              "during / control: started **%.2f**, not started **%.2f**" % (
                  pct(busy, 99) / pct(idle, 99),
                  pct(busy_ns, 99) / pct(idle, 99),
                  pct(busy, 99) / pct(control, 99),
                  pct(busy_ns, 99) / pct(control_ns, 99)))
        print("load average at the end: %s" % open("/proc/loadavg").read()
              .strip())
    finally:
        alice.close()
        bot.send_signal(signal.SIGTERM)
        bot.wait(30)
        T.sh(os.path.join(T.KIT, "ngircd-stop"), irc_dir, check=False)


if __name__ == "__main__":
    if os.geteuid() != 0 or not shutil.which("libvirtd"):
        sys.exit("bench: needs root and libvirtd (scripts/deps test)")
    main()

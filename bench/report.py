#!/usr/bin/env python3
"""report.py RESULTS.jsonl - summarises a `make bench` run as Markdown:
medians over the rounds of opsbot and of the pingbot floor measured in
the same run, the ratios the targets are stated in, and pass/fail; with
peers in the run (`make bench PEERS=1`), every bot as ratios to that
same-run floor."""
import json
import statistics
import sys


def load(path):
    runs = {}
    for line in open(path):
        line = line.strip()
        if not line:
            continue
        d = json.loads(line)
        label = d.get("extra", {}).get("label", "?")
        runs.setdefault(label, []).append(d)
    return runs


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else float("nan")


def phase(d, window):
    for t in d.get("throughput", []):
        if t["window"] == window:
            return t
    return {}


# Labels run-eggdrop.sh and run-limnoria.sh give their runs.
PEERS = [("eggdrop-putquick", "Eggdrop (putquick)"), ("limnoria", "Limnoria")]


def peer_ratios(bots, floor):
    """Each bot against the pingbot floor of the same run: latency, CPU,
    memory and start-up as multiples of the floor's (lower is better),
    throughput as a fraction of it (higher is better)."""
    out = ["| bot / pingbot, same run | seq p50 | seq p99 | w=64 /s | "
           "bot CPU/cmd w64 | VmRSS joined | exec->JOIN |",
           "| --- | --- | --- | --- | --- | --- | --- |"]
    for b in bots:
        out.append("| %s | %.2fx | %.2fx | %.2fx | %.1fx | %.2fx | %.2fx |" % (
            b["name"], b["seq_p50"] / floor["seq_p50"],
            b["seq_p99"] / floor["seq_p99"], b["w64"] / floor["w64"],
            b["cpu_w64"] / floor["cpu_w64"] if floor["cpu_w64"] else float("nan"),
            b["rss"] / floor["rss"], b["join"] / floor["join"]))
    return "\n".join(out)


def main():
    runs = load(sys.argv[1])
    bot = [d for d in runs.get("opsbot", []) if d["mode"] == "bot"]
    ping = [d for d in runs.get("pingbot", []) if d["mode"] == "bot"]
    idle = runs.get("hol-idle", [])
    loaded = runs.get("hol-loaded", [])
    if not bot or not ping:
        sys.exit("report: need opsbot and pingbot runs in %s" % sys.argv[1])

    def row(name, runs_):
        return {
            "name": name,
            "n": len(runs_),
            "seq_p50": med(d["latency"]["p50_us"] for d in runs_),
            "seq_p99": med(d["latency"]["p99_us"] for d in runs_),
            "w1": med(phase(d, 1).get("per_s") for d in runs_),
            "w8": med(phase(d, 8).get("per_s") for d in runs_),
            "w64": med(phase(d, 64).get("per_s") for d in runs_),
            "cpu_seq": med(d["latency"].get("bot_cpu_us_per_cmd") for d in runs_),
            "cpu_w64": med(phase(d, 64).get("bot_cpu_us_per_cmd") for d in runs_),
            "rss": med(d["mem_before"]["VmRSS_kB"] for d in runs_ if d.get("mem_before")),
            "rss_end": med(d["mem_after"]["VmRSS_kB"] for d in runs_ if d.get("mem_after")),
            "join": med(d.get("startup", {}).get("startup_join_ms") for d in runs_),
            "first": med(d.get("startup", {}).get("startup_first_reply_ms") for d in runs_),
        }

    o, p = row("opsbot", bot), row("pingbot (two-pass floor)", ping)
    tls = [d for d in runs.get("opsbot-tls", []) if d["mode"] == "bot"]
    rows = [o, p] + ([row("opsbot over TLS (reported, no target)", tls)] if tls else [])
    peers = []
    for label, name in PEERS:
        got = [d for d in runs.get(label, []) if d["mode"] == "bot"]
        if got:
            peers.append(row(name, got))
    rows += peers
    out = []
    out.append("| bot | runs | seq p50 µs | seq p99 µs | w=1 /s | w=8 /s | w=64 /s "
               "| bot CPU µs/cmd (seq / w64) | VmRSS joined -> end | exec->JOIN ms "
               "| first reply ms |")
    out.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        out.append("| %s | %d | %.1f | %.1f | %.0f | %.0f | %.0f | %.1f / %.1f | "
                   "%.1f -> %.1f MB | %.1f | %.1f |" % (
                       r["name"], r["n"], r["seq_p50"], r["seq_p99"], r["w1"], r["w8"],
                       r["w64"], r["cpu_seq"], r["cpu_w64"], r["rss"] / 1024,
                       r["rss_end"] / 1024, r["join"], r["first"]))
    out.append("")
    checks = []
    ratio = o["seq_p50"] / p["seq_p50"]
    checks.append(("sequential `!ping` p50 vs pingbot p50", "<= 1.15x",
                   "%.2fx (%.1f / %.1f µs)" % (ratio, o["seq_p50"], p["seq_p50"]),
                   ratio <= 1.15))
    checks.append(("window 64 throughput", ">= 75,000/s", "%.0f/s" % o["w64"],
                   o["w64"] >= 75000))
    checks.append(("bot CPU per command at window 64", "<= 5 µs",
                   "%.1f µs" % o["cpu_w64"], o["cpu_w64"] <= 5))
    checks.append(("VmRSS once joined (all plugins loaded)", "<= 6 MB",
                   "%.2f MB (%d kB)" % (o["rss"] / 1024, o["rss"]), o["rss"] <= 6 * 1024))
    checks.append(("exec -> JOIN", "<= 30 ms", "%.1f ms" % o["join"], o["join"] <= 30))
    if idle and loaded:
        i99 = med(d["latency"]["p99_us"] for d in idle)
        l99 = med(d["latency"]["p99_us"] for d in loaded)
        checks.append(("`!ping` p99 with a 5 s job and a 5 s HTTP request in flight, "
                       "vs idle", "<= 2x", "%.2fx (%.1f / %.1f µs, %d rounds)" % (
                           l99 / i99, l99, i99, len(loaded)), l99 / i99 <= 2))
    out.append("| target | bound | measured | |")
    out.append("| --- | --- | --- | --- |")
    for name, bound, got, ok in checks:
        out.append("| %s | %s | %s | %s |" % (name, bound, got, "pass" if ok else "**FAIL**"))
    if peers:
        out.append("")
        out.append(peer_ratios([o] + peers, p))
    print("\n".join(out))
    return 0 if all(c[3] for c in checks) else 1


sys.exit(main())

#!/usr/bin/env python3
"""End-to-end tests of the ceph plugin against a real libvirtd with QEMU
in software emulation (tests/servers/libvirtd-start), a tiny qcow2
template in a dir pool under a temp dir, through `opsbot run ceph ...`
and, for what needs the daemon (TTL expiry, reconnection), the bot on a
private ngIRCd.  Every check reads libvirt's own view (virsh) or the
files, not the bot's word.

Run as root: BUILD=build /usr/bin/python3 tests/ceph/test_libvirt.py"""

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "registrar"))
from ircclient import IrcClient  # noqa: E402

BUILD = os.path.join(ROOT, os.environ.get("BUILD", "build"))
OPSBOT = os.path.join(BUILD, "opsbot")
KIT = os.path.join(ROOT, "tests", "servers")
PREFIX = "cs"           # every domain of this suite starts with it
POOL = "cs-suite"
SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIcephsuitekey suite@test"

TEMPLATE_XML = """<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <controller type='scsi' index='0' model='virtio-scsi'/>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='{disk}'/>
      <target dev='sda' bus='scsi'/>
    </disk>
    <interface type='user'>
      <mac address='52:54:00:aa:00:{mac}'/>
      <model type='virtio'/>
    </interface>
    <memballoon model='none'/>
  </devices>
</domain>
"""

LAB = {}


def sh(*args, check=True, timeout=120):
    p = subprocess.run(list(args), capture_output=True, text=True,
                       timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError("%s: exit %d\n%s%s" % (
            " ".join(args), p.returncode, p.stdout, p.stderr))
    return p


def virsh(*args, check=True):
    return sh("virsh", "-q", "-c", LAB["uri"], *args, check=check).stdout


def domains(prefix):
    return sorted(d for d in virsh("list", "--all", "--name").split()
                  if d.startswith(prefix))


def pool_vols(pool=POOL):
    virsh("pool-refresh", pool)
    out = virsh("vol-list", pool)
    return sorted(line.split()[0] for line in out.splitlines()
                  if line.strip())


def blk(dom, inactive=False):
    args = ["domblklist", dom] + (["--inactive"] if inactive else [])
    return {ln.split()[0]: ln.split()[1] for ln in
            virsh(*args).splitlines() if ln.strip()}


def macs(dom):
    out = virsh("domiflist", dom)
    return [ln.split()[-1] for ln in out.splitlines() if ln.strip()]


def wait_for(pred, timeout=20.0, step=0.02):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


def setUpModule():
    if os.geteuid() != 0 or not shutil.which("libvirtd"):
        raise unittest.SkipTest("needs root and libvirtd (scripts/deps "
                                "test)")
    tmp = tempfile.mkdtemp(prefix="cs.", dir="/tmp")
    LAB["tmp"] = tmp
    out = sh(os.path.join(KIT, "libvirtd-start"), os.path.join(tmp, "lv"),
             timeout=90).stdout
    env = {}
    for line in out.splitlines():
        k, v = line.split("=", 1)
        env[k] = v.strip("'")
    LAB["lvdir"] = env["DIR"]
    LAB["uri"] = env["URI"]
    pool_dir = os.path.join(tmp, "pool")
    os.mkdir(pool_dir)
    LAB["pool_dir"] = pool_dir
    virsh("pool-define-as", POOL, "dir", "--target", pool_dir)
    virsh("pool-start", POOL)
    tpl = os.path.join(pool_dir, "tpl.qcow2")
    sh("qemu-img", "create", "-q", "-f", "qcow2", tpl, "32M")
    # A template with 10 MB of data, for the pool that is too small.
    raw = os.path.join(tmp, "big.raw")
    with open(raw, "wb") as f:
        f.write(os.urandom(10 << 20))
    sh("qemu-img", "convert", "-q", "-O", "qcow2", raw,
       os.path.join(pool_dir, "big.qcow2"))
    os.unlink(raw)
    virsh("pool-refresh", POOL)
    for name, disk, mac in (("cs-tpl", tpl, "01"),
                            ("cs-big", os.path.join(pool_dir, "big.qcow2"),
                             "02")):
        path = os.path.join(tmp, name + ".xml")
        with open(path, "w") as f:
            f.write(TEMPLATE_XML.format(name=name, disk=disk, mac=mac))
        virsh("define", path)
    LAB["base_vols"] = pool_vols()


def tearDownModule():
    if "lvdir" in LAB:
        for p in ("cs-small", POOL):
            virsh("pool-destroy", p, check=False)
            virsh("pool-undefine", p, check=False)
        sh(os.path.join(KIT, "libvirtd-stop"), LAB["lvdir"], "--prefix",
           PREFIX, check=False)
    if "small" in LAB:
        sh("umount", LAB["small"], check=False)
    if "tmp" in LAB:
        shutil.rmtree(LAB["tmp"], ignore_errors=True)


class Bot:
    """A config and the state database of one test."""

    def __init__(self, name, extra=None, irc=None, access=None):
        self.dir = os.path.join(LAB["tmp"], name)
        os.mkdir(self.dir)
        self.db = os.path.join(self.dir, "state.db")
        plugin = {
            "uri": LAB["uri"],
            "pool": POOL,
            "template": "cs-tpl",
            "ssh_key": SSH_KEY,
            "data_dir": os.path.join(self.dir, "data"),
            "stop_timeout": "2s",
        }
        plugin.update(extra or {})
        lines = []
        if irc:
            lines.append("[irc]")
            lines += ["%s = %s" % kv for kv in irc.items()]
        lines += ["[bot]", "plugins = ceph",
                  "plugin_dir = " + os.path.join(BUILD, "plugins"),
                  "state = " + self.db]
        if access:
            lines += ["[access]"] + ["grant = " + g for g in access]
        lines.append("[plugin.ceph]")
        for k, v in plugin.items():
            for item in (v if isinstance(v, list) else [v]):
                lines.append("%s = %s" % (k, item))
        self.config = os.path.join(self.dir, "opsbot.conf")
        with open(self.config, "w") as f:
            f.write("\n".join(lines) + "\n")

    def run(self, *args, timeout=180):
        t0 = time.monotonic()
        p = subprocess.run([OPSBOT, "-c", self.config, "run", "ceph"]
                           + list(args), capture_output=True, text=True,
                           timeout=timeout)
        if os.environ.get("CEPH_SUITE_TIMES"):
            sys.stderr.write("[%s: %.2f s] " % (" ".join(args),
                                                time.monotonic() - t0))
        return p

    def ok(self, *args):
        p = self.run(*args)
        if p.returncode != 0:
            raise AssertionError("run ceph %s: exit %d\n%s%s" % (
                " ".join(args), p.returncode, p.stdout, p.stderr))
        return p.stdout

    def spawn(self, *args):
        return subprocess.Popen([OPSBOT, "-c", self.config, "run", "ceph"]
                                + list(args), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def ledger(self, cluster=None):
        if not os.path.exists(self.db):
            return []
        con = sqlite3.connect(self.db, timeout=10)
        try:
            q = "SELECT kind, name FROM ceph_resources"
            rows = (con.execute(q + " WHERE cluster = ?", (cluster,))
                    if cluster else con.execute(q)).fetchall()
        except sqlite3.OperationalError:
            rows = []
        con.close()
        return rows


class LibvirtTest(unittest.TestCase):
    def setUp(self):
        self.t0 = time.monotonic()

    def tearDown(self):
        sys.stderr.write("(%.1f s) " % (time.monotonic() - self.t0))

    def assert_clean(self, cluster, pool=POOL, base=None):
        self.assertEqual(domains(cluster + "-"), [])
        vols = pool_vols(pool)
        self.assertEqual([v for v in vols if v.startswith(cluster + "-")],
                         [])
        if base is not None:
            self.assertEqual(vols, base)

    def test_1_create_live_disks_destroy(self):
        b = Bot("t1")
        out = b.ok("templates")
        self.assertIn("cs-tpl on local: usable, disk 32M qcow2", out)
        out = b.ok("create", "csa", "nodes=2", "osds=2", "osd-size=64M")
        self.assertIn("csa ready in", out)
        self.assertEqual(domains("csa-"), ["csa-01", "csa-02"])
        for d in ("csa-01", "csa-02"):
            self.assertEqual(virsh("domstate", d).strip(), "running")
        # New MACs in 52:54:00, unique, not the template's.
        m = macs("csa-01") + macs("csa-02")
        self.assertEqual(len(m), 2)
        self.assertEqual(len(set(m)), 2)
        self.assertTrue(all(x.startswith("52:54:00:") for x in m))
        self.assertNotIn("52:54:00:aa:00:01", m)
        # Root, seed and two OSDs; the template's disk is not used.
        disks = blk("csa-01")
        self.assertEqual(sorted(disks), ["sda", "sdb", "sdc", "sdd"])
        self.assertTrue(disks["sda"].endswith("/csa-01-root.qcow2"))
        # The cloud-init seed: hostname and the configured key.
        seed = disks["sdb"]
        self.assertTrue(seed.endswith("/csa-01-seed.iso"))
        ud = sh("isoinfo", "-i", seed, "-R", "-x", "/user-data").stdout
        md = sh("isoinfo", "-i", seed, "-R", "-x", "/meta-data").stdout
        self.assertIn("hostname: csa-01", ud)
        self.assertIn(SSH_KEY, ud)
        self.assertIn("local-hostname: csa-01", md)
        self.assertIn("Volume id: cidata",
                      sh("isoinfo", "-d", "-i", seed).stdout)
        # Live disk add: in the live and the persistent XML.
        out = b.ok("disk", "add", "csa-01", "128M")
        self.assertIn("added sde", out)
        self.assertIn("live and persistent", out)
        self.assertIn("sde", blk("csa-01"))
        self.assertIn("sde", blk("csa-01", inactive=True))
        self.assertIn("csa-01-osd3.qcow2", pool_vols())
        # Live disk rm: gone from both, and its volume deleted; the
        # unplug confirmed by libvirt's DEVICE_REMOVED event (the live
        # XML is only the fallback when no event comes).
        out = b.ok("disk", "rm", "csa-01", "sde")
        self.assertIn("removed sde", out)
        self.assertIn("unplug confirmed by libvirt's DEVICE_REMOVED event",
                      out)
        self.assertNotIn("sde", blk("csa-01"))
        self.assertNotIn("sde", blk("csa-01", inactive=True))
        self.assertNotIn("csa-01-osd3.qcow2", pool_vols())
        # Refusals, one line each, nothing changed.
        for tgt, why in (("sda", "root disk"), ("sdb", "cloud-init seed"),
                         ("sdx", "no disk sdx")):
            p = b.run("disk", "rm", "csa-01", tgt)
            self.assertNotEqual(p.returncode, 0)
            self.assertIn(why, p.stderr)
        self.assertEqual(sorted(blk("csa-01")), ["sda", "sdb", "sdc", "sdd"])
        out = b.ok("show", "csa")
        self.assertIn("csa-01 on local: running", out)
        self.assertIn("sdc 64M", out)
        # stop (no guest answers ACPI: powered off after stop_timeout).
        self.assertIn("2 nodes stopped", b.ok("stop", "csa"))
        self.assertEqual(virsh("domstate", "csa-01").strip(), "shut off")
        # A shut-off node: persistent only.
        out = b.ok("disk", "add", "csa-02")
        self.assertIn("persistent (node is shut off)", out)
        self.assertIn("sde", blk("csa-02", inactive=True))
        self.assertIn("2 nodes started", b.ok("start", "csa"))
        self.assertIn("sde", blk("csa-02"))
        # destroy: confirmation, then nothing left.
        p = b.run("destroy", "csa")
        self.assertIn("--yes", p.stdout + p.stderr)
        self.assertEqual(len(domains("csa-")), 2)
        self.assertIn("csa destroyed", b.ok("destroy", "csa", "--yes"))
        self.assert_clean("csa", base=LAB["base_vols"])
        self.assertEqual(b.ledger(), [])
        self.assertIn("no ceph clusters", b.ok("list"))
        # The template is untouched.
        self.assertEqual(virsh("domstate", "cs-tpl").strip(), "shut off")
        sh("qemu-img", "check", "-q",
           os.path.join(LAB["pool_dir"], "tpl.qcow2"))

    def test_2_overlay(self):
        b = Bot("t2", {"clone": "overlay", "cloud_init": "no"})
        out = b.ok("create", "csb", "nodes=1", "osds=0", "start=no")
        self.assertIn("csb ready", out)
        info = json.loads(sh("qemu-img", "info", "--output=json", "-U",
                             os.path.join(LAB["pool_dir"],
                                          "csb-01-root.qcow2")).stdout)
        self.assertEqual(info.get("backing-filename"),
                         os.path.join(LAB["pool_dir"], "tpl.qcow2"))
        b.ok("start", "csb")
        self.assertEqual(virsh("domstate", "csb-01").strip(), "running")
        b.ok("destroy", "csb", "--yes")
        self.assert_clean("csb", base=LAB["base_vols"])
        sh("qemu-img", "check", "-q",
           os.path.join(LAB["pool_dir"], "tpl.qcow2"))

    def test_3_inventory_and_provision(self):
        script = os.path.join(LAB["tmp"], "provision.py")
        with open(script, "w") as f:
            f.write("""#!/usr/bin/env python3
import sys, configparser
inv = open(sys.argv[-1]).read()
hosts = [l.split()[0] for l in inv.split('[osds]')[1].split('[')[0].split('\\n') if l.strip()]
assert hosts == ['csc-01', 'csc-02'], hosts
assert 'osd_devices="/dev/sdc"' in inv, inv
print('PROVISION-OK nodes=%d mode=%s' % (len(hosts), sys.argv[1]))
""")
        os.chmod(script, 0o755)
        b = Bot("t3", {"provision_command": script + " --check"})
        out = b.ok("create", "csc", "nodes=2", "osds=1", "osd-size=32M",
                   "start=no")
        self.assertIn("provision csc: PROVISION-OK nodes=2 mode=--check",
                      out)
        self.assertIn("csc provisioned", out)
        out = b.ok("inventory", "csc")
        self.assertIn("[osds]", out)
        self.assertIn("csc-01 hypervisor=local", out)
        b.ok("destroy", "csc", "--yes")
        self.assert_clean("csc", base=LAB["base_vols"])
        # A provision command that fails: exit code non-zero, nodes up.
        b2 = Bot("t3b", {"provision_command": "false", "cloud_init": "no"})
        p = b2.run("create", "csd", "nodes=1", "osds=0", "start=no")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("provision_command failed", p.stderr)
        self.assertEqual(domains("csd-"), ["csd-01"])
        b2.ok("destroy", "csd", "--yes")
        self.assert_clean("csd", base=LAB["base_vols"])

    def test_4_quotas(self):
        b = Bot("t4", {"quota_nodes": "2", "cloud_init": "no"})
        p = b.run("create", "cse", "nodes=3")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("quota exceeded", p.stderr)
        self.assertEqual(len(p.stderr.strip().splitlines()), 1)
        self.assert_clean("cse", base=LAB["base_vols"])
        self.assertIn("no ceph clusters", b.ok("list"))

    def test_5_pool_too_small_then_destroy(self):
        small = os.path.join(LAB["tmp"], "small")
        os.mkdir(small)
        if sh("mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", small,
              check=False).returncode != 0:
            self.skipTest("cannot mount a tmpfs here")
        LAB["small"] = small
        virsh("pool-define-as", "cs-small", "dir", "--target", small)
        virsh("pool-start", "cs-small")
        b = Bot("t5", {"pool": "cs-small", "template": "cs-big",
                       "cloud_init": "no"})
        p = b.run("create", "csf", "nodes=3", "osds=1", "osd-size=16M",
                  "start=no")
        self.assertNotEqual(p.returncode, 0, p.stdout)
        self.assertIn("out of space", p.stderr)
        self.assertIn("of 3 nodes made", p.stderr)
        self.assertIn("csf: partial", b.ok("list"))
        # Everything that exists is in the ledger.
        made = [v for v in pool_vols("cs-small") if v.startswith("csf-")]
        self.assertTrue(made)
        names = {n for _, n in b.ledger("csf")}
        self.assertLessEqual(set(made), names)
        self.assertLessEqual(set(domains("csf-")), names)
        b.ok("destroy", "csf", "--yes")
        self.assert_clean("csf", pool="cs-small")
        self.assertEqual(pool_vols("cs-small"), [])
        self.assertEqual(b.ledger(), [])

    def test_6_sigkill_mid_create(self):
        b = Bot("t6")
        proc = b.spawn("create", "csg", "nodes=3", "osds=2",
                       "osd-size=16M")
        self.assertTrue(wait_for(lambda: len(b.ledger("csg")) >= 4,
                                 timeout=30), "nothing recorded")
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        proc.stdout.close()
        proc.stderr.close()
        # No orphan: whatever libvirt has is in the ledger.
        names = {n for _, n in b.ledger("csg")}
        self.assertLessEqual(
            {v for v in pool_vols() if v.startswith("csg-")}, names)
        self.assertLessEqual(set(domains("csg-")), names)
        self.assertIn("csg: partial", b.ok("list"))
        b.ok("destroy", "csg", "--yes")
        self.assert_clean("csg", base=LAB["base_vols"])
        self.assertEqual(b.ledger(), [])

    def test_7_daemon_ttl_and_libvirtd_restart(self):
        irc_dir = os.path.join(LAB["tmp"], "irc")
        out = sh(os.path.join(KIT, "ngircd-start"), irc_dir).stdout
        env = dict(ln.split("=", 1) for ln in out.split() if "=" in ln)
        host, port = env["HOST"], int(env["PORT"])
        try:
            self._daemon(host, port)
        finally:
            sh(os.path.join(KIT, "ngircd-stop"), irc_dir, check=False)

    def _daemon(self, host, port):
        b = Bot("t7", {"ttl_check": "300ms", "ttl_warn": "3s",
                       "cloud_init": "no", "channel": "#ceph",
                       "keepalive_interval": "1s", "keepalive_count": "3"},
                irc={"server": host, "port": str(port), "nick": "cephbot",
                     "channels": "#ceph", "flood_control": "false"},
                access=["mask alice!*@* ceph", "mask bob!*@* ceph"])
        log = open(os.path.join(b.dir, "bot.log"), "w")
        bot = subprocess.Popen([OPSBOT, "-v", "-c", b.config],
                               stdout=subprocess.DEVNULL, stderr=log)
        alice = IrcClient(host, port, "alice")
        # The client's socket keeps its 10 s connect timeout, and its
        # reader ends at the first silence that long (a create or a
        # libvirtd restart can be): no timeout once connected.
        alice.sock.settimeout(None)
        try:
            alice.join("#ceph")
            self.assertTrue(wait_for(lambda: any(
                "cephbot" in ln for ln in alice.raw if " JOIN " in ln)
                or bot.poll() is not None, timeout=20))
            time.sleep(0.5)

            def said(text, start, timeout=30):
                return alice.wait(lambda ln: text in ln[3], timeout=timeout,
                                  start=start)
            # TTL: a warning, then the destroy, with no command.
            m = alice.mark()
            alice.say("#ceph", "!ceph create csh nodes=1 osds=1 ttl=5s "
                      "start=no")
            self.assertTrue(said("csh ready", m), alice.since(m))
            self.assertTrue(said("ceph cluster csh expires in", m),
                            alice.since(m))
            self.assertTrue(said("csh of alice expired", m), alice.since(m))
            self.assertTrue(said("csh destroyed", m), alice.since(m))
            self.assert_clean("csh", base=LAB["base_vols"])
            logpath = os.path.join(b.dir, "bot.log")

            def tail(pos):
                with open(logpath, errors="replace") as f:
                    f.seek(pos)
                    return f.read()

            def logged(text, pos, timeout, what=None):
                t0 = time.monotonic()
                ok = wait_for(lambda: text in tail(pos), timeout=timeout,
                              step=0.05)
                if ok and what:
                    sys.stderr.write("[%s in %.2f s] " % (
                        what, time.monotonic() - t0))
                return ok

            def lvpid():
                with open(os.path.join(LAB["lvdir"], "libvirtd.pid")) as f:
                    return int(f.read())
            # libvirtd stopped while the bot idles: the close callback
            # notices it at once, without a command, and the bot reopens
            # the connection by itself once libvirtd is back.
            m = alice.mark()
            alice.say("#ceph", "!ceph templates")
            self.assertTrue(said("cs-tpl on local: usable", m))
            time.sleep(0.5)
            pos = os.path.getsize(logpath)
            t0 = time.monotonic()
            sh(os.path.join(KIT, "libvirtd-stop"), LAB["lvdir"],
               "--daemon-only")
            self.assertTrue(logged("lost (end of file: libvirtd went away)",
                                   pos, 5, "drop noticed"), tail(pos))
            self.assertLess(time.monotonic() - t0, 15)
            sh(os.path.join(KIT, "libvirtd-start"), LAB["lvdir"],
               timeout=90)
            self.assertTrue(logged("libvirt connection to %s reopened" %
                                   LAB["uri"], pos, 70, "reopened"),
                            tail(pos))
            if os.environ.get("CEPH_SUITE_TIMES"):
                sys.stderr.write("".join(
                    ln for ln in tail(pos).splitlines(True)
                    if "libvirt connection" in ln))
            # libvirtd hung (SIGSTOP): the socket stays open, so only the
            # keepalive notices: within interval x (count + 1) + slack.
            pos = os.path.getsize(logpath)
            pid = lvpid()
            os.kill(pid, signal.SIGSTOP)
            try:
                t0 = time.monotonic()
                self.assertTrue(logged("lost (no keepalive answer)", pos,
                                       1 * (3 + 1) + 6, "hang noticed"),
                                tail(pos))
                self.assertGreaterEqual(time.monotonic() - t0, 1.5)
            finally:
                os.kill(pid, signal.SIGCONT)
            self.assertTrue(logged("reopened", pos, 70, "reopened"),
                            tail(pos))
            # A node powered off behind the bot's back is announced (a
            # domain event, no polling); the bot's own stop is not.
            m = alice.mark()
            alice.say("#ceph", "!ceph create csk nodes=1 osds=0")
            self.assertTrue(said("csk ready", m, timeout=120),
                            alice.since(m))
            virsh("destroy", "csk-01")
            self.assertTrue(said("node csk-01 of csk (owner alice) stopped "
                                 "(powered off)", m), alice.since(m))
            alice.say("#ceph", "!ceph destroy csk")
            self.assertTrue(said("--yes", m))
            alice.say("#ceph", "!ceph destroy csk --yes")
            self.assertTrue(said("csk destroyed", m), alice.since(m))
            self.assert_clean("csk", base=LAB["base_vols"])
            # libvirtd restarted between two commands: the next command
            # works (reopened by then, or by the command itself).
            sh(os.path.join(KIT, "libvirtd-stop"), LAB["lvdir"],
               "--daemon-only")
            sh(os.path.join(KIT, "libvirtd-start"), LAB["lvdir"],
               timeout=90)
            m = alice.mark()
            alice.say("#ceph", "!ceph templates")
            self.assertTrue(said("cs-tpl on local: usable", m),
                            alice.since(m))
            # libvirtd stopped during a create: the command says it was
            # interrupted; destroy cleans up after the restart.
            m = alice.mark()
            alice.say("#ceph", "!ceph create csi nodes=3 osds=2 "
                      "osd-size=16M")
            self.assertTrue(wait_for(lambda: len(b.ledger("csi")) >= 2,
                                     timeout=30))
            # Killed at once, so the create cannot finish first (its
            # QEMUs live on; the restarted daemon finds them again).
            lvpid = int(open(os.path.join(LAB["lvdir"],
                                          "libvirtd.pid")).read())
            os.kill(lvpid, signal.SIGKILL)
            wait_for(lambda: not os.path.exists("/proc/%d" % lvpid) or
                     open("/proc/%d/stat" % lvpid).read().split()[2] == "Z",
                     timeout=10)
            ln = alice.wait(lambda ln: "csi" in ln[3] and (
                "failed" in ln[3] or "ready" in ln[3]), timeout=60, start=m)
            sh(os.path.join(KIT, "libvirtd-start"), LAB["lvdir"],
               timeout=90)
            self.assertTrue(ln, alice.since(m))
            self.assertIn("failed", ln[3])
            self.assertIn("interrupted", ln[3])
            m2 = alice.mark()
            alice.say("#ceph", "!ceph list")
            self.assertTrue(said("csi: partial", m2), alice.since(m2))
            # Another user with `ceph` may not touch alice's cluster; one
            # without it may not create.
            bob = IrcClient(host, port, "bob")
            carol = IrcClient(host, port, "carol")
            try:
                for c in (bob, carol):
                    c.sock.settimeout(None)
                    c.join("#ceph")
                time.sleep(0.5)
                m = alice.mark()
                bob.say("#ceph", "!ceph destroy csi")
                bob.say("#ceph", "!ceph destroy csi --yes")
                self.assertTrue(said("belongs to alice", m), alice.since(m))
                carol.say("#ceph", "!ceph create csj nodes=1")
                self.assertTrue(said("needs capability ceph", m),
                                alice.since(m))
                time.sleep(1)
                self.assertFalse([ln for ln in alice.since(m)
                                  if "creating csj" in ln[3] or
                                  "csi destroyed" in ln[3]])
            finally:
                bob.close()
                carol.close()
            self.assertEqual(domains("csj-"), [])
            m = alice.mark()
            alice.say("#ceph", "!ceph destroy csi")
            self.assertTrue(said("--yes", m))
            alice.say("#ceph", "!ceph destroy csi --yes")
            self.assertTrue(said("csi destroyed", m), alice.since(m))
            self.assert_clean("csi", base=LAB["base_vols"])
            self.assertIsNone(bot.poll())
        finally:
            alice.close()
            bot.send_signal(signal.SIGTERM)
            try:
                bot.wait(30)
            except subprocess.TimeoutExpired:
                bot.kill()
            log.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)

/*
 * test_ceph.c - the ceph plugin on the fake host against libvirt's real
 * test driver (test:///default, shared by every connection of this
 * process): create, MACs, the ledger, names, quotas, partial creates and
 * their destroy, disk add/rm where the test driver allows (persistent
 * redefinition of a shut-off node) and the one-line refusal where it
 * cannot (hot-plug on a running node).  Hot-plug itself is covered by
 * tests/ceph/suite against a real libvirtd.
 */
#include <check.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../lib/check_main.h"
#include "fakehost.h"

/* plugins/ceph/ceph.c, linked in. */
int ceph_proc_start(long long pid, char *out, size_t n);

extern const struct opsbot_plugin_descriptor opsbot_plugin;

static virConnectPtr tc; /* the test's own view of test:///default */
static virStoragePoolPtr pool;
static struct fakehost *h;

static const char tpl_xml[] =
    "<domain type='test'><name>tpl</name><memory unit='MiB'>128</memory>"
    "<os><type arch='x86_64'>hvm</type></os><devices>"
    "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
    "<source file='/default-pool/tpl.qcow2'/><target dev='sda' bus='scsi'/>"
    "</disk><interface type='network'><mac address='52:54:00:00:00:01'/>"
    "<source network='default'/></interface></devices></domain>";

static void quiet(void *d, virErrorPtr e)
{
}

static void setup(void)
{
	virDomainPtr d;
	virStorageVolPtr v;

	virSetErrorFunc(NULL, quiet);
	tc = virConnectOpen("test:///default");
	ck_assert_ptr_nonnull(tc);
	pool = virStoragePoolLookupByName(tc, "default-pool");
	ck_assert_ptr_nonnull(pool);
	v = virStorageVolCreateXML(
	    pool,
	    "<volume><name>tpl.qcow2</name><capacity unit='M'>512</capacity>"
	    "<target><format type='qcow2'/></target></volume>",
	    0);
	ck_assert_ptr_nonnull(v);
	virStorageVolFree(v);
	d = virDomainDefineXML(tc, tpl_xml);
	ck_assert_ptr_nonnull(d);
	virDomainFree(d);
	h = fakehost_new();
	fakehost_config(h, "uri", "test:///default");
	fakehost_config(h, "pool", "default-pool");
	fakehost_config(h, "template", "tpl");
	fakehost_config(h, "cloud_init", "no");
	fakehost_config(h, "data_dir", "/tmp/opsbot-test-ceph-data");
}

static void load(void)
{
	ck_assert_int_eq(fakehost_load(h, &opsbot_plugin), OPSBOT_OK);
}

static void teardown(void)
{
	fakehost_unload(h, NULL);
	fakehost_free(h);
	virStoragePoolFree(pool);
	virConnectClose(tc);
}

/* Runs a command to its end; returns its status. */
static int cmd(const char *line)
{
	int st = fakehost_command(h, line);

	if (st == OPSBOT_PENDING) {
		fakehost_run(h, 600000);
		st = fakehost_command_status(h);
	}
	return st;
}

static int has(const char *s)
{
	return strstr(fakehost_output(h), s) != NULL;
}

static int vol_exists(const char *name)
{
	virStorageVolPtr v;

	virStoragePoolRefresh(pool, 0);
	v = virStorageVolLookupByName(pool, name);
	if (v)
		virStorageVolFree(v);
	return v != NULL;
}

static int dom_exists(const char *name)
{
	virDomainPtr d = virDomainLookupByName(tc, name);

	if (d)
		virDomainFree(d);
	return d != NULL;
}

static char *dom_xml(const char *name, unsigned flags)
{
	virDomainPtr d = virDomainLookupByName(tc, name);
	char *x;

	ck_assert_ptr_nonnull(d);
	x = virDomainGetXMLDesc(d, flags);
	virDomainFree(d);
	return x;
}

static long long rows(const char *sql)
{
	sqlite3_stmt *st;
	long long n = -1;

	ck_assert_int_eq(
	    sqlite3_prepare_v2(fakehost_api(h)->store(fakehost_plugin(h)), sql,
			       -1, &st, NULL),
	    SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

static int pool_vols(void)
{
	virStoragePoolRefresh(pool, 0);
	return virStoragePoolNumOfVolumes(pool);
}

START_TEST(create_show_destroy)
{
	char *x1, *x2, mac1[18], mac2[18], *p;
	int before;

	load();
	before = pool_vols();
	ck_assert_int_eq(cmd("create c1 nodes=2 osds=2 osd-size=1G"),
			 OPSBOT_OK);
	ck_assert_msg(has("c1 ready in"), "%s", fakehost_output(h));
	ck_assert(dom_exists("c1-01") && dom_exists("c1-02"));
	ck_assert(vol_exists("c1-01-root.qcow2") &&
		  vol_exists("c1-02-osd2.qcow2"));
	/* Every domain and volume is in the ledger. */
	ck_assert_int_eq(
	    rows("SELECT count(*) FROM ceph_resources WHERE kind = "
		 "'dom' AND cluster = 'c1'"),
	    2);
	ck_assert_int_eq(
	    rows("SELECT count(*) FROM ceph_resources WHERE kind = "
		 "'vol' AND cluster = 'c1'"),
	    6);
	/* New names, UUIDs and MACs: 52:54:00, unique, not the template's. */
	x1 = dom_xml("c1-01", VIR_DOMAIN_XML_INACTIVE);
	x2 = dom_xml("c1-02", VIR_DOMAIN_XML_INACTIVE);
	p = strstr(x1, "<mac address='");
	ck_assert_ptr_nonnull(p);
	snprintf(mac1, sizeof(mac1), "%.17s", p + 14);
	p = strstr(x2, "<mac address='");
	ck_assert_ptr_nonnull(p);
	snprintf(mac2, sizeof(mac2), "%.17s", p + 14);
	ck_assert(!strncmp(mac1, "52:54:00:", 9) &&
		  !strncmp(mac2, "52:54:00:", 9));
	ck_assert_str_ne(mac1, mac2);
	ck_assert_str_ne(mac1, "52:54:00:00:00:01");
	ck_assert_msg(strstr(x1, "c1-01-root.qcow2") &&
			  strstr(x1, "<controller type='scsi'"),
		      "%s", x1);
	ck_assert(strstr(x1, "<target dev='sdb' bus='scsi'/>") &&
		  strstr(x1, "<target dev='sdc' bus='scsi'/>"));
	ck_assert(!strstr(x1, "/default-pool/tpl.qcow2"));
	free(x1);
	free(x2);
	fakehost_output_clear(h);
	ck_assert_int_eq(cmd("list"), OPSBOT_OK);
	ck_assert_msg(has("c1: ready, 2/2 nodes x 2 OSDs of 1G"), "%s",
		      fakehost_output(h));
	fakehost_output_clear(h);
	ck_assert_int_eq(cmd("show c1"), OPSBOT_OK);
	ck_assert_msg(has("c1-01 on local: running") && has("sdb 1G"), "%s",
		      fakehost_output(h));
	/* destroy asks first; with --yes removes exactly what was made. */
	ck_assert_int_eq(cmd("destroy c1"), OPSBOT_OK);
	ck_assert(dom_exists("c1-01"));
	ck_assert_int_eq(cmd("destroy c1 --yes"), OPSBOT_OK);
	ck_assert(!dom_exists("c1-01") && !dom_exists("c1-02"));
	ck_assert_int_eq(pool_vols(), before);
	ck_assert(dom_exists("tpl") && dom_exists("test") &&
		  vol_exists("tpl.qcow2"));
	ck_assert_int_eq(rows("SELECT count(*) FROM ceph_resources"), 0);
	ck_assert_int_eq(rows("SELECT count(*) FROM ceph_clusters"), 0);
}
END_TEST

START_TEST(bad_input_loses_nothing)
{
	load();
	ck_assert_int_eq(cmd("create ../etc"), OPSBOT_ERR);
	ck_assert(has("bad cluster name"));
	ck_assert_int_eq(cmd("create Big"), OPSBOT_ERR);
	ck_assert_int_eq(cmd("create c1 template=nosuch"), OPSBOT_ERR);
	ck_assert(has("unknown template 'nosuch'"));
	ck_assert_int_eq(cmd("create c1 nodes=0"), OPSBOT_ERR);
	ck_assert_int_eq(cmd("create c1 osd-size=lots"), OPSBOT_ERR);
	ck_assert_int_eq(cmd("create c1 colour=red"), OPSBOT_ERR);
	ck_assert_int_eq(cmd("create c1 host=elsewhere"), OPSBOT_ERR);
	ck_assert_int_eq(cmd("disk add /etc/passwd"), OPSBOT_ERR);
	ck_assert_int_eq(cmd("disk add test"), OPSBOT_ERR);
	ck_assert(has("never touches other domains"));
	cmd("destroy nosuch");
	ck_assert_int_eq(cmd("destroy nosuch --yes"), OPSBOT_ERR);
	ck_assert_int_eq(rows("SELECT count(*) FROM ceph_clusters"), 0);
	ck_assert(dom_exists("test"));
	/* A name that is taken. */
	ck_assert_int_eq(cmd("create c1 nodes=1 osds=0"), OPSBOT_OK);
	fakehost_output_clear(h);
	ck_assert_int_eq(cmd("create c1 nodes=1"), OPSBOT_ERR);
	ck_assert(has("name taken"));
}
END_TEST

START_TEST(quotas)
{
	fakehost_config(h, "quota_clusters", "1");
	fakehost_config(h, "quota_disk", "3G");
	load();
	ck_assert_int_eq(cmd("create q1 nodes=1 osds=2 osd-size=1G"),
			 OPSBOT_OK);
	fakehost_output_clear(h);
	ck_assert_int_eq(cmd("create q2 nodes=1 osds=1"), OPSBOT_ERR);
	ck_assert_msg(has("quota exceeded") && has("clusters"), "%s",
		      fakehost_output(h));
	ck_assert(!dom_exists("q2-01"));
	fakehost_output_clear(h);
	/* 2G used of 3G: 2G more is too much. */
	ck_assert_int_eq(cmd("disk add q1-01 2G"), OPSBOT_ERR);
	ck_assert_msg(has("quota exceeded") && has("OSD disk"), "%s",
		      fakehost_output(h));
	ck_assert(!vol_exists("q1-01-osd3.qcow2"));
}
END_TEST

START_TEST(failed_create_is_partial_then_destroyed)
{
	virStorageVolPtr v;
	int before;

	load();
	/* Someone else's volume has the name node 2's root would get. */
	v = virStorageVolCreateXML(pool,
				   "<volume><name>p1-02-root.qcow2</name>"
				   "<capacity unit='M'>1</capacity></volume>",
				   0);
	ck_assert_ptr_nonnull(v);
	virStorageVolFree(v);
	before = pool_vols();
	ck_assert_int_eq(cmd("create p1 nodes=3 osds=1"), OPSBOT_ERR);
	ck_assert_msg(has("1 of 3 nodes made") && has("name taken"), "%s",
		      fakehost_output(h));
	fakehost_output_clear(h);
	ck_assert_int_eq(cmd("list"), OPSBOT_OK);
	ck_assert_msg(has("p1: partial"), "%s", fakehost_output(h));
	/* The foreign volume is not in the ledger, so destroy keeps it. */
	ck_assert_int_eq(
	    rows("SELECT count(*) FROM ceph_resources WHERE name = "
		 "'p1-02-root.qcow2'"),
	    0);
	ck_assert_int_eq(cmd("destroy p1"), OPSBOT_OK);
	ck_assert_int_eq(cmd("destroy p1 --yes"), OPSBOT_OK);
	ck_assert(!dom_exists("p1-01"));
	ck_assert(vol_exists("p1-02-root.qcow2"));
	ck_assert_int_eq(pool_vols(), before);
	ck_assert_int_eq(rows("SELECT count(*) FROM ceph_clusters"), 0);
}
END_TEST

START_TEST(disks_on_test_driver)
{
	char *x;

	load();
	/* A running node: the test driver cannot hot-plug, one line, and
	 * the volume made for it is rolled back. */
	ck_assert_int_eq(cmd("create d1 nodes=1 osds=1"), OPSBOT_OK);
	fakehost_output_clear(h);
	ck_assert_int_eq(cmd("disk add d1-01 1G"), OPSBOT_ERR);
	ck_assert_msg(has("cannot hot-plug"), "%s", fakehost_output(h));
	ck_assert(!vol_exists("d1-01-osd2.qcow2"));
	ck_assert_int_eq(
	    rows("SELECT count(*) FROM ceph_resources WHERE name = "
		 "'d1-01-osd2.qcow2'"),
	    0);
	/* A shut-off node: persistent only. */
	ck_assert_int_eq(cmd("create d2 nodes=1 osds=1 start=no"), OPSBOT_OK);
	fakehost_output_clear(h);
	ck_assert_int_eq(cmd("disk add d2-01 2G"), OPSBOT_OK);
	ck_assert_msg(has("added sdc") && has("persistent"), "%s",
		      fakehost_output(h));
	ck_assert(vol_exists("d2-01-osd2.qcow2"));
	x = dom_xml("d2-01", VIR_DOMAIN_XML_INACTIVE);
	ck_assert(strstr(x, "<target dev='sdc' bus='scsi'/>"));
	free(x);
	fakehost_output_clear(h);
	ck_assert_int_eq(cmd("disk rm d2-01 sda"), OPSBOT_ERR);
	ck_assert_msg(has("root disk"), "%s", fakehost_output(h));
	ck_assert_int_eq(cmd("disk rm d2-01 sdz"), OPSBOT_ERR);
	ck_assert_int_eq(cmd("disk rm d2-01 ../x"), OPSBOT_ERR);
	ck_assert_int_eq(cmd("disk rm d2-01 sdc"), OPSBOT_OK);
	x = dom_xml("d2-01", VIR_DOMAIN_XML_INACTIVE);
	ck_assert(!strstr(x, "dev='sdc'") && strstr(x, "dev='sdb'"));
	free(x);
	ck_assert(!vol_exists("d2-01-osd2.qcow2"));
	/* start, stop (the test driver has no guest to answer ACPI: power
	 * off after stop_timeout). */
	ck_assert_int_eq(cmd("start d2"), OPSBOT_OK);
	ck_assert(has("1 node started"));
}
END_TEST

START_TEST(overlay_clones)
{
	virStorageVolPtr v;
	char *x;

	fakehost_config(h, "clone", "overlay");
	load();
	ck_assert_int_eq(cmd("create o1 nodes=1 osds=0"), OPSBOT_OK);
	v = virStorageVolLookupByName(pool, "o1-01-root.qcow2");
	ck_assert_ptr_nonnull(v);
	x = virStorageVolGetXMLDesc(v, 0);
	ck_assert_msg(strstr(x, "<backingStore>") && strstr(x, "tpl.qcow2"),
		      "%s", x);
	free(x);
	virStorageVolFree(v);
	ck_assert_int_eq(cmd("destroy o1"), OPSBOT_OK);
	ck_assert_int_eq(cmd("destroy o1 --yes"), OPSBOT_OK);
	ck_assert(vol_exists("tpl.qcow2") && !vol_exists("o1-01-root.qcow2"));
}
END_TEST

START_TEST(templates_and_extend)
{
	load();
	ck_assert_int_eq(cmd("templates"), OPSBOT_OK);
	ck_assert_msg(has("tpl on local: usable, disk 512M qcow2 in pool "
			  "default-pool"),
		      "%s", fakehost_output(h));
	fakehost_output_clear(h);
	fakehost_config(h, "template", "test");
	fakehost_reconfigure(h);
	ck_assert_int_eq(cmd("templates"), OPSBOT_OK);
	ck_assert_msg(has("test on local: not usable"), "%s",
		      fakehost_output(h));
	ck_assert_int_eq(cmd("create e1 nodes=1 osds=0 ttl=1h"), OPSBOT_OK);
	fakehost_output_clear(h);
	ck_assert_int_eq(cmd("extend e1 3h"), OPSBOT_OK);
	ck_assert_msg(has("expires in 3h00m"), "%s", fakehost_output(h));
	ck_assert_int_eq(cmd("extend e1 99d"), OPSBOT_ERR);
}
END_TEST

/* Two connections: the shared test:///default and a node file of its
 * own (another "hypervisor"), each with the template. */
static const char node_xml[] =
    "<node><domain type='test' "
    "xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>"
    "<name>tpl</name><memory unit='MiB'>128</memory>"
    "<os><type arch='x86_64'>hvm</type></os><devices>"
    "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
    "<source file='/b/tpl.qcow2'/><target dev='sda' bus='scsi'/></disk>"
    "<interface type='network'><mac address='52:54:00:00:00:02'/>"
    "<source network='default'/></interface></devices>"
    "<test:runstate>5</test:runstate></domain>"
    "<pool type='dir'><name>bpool</name><target><path>/b</path></target>"
    "<volume><name>tpl.qcow2</name><capacity unit='M'>512</capacity>"
    "<target><format type='qcow2'/></target></volume></pool></node>";

START_TEST(placement_across_hosts)
{
	char path[] = "/tmp/opsbot-test-ceph-XXXXXX", file[64], uri[80];
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, node_xml, strlen(node_xml)),
			 (ssize_t)strlen(node_xml));
	close(fd);
	snprintf(file, sizeof(file), "%s", path);
	snprintf(uri, sizeof(uri), "test://%s", file);
	fakehost_config(h, "host.a.uri", "test:///default");
	fakehost_config(h, "host.a.pool", "default-pool");
	fakehost_config(h, "host.b.uri", uri);
	fakehost_config(h, "host.b.pool", "bpool");
	load();
	/* Anti-affinity: 4 nodes, 2 on each host. */
	ck_assert_int_eq(cmd("create s1 nodes=4 osds=1"), OPSBOT_OK);
	ck_assert_msg(has("4 nodes (a x2, b x2)"), "%s", fakehost_output(h));
	ck_assert_int_eq(dom_exists("s1-01") + dom_exists("s1-02") +
			     dom_exists("s1-03") + dom_exists("s1-04"),
			 2);
	ck_assert_int_eq(rows("SELECT count(DISTINCT uri) FROM ceph_resources "
			      "WHERE cluster = 's1'"),
			 2);
	/* Pinned to one host. */
	ck_assert_int_eq(cmd("create s2 nodes=2 osds=0 host=b"), OPSBOT_OK);
	ck_assert_msg(has("2 nodes (b x2)"), "%s", fakehost_output(h));
	ck_assert(!dom_exists("s2-01") && !dom_exists("s2-02"));
	/* Every domain of both hosts is in the ledger. */
	ck_assert_int_eq(rows("SELECT count(*) FROM ceph_resources WHERE kind "
			      "= 'dom'"),
			 6);
	ck_assert_int_eq(cmd("destroy s1"), OPSBOT_OK);
	ck_assert_int_eq(cmd("destroy s1 --yes"), OPSBOT_OK);
	ck_assert_int_eq(dom_exists("s1-01") + dom_exists("s1-02") +
			     dom_exists("s1-03") + dom_exists("s1-04"),
			 0);
	ck_assert_int_eq(rows("SELECT count(*) FROM ceph_resources WHERE "
			      "cluster = 's1'"),
			 0);
	unlink(file);
}
END_TEST

START_TEST(reprovision_same_shape)
{
	char u1[VIR_UUID_STRING_BUFLEN], u2[VIR_UUID_STRING_BUFLEN];
	virDomainPtr d;

	load();
	ck_assert_int_eq(cmd("create r1 nodes=2 osds=1 osd-size=2G"),
			 OPSBOT_OK);
	d = virDomainLookupByName(tc, "r1-02");
	ck_assert_ptr_nonnull(d);
	virDomainGetUUIDString(d, u1);
	virDomainFree(d);
	ck_assert_int_eq(cmd("reprovision r1"), OPSBOT_OK);
	fakehost_output_clear(h);
	ck_assert_int_eq(cmd("reprovision r1 --yes"), OPSBOT_OK);
	ck_assert_msg(has("r1 destroyed") && has("r1 ready in"), "%s",
		      fakehost_output(h));
	d = virDomainLookupByName(tc, "r1-02");
	ck_assert_ptr_nonnull(d);
	virDomainGetUUIDString(d, u2);
	virDomainFree(d);
	ck_assert_str_ne(u1, u2);
	ck_assert_int_eq(rows("SELECT count(*) FROM ceph_resources WHERE "
			      "cluster = 'r1' AND role = 'osd' AND size = "
			      "2147483648"),
			 2);
}
END_TEST

/* A cluster row marked creating by process pid, started at start. */
static void creating_row(const char *name, long long pid, const char *start)
{
	char *sql = sqlite3_mprintf(
	    "INSERT INTO ceph_clusters (name, owner, template, nodes, osds, "
	    "osd_size, start, created_ms, expires_ms, state, pid, pid_start) "
	    "VALUES (%Q, 'tester', 'tpl', 1, 0, 0, 0, 0, 9999999999999, "
	    "'creating', %lld, %Q)",
	    name, pid, start);

	ck_assert_int_eq(
	    sqlite3_exec(fakehost_api(h)->store(fakehost_plugin(h)), sql, NULL,
			 NULL, NULL),
	    SQLITE_OK);
	sqlite3_free(sql);
}

START_TEST(reused_pid_is_not_the_creating_process)
{
	char start[80], other[96], *slash;
	pid_t child;
	int st;

	load();
	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0) {
		pause();
		_exit(0);
	}
	/* "<boot id>/<start ticks>" of a live process. */
	ck_assert_int_eq(ceph_proc_start(child, start, sizeof(start)), 0);
	slash = strchr(start, '/');
	ck_assert_ptr_nonnull(slash);
	ck_assert_int_gt(strtoll(slash + 1, NULL, 10), 0);
	/* The same pid, another start: a pid reused by another process. */
	snprintf(other, sizeof(other), "%.*s/%lld", (int)(slash - start), start,
		 strtoll(slash + 1, NULL, 10) + 1);
	creating_row("same", child, start);
	creating_row("reused", child, other);
	creating_row("older", child, ""); /* before starts were recorded */
	ck_assert_int_eq(cmd("list"), OPSBOT_OK);
	ck_assert_msg(has("same: creating") && has("reused: partial") &&
			  has("older: creating"),
		      "%s", fakehost_output(h));
	/* Busy for commands only while that process lives. */
	fakehost_output_clear(h);
	ck_assert_int_eq(cmd("extend same 2h"), OPSBOT_ERR);
	ck_assert(has("busy"));
	ck_assert_int_eq(cmd("extend reused 2h"), OPSBOT_OK);
	kill(child, SIGKILL);
	waitpid(child, &st, 0);
	fakehost_output_clear(h);
	ck_assert_int_eq(cmd("list"), OPSBOT_OK);
	ck_assert_msg(has("same: partial") && has("older: partial"), "%s",
		      fakehost_output(h));
	/* No such process at all. */
	ck_assert_int_eq(ceph_proc_start(child, start, sizeof(start)), -1);
	ck_assert_str_eq(start, "");
}
END_TEST

static Suite *ceph_suite(void)
{
	Suite *s = suite_create("ceph");
	TCase *tc_ = tcase_create("test driver");

	tcase_add_checked_fixture(tc_, setup, teardown);
	tcase_set_timeout(tc_, 60);
	tcase_add_test(tc_, create_show_destroy);
	tcase_add_test(tc_, bad_input_loses_nothing);
	tcase_add_test(tc_, quotas);
	tcase_add_test(tc_, failed_create_is_partial_then_destroyed);
	tcase_add_test(tc_, disks_on_test_driver);
	tcase_add_test(tc_, overlay_clones);
	tcase_add_test(tc_, templates_and_extend);
	tcase_add_test(tc_, placement_across_hosts);
	tcase_add_test(tc_, reprovision_same_shape);
	tcase_add_test(tc_, reused_pid_is_not_the_creating_process);
	suite_add_tcase(s, tc_);
	return s;
}

CHECK_MAIN(ceph_suite)

/*
 * test_ceph_evloop.c - the ceph plugin's libvirt event loop
 * (plugins/ceph/evloop.c) in the real host: ceph.so loaded from the
 * build, the host's libuv loop running its fd watches and timers for
 * real, libvirt's test driver (test:///default) making events.  A domain
 * event fired from another thread reaches its callback on the loop thread
 * (the test's own callback and the plugin's, which announces a node that
 * stopped by itself); handles and timeouts added, updated and removed
 * from another thread are reconciled; every free function runs exactly
 * once, on the loop, never inside remove*; an unload with open
 * connections leaves nothing registered, and a reload works again.
 *
 * Not in test_ceph (the fake host), whose fd watches and timers are
 * virtual and which links the plugin's objects itself: a process has one
 * libvirt event loop registration, and here it must be ceph.so's.
 */
#include "check_main.h"
#include "command.h"
#include "config.h"
#include "host.h"
#include "log.h"
#include "loop.h"
#include "plugin.h"
#include "say.h"
#include "testutil.h"

#include <check.h>
#include <fcntl.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *dir;
static struct config *cfg;
static virConnectPtr tc; /* the test's own view of test:///default */
static struct test_sink sink;
static struct buf said;

static void on_say(const char *target, const char *group, const char *text,
		   size_t len)
{
	UNUSED(group);
	buf_addf(&said, "%s %.*s\n", target, (int)len, text);
}

static void quiet(void *d, virErrorPtr e)
{
	UNUSED(d);
	UNUSED(e);
}

static void load(void)
{
	char *err = NULL;

	ck_assert_msg(plugin_load("ceph", &err) != NULL, "%s", err);
}

/* A template for one-node clusters, on the test driver. */
static void make_template(void)
{
	virStoragePoolPtr p = virStoragePoolLookupByName(tc, "default-pool");
	virStorageVolPtr v;
	virDomainPtr d;

	ck_assert_ptr_nonnull(p);
	v = virStorageVolCreateXML(
	    p,
	    "<volume><name>tpl.qcow2</name><capacity unit='M'>64</capacity>"
	    "<target><format type='qcow2'/></target></volume>",
	    0);
	if (v)
		virStorageVolFree(v);
	virStoragePoolFree(p);
	d = virDomainDefineXML(
	    tc, "<domain type='test'><name>tpl</name><memory unit='MiB'>128"
		"</memory><os><type arch='x86_64'>hvm</type></os><devices>"
		"<disk type='file' device='disk'><driver name='qemu' "
		"type='qcow2'/><source file='/default-pool/tpl.qcow2'/>"
		"<target dev='sda' bus='scsi'/></disk></devices></domain>");
	ck_assert_ptr_nonnull(d);
	virDomainFree(d);
}

static void setup(void)
{
	char *db, *plugins, *text, *err = NULL;

	log_set_level(getenv("OPSBOT_TEST_VERBOSE") ? LOG_DEBUG : LOG_ERROR);
	virSetErrorFunc(NULL, quiet);
	tc = virConnectOpen("test:///default");
	ck_assert_ptr_nonnull(tc);
	make_template();
	dir = test_make_dir("ceph-evloop");
	text = xasprintf("[plugin.ceph]\nuri = test:///default\n"
			 "pool = default-pool\ncloud_init = no\n"
			 "template = tpl\n"
			 "channel = #ops\ndata_dir = %s/data\n",
			 dir);
	cfg = config_load_string(text, "t.conf");
	free(text);
	ck_assert_msg(cfg->error_count == 0, "%s", cfg->errors.data);
	db = xasprintf("%s/state.db", dir);
	ck_assert_msg(host_start(cfg, OPSBOT_MODE_DAEMON, db, "t", &err) == 0,
		      "%s", err);
	free(db);
	plugins = test_build_path("plugins");
	plugin_set_dir(plugins);
	free(plugins);
	say_set_sink(on_say);
	buf_reset(&said);
	memset(&sink, 0, sizeof(sink));
	test_sink_use(&sink);
	load();
}

static void teardown(void)
{
	test_sink_use(NULL);
	buf_free(&sink.out);
	buf_free(&said);
	plugin_unload_all();
	host_stop();
	say_set_sink(NULL);
	config_free(cfg);
	plugin_set_dir(NULL);
	test_cleanup_dir(dir);
	virConnectClose(tc);
}

/* Runs a command as typed in the shell; waits until it finished. */
static const char *run(const char *text)
{
	struct command_source src;

	buf_reset(&sink.out);
	sink.finished = 0;
	test_source(&src, OPSBOT_ORIGIN_CLI, "tester", "h");
	command_dispatch_text(&src, text);
	if (!sink.finished)
		test_run_until(&sink.finished, 20000);
	return sink.out.data ? sink.out.data : "";
}

/* ---- a thread that makes one libvirt call ---- */

struct call {
	void (*fn)(struct call *);
	virConnectPtr c;
	const char *name;
	int id, arg, rc;
	int ff_seen; /* the free function had run when the call returned */
	atomic_int *ff_calls;
};

static void *call_main(void *data)
{
	struct call *k = data;

	k->fn(k);
	return NULL;
}

static void in_thread(struct call *k)
{
	pthread_t t;

	ck_assert_int_eq(pthread_create(&t, NULL, call_main, k), 0);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
}

/* ---- domain events ---- */

struct life {
	int events, stopped, off_loop;
	char last[64];
};

static void on_life(virConnectPtr c, virDomainPtr d, int event, int detail,
		    void *opaque)
{
	struct life *l = opaque;

	UNUSED(c);
	UNUSED(detail);
	if (!loop_on_loop_thread())
		l->off_loop++;
	l->events++;
	if (event == VIR_DOMAIN_EVENT_STOPPED)
		l->stopped = 1;
	snprintf(l->last, sizeof(l->last), "%s", virDomainGetName(d));
}

static void destroy_fn(struct call *k)
{
	virDomainPtr d = virDomainLookupByName(k->c, k->name);

	k->rc = d ? virDomainDestroy(d) : -1;
	if (d)
		virDomainFree(d);
}

static void create_fn(struct call *k)
{
	virDomainPtr d = virDomainLookupByName(k->c, k->name);

	k->rc = d ? virDomainCreate(d) : -1;
	if (d)
		virDomainFree(d);
}

START_TEST(domain_event_reaches_callbacks_on_the_loop)
{
	struct life l = {0};
	struct call k = {.fn = destroy_fn, .name = "test"};
	int id;

	ck_assert_ptr_nonnull(tc);
	/* Needs the plugin's timeouts: libvirt has no loop of its own. */
	id = virConnectDomainEventRegisterAny(
	    tc, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
	    VIR_DOMAIN_EVENT_CALLBACK(on_life), &l, NULL);
	ck_assert_int_ge(id, 0);
	/* Stopped from another thread, which has ended before the loop
	 * runs again: only the loop can deliver the event. */
	k.c = tc;
	in_thread(&k);
	ck_assert_int_eq(k.rc, 0);
	ck_assert_int_eq(l.events, 0);
	test_run_until(&l.stopped, 5000);
	ck_assert_int_eq(l.stopped, 1);
	ck_assert_str_eq(l.last, "test");
	ck_assert_int_eq(l.off_loop, 0);
	/* And started again. */
	k.fn = create_fn;
	l.events = 0;
	in_thread(&k);
	ck_assert_int_eq(k.rc, 0);
	test_run_until(&l.events, 5000);
	ck_assert_int_eq(l.events, 1);
	ck_assert_int_eq(virConnectDomainEventDeregisterAny(tc, id), 0);
}
END_TEST

START_TEST(a_node_that_stops_by_itself_is_announced)
{
	struct call k = {.fn = destroy_fn, .name = "e1-01"};
	int said_it = 0;
	int64_t until;

	ck_assert_msg(strstr(run("ceph create e1 nodes=1 osds=0"), "ready"),
		      "%s", sink.out.data);
	buf_reset(&said);
	/* Powered off behind the bot's back: the plugin's own lifecycle
	 * callback (on its connection, on the loop) says so. */
	k.c = tc;
	in_thread(&k);
	ck_assert_int_eq(k.rc, 0);
	until = time_now_ms() + 5000;
	while (!said_it && time_now_ms() < until) {
		test_run_for(20);
		said_it = said.data && strstr(said.data, "#ops ceph: node "
							 "e1-01 of e1");
	}
	ck_assert_msg(said_it, "%s", said.data ? said.data : "(nothing)");
	ck_assert_msg(strstr(said.data, "stopped (powered off)"), "%s",
		      said.data);
	/* Its own stop is not announced (the command says it). */
	ck_assert_msg(strstr(run("ceph start e1"), "1 node started"), "%s",
		      sink.out.data);
	buf_reset(&said);
	run("ceph destroy e1 --yes");
	test_run_for(200);
	ck_assert_msg(!said.data || !strstr(said.data, "stopped"), "%s",
		      said.data);
}
END_TEST

/* ---- handles and timeouts from another thread ---- */

struct hctx {
	int calls, fd, last_events, off_loop, ff_off_loop;
	atomic_int ff_calls;
};

static void hcb(int watch, int fd, int events, void *opaque)
{
	struct hctx *x = opaque;
	char b[16];

	UNUSED(watch);
	if (!loop_on_loop_thread())
		x->off_loop++;
	x->calls++;
	x->fd = fd;
	x->last_events = events;
	if ((events & VIR_EVENT_HANDLE_READABLE) && read(fd, b, sizeof(b)) < 0)
		x->fd = -2;
}

static void hff(void *opaque)
{
	struct hctx *x = opaque;

	if (!loop_on_loop_thread())
		x->ff_off_loop++;
	atomic_fetch_add(&x->ff_calls, 1);
}

static struct hctx *hx;

static void add_handle_fn(struct call *k)
{
	k->id =
	    virEventAddHandle(k->arg, VIR_EVENT_HANDLE_READABLE, hcb, hx, hff);
}

static void update_handle_fn(struct call *k)
{
	virEventUpdateHandle(k->id, k->arg);
}

static void remove_handle_fn(struct call *k)
{
	k->rc = virEventRemoveHandle(k->id);
	k->ff_seen = atomic_load(k->ff_calls);
	/* As libvirt does: its fd is closed right after the removal. */
	close(k->arg);
}

static int ff_done(atomic_int *n, long ms)
{
	int64_t until = time_now_ms() + ms;

	while (atomic_load(n) == 0 && time_now_ms() < until)
		test_run_for(10);
	return atomic_load(n);
}

START_TEST(handles_from_another_thread)
{
	struct hctx x;
	struct call k = {0};
	int p[2], q[2], before;

	memset(&x, 0, sizeof(x));
	x.fd = -1;
	hx = &x;
	ck_assert_int_eq(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
	k.fn = add_handle_fn;
	k.arg = p[0];
	k.ff_calls = &x.ff_calls;
	in_thread(&k);
	ck_assert_int_gt(k.id, 0);
	ck_assert_int_eq(write(p[1], "a", 1), 1);
	test_run_until(&x.calls, 5000);
	ck_assert_int_eq(x.calls, 1);
	/* libvirt's fd number, not the duplicate the host watches. */
	ck_assert_int_eq(x.fd, p[0]);
	ck_assert_int_eq(x.last_events, VIR_EVENT_HANDLE_READABLE);
	/* Updated to nothing from the thread: no more calls. */
	k.fn = update_handle_fn;
	k.arg = 0;
	in_thread(&k);
	test_run_for(100);
	ck_assert_int_eq(write(p[1], "b", 1), 1);
	before = x.calls;
	test_run_for(300);
	ck_assert_int_eq(x.calls, before);
	/* And back to readable: the pending byte is seen. */
	k.arg = VIR_EVENT_HANDLE_READABLE;
	in_thread(&k);
	test_run_until(&x.calls, 5000);
	x.calls = 0;
	test_run_for(50);
	/* Removed from the thread, which closes the fd at once: the free
	 * function is not called inside the removal, but from the loop,
	 * once. */
	k.fn = remove_handle_fn;
	k.arg = p[0];
	in_thread(&k);
	ck_assert_int_eq(k.rc, 0);
	ck_assert_int_eq(k.ff_seen, 0);
	ck_assert_int_eq(ff_done(&x.ff_calls, 5000), 1);
	ck_assert_int_eq(x.ff_off_loop, 0);
	/* The number may come back for another pipe: nothing for the old
	 * record fires, and its free function is not called again. */
	ck_assert_int_eq(pipe2(q, O_CLOEXEC | O_NONBLOCK), 0);
	ck_assert_int_eq(write(q[1], "c", 1), 1);
	before = x.calls;
	test_run_for(200);
	ck_assert_int_eq(x.calls, before);
	ck_assert_int_eq(atomic_load(&x.ff_calls), 1);
	ck_assert_int_eq(x.off_loop, 0);
	/* A second removal of the same id fails. */
	k.fn = remove_handle_fn;
	k.arg = dup(q[0]);
	in_thread(&k);
	ck_assert_int_eq(k.rc, -1);
	close(p[1]);
	close(q[0]);
	close(q[1]);
}
END_TEST

struct tctx {
	int calls, stop_at, off_loop, ff_off_loop;
	int timer;
	atomic_int ff_calls;
};

static void tcb(int timer, void *opaque)
{
	struct tctx *x = opaque;

	if (!loop_on_loop_thread())
		x->off_loop++;
	x->calls++;
	/* As libvirt's event queue does: 0 until dispatched, then -1. */
	if (x->stop_at && x->calls >= x->stop_at)
		virEventUpdateTimeout(timer, -1);
}

static void tff(void *opaque)
{
	struct tctx *x = opaque;

	if (!loop_on_loop_thread())
		x->ff_off_loop++;
	atomic_fetch_add(&x->ff_calls, 1);
}

static struct tctx *tx;

static void add_timeout_fn(struct call *k)
{
	k->id = virEventAddTimeout(k->arg, tcb, tx, tff);
}

static void update_timeout_fn(struct call *k)
{
	virEventUpdateTimeout(k->id, k->arg);
}

static void remove_timeout_fn(struct call *k)
{
	k->rc = virEventRemoveTimeout(k->id);
	k->ff_seen = atomic_load(&tx->ff_calls);
}

START_TEST(timeouts_from_another_thread)
{
	struct tctx x;
	struct call k = {0};
	int three = 0, before;
	int64_t t0;

	memset(&x, 0, sizeof(x));
	tx = &x;
	/* Periodic, 30 ms. */
	k.fn = add_timeout_fn;
	k.arg = 30;
	t0 = time_now_ms();
	in_thread(&k);
	ck_assert_int_gt(k.id, 0);
	while (x.calls < 3 && time_now_ms() - t0 < 5000)
		test_run_for(10);
	three = x.calls >= 3;
	ck_assert(three);
	ck_assert_int_ge(time_now_ms() - t0, 60);
	/* Disabled from the thread. */
	k.fn = update_timeout_fn;
	k.arg = -1;
	in_thread(&k);
	test_run_for(50);
	before = x.calls;
	test_run_for(200);
	ck_assert_int_eq(x.calls, before);
	/* 0: every loop iteration until the callback sets -1 itself. */
	x.stop_at = before + 5;
	k.arg = 0;
	in_thread(&k);
	test_run_for(300);
	ck_assert_int_eq(x.calls, before + 5);
	/* Removed from the thread: ff later, on the loop, once. */
	k.fn = remove_timeout_fn;
	in_thread(&k);
	ck_assert_int_eq(k.rc, 0);
	ck_assert_int_eq(k.ff_seen, 0);
	ck_assert_int_eq(ff_done(&x.ff_calls, 5000), 1);
	test_run_for(100);
	ck_assert_int_eq(atomic_load(&x.ff_calls), 1);
	ck_assert_int_eq(x.ff_off_loop, 0);
	ck_assert_int_eq(x.off_loop, 0);
	ck_assert_int_eq(x.calls, before + 5);
	/* Removed while it fires every iteration: no call after ff. */
	memset(&x, 0, sizeof(x));
	k.fn = add_timeout_fn;
	k.arg = 0;
	in_thread(&k);
	while (x.calls < 10)
		test_run_for(5);
	k.fn = remove_timeout_fn;
	in_thread(&k);
	ck_assert_int_eq(k.ff_seen, 0);
	ck_assert_int_eq(ff_done(&x.ff_calls, 5000), 1);
	before = x.calls;
	test_run_for(100);
	ck_assert_int_eq(x.calls, before);
	ck_assert_int_eq(atomic_load(&x.ff_calls), 1);
}
END_TEST

/* ---- unload ---- */

static int unloaded;

static void on_unloaded(const char *name, const char *err, void *data)
{
	UNUSED(name);
	UNUSED(err);
	UNUSED(data);
	unloaded = 1;
}

/* Unloads ceph with its log lines captured; returns them (malloc'd). */
static char *unload_captured(void)
{
	char *path = xasprintf("%s/unload.log", dir), buf[8192];
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int saved = dup(STDERR_FILENO);
	ssize_t n;

	ck_assert_int_ge(fd, 0);
	log_set_level(LOG_INFO);
	dup2(fd, STDERR_FILENO);
	unloaded = 0;
	ck_assert_int_eq(
	    plugin_unload(plugin_find("ceph"), 0, on_unloaded, NULL),
	    OPSBOT_OK);
	test_run_until(&unloaded, 10000);
	dup2(saved, STDERR_FILENO);
	close(saved);
	log_set_level(getenv("OPSBOT_TEST_VERBOSE") ? LOG_DEBUG : LOG_ERROR);
	ck_assert_int_eq(unloaded, 1);
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	close(fd);
	free(path);
	buf[n > 0 ? n : 0] = 0;
	return xstrdup(buf);
}

/* Is a file whose path ends in suffix mapped into this process? */
static int mapped(const char *suffix)
{
	FILE *f = fopen("/proc/self/maps", "re");
	char line[4096];
	size_t n = strlen(suffix);
	int found = 0;

	ck_assert_ptr_nonnull(f);
	while (!found && fgets(line, sizeof(line), f)) {
		size_t l = strcspn(line, "\n");

		line[l] = 0;
		found = l >= n && !strcmp(line + l - n, suffix);
	}
	fclose(f);
	return found;
}

START_TEST(unload_with_open_connections_leaves_nothing)
{
	char *log;
	struct life l = {0};
	struct call k = {.fn = destroy_fn, .name = "test"};
	int id;

	/* The daemon opened its connection at load, with its close
	 * callback and two domain event callbacks (whose test-driver
	 * timeout is a record); a command uses it too. */
	ck_assert_msg(strstr(run("ceph templates"), "tpl on local: usable"),
		      "%s", sink.out.data);
	log = unload_captured();
	ck_assert_msg(strstr(log, "libvirt event loop detached, nothing left "
				  "registered"),
		      "%s", log);
	free(log);
	/* libvirt keeps the functions it was given: ceph.so stays mapped
	 * after the host's dlclose(). */
	ck_assert_msg(mapped("/plugins/ceph.so"), "ceph.so was unmapped");
	/* Loaded again: attached again (libvirt keeps the first
	 * registration), and events flow. */
	load();
	id = virConnectDomainEventRegisterAny(
	    tc, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
	    VIR_DOMAIN_EVENT_CALLBACK(on_life), &l, NULL);
	ck_assert_int_ge(id, 0);
	k.c = tc;
	in_thread(&k);
	test_run_until(&l.stopped, 5000);
	ck_assert_int_eq(l.stopped, 1);
	ck_assert_int_eq(l.off_loop, 0);
	/* Someone else's record left at the unload: said, and kept. */
	log = unload_captured();
	ck_assert_msg(strstr(log, "still registered (not the plugin's)"), "%s",
		      log);
	free(log);
	/* Events of that record wait for the next load, then flow. */
	l.events = 0;
	k.fn = create_fn;
	in_thread(&k);
	load();
	test_run_until(&l.events, 5000);
	ck_assert_int_eq(l.events, 1);
	ck_assert_int_eq(virConnectDomainEventDeregisterAny(tc, id), 0);
}
END_TEST

static Suite *evloop_suite(void)
{
	Suite *s = suite_create("ceph_evloop");
	TCase *tcase = tcase_create("real host");

	tcase_add_checked_fixture(tcase, setup, teardown);
	tcase_set_timeout(tcase, 60);
	tcase_add_test(tcase, domain_event_reaches_callbacks_on_the_loop);
	tcase_add_test(tcase, handles_from_another_thread);
	tcase_add_test(tcase, timeouts_from_another_thread);
	tcase_add_test(tcase, unload_with_open_connections_leaves_nothing);
	tcase_add_test(tcase, a_node_that_stops_by_itself_is_announced);
	suite_add_tcase(s, tcase);
	return s;
}

CHECK_MAIN(evloop_suite)

/*
 * virt.c - the ceph plugin's job side: every libvirt call (connections,
 * template checks, clones, seeds, OSD volumes, domain XML, hot-plug,
 * start/stop, destroy) runs here, on a job thread of the host, never on
 * the IRC loop.  What is about to be created is posted to the loop with
 * job_post_wait() first (ceph.c records it in SQLite), so a crash at any
 * point leaves nothing the store does not name.
 */
#include "ceph.h"
#include "sdk_rate.h"

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sdk_text.h"

/* ---- connections: one cached per URI, reopened when it died ---- */

/*
 * The cache's entries live until cv_fini().  cc_mu guards c, gen, stale
 * and the callback ids, and is never held across a libvirt call that may
 * block (the loop takes it too).  A job that uses a connection holds a
 * reference of its own (virConnectRef), so the loop or another job may
 * replace the cached one at any time: a job still on the old one fails
 * with a connection error and says the command was interrupted.
 */
/* What a connection has registered: domain event callback ids (-1:
 * none) and the close callback's data, freed by us after unregistering
 * (drivers without close callbacks, test:///, never call a free
 * function for it). */
struct conn_cbs {
	int life, devrm;
	struct cbctx *closectx;
};

struct cached_conn {
	char *uri;
	virConnectPtr c;     /* the cache's reference, or NULL */
	unsigned gen;	     /* of c: close notes of older ones are ignored */
	int stale;	     /* c was dropped: never handed out again */
	struct conn_cbs cbs; /* libvirt callbacks on c */
	/* Loop only: reopening after a drop. */
	int reopening;
	int lost; /* dropped since it was last open */
	int fails;
	struct cached_conn *next;
};

static pthread_mutex_t cc_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t mac_mu = PTHREAD_MUTEX_INITIALIZER;
static struct cached_conn *cached;
static unsigned gen_next;

/* Settings the loop hands to jobs ([plugin.ceph] keepalive_*). */
static int ka_interval_s = 5, ka_count = 3;
static int daemon_mode;
/* Background reopen jobs running (loop): at most one, so hypervisors that
 * hang never take more than one of the plugin's job slots from commands. */
static int reopen_running;

/* What libvirt's callbacks on a connection know: its entry and gen. */
struct cbctx {
	struct cached_conn *e;
	unsigned gen;
};

/* Drops reported by close callbacks (any thread), for the loop. */
struct drop {
	struct cached_conn *e;
	unsigned gen;
	int reason;
	struct drop *next;
};
static pthread_mutex_t drop_mu = PTHREAD_MUTEX_INITIALIZER;
static struct drop *drops;

/* Jobs waiting for a DEVICE_REMOVED event (disk rm). */
struct rm_wait {
	struct cached_conn *e;
	unsigned gen;
	const char *dom, *alias;
	int got;
	struct rm_wait *next;
};
static pthread_mutex_t wait_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wait_cv;
static struct rm_wait *waits;

static void quiet(void *data, virErrorPtr e)
{
}

void cv_init(void)
{
	pthread_condattr_t ca;

	reopen_running = 0;
	/* libvirt and GLib set themselves up on this thread, before any
	 * job thread uses them (virInitialize is documented for that). */
	virInitialize();
	/* libvirt and GLib keep thread keys and threads of their own: pin
	 * them in memory, so unloading the plugin never unmaps their code
	 * (the plugin itself can still be unloaded and reloaded). */
	if (!dlopen("libvirt.so.0", RTLD_NOW | RTLD_NODELETE | RTLD_NOLOAD))
		ceph_bot->log(ceph_self, OPSBOT_LOG_WARN,
			      "could not pin libvirt.so.0 in memory");
	virSetErrorFunc(NULL, quiet);
	xmlInitParser();
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&wait_cv, &ca);
	pthread_condattr_destroy(&ca);
	daemon_mode = ceph_bot->mode() == OPSBOT_MODE_DAEMON;
}

void cv_configure(long long ka_interval_ms, long long count)
{
	pthread_mutex_lock(&cc_mu);
	ka_interval_s = (int)(ka_interval_ms / 1000);
	if (ka_interval_s < 1)
		ka_interval_s = 1;
	ka_count = (int)count;
	pthread_mutex_unlock(&cc_mu);
}

static const char *close_reason(int r)
{
	switch (r) {
	case VIR_CONNECT_CLOSE_REASON_ERROR:
		return "I/O error";
	case VIR_CONNECT_CLOSE_REASON_EOF:
		return "end of file: libvirtd went away";
	case VIR_CONNECT_CLOSE_REASON_KEEPALIVE:
		return "no keepalive answer";
	case VIR_CONNECT_CLOSE_REASON_CLIENT:
		return "closed by the client";
	default:
		return "unknown reason";
	}
}

/* A note for the loop: connection gen of e dropped (any thread). */
static void note_drop(struct cached_conn *e, unsigned gen, int reason)
{
	struct drop *d = calloc(1, sizeof(*d));

	if (!d)
		return;
	d->e = e;
	d->gen = gen;
	d->reason = reason;
	pthread_mutex_lock(&drop_mu);
	d->next = drops;
	drops = d;
	pthread_mutex_unlock(&drop_mu);
	ce_evloop_wake();
}

/* libvirt's close callback: any thread, maybe inside a libvirt call of a
 * job.  Only a note for the loop. */
static void on_close(virConnectPtr c, int reason, void *opaque)
{
	struct cbctx *x = opaque;

	note_drop(x->e, x->gen, reason);
}

/* DEVICE_REMOVED: on the loop (the event loop's timer). */
static void on_dev_removed(virConnectPtr c, virDomainPtr d, const char *alias,
			   void *opaque)
{
	struct cbctx *x = opaque;
	const char *name = virDomainGetName(d);
	struct rm_wait *w;

	ceph_bot->log(ceph_self, OPSBOT_LOG_DEBUG,
		      "event: device %s removed from %s", alias ? alias : "?",
		      name ? name : "?");
	pthread_mutex_lock(&wait_mu);
	for (w = waits; w; w = w->next)
		if (w->e == x->e && w->gen == x->gen && name && alias &&
		    !strcmp(w->dom, name) && !strcmp(w->alias, alias))
			w->got = 1;
	pthread_cond_broadcast(&wait_cv);
	pthread_mutex_unlock(&wait_mu);
}

static const char *life_name(int ev)
{
	switch (ev) {
	case VIR_DOMAIN_EVENT_STARTED:
		return "started";
	case VIR_DOMAIN_EVENT_SUSPENDED:
		return "suspended";
	case VIR_DOMAIN_EVENT_RESUMED:
		return "resumed";
	case VIR_DOMAIN_EVENT_STOPPED:
		return "stopped";
	case VIR_DOMAIN_EVENT_SHUTDOWN:
		return "shutting down";
	case VIR_DOMAIN_EVENT_CRASHED:
		return "crashed";
	case VIR_DOMAIN_EVENT_DEFINED:
		return "defined";
	case VIR_DOMAIN_EVENT_UNDEFINED:
		return "undefined";
	default:
		return "changed";
	}
}

/* LIFECYCLE: on the loop.  ceph.c says what concerns its nodes. */
static void on_lifecycle(virConnectPtr c, virDomainPtr d, int event, int detail,
			 void *opaque)
{
	struct cbctx *x = opaque;
	const char *name = virDomainGetName(d), *what = life_name(event);
	int unexpected = 0;

	if (event == VIR_DOMAIN_EVENT_STOPPED) {
		unexpected = 1;
		switch (detail) {
		case VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN:
			what = "stopped (shut down)";
			break;
		case VIR_DOMAIN_EVENT_STOPPED_DESTROYED:
			what = "stopped (powered off)";
			break;
		case VIR_DOMAIN_EVENT_STOPPED_CRASHED:
			what = "stopped (crashed)";
			break;
		case VIR_DOMAIN_EVENT_STOPPED_FAILED:
			what = "stopped (QEMU failed)";
			break;
		default:
			break;
		}
	} else if (event == VIR_DOMAIN_EVENT_CRASHED)
		unexpected = 1;
	if (name)
		ceph_node_event(x->e->uri, name, what, unexpected);
}

static struct cbctx *cbctx_new(struct cached_conn *e, unsigned gen)
{
	struct cbctx *x = sdk_xcalloc(1, sizeof(*x));

	x->e = e;
	x->gen = gen;
	return x;
}

/* A fresh connection: keepalive, close callback, domain events (job). */
static void conn_setup(struct cached_conn *e, virConnectPtr c, unsigned gen,
		       struct conn_cbs *cbs)
{
	int iv, cnt;

	cbs->life = cbs->devrm = -1;
	cbs->closectx = NULL;
	if (!ce_evloop_active())
		return;
	pthread_mutex_lock(&cc_mu);
	iv = ka_interval_s;
	cnt = ka_count;
	pthread_mutex_unlock(&cc_mu);
	/* Drivers without a daemon (test:///) have no keepalive. */
	if (virConnectSetKeepAlive(c, iv, (unsigned)cnt) < 0)
		virResetLastError();
	cbs->closectx = cbctx_new(e, gen);
	if (virConnectRegisterCloseCallback(c, on_close, cbs->closectx, NULL) <
	    0) {
		ceph_bot->log(ceph_self, OPSBOT_LOG_WARN,
			      "no close callback on %s: a drop is noticed at "
			      "the next command",
			      e->uri);
		virResetLastError();
	}
	cbs->devrm = virConnectDomainEventRegisterAny(
	    c, NULL, VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED,
	    VIR_DOMAIN_EVENT_CALLBACK(on_dev_removed), cbctx_new(e, gen), free);
	cbs->life = virConnectDomainEventRegisterAny(
	    c, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
	    VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle), cbctx_new(e, gen), free);
	virResetLastError();
}

/* Drops the cache's reference to an old connection (job or fini). */
static void conn_retire(virConnectPtr c, const struct conn_cbs *cbs)
{
	if (cbs->devrm >= 0)
		virConnectDomainEventDeregisterAny(c, cbs->devrm);
	if (cbs->life >= 0)
		virConnectDomainEventDeregisterAny(c, cbs->life);
	/* Once unregistered (or called: libvirt then forgets it), the
	 * close callback is never called again. */
	if (cbs->closectx)
		virConnectUnregisterCloseCallback(c, on_close);
	virResetLastError();
	virConnectClose(c);
	free(cbs->closectx);
}

void cv_fini(void)
{
	struct cached_conn *c, *n;
	struct drop *d, *dn;

	pthread_mutex_lock(&cc_mu);
	c = cached;
	cached = NULL;
	pthread_mutex_unlock(&cc_mu);
	/* No job runs any more: every connection closes now, so the event
	 * loop's records of them are removed before it detaches. */
	for (; c; c = n) {
		n = c->next;
		if (c->c)
			conn_retire(c->c, &c->cbs);
		free(c->uri);
		free(c);
	}
	pthread_mutex_lock(&drop_mu);
	for (d = drops; d; d = dn) {
		dn = d->next;
		free(d);
	}
	drops = NULL;
	pthread_mutex_unlock(&drop_mu);
	pthread_cond_destroy(&wait_cv);
}

/* The last libvirt error as one clean line (malloc'd). */
static char *lv_msg(void)
{
	virErrorPtr e = virGetLastError();

	return sdk_text_clean_str(e && e->message ? e->message
						  : "unknown libvirt error",
				  SDK_TEXT_SQUEEZE, 300);
}

static int lv_code(void)
{
	virErrorPtr e = virGetLastError();

	return e ? e->code : 0;
}

static int lv_conn_lost(void)
{
	virErrorPtr e = virGetLastError();

	return e &&
	       (e->domain == VIR_FROM_RPC || e->code == VIR_ERR_NO_CONNECT ||
		e->code == VIR_ERR_INVALID_CONN ||
		e->code == VIR_ERR_SYSTEM_ERROR);
}

/* Sets op->err once: "what: libvirt's message", with the known causes
 * named. */
static void fail(struct ceph_op *op, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void fail(struct ceph_op *op, const char *fmt, ...)
{
	struct sdk_buf b = SDK_BUF_INIT;
	va_list ap;

	if (op->err)
		return;
	va_start(ap, fmt);
	sdk_buf_vaddf(&b, fmt, ap);
	va_end(ap);
	op->err = sdk_buf_detach(&b);
}

static void fail_lv(struct ceph_op *op, const char *what)
{
	char *m = lv_msg();

	if (lv_conn_lost()) {
		op->interrupted = 1;
		fail(op,
		     "%s: libvirtd unreachable (%s); the command was "
		     "interrupted, run it again",
		     what, m);
	} else if (strstr(m, "No space left") || strstr(m, "not enough space"))
		fail(op, "%s: pool out of space (%s)", what, m);
	else if (lv_code() == VIR_ERR_NO_SUPPORT)
		fail(op, "%s: not supported by this libvirt driver (%s)", what,
		     m);
	else
		fail(op, "%s: %s", what, m);
	free(m);
}

static struct cached_conn *entry_locked(const char *uri)
{
	struct cached_conn *c;

	for (c = cached; c; c = c->next)
		if (!strcmp(c->uri, uri))
			return c;
	c = sdk_xcalloc(1, sizeof(*c));
	c->uri = sdk_xstrdup(uri);
	c->cbs.life = c->cbs.devrm = -1;
	c->next = cached;
	cached = c;
	return c;
}

/*
 * A referenced connection to uri (virConnectClose() it), or NULL with
 * *err set.  The cached one if it is alive; else a new one, set up and
 * put in the cache (job thread: it may block).
 */
static virConnectPtr conn_get(const char *uri, char **err)
{
	struct cached_conn *e;
	virConnectPtr r = NULL, old = NULL;
	unsigned long v;
	unsigned gen;
	struct conn_cbs cbs, ocbs;

	pthread_mutex_lock(&cc_mu);
	e = entry_locked(uri);
	if (e->c && !e->stale) {
		r = e->c;
		gen = e->gen;
		virConnectRef(r);
	}
	pthread_mutex_unlock(&cc_mu);
	if (r) {
		/* One cheap call: a drop the loop has not seen yet (or a
		 * driver without a close callback) shows here. */
		if (virConnectIsAlive(r) == 1 &&
		    virConnectGetLibVersion(r, &v) == 0)
			return r;
		virResetLastError();
		virConnectClose(r);
		r = NULL;
		pthread_mutex_lock(&cc_mu);
		if (e->gen == gen)
			e->stale = 1;
		pthread_mutex_unlock(&cc_mu);
	}
	r = virConnectOpen(uri);
	if (!r) {
		char *m = lv_msg();

		*err = sdk_xasprintf("libvirtd unreachable at %s: %s", uri, m);
		free(m);
		return NULL;
	}
	pthread_mutex_lock(&cc_mu);
	gen = ++gen_next;
	pthread_mutex_unlock(&cc_mu);
	conn_setup(e, r, gen, &cbs);
	pthread_mutex_lock(&cc_mu);
	if (e->c && !e->stale) {
		/* Another job reopened it meanwhile: use that one. */
		virConnectPtr keep = e->c;

		virConnectRef(keep);
		pthread_mutex_unlock(&cc_mu);
		conn_retire(r, &cbs);
		return keep;
	}
	old = e->c;
	ocbs = e->cbs;
	e->c = r;
	e->gen = gen;
	e->stale = 0;
	e->cbs = cbs;
	virConnectRef(r);
	pthread_mutex_unlock(&cc_mu);
	if (old)
		conn_retire(old, &ocbs);
	/* Dropped before it was in the cache: that note was ignored. */
	if (cbs.closectx && virConnectIsAlive(r) != 1)
		note_drop(e, gen, VIR_CONNECT_CLOSE_REASON_ERROR);
	return r;
}

/* ---- reopening a dropped connection (loop side) ---- */

struct reopen {
	struct cached_conn *e;
	char *err;
};

static void reopen_start(struct cached_conn *e);

static void reopen_work(struct opsbot_job *job, void *data)
{
	struct reopen *ro = data;
	virConnectPtr c = conn_get(ro->e->uri, &ro->err);

	if (c)
		virConnectClose(c);
}

static long reopen_timer(struct opsbot_plugin *pl, int status, void *data)
{
	struct cached_conn *e = data;

	if (status == OPSBOT_OK)
		reopen_start(e);
	else
		e->reopening = 0;
	return OPSBOT_TIMER_STOP;
}

static void reopen_done(struct opsbot_plugin *pl, int status, void *data)
{
	struct reopen *ro = data;
	struct cached_conn *e = ro->e;

	reopen_running--;
	if (status == OPSBOT_OK && !ro->err) {
		ceph_bot->log(ceph_self, OPSBOT_LOG_INFO,
			      "libvirt connection to %s %s", e->uri,
			      e->lost ? "reopened" : "open");
		e->lost = 0;
		e->reopening = 0;
		e->fails = 0;
	} else if (status != OPSBOT_OK) {
		e->reopening = 0;
	} else {
		static uint32_t rng;
		long delay;

		if (!rng)
			rng = sdk_random_seed();
		delay = sdk_backoff_ms(e->fails, 1000, 60000, &rng);
		/* One line at the first failure, then at debug level. */
		ceph_bot->log(
		    ceph_self, e->fails++ ? OPSBOT_LOG_DEBUG : OPSBOT_LOG_WARN,
		    "cannot %s the libvirt connection: %s; "
		    "retrying in %.1f s",
		    e->lost ? "reopen" : "open", ro->err, delay / 1000.0);
		if (ceph_bot->timer_start(ceph_self, delay, reopen_timer, e) <
		    0)
			e->reopening = 0;
	}
	free(ro->err);
	free(ro);
}

static void reopen_start(struct cached_conn *e)
{
	struct reopen *ro = sdk_xcalloc(1, sizeof(*ro));
	struct opsbot_job_options jo = {
	    .size = sizeof(jo),
	    .work = reopen_work,
	    .done = reopen_done,
	    .name = "libvirt reconnect",
	    .unload_policy = OPSBOT_UNLOAD_CANCEL,
	};

	e->reopening = 1;
	if (reopen_running) {
		/* Another one is running: this one waits its turn. */
		free(ro);
		if (ceph_bot->timer_start(ceph_self, 1000, reopen_timer, e) < 0)
			e->reopening = 0;
		return;
	}
	ro->e = e;
	if (ceph_bot->job_start(ceph_self, &jo, ro) < 0) {
		e->reopening = 0;
		free(ro);
		return;
	}
	reopen_running++;
}

/* The event loop woke up (loop thread): handles connection drops. */
void cv_on_wake(void)
{
	struct drop *d, *n;

	pthread_mutex_lock(&drop_mu);
	d = drops;
	drops = NULL;
	pthread_mutex_unlock(&drop_mu);
	for (; d; d = n) {
		struct cached_conn *e = d->e;
		int hit;

		n = d->next;
		pthread_mutex_lock(&cc_mu);
		hit = e->c && e->gen == d->gen && !e->stale;
		if (hit)
			e->stale = 1;
		pthread_mutex_unlock(&cc_mu);
		if (hit) {
			e->lost = 1;
			ceph_bot->log(ceph_self, OPSBOT_LOG_WARN,
				      "libvirt connection to %s lost (%s); %s",
				      e->uri, close_reason(d->reason),
				      daemon_mode ? "reopening it"
						  : "the next command reopens "
						    "it");
			if (daemon_mode && !e->reopening)
				reopen_start(e);
		}
		free(d);
	}
}

/* Daemon start: opens every configured connection from a job, so drops
 * and domain events are seen before the first command. */
void cv_connect_all(const struct ceph_cfg *cfg)
{
	int i;

	for (i = 0; i < cfg->nconn; i++) {
		struct cached_conn *e;

		pthread_mutex_lock(&cc_mu);
		e = entry_locked(cfg->conn[i].uri);
		pthread_mutex_unlock(&cc_mu);
		if (!e->reopening)
			reopen_start(e);
	}
}

/* A pause while polling libvirt: job threads only, never the loop. */
static void job_pause_ms(long ms)
{
	usleep((useconds_t)ms * 1000); /* style-check: allow (job thread) */
}

/* ---- posting to the loop ---- */

static int post_res_size(struct opsbot_job *job, enum ceph_msg_type t,
			 const char *kind, const char *uri, const char *pool,
			 const char *name, const char *node, const char *role,
			 unsigned long long size)
{
	struct ceph_msg m;

	memset(&m, 0, sizeof(m));
	m.type = t;
	snprintf(m.res.kind, sizeof(m.res.kind), "%s", kind);
	snprintf(m.res.uri, sizeof(m.res.uri), "%s", uri);
	snprintf(m.res.pool, sizeof(m.res.pool), "%s", pool ? pool : "");
	snprintf(m.res.name, sizeof(m.res.name), "%s", name);
	snprintf(m.res.node, sizeof(m.res.node), "%s", node);
	snprintf(m.res.role, sizeof(m.res.role), "%s", role ? role : "");
	m.res.size = size;
	return ceph_bot->job_post_wait(job, &m, sizeof(m));
}

static int post_res(struct opsbot_job *job, enum ceph_msg_type t,
		    const char *kind, const char *uri, const char *pool,
		    const char *name, const char *node, const char *role)
{
	return post_res_size(job, t, kind, uri, pool, name, node, role, 0);
}

static void post_progress(struct opsbot_job *job, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void post_progress(struct opsbot_job *job, const char *fmt, ...)
{
	struct ceph_msg m;
	va_list ap;

	memset(&m, 0, sizeof(m));
	m.type = MSG_PROGRESS;
	va_start(ap, fmt);
	vsnprintf(m.text, sizeof(m.text), fmt, ap);
	va_end(ap);
	ceph_bot->job_post(job, &m, sizeof(m));
}

/* Records a volume about to be made, after checking the name is free (a
 * volume that already exists is someone else's: never recorded, never
 * deleted).  0, or -1 with op->err set. */
static int rec_vol(struct opsbot_job *job, struct ceph_op *op,
		   virStoragePoolPtr p, const char *uri, const char *pool,
		   const char *vname, const char *node, const char *role,
		   unsigned long long size)
{
	virStorageVolPtr v = virStorageVolLookupByName(p, vname);

	if (v) {
		virStorageVolFree(v);
		fail(op, "name taken: volume %s already exists in pool %s",
		     vname, pool);
		return -1;
	}
	virResetLastError();
	if (post_res_size(job, MSG_REC, "vol", uri, pool, vname, node, role,
			  size) != OPSBOT_OK) {
		fail(op, "cannot record volume %s", vname);
		return -1;
	}
	return 0;
}

/* After a failed create call: unless the connection dropped (then it may
 * exist after all), the record goes. */
static void unrec_failed(struct opsbot_job *job, const char *kind,
			 const char *uri, const char *pool, const char *name,
			 const char *node)
{
	if (!lv_conn_lost())
		post_res(job, MSG_UNREC, kind, uri, pool, name, node, "");
}

/* ---- XML ---- */

static xmlDocPtr xml_parse(const char *s)
{
	return xmlReadMemory(s, (int)strlen(s), "domain.xml", NULL,
			     XML_PARSE_NONET | XML_PARSE_NOWARNING |
				 XML_PARSE_NOERROR);
}

static xmlXPathObjectPtr xp(xmlDocPtr doc, const char *expr)
{
	xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
	xmlXPathObjectPtr o;

	if (!ctx)
		return NULL;
	o = xmlXPathEvalExpression((const xmlChar *)expr, ctx);
	xmlXPathFreeContext(ctx);
	if (o && (!o->nodesetval || o->nodesetval->nodeNr == 0)) {
		xmlXPathFreeObject(o);
		return NULL;
	}
	return o;
}

/* The string value of the first node expr matches (malloc'd), or NULL. */
static char *xp_str(xmlDocPtr doc, const char *expr)
{
	xmlXPathObjectPtr o = xp(doc, expr);
	xmlChar *v;
	char *r;

	if (!o)
		return NULL;
	v = xmlNodeGetContent(o->nodesetval->nodeTab[0]);
	xmlXPathFreeObject(o);
	r = v ? sdk_xstrdup((const char *)v) : NULL;
	xmlFree(v);
	return r;
}

/* Removes every node expr matches (the XPath result is freed first: it
 * reads its nodes when freed). */
static void xp_remove_all(xmlDocPtr doc, const char *expr)
{
	xmlXPathObjectPtr o = xp(doc, expr);
	xmlNodePtr *v;
	int i, n;

	if (!o)
		return;
	n = o->nodesetval->nodeNr;
	v = sdk_xcalloc((size_t)n, sizeof(*v));
	for (i = 0; i < n; i++)
		v[i] = o->nodesetval->nodeTab[i];
	xmlXPathFreeObject(o);
	for (i = 0; i < n; i++) {
		xmlUnlinkNode(v[i]);
		xmlFreeNode(v[i]);
	}
	free(v);
}

static xmlNodePtr child(xmlNodePtr n, const char *name)
{
	for (n = n ? n->children : NULL; n; n = n->next)
		if (n->type == XML_ELEMENT_NODE &&
		    !strcmp((const char *)n->name, name))
			return n;
	return NULL;
}

static char *xml_dump(xmlDocPtr doc)
{
	xmlChar *s = NULL;
	int n = 0;
	char *r;

	xmlDocDumpMemory(doc, &s, &n);
	r = s ? sdk_xstrdup((const char *)s) : NULL;
	xmlFree(s);
	return r;
}

static char *node_dump(xmlDocPtr doc, xmlNodePtr n)
{
	xmlBufferPtr b = xmlBufferCreate();
	char *r;

	xmlNodeDump(b, doc, n, 0, 0);
	r = sdk_xstrdup((const char *)xmlBufferContent(b));
	xmlBufferFree(b);
	return r;
}

/* Is dev used as a disk target in the XML text? */
static int target_used(xmlDocPtr doc, const char *dev)
{
	char expr[128];
	xmlXPathObjectPtr o;

	snprintf(expr, sizeof(expr), "/domain/devices/disk/target[@dev='%s']",
		 dev);
	o = xp(doc, expr);
	if (o)
		xmlXPathFreeObject(o);
	return o != NULL;
}

/* The next free sdX target over both docs (either may be NULL). */
static int next_target(xmlDocPtr a, xmlDocPtr b, char *out, size_t n)
{
	char c;

	for (c = 'a'; c <= 'z'; c++) {
		snprintf(out, n, "sd%c", c);
		if ((!a || !target_used(a, out)) &&
		    (!b || !target_used(b, out)))
			return 0;
	}
	return -1;
}

static xmlNodePtr add_disk(xmlNodePtr devices, const char *device,
			   const char *fmt, const char *path, const char *dev)
{
	xmlNodePtr d = xmlNewChild(devices, NULL, BAD_CAST "disk", NULL);
	xmlNodePtr n;

	xmlNewProp(d, BAD_CAST "type", BAD_CAST "file");
	xmlNewProp(d, BAD_CAST "device", BAD_CAST device);
	n = xmlNewChild(d, NULL, BAD_CAST "driver", NULL);
	xmlNewProp(n, BAD_CAST "name", BAD_CAST "qemu");
	xmlNewProp(n, BAD_CAST "type", BAD_CAST fmt);
	n = xmlNewChild(d, NULL, BAD_CAST "source", NULL);
	xmlNewProp(n, BAD_CAST "file", BAD_CAST path);
	n = xmlNewChild(d, NULL, BAD_CAST "target", NULL);
	xmlNewProp(n, BAD_CAST "dev", BAD_CAST dev);
	xmlNewProp(n, BAD_CAST "bus", BAD_CAST "scsi");
	if (!strcmp(device, "cdrom"))
		xmlNewChild(d, NULL, BAD_CAST "readonly", NULL);
	return d;
}

static char *disk_xml(const char *fmt, const char *path, const char *dev)
{
	return sdk_xasprintf("<disk type='file' device='disk'><driver "
			     "name='qemu' type='%s'/><source file='%s'/>"
			     "<target dev='%s' bus='scsi'/></disk>",
			     fmt, path, dev);
}

/* ---- MAC addresses ---- */

struct macset {
	char (*v)[18];
	int n, alloc;
};

static void macset_add(struct macset *s, const char *mac)
{
	if (s->n == s->alloc) {
		s->alloc = s->alloc ? 2 * s->alloc : 64;
		s->v = sdk_xreallocarray(s->v, (size_t)s->alloc, sizeof(*s->v));
	}
	snprintf(s->v[s->n], 18, "%.17s", mac);
	s->n++;
}

static int macset_has(const struct macset *s, const char *mac)
{
	int i;

	for (i = 0; i < s->n; i++)
		if (!strcasecmp(s->v[i], mac))
			return 1;
	return 0;
}

static void macs_of_xml(struct macset *s, const char *xml)
{
	const char *p = xml;

	while ((p = strstr(p, "<mac address="))) {
		p += strlen("<mac address=") + 1;
		if (strlen(p) >= 17)
			macset_add(s, p);
	}
}

/* Every MAC of every domain (live and persistent) on every connection. */
static void macs_collect(const struct ceph_cfg *cfg, struct macset *s)
{
	int i, j, n;

	for (i = 0; i < cfg->nconn; i++) {
		char *err = NULL;
		virConnectPtr c = conn_get(cfg->conn[i].uri, &err);
		virDomainPtr *doms = NULL;

		if (!c) {
			ceph_bot->log(ceph_self, OPSBOT_LOG_WARN,
				      "MAC check skips host %s: %s",
				      cfg->conn[i].name, err);
			free(err);
			continue;
		}
		n = virConnectListAllDomains(c, &doms, 0);
		for (j = 0; j < n; j++) {
			char *x = virDomainGetXMLDesc(doms[j], 0);

			if (x)
				macs_of_xml(s, x);
			free(x);
			if (virDomainIsActive(doms[j]) == 1) {
				x = virDomainGetXMLDesc(
				    doms[j], VIR_DOMAIN_XML_INACTIVE);
				if (x)
					macs_of_xml(s, x);
				free(x);
			}
			virDomainFree(doms[j]);
		}
		free(doms);
		virConnectClose(c);
	}
}

static void mac_new(const struct macset *s, char out[18])
{
	unsigned char r[3];

	do {
		if (getrandom(r, sizeof(r), 0) != sizeof(r)) {
			r[0] = (unsigned char)rand();
			r[1] = (unsigned char)rand();
			r[2] = (unsigned char)rand();
		}
		snprintf(out, 18, "52:54:00:%02x:%02x:%02x", r[0], r[1], r[2]);
	} while (macset_has(s, out));
}

/* ---- templates ---- */

struct tpl {
	char *xml;  /* inactive */
	char *path; /* root disk */
	char fmt[16];
	char pool[128];
	unsigned long long cap, alloc;
	int shutoff;
};

static void tpl_free(struct tpl *t)
{
	free(t->xml);
	free(t->path);
	memset(t, 0, sizeof(*t));
}

/* 0 if usable; -1 with *why ("not found", "running", ...). */
static int tpl_probe(virConnectPtr c, const char *name, struct tpl *t,
		     char **why)
{
	virDomainPtr d = virDomainLookupByName(c, name);
	virStorageVolPtr v = NULL;
	virStoragePoolPtr p = NULL;
	virStorageVolInfo vi;
	xmlDocPtr doc = NULL;
	int state = 0, reason = 0, rc = -1;
	char *s = NULL;

	memset(t, 0, sizeof(*t));
	if (!d) {
		*why = sdk_xstrdup("no such domain");
		return -1;
	}
	if (virDomainGetState(d, &state, &reason, 0) == 0)
		t->shutoff = state == VIR_DOMAIN_SHUTOFF;
	t->xml = virDomainGetXMLDesc(d, VIR_DOMAIN_XML_INACTIVE);
	if (!t->xml || !(doc = xml_parse(t->xml))) {
		*why = sdk_xstrdup("cannot read its XML");
		goto out;
	}
	t->path = xp_str(doc, "/domain/devices/disk[@device='disk'][1]/"
			      "source/@file");
	if (!t->path)
		t->path = xp_str(doc, "/domain/devices/disk[@device='disk'][1]"
				      "/source/@dev");
	if (!t->path) {
		char *pool = xp_str(doc, "/domain/devices/disk[@device='disk']"
					 "[1]/source/@pool");
		char *vol = xp_str(doc, "/domain/devices/disk[@device='disk']"
					"[1]/source/@volume");

		if (pool && vol && (p = virStoragePoolLookupByName(c, pool)) &&
		    (v = virStorageVolLookupByName(p, vol)))
			t->path = virStorageVolGetPath(v);
		free(pool);
		free(vol);
	}
	if (!t->path) {
		*why = sdk_xstrdup("has no disk");
		goto out;
	}
	if (!v)
		v = virStorageVolLookupByPath(c, t->path);
	if (!v) {
		*why =
		    sdk_xasprintf("its disk %s is in no storage pool", t->path);
		goto out;
	}
	if (!p)
		p = virStoragePoolLookupByVolume(v);
	if (p)
		snprintf(t->pool, sizeof(t->pool), "%s",
			 virStoragePoolGetName(p));
	if (virStorageVolGetInfo(v, &vi) == 0) {
		t->cap = vi.capacity;
		t->alloc = vi.allocation;
	}
	s = virStorageVolGetXMLDesc(v, 0);
	if (s) {
		xmlDocPtr vd = xml_parse(s);
		char *f = vd ? xp_str(vd, "/volume/target/format/@type") : NULL;

		snprintf(t->fmt, sizeof(t->fmt), "%s", f ? f : "raw");
		free(f);
		if (vd)
			xmlFreeDoc(vd);
		free(s);
	} else
		snprintf(t->fmt, sizeof(t->fmt), "raw");
	if (!t->shutoff) {
		*why =
		    sdk_xstrdup("it is running (templates must be shut off)");
		goto out;
	}
	rc = 0;
out:
	if (doc)
		xmlFreeDoc(doc);
	if (v)
		virStorageVolFree(v);
	if (p)
		virStoragePoolFree(p);
	virDomainFree(d);
	return rc;
}

static void do_templates(struct opsbot_job *job, struct ceph_op *op)
{
	const struct ceph_cfg *cfg = op->cfg;
	int i, j;

	if (cfg->ntpl == 0) {
		sdk_buf_adds(&op->out, "no templates configured ([plugin.ceph] "
				       "template = <domain>)\n");
		return;
	}
	for (i = 0; i < cfg->ntpl; i++)
		for (j = 0; j < cfg->nconn; j++) {
			char *err = NULL, *why = NULL;
			virConnectPtr c = conn_get(cfg->conn[j].uri, &err);
			struct tpl t;
			char sz[32];

			if (!c) {
				sdk_buf_addf(
				    &op->out, "%s on %s: unknown (%s)\n",
				    cfg->tpl[i], cfg->conn[j].name, err);
				free(err);
				continue;
			}
			if (tpl_probe(c, cfg->tpl[i], &t, &why) == 0) {
				ceph_fmt_size(sz, sizeof(sz), t.cap);
				sdk_buf_addf(&op->out,
					     "%s on %s: usable, disk %s %s in "
					     "pool %s\n",
					     cfg->tpl[i], cfg->conn[j].name, sz,
					     t.fmt, t.pool);
			} else {
				sdk_buf_addf(
				    &op->out, "%s on %s: not usable: %s\n",
				    cfg->tpl[i], cfg->conn[j].name, why);
			}
			free(why);
			tpl_free(&t);
			virConnectClose(c);
		}
}

/* ---- volumes ---- */

static virStorageVolPtr vol_create(virStoragePoolPtr p, const char *name,
				   const char *fmt, unsigned long long cap,
				   const char *backing, const char *bfmt,
				   virStorageVolPtr from)
{
	char *x;
	virStorageVolPtr v;

	if (backing)
		x = sdk_xasprintf(
		    "<volume><name>%s</name><capacity unit='bytes'>%llu"
		    "</capacity><target><format type='%s'/></target>"
		    "<backingStore><path>%s</path><format type='%s'/>"
		    "</backingStore></volume>",
		    name, cap, fmt, backing, bfmt);
	else
		x = sdk_xasprintf("<volume><name>%s</name><capacity "
				  "unit='bytes'>%llu</capacity><allocation>0"
				  "</allocation><target><format type='%s'/>"
				  "</target></volume>",
				  name, cap, fmt);
	v = from ? virStorageVolCreateXMLFrom(p, x, from, 0)
		 : virStorageVolCreateXML(p, x, 0);
	free(x);
	return v;
}

/* Uploads a local file into v; 0, or -1 (libvirt's error is set). */
static int vol_upload(virConnectPtr c, virStorageVolPtr v, const char *path,
		      unsigned long long size)
{
	virStreamPtr st = virStreamNew(c, 0);
	char buf[65536];
	int fd, rc = -1;
	ssize_t n;

	if (!st)
		return -1;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		virStreamFree(st);
		return -1;
	}
	if (virStorageVolUpload(v, st, 0, size, 0) < 0)
		goto out;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		char *p = buf;

		while (n > 0) {
			int w = virStreamSend(st, p, (size_t)n);

			if (w < 0) {
				virStreamAbort(st);
				goto out;
			}
			p += w;
			n -= w;
		}
	}
	rc = virStreamFinish(st);
out:
	close(fd);
	virStreamFree(st);
	return rc;
}

/* ---- create ---- */

struct host_slot {
	virConnectPtr c;
	virStoragePoolPtr pool;
	struct tpl t;
	virStorageVolPtr tvol;
	unsigned long long freemem;
	int usable, used;
	char *why;
};

static char *clone_xml(const struct tpl *t, const char *name,
		       const char *root_path, const char *root_fmt,
		       const struct macset *taken, struct macset *mine,
		       const char *seed_path, int osds, char **osd_paths,
		       char *osd_devs, size_t osd_devs_size, char *root_dev,
		       size_t root_dev_size)
{
	xmlDocPtr doc = xml_parse(t->xml);
	xmlNodePtr dom, devices, n, disk;
	xmlXPathObjectPtr o;
	char dev[8], *r;
	int i;

	if (!doc)
		return NULL;
	dom = xmlDocGetRootElement(doc);
	devices = child(dom, "devices");
	if (!devices) {
		xmlFreeDoc(doc);
		return NULL;
	}
	n = child(dom, "name");
	xmlNodeSetContent(n, BAD_CAST name);
	xp_remove_all(doc, "/domain/uuid");
	xp_remove_all(doc, "/domain/os/nvram");
	xp_remove_all(doc, "/domain/devices/tpm");
	xp_remove_all(doc, "/domain/devices/interface/target");
	/* The root disk: the template's first disk, on the new volume;
	 * other disks and CD-ROMs of the template are not cloned. */
	o = xp(doc, "/domain/devices/disk[@device='disk']");
	disk = o ? o->nodesetval->nodeTab[0] : NULL;
	if (o)
		xmlXPathFreeObject(o);
	if (!disk) {
		xmlFreeDoc(doc);
		return NULL;
	}
	xmlSetProp(disk, BAD_CAST "type", BAD_CAST "file");
	while ((n = child(disk, "source")) ||
	       (n = child(disk, "backingStore"))) {
		xmlUnlinkNode(n);
		xmlFreeNode(n);
	}
	n = xmlNewChild(disk, NULL, BAD_CAST "source", NULL);
	xmlNewProp(n, BAD_CAST "file", BAD_CAST root_path);
	n = child(disk, "driver");
	if (n)
		xmlSetProp(n, BAD_CAST "type", BAD_CAST root_fmt);
	n = child(disk, "target");
	r = n ? (char *)xmlGetProp(n, BAD_CAST "dev") : NULL;
	snprintf(root_dev, root_dev_size, "%s", r ? r : "");
	xmlFree(r);
	/* Only the root disk stays: mark it, remove every other. */
	xmlSetProp(disk, BAD_CAST "opsbot-root", BAD_CAST "1");
	xp_remove_all(doc, "/domain/devices/disk[not(@opsbot-root)]");
	xmlUnsetProp(disk, BAD_CAST "opsbot-root");
	/* New MACs, 52:54:00 and unique. */
	o = xp(doc, "/domain/devices/interface");
	if (o) {
		for (i = 0; i < o->nodesetval->nodeNr; i++) {
			xmlNodePtr itf = o->nodesetval->nodeTab[i];
			xmlNodePtr m = child(itf, "mac");
			char mac[18];

			do
				mac_new(taken, mac);
			while (macset_has(mine, mac));
			macset_add(mine, mac);
			if (!m)
				m = xmlNewChild(itf, NULL, BAD_CAST "mac",
						NULL);
			xmlSetProp(m, BAD_CAST "address", BAD_CAST mac);
		}
		xmlXPathFreeObject(o);
	}
	/* A virtio-scsi controller for the OSDs (hot-plug needs no guest). */
	o = xp(doc, "/domain/devices/controller[@type='scsi']");
	if (o)
		xmlXPathFreeObject(o);
	else {
		n = xmlNewChild(devices, NULL, BAD_CAST "controller", NULL);
		xmlNewProp(n, BAD_CAST "type", BAD_CAST "scsi");
		xmlNewProp(n, BAD_CAST "index", BAD_CAST "0");
		xmlNewProp(n, BAD_CAST "model", BAD_CAST "virtio-scsi");
	}
	if (seed_path && *seed_path &&
	    next_target(doc, NULL, dev, sizeof(dev)) == 0)
		add_disk(devices, "cdrom", "raw", seed_path, dev);
	osd_devs[0] = 0;
	for (i = 0; i < osds; i++) {
		size_t l = strlen(osd_devs);

		if (next_target(doc, NULL, dev, sizeof(dev)) < 0)
			break;
		add_disk(devices, "disk", "qcow2", osd_paths[i], dev);
		snprintf(osd_devs + l, osd_devs_size - l, "%s/dev/%s",
			 l ? "," : "", dev);
	}
	r = xml_dump(doc);
	xmlFreeDoc(doc);
	return r;
}

static int cancelled(struct opsbot_job *job, struct ceph_op *op)
{
	if (ceph_bot->job_is_cancelled(job)) {
		fail(op, "cancelled (the bot is stopping)");
		op->interrupted = 1;
		return 1;
	}
	return 0;
}

static void node_addrs(virDomainPtr d, char *out, size_t size)
{
	static const unsigned src[] = {
	    VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE,
	    VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_AGENT,
	    VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_ARP,
	};
	size_t s;

	out[0] = 0;
	if (virDomainIsActive(d) != 1)
		return;
	for (s = 0; s < sizeof(src) / sizeof(src[0]) && !out[0]; s++) {
		virDomainInterfacePtr *ifs = NULL;
		int n = virDomainInterfaceAddresses(d, &ifs, src[s], 0), i;
		unsigned j;

		for (i = 0; i < n; i++) {
			for (j = 0; j < ifs[i]->naddrs; j++) {
				size_t l = strlen(out);

				if (!ifs[i]->addrs[j].addr ||
				    !strncmp(ifs[i]->addrs[j].addr, "127.",
					     4) ||
				    !strcmp(ifs[i]->addrs[j].addr, "::1"))
					continue;
				snprintf(out + l, size - l, "%s%s",
					 l ? "," : "", ifs[i]->addrs[j].addr);
			}
			virDomainInterfaceFree(ifs[i]);
		}
		free(ifs);
	}
	virResetLastError();
}

static void do_create(struct opsbot_job *job, struct ceph_op *op)
{
	const struct ceph_cfg *cfg = op->cfg;
	struct host_slot *hs = sdk_xcalloc((size_t)cfg->nconn, sizeof(*hs));
	char **osd_paths = sdk_xcalloc((size_t)op->osds + 1, sizeof(char *));
	struct macset mine = {0};
	int i, j, nusable = 0;

	/* Where may the template be cloned?  Each host with a usable copy
	 * of it (or only the pinned host). */
	for (i = 0; i < cfg->nconn; i++) {
		char *err = NULL;

		if (op->pin[0] && strcmp(op->pin, cfg->conn[i].name))
			continue;
		hs[i].c = conn_get(cfg->conn[i].uri, &err);
		if (!hs[i].c) {
			hs[i].why = err;
			continue;
		}
		if (tpl_probe(hs[i].c, op->tpl, &hs[i].t, &hs[i].why) < 0)
			continue;
		hs[i].pool =
		    virStoragePoolLookupByName(hs[i].c, cfg->conn[i].pool);
		if (!hs[i].pool) {
			char *m = lv_msg();

			hs[i].why =
			    sdk_xasprintf("pool %s: %s", cfg->conn[i].pool, m);
			free(m);
			continue;
		}
		hs[i].tvol = virStorageVolLookupByPath(hs[i].c, hs[i].t.path);
		if (!hs[i].tvol) {
			hs[i].why = lv_msg();
			continue;
		}
		hs[i].freemem = virNodeGetFreeMemory(hs[i].c);
		virResetLastError();
		hs[i].usable = 1;
		nusable++;
	}
	if (!nusable) {
		for (i = 0; i < cfg->nconn; i++)
			if (hs[i].why) {
				fail(op,
				     "template %s is not usable on host %s: %s",
				     op->tpl, cfg->conn[i].name, hs[i].why);
				break;
			}
		fail(op, "unknown host %s (see [plugin.ceph.host.<name>])",
		     op->pin);
		goto out;
	}
	/* Anti-affinity: node i goes to the usable host with the fewest of
	 * this cluster's nodes so far, then the most free memory. */
	for (i = 0; i < op->nodes; i++) {
		int best = -1;

		for (j = 0; j < cfg->nconn; j++)
			if (hs[j].usable &&
			    (best < 0 || hs[j].used < hs[best].used ||
			     (hs[j].used == hs[best].used &&
			      hs[j].freemem > hs[best].freemem)))
				best = j;
		op->nv[i].conn = best;
		hs[best].used++;
	}
	for (i = 0; i < op->nodes; i++) {
		struct ceph_node *nd = &op->nv[i];
		struct host_slot *h = &hs[nd->conn];
		const struct ceph_conn_cfg *cc = &cfg->conn[nd->conn];
		virStoragePoolInfo pi;
		virStorageVolPtr root = NULL;
		virDomainPtr d = NULL;
		unsigned long long need;
		char vname[128], *root_path = NULL, *seed_vol_path = NULL, *x;
		const char *root_fmt;
		struct macset taken = {0};
		char root_dev[16];
		struct stat sst;

		if (cancelled(job, op))
			break;
		/* Space: refreshed now, so a pool filled meanwhile shows. */
		need = cfg->overlay ? (1ULL << 20) : h->t.alloc;
		if (virStoragePoolRefresh(h->pool, 0) == 0 &&
		    virStoragePoolGetInfo(h->pool, &pi) == 0 &&
		    pi.available < need) {
			char a[32], b[32];

			ceph_fmt_size(a, sizeof(a), need);
			ceph_fmt_size(b, sizeof(b), pi.available);
			fail(op,
			     "node %s: pool %s on host %s out of space "
			     "(needs %s, %s free)",
			     nd->name, cc->pool, cc->name, a, b);
			break;
		}
		virResetLastError();
		snprintf(vname, sizeof(vname), "%s-root.qcow2", nd->name);
		root_fmt = cfg->overlay ? "qcow2" : h->t.fmt;
		if (strcmp(root_fmt, "qcow2"))
			snprintf(vname, sizeof(vname), "%s-root.img", nd->name);
		if (rec_vol(job, op, h->pool, cc->uri, cc->pool, vname,
			    nd->name, "root", 0) < 0)
			break;
		if (cfg->overlay)
			root = vol_create(h->pool, vname, "qcow2", h->t.cap,
					  h->t.path, h->t.fmt, NULL);
		else
			root = vol_create(h->pool, vname, root_fmt, h->t.cap,
					  NULL, NULL, h->tvol);
		if (!root) {
			char w[320];

			snprintf(w, sizeof(w), "node %s: cloning %s", nd->name,
				 op->tpl);
			fail_lv(op, w);
			unrec_failed(job, "vol", cc->uri, cc->pool, vname,
				     nd->name);
			break;
		}
		root_path = virStorageVolGetPath(root);
		virStorageVolFree(root);
		ceph_bot->log(ceph_self, OPSBOT_LOG_DEBUG,
			      "%s: root cloned at %lld ms", nd->name,
			      (long long)(ceph_bot->now_ms() - op->t0));
		post_progress(job, "%s: %s cloned on %s (%d/%d)", op->cluster,
			      nd->name, cc->name, i + 1, op->nodes);
		/* The cloud-init seed: uploaded into the pool (so it works
		 * on remote hosts too); a driver without upload (the test
		 * driver) refers to the local file. */
		if (nd->seed_path[0] && stat(nd->seed_path, &sst) == 0) {
			virStorageVolPtr sv;

			snprintf(vname, sizeof(vname), "%s-seed.iso", nd->name);
			if (rec_vol(job, op, h->pool, cc->uri, cc->pool, vname,
				    nd->name, "seed", 0) < 0) {
				free(root_path);
				break;
			}
			sv = vol_create(h->pool, vname, "raw",
					(unsigned long long)sst.st_size, NULL,
					NULL, NULL);
			if (sv &&
			    vol_upload(h->c, sv, nd->seed_path,
				       (unsigned long long)sst.st_size) == 0)
				seed_vol_path = virStorageVolGetPath(sv);
			else if (sv && lv_code() == VIR_ERR_NO_SUPPORT) {
				virStorageVolDelete(sv, 0);
				post_res(job, MSG_UNREC, "vol", cc->uri,
					 cc->pool, vname, nd->name, "seed");
				seed_vol_path = sdk_xstrdup(nd->seed_path);
			} else {
				char w[320];

				snprintf(w, sizeof(w), "node %s: seed volume",
					 nd->name);
				fail_lv(op, w);
				if (!sv)
					unrec_failed(job, "vol", cc->uri,
						     cc->pool, vname, nd->name);
			}
			if (sv)
				virStorageVolFree(sv);
			if (op->err) {
				free(root_path);
				break;
			}
		}
		for (j = 0; j < op->osds; j++) {
			virStorageVolPtr ov;

			snprintf(vname, sizeof(vname), "%s-osd%d.qcow2",
				 nd->name, j + 1);
			if (rec_vol(job, op, h->pool, cc->uri, cc->pool, vname,
				    nd->name, "osd", op->osd_size) < 0)
				break;
			ov = vol_create(h->pool, vname, "qcow2", op->osd_size,
					NULL, NULL, NULL);
			if (!ov) {
				char w[320];

				snprintf(w, sizeof(w), "node %s: OSD volume %s",
					 nd->name, vname);
				fail_lv(op, w);
				unrec_failed(job, "vol", cc->uri, cc->pool,
					     vname, nd->name);
				break;
			}
			osd_paths[j] = virStorageVolGetPath(ov);
			virStorageVolFree(ov);
		}
		if (op->err) {
			free(root_path);
			free(seed_vol_path);
			break;
		}
		ceph_bot->log(ceph_self, OPSBOT_LOG_DEBUG,
			      "%s: volumes made at %lld ms", nd->name,
			      (long long)(ceph_bot->now_ms() - op->t0));
		/* Define under the MAC lock: no other create of this
		 * process picks the same address meanwhile. */
		pthread_mutex_lock(&mac_mu);
		macs_collect(cfg, &taken);
		x = clone_xml(&h->t, nd->name, root_path, root_fmt, &taken,
			      &mine, seed_vol_path, op->osds, osd_paths,
			      nd->osd_devs, sizeof(nd->osd_devs), root_dev,
			      sizeof(root_dev));
		free(taken.v);
		free(root_path);
		free(seed_vol_path);
		for (j = 0; j < op->osds; j++) {
			free(osd_paths[j]);
			osd_paths[j] = NULL;
		}
		if (!x) {
			pthread_mutex_unlock(&mac_mu);
			fail(op,
			     "node %s: the template's XML has no disk to "
			     "clone",
			     nd->name);
			break;
		}
		d = virDomainLookupByName(h->c, nd->name);
		if (d) {
			virDomainFree(d);
			d = NULL;
			pthread_mutex_unlock(&mac_mu);
			free(x);
			fail(op,
			     "node %s: name taken (a domain of that name "
			     "exists on host %s)",
			     nd->name, cc->name);
			break;
		}
		virResetLastError();
		if (post_res(job, MSG_REC, "dom", cc->uri, NULL, nd->name,
			     nd->name, root_dev) != OPSBOT_OK) {
			pthread_mutex_unlock(&mac_mu);
			free(x);
			fail(op, "cannot record domain %s", nd->name);
			break;
		}
		d = virDomainDefineXML(h->c, x);
		pthread_mutex_unlock(&mac_mu);
		free(x);
		if (!d) {
			char w[320], *m;

			snprintf(w, sizeof(w), "node %s: define", nd->name);
			m = lv_msg();

			if (strstr(m, "already exists"))
				fail(op,
				     "node %s: name taken (a domain of that "
				     "name exists on host %s)",
				     nd->name, cc->name);
			free(m);
			fail_lv(op, w);
			unrec_failed(job, "dom", cc->uri, "", nd->name,
				     nd->name);
			break;
		}
		nd->made = 1;
		ceph_bot->log(ceph_self, OPSBOT_LOG_DEBUG,
			      "%s: defined at %lld ms", nd->name,
			      (long long)(ceph_bot->now_ms() - op->t0));
		if (op->start && virDomainCreate(d) < 0) {
			char w[320];

			snprintf(w, sizeof(w), "node %s: start", nd->name);
			fail_lv(op, w);
			virDomainFree(d);
			break;
		}
		virDomainFree(d);
		ceph_bot->log(ceph_self, OPSBOT_LOG_DEBUG,
			      "%s: started at %lld ms", nd->name,
			      (long long)(ceph_bot->now_ms() - op->t0));
		post_progress(job, "%s: %s defined%s on %s (%d/%d)",
			      op->cluster, nd->name,
			      op->start ? " and started" : "", cc->name, i + 1,
			      op->nodes);
	}
	/* Addresses for the inventory, if any are known already. */
	for (i = 0; i < op->nodes && !op->err; i++) {
		virDomainPtr d =
		    virDomainLookupByName(hs[op->nv[i].conn].c, op->nv[i].name);

		if (d) {
			node_addrs(d, op->nv[i].addrs, sizeof(op->nv[i].addrs));
			virDomainFree(d);
		}
	}
out:
	for (i = 0; i < cfg->nconn; i++) {
		if (hs[i].tvol)
			virStorageVolFree(hs[i].tvol);
		if (hs[i].pool)
			virStoragePoolFree(hs[i].pool);
		if (hs[i].c)
			virConnectClose(hs[i].c);
		tpl_free(&hs[i].t);
		free(hs[i].why);
	}
	free(hs);
	for (j = 0; j < op->osds; j++)
		free(osd_paths[j]);
	free(osd_paths);
	free(mine.v);
}

/* ---- per-resource helpers ---- */

static const char *host_name(const struct ceph_cfg *cfg, const char *uri)
{
	int i;

	for (i = 0; i < cfg->nconn; i++)
		if (!strcmp(cfg->conn[i].uri, uri))
			return cfg->conn[i].name;
	return uri;
}

static const char *state_name(int s)
{
	switch (s) {
	case VIR_DOMAIN_RUNNING:
		return "running";
	case VIR_DOMAIN_BLOCKED:
		return "blocked";
	case VIR_DOMAIN_PAUSED:
		return "paused";
	case VIR_DOMAIN_SHUTDOWN:
		return "shutting down";
	case VIR_DOMAIN_SHUTOFF:
		return "shut off";
	case VIR_DOMAIN_CRASHED:
		return "crashed";
	case VIR_DOMAIN_PMSUSPENDED:
		return "suspended";
	default:
		return "unknown";
	}
}

/* The node's domain, looked up on its connection; NULL with op->err set
 * (missing: "gone" unless quiet). */
static virDomainPtr node_dom(struct ceph_op *op, const struct ceph_res *r,
			     virConnectPtr *cp)
{
	char *err = NULL;
	virDomainPtr d;

	*cp = conn_get(r->uri, &err);
	if (!*cp) {
		op->interrupted = 1;
		fail(op, "%s", err);
		free(err);
		return NULL;
	}
	d = virDomainLookupByName(*cp, r->name);
	if (!d) {
		if (lv_code() == VIR_ERR_NO_DOMAIN)
			fail(op, "node %s no longer exists on host %s", r->name,
			     host_name(op->cfg, r->uri));
		else
			fail_lv(op, r->name);
		virConnectClose(*cp);
		*cp = NULL;
	}
	return d;
}

static void do_show(struct opsbot_job *job, struct ceph_op *op)
{
	int i;

	for (i = 0; i < op->nres; i++) {
		const struct ceph_res *r = &op->res[i];
		virConnectPtr c = NULL;
		virDomainPtr d;
		int st = 0, reason = 0, k;
		char addrs[256], *x;
		xmlDocPtr doc;
		xmlXPathObjectPtr o;

		if (strcmp(r->kind, "dom"))
			continue;
		d = node_dom(op, r, &c);
		if (!d) {
			sdk_buf_addf(&op->out, "%s: %s\n", r->name, op->err);
			free(op->err);
			op->err = NULL;
			continue;
		}
		virDomainGetState(d, &st, &reason, 0);
		node_addrs(d, addrs, sizeof(addrs));
		sdk_buf_addf(&op->out, "%s on %s: %s, addresses %s; disks",
			     r->name, host_name(op->cfg, r->uri),
			     state_name(st), addrs[0] ? addrs : "unknown");
		x = virDomainGetXMLDesc(d, 0);
		doc = x ? xml_parse(x) : NULL;
		o = doc ? xp(doc, "/domain/devices/disk") : NULL;
		for (k = 0; o && k < o->nodesetval->nodeNr; k++) {
			xmlNodePtr dn = o->nodesetval->nodeTab[k];
			xmlNodePtr t = child(dn, "target"),
				   s = child(dn, "source");
			char *dev =
			    t ? (char *)xmlGetProp(t, BAD_CAST "dev") : NULL;
			char *file =
			    s ? (char *)xmlGetProp(s, BAD_CAST "file") : NULL;
			char *device =
			    (char *)xmlGetProp(dn, BAD_CAST "device");
			virStorageVolPtr v =
			    file ? virStorageVolLookupByPath(c, file) : NULL;
			virStorageVolInfo vi;
			char sz[32] = "?";

			if (v && virStorageVolGetInfo(v, &vi) == 0)
				ceph_fmt_size(sz, sizeof(sz), vi.capacity);
			if (v)
				virStorageVolFree(v);
			sdk_buf_addf(&op->out, "%s %s %s%s", k ? "," : "",
				     dev ? dev : "?", sz,
				     device && !strcmp(device, "cdrom")
					 ? " (cloud-init seed)"
				     : k == 0 ? " (root)"
					      : "");
			xmlFree(dev);
			xmlFree(file);
			xmlFree(device);
		}
		virResetLastError();
		sdk_buf_adds(&op->out, "\n");
		if (o)
			xmlXPathFreeObject(o);
		if (doc)
			xmlFreeDoc(doc);
		free(x);
		virDomainFree(d);
		virConnectClose(c);
	}
}

static void do_start_stop(struct opsbot_job *job, struct ceph_op *op)
{
	virConnectPtr *cs = sdk_xcalloc((size_t)op->nres + 1, sizeof(*cs));
	virDomainPtr *ds = sdk_xcalloc((size_t)op->nres + 1, sizeof(*ds));
	int i, n = 0, waiting;
	int64_t until;

	for (i = 0; i < op->nres && !op->err; i++) {
		const struct ceph_res *r = &op->res[i];

		if (strcmp(r->kind, "dom"))
			continue;
		if (!(ds[i] = node_dom(op, r, &cs[i])))
			break;
		if (op->kind == OP_START) {
			if (virDomainIsActive(ds[i]) != 1) {
				if (virDomainCreate(ds[i]) < 0)
					fail_lv(op, r->name);
				else
					n++;
			}
		} else if (virDomainIsActive(ds[i]) == 1) {
			/* ACPI to every node first, so they shut down
			 * together. */
			virDomainShutdown(ds[i]);
			virResetLastError();
		}
	}
	if (op->kind == OP_STOP) {
		/* A guest that ignores ACPI is powered off after
		 * stop_timeout. */
		until = ceph_bot->now_ms() + op->cfg->stop_timeout_ms;
		do {
			waiting = 0;
			for (i = 0; i < op->nres; i++)
				if (ds[i] && virDomainIsActive(ds[i]) == 1)
					waiting++;
			if (waiting && ceph_bot->now_ms() < until &&
			    !ceph_bot->job_is_cancelled(job))
				job_pause_ms(100);
			else
				break;
		} while (1);
		for (i = 0; i < op->nres; i++) {
			if (!ds[i])
				continue;
			if (virDomainIsActive(ds[i]) == 1 &&
			    virDomainDestroy(ds[i]) < 0)
				fail_lv(op, op->res[i].name);
			else
				n++;
		}
	}
	for (i = 0; i < op->nres; i++) {
		if (ds[i])
			virDomainFree(ds[i]);
		if (cs[i])
			virConnectClose(cs[i]);
	}
	free(ds);
	free(cs);
	sdk_buf_addf(&op->out, "%d node%s %s", n, n == 1 ? "" : "s",
		     op->kind == OP_START ? "started" : "stopped");
}

static void do_destroy(struct opsbot_job *job, struct ceph_op *op)
{
	int i, pass;

	/* Domains first (they use the volumes), then volumes.  Only what
	 * the store names; gone already counts as done. */
	for (pass = 0; pass < 2; pass++)
		for (i = 0; i < op->nres; i++) {
			const struct ceph_res *r = &op->res[i];
			char *err = NULL;
			virConnectPtr c;

			if (strcmp(r->kind, pass == 0 ? "dom" : "vol"))
				continue;
			if (!(c = conn_get(r->uri, &err))) {
				op->interrupted = 1;
				fail(op, "%s", err);
				free(err);
				continue;
			}
			if (pass == 0) {
				virDomainPtr d =
				    virDomainLookupByName(c, r->name);

				if (d) {
					if (virDomainIsActive(d) == 1 &&
					    virDomainDestroy(d) < 0)
						fail_lv(op, r->name);
					else if (
					    virDomainUndefineFlags(
						d,
						VIR_DOMAIN_UNDEFINE_MANAGED_SAVE |
						    VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA) <
						0 &&
					    virDomainUndefine(d) < 0)
						fail_lv(op, r->name);
					else
						d = (virDomainFree(d), NULL);
					if (d) {
						virDomainFree(d);
						virConnectClose(c);
						continue;
					}
				} else if (lv_code() != VIR_ERR_NO_DOMAIN) {
					fail_lv(op, r->name);
					virConnectClose(c);
					continue;
				}
			} else {
				virStoragePoolPtr p =
				    virStoragePoolLookupByName(c, r->pool);
				virStorageVolPtr v =
				    p ? virStorageVolLookupByName(p, r->name)
				      : NULL;

				if (!p) {
					fail_lv(op, r->pool);
					virConnectClose(c);
					continue;
				}
				if (v && virStorageVolDelete(v, 0) < 0) {
					fail_lv(op, r->name);
					virStorageVolFree(v);
					virStoragePoolFree(p);
					virConnectClose(c);
					continue;
				}
				if (!v && lv_code() != VIR_ERR_NO_STORAGE_VOL) {
					fail_lv(op, r->name);
					virStoragePoolFree(p);
					virConnectClose(c);
					continue;
				}
				if (v)
					virStorageVolFree(v);
				virStoragePoolFree(p);
			}
			virConnectClose(c);
			post_res(job, MSG_UNREC, r->kind, r->uri, r->pool,
				 r->name, r->node, r->role);
		}
}

/* Redefines the persistent config with one disk added or removed: what
 * a driver without device hot-plug (the test driver) can still do for a
 * shut-off node. */
static int redefine_disk(virConnectPtr c, virDomainPtr d, const char *add_xml,
			 const char *rm_target)
{
	char *x = virDomainGetXMLDesc(d, VIR_DOMAIN_XML_INACTIVE), *nx;
	xmlDocPtr doc = x ? xml_parse(x) : NULL;
	virDomainPtr nd;
	char expr[128];

	free(x);
	if (!doc)
		return -1;
	if (rm_target) {
		snprintf(expr, sizeof(expr),
			 "/domain/devices/disk[target/@dev='%s']", rm_target);
		xp_remove_all(doc, expr);
	}
	if (add_xml) {
		xmlNodePtr devices =
		    child(xmlDocGetRootElement(doc), "devices");
		xmlDocPtr dd = xml_parse(add_xml);

		if (!devices || !dd) {
			if (dd)
				xmlFreeDoc(dd);
			xmlFreeDoc(doc);
			return -1;
		}
		xmlAddChild(devices,
			    xmlDocCopyNode(xmlDocGetRootElement(dd), doc, 1));
		xmlFreeDoc(dd);
	}
	nx = xml_dump(doc);
	xmlFreeDoc(doc);
	nd = nx ? virDomainDefineXML(c, nx) : NULL;
	free(nx);
	if (!nd)
		return -1;
	virDomainFree(nd);
	return 0;
}

static void do_disk_add(struct opsbot_job *job, struct ceph_op *op)
{
	const struct ceph_res *r = &op->res[0];
	virConnectPtr c;
	virDomainPtr d = node_dom(op, r, &c);
	virStoragePoolPtr p = NULL;
	virStorageVolPtr v = NULL;
	char vname[128], dev[8], *live = NULL, *inact = NULL, *path = NULL,
				 *dx = NULL, *pool = NULL;
	xmlDocPtr ld = NULL, id = NULL;
	int active;

	if (!d)
		return;
	active = virDomainIsActive(d) == 1;
	inact = virDomainGetXMLDesc(d, VIR_DOMAIN_XML_INACTIVE);
	live = active ? virDomainGetXMLDesc(d, 0) : NULL;
	id = inact ? xml_parse(inact) : NULL;
	ld = live ? xml_parse(live) : NULL;
	if (!id || next_target(id, ld, dev, sizeof(dev)) < 0) {
		fail(op, "node %s: no free SCSI target", op->node);
		goto out;
	}
	/* The pool: the root volume's. */
	{
		int i;

		for (i = 0; i < op->nres; i++)
			if (!strcmp(op->res[i].kind, "vol") &&
			    !strcmp(op->res[i].node, op->node) &&
			    op->res[i].pool[0]) {
				pool = op->res[i].pool;
				break;
			}
	}
	if (!pool || !(p = virStoragePoolLookupByName(c, pool))) {
		fail(op, "node %s: its pool is unknown", op->node);
		goto out;
	}
	snprintf(vname, sizeof(vname), "%s-osd%d.qcow2", op->node,
		 op->next_osd);
	if (rec_vol(job, op, p, r->uri, pool, vname, op->node, "osd",
		    op->osd_size) < 0)
		goto out;
	v = vol_create(p, vname, "qcow2", op->osd_size, NULL, NULL, NULL);
	if (!v) {
		fail_lv(op, vname);
		unrec_failed(job, "vol", r->uri, pool, vname, op->node);
		goto out;
	}
	path = virStorageVolGetPath(v);
	dx = disk_xml("qcow2", path, dev);
	if (virDomainAttachDeviceFlags(
		d, dx,
		VIR_DOMAIN_AFFECT_CONFIG |
		    (active ? VIR_DOMAIN_AFFECT_LIVE : 0)) < 0) {
		int code = lv_code();

		if (code == VIR_ERR_NO_SUPPORT && !active &&
		    redefine_disk(c, d, dx, NULL) == 0)
			goto done;
		if (code == VIR_ERR_NO_SUPPORT)
			fail(op,
			     "node %s: this libvirt driver cannot hot-plug "
			     "disks (the test driver cannot); stop the node "
			     "first",
			     op->node);
		else
			fail_lv(op, op->node);
		/* Roll back: the new volume goes, and its record. */
		if (virStorageVolDelete(v, 0) == 0)
			post_res(job, MSG_UNREC, "vol", r->uri, pool, vname,
				 op->node, "osd");
		goto out;
	}
done:
	snprintf(op->target, sizeof(op->target), "%s", dev);
	{
		char sz[32];

		ceph_fmt_size(sz, sizeof(sz), op->osd_size);
		sdk_buf_addf(&op->out, "%s: added %s (%s, volume %s)%s",
			     op->node, dev, sz, vname,
			     active ? " live and persistent"
				    : " persistent (node is shut off)");
	}
out:
	free(dx);
	free(path);
	free(live);
	free(inact);
	if (ld)
		xmlFreeDoc(ld);
	if (id)
		xmlFreeDoc(id);
	if (v)
		virStorageVolFree(v);
	if (p)
		virStoragePoolFree(p);
	virDomainFree(d);
	virConnectClose(c);
}

/* The <disk> with target dev in doc, or NULL. */
static xmlNodePtr find_disk(xmlDocPtr doc, const char *dev)
{
	char expr[128];
	xmlXPathObjectPtr o;
	xmlNodePtr n;

	snprintf(expr, sizeof(expr), "/domain/devices/disk[target/@dev='%s']",
		 dev);
	o = xp(doc, expr);
	if (!o)
		return NULL;
	n = o->nodesetval->nodeTab[0];
	xmlXPathFreeObject(o);
	return n;
}

/* Does c (the cached connection to uri) deliver DEVICE_REMOVED?  Then
 * its entry and generation, for a waiter. */
static int conn_events(virConnectPtr c, const char *uri, struct cached_conn **e,
		       unsigned *gen)
{
	struct cached_conn *x;
	int ok = 0;

	pthread_mutex_lock(&cc_mu);
	for (x = cached; x; x = x->next)
		if (!strcmp(x->uri, uri) && x->c == c && !x->stale &&
		    x->cbs.devrm >= 0) {
			*e = x;
			*gen = x->gen;
			ok = 1;
		}
	pthread_mutex_unlock(&cc_mu);
	return ok;
}

static void rm_wait_end(struct rm_wait *w)
{
	struct rm_wait **p;

	pthread_mutex_lock(&wait_mu);
	for (p = &waits; *p; p = &(*p)->next)
		if (*p == w) {
			*p = w->next;
			break;
		}
	pthread_mutex_unlock(&wait_mu);
}

/* Waits for w's event until until (monotonic ms) or a cancel; 1 if it
 * came.  w is off the list afterwards. */
static int rm_wait_for(struct opsbot_job *job, struct rm_wait *w, int64_t until)
{
	int got;

	pthread_mutex_lock(&wait_mu);
	while (!w->got && ceph_bot->now_ms() < until &&
	       !ceph_bot->job_is_cancelled(job)) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += 100 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&wait_cv, &wait_mu, &ts);
	}
	got = w->got;
	pthread_mutex_unlock(&wait_mu);
	rm_wait_end(w);
	return got;
}

static void do_disk_rm(struct opsbot_job *job, struct ceph_op *op)
{
	const struct ceph_res *r = &op->res[0], *vr = NULL;
	virConnectPtr c;
	virDomainPtr d = node_dom(op, r, &c);
	char *inact = NULL, *live = NULL, *src = NULL, *dx = NULL;
	char *alias = NULL;
	const char *how = NULL;
	xmlDocPtr id = NULL, ld = NULL;
	xmlNodePtr dn;
	struct rm_wait rw;
	int active, i, in_live = 0, waiting = 0;

	memset(&rw, 0, sizeof(rw));
	if (!d)
		return;
	active = virDomainIsActive(d) == 1;
	inact = virDomainGetXMLDesc(d, VIR_DOMAIN_XML_INACTIVE);
	id = inact ? xml_parse(inact) : NULL;
	if (active) {
		live = virDomainGetXMLDesc(d, 0);
		ld = live ? xml_parse(live) : NULL;
	}
	dn = id ? find_disk(id, op->target) : NULL;
	if (!dn && ld)
		dn = find_disk(ld, op->target);
	if (!dn) {
		fail(op, "node %s has no disk %s", op->node, op->target);
		goto out;
	}
	{
		xmlNodePtr s = child(dn, "source");
		char *dev = (char *)xmlGetProp(dn, BAD_CAST "device");

		if (dev && !strcmp(dev, "cdrom")) {
			xmlFree(dev);
			fail(op,
			     "%s on %s is the cloud-init seed, not an OSD "
			     "disk",
			     op->target, op->node);
			goto out;
		}
		xmlFree(dev);
		if (s) {
			xmlChar *f = xmlGetProp(s, BAD_CAST "file");

			src = f ? sdk_xstrdup((const char *)f) : NULL;
			xmlFree(f);
		}
	}
	if (!strcmp(op->target, r->role)) {
		fail(op, "%s is the root disk of %s; it cannot be removed",
		     op->target, op->node);
		goto out;
	}
	/* Only an OSD volume this cluster made. */
	for (i = 0; src && i < op->nres; i++) {
		const char *base = strrchr(src, '/');

		base = base ? base + 1 : src;
		if (!strcmp(op->res[i].kind, "vol") &&
		    !strcmp(op->res[i].role, "osd") &&
		    !strcmp(op->res[i].name, base))
			vr = &op->res[i];
	}
	if (!vr) {
		fail(op, "%s on %s is not an OSD disk this bot created",
		     op->target, op->node);
		goto out;
	}
	dx = node_dump(id && find_disk(id, op->target) ? id : ld, dn);
	in_live = ld && find_disk(ld, op->target);
	/* A live unplug is confirmed by libvirt's DEVICE_REMOVED event for
	 * the disk's alias, when the connection has the event (waiting
	 * from before the call: the event may come during it). */
	if (in_live) {
		xmlNodePtr al = child(find_disk(ld, op->target), "alias");

		alias = al ? (char *)xmlGetProp(al, BAD_CAST "name") : NULL;
		if (alias && conn_events(c, r->uri, &rw.e, &rw.gen)) {
			rw.dom = r->name;
			rw.alias = alias;
			pthread_mutex_lock(&wait_mu);
			rw.next = waits;
			waits = &rw;
			pthread_mutex_unlock(&wait_mu);
			waiting = 1;
		}
	}
	if (virDomainDetachDeviceFlags(
		d, dx,
		(id && find_disk(id, op->target) ? VIR_DOMAIN_AFFECT_CONFIG
						 : 0) |
		    (in_live ? VIR_DOMAIN_AFFECT_LIVE : 0)) < 0) {
		if (lv_code() == VIR_ERR_NO_SUPPORT && !active &&
		    redefine_disk(c, d, NULL, op->target) == 0)
			goto detached;
		if (lv_code() == VIR_ERR_NO_SUPPORT)
			fail(op,
			     "node %s: this libvirt driver cannot hot-unplug "
			     "disks (the test driver cannot); stop the node "
			     "first",
			     op->node);
		else
			fail_lv(op, op->node);
		goto out;
	}
	if (in_live) {
		int64_t until = ceph_bot->now_ms() + op->cfg->detach_wait_ms;
		int gone = 0;

		if (waiting) {
			gone = rm_wait_for(job, &rw, until);
			waiting = 0;
			how = gone ? "libvirt's DEVICE_REMOVED event"
				   : "the live XML (no DEVICE_REMOVED event "
				     "came)";
		} else
			how = "the live XML";
		/* The fallback: the live XML lost the disk (polled while
		 * there is time left, at least once). */
		while (!gone) {
			char *x = virDomainGetXMLDesc(d, 0);
			xmlDocPtr xd = x ? xml_parse(x) : NULL;

			gone = xd && !find_disk(xd, op->target);
			if (xd)
				xmlFreeDoc(xd);
			free(x);
			if (gone || ceph_bot->now_ms() >= until)
				break;
			job_pause_ms(50);
		}
		if (!gone) {
			fail(op,
			     "disk target busy: %s on %s is still attached "
			     "after %lld s (the guest did not release it)",
			     op->target, op->node,
			     op->cfg->detach_wait_ms / 1000);
			goto out;
		}
		ceph_bot->log(ceph_self, OPSBOT_LOG_INFO,
			      "disk rm %s %s: live unplug confirmed by %s",
			      op->node, op->target, how);
	}
detached : {
	virStorageVolPtr v = virStorageVolLookupByPath(c, src);

	if (v && virStorageVolDelete(v, 0) < 0) {
		fail_lv(op, vr->name);
		virStorageVolFree(v);
		goto out;
	}
	if (v)
		virStorageVolFree(v);
	post_res(job, MSG_UNREC, "vol", vr->uri, vr->pool, vr->name, vr->node,
		 vr->role);
	sdk_buf_addf(&op->out, "%s: removed %s (volume %s deleted)%s%s%s",
		     op->node, op->target, vr->name,
		     in_live ? ", live and persistent" : ", persistent",
		     how ? "; unplug confirmed by " : "", how ? how : "");
}
out:
	if (waiting)
		rm_wait_end(&rw);
	xmlFree(alias);
	free(dx);
	free(src);
	free(live);
	free(inact);
	if (ld)
		xmlFreeDoc(ld);
	if (id)
		xmlFreeDoc(id);
	virDomainFree(d);
	virConnectClose(c);
}

void cv_work(struct opsbot_job *job, void *data)
{
	struct ceph_op *op = data;

	virResetLastError();
	switch (op->kind) {
	case OP_TEMPLATES:
		do_templates(job, op);
		break;
	case OP_CREATE:
		do_create(job, op);
		break;
	case OP_SHOW:
		do_show(job, op);
		break;
	case OP_DISK_ADD:
		do_disk_add(job, op);
		break;
	case OP_DISK_RM:
		do_disk_rm(job, op);
		break;
	case OP_START:
	case OP_STOP:
		do_start_stop(job, op);
		break;
	case OP_DESTROY:
		do_destroy(job, op);
		break;
	}
}

/*
 * evloop.c - libvirt's event loop implementation (virEventRegisterImpl) on
 * the host's loop: libvirt's handles become host fd watches and its
 * timeouts host timers, and every libvirt handle and timeout callback runs
 * on the host's loop thread.  What it makes possible: keepalives, the
 * connection close callback and domain events (virt.c).
 *
 * libvirt calls the six impl functions from any thread (a job doing RPC,
 * the loop inside a callback), but fd_watch() and timer_start() are loop
 * thread only.  So the impl functions only change a table of records under
 * a mutex (desired fd events, timeout frequency, a removed flag) and wake
 * the loop through an eventfd the plugin watches; on the loop, reconcile()
 * makes the host's watches and timers match the table and calls the free
 * functions (ff) of removed records: libvirt forbids calling them from
 * inside remove*, and after ff no callback of the record may run.
 *
 * A handle's fd is dup()ed in addHandle and the duplicate is watched:
 * libvirt closes its fd right after removeHandle, before the loop has
 * cancelled the watch, and the number could be reused meanwhile (the host
 * forbids closing a watched fd).  The duplicate is closed when the record
 * is freed, after the final callback of its last watch.  libvirt's
 * callback gets libvirt's own fd number.
 *
 * Once registered, libvirt keeps the impl's function pointers for the life
 * of the process (libvirt 9.0 ignores a second virEventRegisterImpl, and
 * libvirt.so itself is never unloaded).  So the first registration pins
 * this plugin's code in memory (RTLD_NODELETE): an unload never unmaps
 * code libvirt may still call, and a reload of the same file maps the same
 * object again, whose table and registration survive: it attaches to the
 * table again instead of registering anew.  Between an unload and a
 * reload the table is detached: changes are recorded, nothing runs.
 */
#include "ceph.h"

#include <libvirt/libvirt.h>

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct rec;

/* One host timer of a timeout record (the timer fn gets no id). */
struct arm {
	struct rec *r;
};

struct rec {
	int id;
	int is_timer;
	/* handle */
	int fd;	    /* libvirt's */
	int dupfd;  /* ours: what the host watches */
	int events; /* VIR_EVENT_HANDLE_*, as libvirt wants */
	virEventHandleCallback hcb;
	int64_t wid;	  /* the live host watch, or 0 */
	unsigned wevents; /* OPSBOT_FD_* that watch waits for */
	/* timeout */
	int freq;	    /* -1 off, 0 every iteration, > 0 ms */
	unsigned seq, aseq; /* updates made / the one the timer has */
	virEventTimeoutCallback tcb;
	struct arm *arm; /* the live host timer's, or NULL */
	int64_t tid;
	/* both */
	void *opaque;
	virFreeCallback ff;
	int removed; /* by libvirt: no callback may run any more */
	int ff_done; /* ff called (or none): freed once refs is 0 */
	int refs;    /* host watches and timers not yet ended */
	struct rec *next;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct rec *table;
static int next_id = 1;
static int registered; /* virEventRegisterImpl done (process-wide) */
static int ours;       /* and libvirt calls our functions */
static int attached;   /* a loaded plugin serves the table */
static int efd = -1;   /* the wake-up eventfd, while attached */
static int64_t efd_watch;
static int probe_seen;

/* ---- any thread ---- */

static void wake_locked(void)
{
	uint64_t one = 1;

	if (efd >= 0 && write(efd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is full, which wakes the loop too. */
	}
}

void ce_evloop_wake(void)
{
	pthread_mutex_lock(&mu);
	wake_locked();
	pthread_mutex_unlock(&mu);
}

static struct rec *find_locked(int id, int is_timer)
{
	struct rec *r;

	for (r = table; r; r = r->next)
		if (r->id == id && r->is_timer == is_timer && !r->removed)
			return r;
	return NULL;
}

static struct rec *rec_new_locked(int is_timer, void *opaque,
				  virFreeCallback ff)
{
	struct rec *r = sdk_xcalloc(1, sizeof(*r));

	r->id = next_id++;
	if (next_id == INT32_MAX)
		next_id = 1;
	r->is_timer = is_timer;
	r->opaque = opaque;
	r->ff = ff;
	r->fd = r->dupfd = -1;
	r->freq = -1;
	r->next = table;
	table = r;
	return r;
}

static int ev_add_handle(int fd, int events, virEventHandleCallback cb,
			 void *opaque, virFreeCallback ff)
{
	struct rec *r;
	int d = fcntl(fd, F_DUPFD_CLOEXEC, 3), id;

	if (d < 0)
		return -1;
	pthread_mutex_lock(&mu);
	r = rec_new_locked(0, opaque, ff);
	r->fd = fd;
	r->dupfd = d;
	r->events = events;
	r->hcb = cb;
	id = r->id;
	wake_locked();
	pthread_mutex_unlock(&mu);
	return id;
}

static void ev_update_handle(int watch, int events)
{
	struct rec *r;

	pthread_mutex_lock(&mu);
	r = find_locked(watch, 0);
	if (r && r->events != events) {
		r->events = events;
		wake_locked();
	}
	pthread_mutex_unlock(&mu);
}

static int ev_remove(int id, int is_timer)
{
	struct rec *r;

	pthread_mutex_lock(&mu);
	r = find_locked(id, is_timer);
	if (r) {
		/* ff comes from the loop, never from here. */
		r->removed = 1;
		wake_locked();
	}
	pthread_mutex_unlock(&mu);
	return r ? 0 : -1;
}

static int ev_remove_handle(int watch)
{
	return ev_remove(watch, 0);
}

static int ev_add_timeout(int freq, virEventTimeoutCallback cb, void *opaque,
			  virFreeCallback ff)
{
	struct rec *r;
	int id;

	pthread_mutex_lock(&mu);
	probe_seen = 1;
	r = rec_new_locked(1, opaque, ff);
	r->freq = freq < 0 ? -1 : freq;
	r->seq = 1;
	r->tcb = cb;
	id = r->id;
	wake_locked();
	pthread_mutex_unlock(&mu);
	return id;
}

static void ev_update_timeout(int timer, int freq)
{
	struct rec *r;

	pthread_mutex_lock(&mu);
	r = find_locked(timer, 1);
	if (r) {
		/* Like libvirt's own loop: an update restarts the period. */
		r->freq = freq < 0 ? -1 : freq;
		r->seq++;
		wake_locked();
	}
	pthread_mutex_unlock(&mu);
}

static int ev_remove_timeout(int timer)
{
	return ev_remove(timer, 1);
}

/* ---- the loop ---- */

static unsigned to_host(int ev)
{
	return (ev & VIR_EVENT_HANDLE_READABLE ? OPSBOT_FD_READABLE : 0) |
	       (ev & VIR_EVENT_HANDLE_WRITABLE ? OPSBOT_FD_WRITABLE : 0);
}

static int to_vir(unsigned ev)
{
	return (ev & OPSBOT_FD_READABLE ? VIR_EVENT_HANDLE_READABLE : 0) |
	       (ev & OPSBOT_FD_WRITABLE ? VIR_EVENT_HANDLE_WRITABLE : 0) |
	       (ev & OPSBOT_FD_ERROR ? VIR_EVENT_HANDLE_ERROR : 0) |
	       (ev & OPSBOT_FD_HANGUP ? VIR_EVENT_HANDLE_HANGUP : 0);
}

/* Frees r if nothing refers to it any more. */
static void reap_locked(struct rec *r)
{
	struct rec **p;

	if (!r->removed || !r->ff_done || r->refs > 0)
		return;
	for (p = &table; *p; p = &(*p)->next)
		if (*p == r) {
			*p = r->next;
			break;
		}
	if (r->dupfd >= 0)
		close(r->dupfd);
	free(r);
}

static void on_fd(struct opsbot_plugin *pl, int64_t id, int fd, unsigned events,
		  int status, void *data)
{
	struct rec *r = data;
	virEventHandleCallback cb;
	void *opaque;
	int rid, lvfd;

	pthread_mutex_lock(&mu);
	if (status != OPSBOT_OK) {
		/* The watch's final call: cancelled by reconcile(), or by
		 * an unload (then a later attach watches again). */
		r->refs--;
		if (r->wid == id)
			r->wid = 0;
		reap_locked(r);
		pthread_mutex_unlock(&mu);
		return;
	}
	if (r->removed || r->wid != id) {
		pthread_mutex_unlock(&mu);
		/* Quiet until reconcile() cancels it. */
		ceph_bot->fd_watch_update(ceph_self, id, 0);
		return;
	}
	cb = r->hcb;
	opaque = r->opaque;
	rid = r->id;
	lvfd = r->fd;
	pthread_mutex_unlock(&mu);
	/* r stays allocated: only the loop frees it, not during this. */
	cb(rid, lvfd, to_vir(events), opaque);
}

/*
 * The delay of a timer's next call: frequency 0 means "every loop
 * iteration", which is 1 ms here, not 0: libuv 1.44 runs a timer re-armed
 * with 0 from its own callback again in the same pass, so the loop would
 * never get to its fds.
 */
static long next_delay(int freq)
{
	return freq == 0 ? 1 : freq;
}

static long on_timer(struct opsbot_plugin *pl, int status, void *data)
{
	struct arm *a = data;
	struct rec *r = a->r;
	virEventTimeoutCallback cb;
	void *opaque;
	int rid;
	long next;

	pthread_mutex_lock(&mu);
	if (status == OPSBOT_OK && r->arm == a && !r->removed && r->freq >= 0 &&
	    r->aseq == r->seq) {
		cb = r->tcb;
		opaque = r->opaque;
		rid = r->id;
		pthread_mutex_unlock(&mu);
		cb(rid, opaque);
		pthread_mutex_lock(&mu);
		/* The callback may have changed the frequency (libvirt's
		 * event queue sets 0 back to -1 once it dispatched); a new
		 * period set from inside starts now. */
		if (r->arm == a && !r->removed && r->freq >= 0) {
			r->aseq = r->seq;
			next = next_delay(r->freq);
			pthread_mutex_unlock(&mu);
			return next;
		}
	}
	/* Stopped (returning STOP ends it without a further call) or its
	 * final ECANCELED call. */
	r->refs--;
	if (r->arm == a) {
		r->arm = NULL;
		r->tid = 0;
	}
	free(a);
	reap_locked(r);
	pthread_mutex_unlock(&mu);
	return OPSBOT_TIMER_STOP;
}

struct ffcall {
	virFreeCallback ff;
	void *opaque;
};

/*
 * Makes the host's watches and timers match the table (when attached)
 * and calls the free functions of removed records.  Loop thread.
 * Returns how many records are still registered by libvirt.
 */
static int reconcile(int start_ops)
{
	struct ffcall *calls = NULL;
	struct rec *r, *n;
	int ncalls = 0, alloc = 0, live = 0, i;

	pthread_mutex_lock(&mu);
	for (r = table; r; r = n) {
		n = r->next;
		if (r->removed) {
			if (r->wid) {
				ceph_bot->cancel(ceph_self, r->wid);
				r->wid = 0;
			}
			if (r->arm) {
				ceph_bot->cancel(ceph_self, r->tid);
				r->arm = NULL;
				r->tid = 0;
			}
			if (!r->ff_done) {
				r->ff_done = 1;
				if (r->ff) {
					if (ncalls == alloc) {
						alloc = alloc ? 2 * alloc : 8;
						calls = sdk_xreallocarray(
						    calls, (size_t)alloc,
						    sizeof(*calls));
					}
					calls[ncalls].ff = r->ff;
					calls[ncalls].opaque = r->opaque;
					ncalls++;
				}
			}
			reap_locked(r);
			continue;
		}
		live++;
		if (!start_ops)
			continue;
		if (!r->is_timer) {
			unsigned want = to_host(r->events);

			if (!r->wid) {
				int64_t w = ceph_bot->fd_watch(
				    ceph_self, r->dupfd, want, on_fd, r);

				if (w > 0) {
					r->wid = w;
					r->wevents = want;
					r->refs++;
				} else
					ceph_bot->log(
					    ceph_self, OPSBOT_LOG_WARN,
					    "libvirt event loop: cannot watch "
					    "fd %d (%d)",
					    r->fd, (int)w);
			} else if (r->wevents != want &&
				   ceph_bot->fd_watch_update(ceph_self, r->wid,
							     want) == OPSBOT_OK)
				r->wevents = want;
			continue;
		}
		if (r->arm && (r->freq < 0 || r->aseq != r->seq)) {
			ceph_bot->cancel(ceph_self, r->tid);
			r->arm = NULL;
			r->tid = 0;
		}
		if (!r->arm && r->freq >= 0) {
			struct arm *a = sdk_xcalloc(1, sizeof(*a));
			int64_t t;

			a->r = r;
			t = ceph_bot->timer_start(ceph_self, r->freq, on_timer,
						  a);
			if (t > 0) {
				r->arm = a;
				r->tid = t;
				r->aseq = r->seq;
				r->refs++;
			} else {
				free(a);
				ceph_bot->log(ceph_self, OPSBOT_LOG_WARN,
					      "libvirt event loop: cannot "
					      "start a timer (%d)",
					      (int)t);
			}
		}
	}
	pthread_mutex_unlock(&mu);
	/* Outside the lock: ff may call back into libvirt, and so into the
	 * impl functions. */
	for (i = 0; i < ncalls; i++)
		calls[i].ff(calls[i].opaque);
	free(calls);
	return live;
}

static void on_wake(struct opsbot_plugin *pl, int64_t id, int fd,
		    unsigned events, int status, void *data)
{
	uint64_t v;

	if (status != OPSBOT_OK)
		return;
	if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return;
	reconcile(1);
	cv_on_wake();
}

/* ---- registration, attach, detach ---- */

static void probe_cb(int timer, void *opaque)
{
}

/* Keeps this object mapped for good: libvirt holds its functions. */
static void pin_self(void)
{
	Dl_info info;
	void *h;

	if (!dladdr((void *)ev_add_handle, &info) || !info.dli_fname)
		return;
	h = dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
	if (h)
		dlclose(h); /* the NODELETE flag stays */
}

int ce_evloop_start(void)
{
	int64_t w;

	pthread_mutex_lock(&mu);
	if (!registered) {
		int t;

		registered = 1;
		pin_self();
		pthread_mutex_unlock(&mu);
		virEventRegisterImpl(ev_add_handle, ev_update_handle,
				     ev_remove_handle, ev_add_timeout,
				     ev_update_timeout, ev_remove_timeout);
		/* Did libvirt take it?  It ignores a second registration,
		 * e.g. by another library of this process. */
		pthread_mutex_lock(&mu);
		probe_seen = 0;
		pthread_mutex_unlock(&mu);
		t = virEventAddTimeout(-1, probe_cb, NULL, NULL);
		pthread_mutex_lock(&mu);
		ours = probe_seen && t > 0;
		pthread_mutex_unlock(&mu);
		if (t > 0)
			virEventRemoveTimeout(t);
		pthread_mutex_lock(&mu);
		if (!ours)
			ceph_bot->log(ceph_self, OPSBOT_LOG_WARN,
				      "another libvirt event loop is "
				      "registered in this process: no "
				      "keepalives, close callbacks or domain "
				      "events");
	}
	if (!ours) {
		pthread_mutex_unlock(&mu);
		return -1;
	}
	/* After an init that failed (no fini): its eventfd is unwatched. */
	if (efd >= 0)
		close(efd);
	efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	pthread_mutex_unlock(&mu);
	if (efd < 0) {
		ceph_bot->log(ceph_self, OPSBOT_LOG_ERROR,
			      "libvirt event loop: eventfd: %s",
			      strerror(errno));
		return -1;
	}
	w = ceph_bot->fd_watch(ceph_self, efd, OPSBOT_FD_READABLE, on_wake,
			       NULL);
	if (w < 0) {
		pthread_mutex_lock(&mu);
		close(efd);
		efd = -1;
		pthread_mutex_unlock(&mu);
		ceph_bot->log(ceph_self, OPSBOT_LOG_ERROR,
			      "libvirt event loop: cannot watch its eventfd "
			      "(%d)",
			      (int)w);
		return -1;
	}
	pthread_mutex_lock(&mu);
	efd_watch = w;
	attached = 1;
	/* Records left from before an unload are watched again. */
	wake_locked();
	pthread_mutex_unlock(&mu);
	return 0;
}

int ce_evloop_active(void)
{
	int a;

	pthread_mutex_lock(&mu);
	a = ours && attached;
	pthread_mutex_unlock(&mu);
	return a;
}

int ce_evloop_stop(void)
{
	int live;

	pthread_mutex_lock(&mu);
	if (!attached) {
		pthread_mutex_unlock(&mu);
		return 0;
	}
	pthread_mutex_unlock(&mu);
	/* The host ended every watch and timer before fini (their final
	 * calls ran); what libvirt removed meanwhile gets its ff now. */
	live = reconcile(0);
	pthread_mutex_lock(&mu);
	attached = 0;
	if (efd >= 0)
		close(efd);
	efd = -1;
	efd_watch = 0;
	pthread_mutex_unlock(&mu);
	if (live)
		ceph_bot->log(ceph_self, OPSBOT_LOG_WARN,
			      "libvirt event loop detached with %d handle%s or "
			      "timeout%s still registered (not the plugin's); "
			      "they wait for the next load",
			      live, live == 1 ? "" : "s", live == 1 ? "" : "s");
	else
		ceph_bot->log(ceph_self, OPSBOT_LOG_INFO,
			      "libvirt event loop detached, nothing left "
			      "registered");
	return live;
}

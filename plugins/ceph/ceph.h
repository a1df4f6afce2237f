/*
 * ceph.h - what the ceph plugin's two halves share: the configuration
 * snapshot a job reads, the operation a command hands to a job, and the
 * messages a job posts back to the loop (records of what now exists).
 *
 * ceph.c is the loop side (commands, store, quotas, TTL, processes);
 * virt.c is the job side (every libvirt call, the domain XML), evloop.c
 * libvirt's event loop on the host's.  What of virt.c runs on the loop:
 * cv_init/cv_fini, the reopen scheduling and libvirt's event callbacks
 * (which only note things for jobs or hand them to ceph.c).
 */
#ifndef CEPH_H
#define CEPH_H

#include "opsbot.h"
#include "sdk_buf.h"

#include <stdint.h>

/* One hypervisor connection: [plugin.ceph.host.<name>] uri, pool. */
struct ceph_conn_cfg {
	char *name;
	char *uri;
	char *pool;
};

/* An immutable snapshot of the configuration, read by jobs. */
struct ceph_cfg {
	int nconn;
	struct ceph_conn_cfg *conn;
	int ntpl;
	char **tpl;
	int nkeys;
	char **ssh_keys;
	int overlay;		   /* clone = overlay */
	long long stop_timeout_ms; /* ACPI shutdown, then destroy */
	long long detach_wait_ms;  /* live unplug confirmation */
	struct ceph_cfg *older;	   /* kept until fini (jobs may hold it) */
};

enum ceph_op_kind {
	OP_TEMPLATES,
	OP_CREATE,
	OP_SHOW,
	OP_DISK_ADD,
	OP_DISK_RM,
	OP_START,
	OP_STOP,
	OP_DESTROY,
};

/* A resource the store knows: a domain or a volume of a cluster. */
struct ceph_res {
	char kind[8]; /* "dom" or "vol" */
	char uri[512];
	char pool[128];
	char name[128];
	char node[64];
	char role[16]; /* vol: "root", "seed", "osd"; dom: its root target */
	unsigned long long size; /* osd volumes: capacity (quotas) */
};

/* A node of a create, as placed and as made. */
struct ceph_node {
	char name[64];
	int conn;	      /* index in cfg->conn */
	char seed_path[4096]; /* local ISO, "" if none */
	char addrs[256];      /* after start, if any known */
	char osd_devs[256];   /* "/dev/sdc,/dev/sdd" */
	int made;	      /* domain defined */
};

/* One command's work: built on the loop, run by a job, read by done. */
struct ceph_op {
	enum ceph_op_kind kind;
	struct opsbot_request *req; /* NULL: the TTL timer's destroy */
	const struct ceph_cfg *cfg;
	char cluster[64];
	char owner[128];
	char channel[128];
	char node[64];
	char target[16];
	/* create */
	char tpl[64];
	char pin[64];
	int nodes, osds, start;
	uint64_t osd_size;
	struct ceph_node *nv;
	/* destroy, disk rm, disk add, show, start, stop: what the store has */
	int nres;
	struct ceph_res *res;
	int next_osd; /* disk add: the new volume's number */
	int seed_i;   /* create: the node whose seed is being built */
	/* results */
	struct sdk_buf out; /* lines for the asker */
	char *err;	    /* one line, or NULL */
	int interrupted;    /* the connection dropped during the work */
	int64_t t0;
	int then_create; /* reprovision */
	int64_t job;
	struct ceph_op *next;
};

/* Messages from a job to the loop (job_post / job_post_wait). */
enum ceph_msg_type {
	MSG_REC,      /* about to create res: record it first */
	MSG_UNREC,    /* res is gone: forget it */
	MSG_PROGRESS, /* a progress line */
};

struct ceph_msg {
	enum ceph_msg_type type;
	struct ceph_res res;
	char text[400];
};

extern const struct opsbot_api *ceph_bot;
extern struct opsbot_plugin *ceph_self;

/* virt.c: job work functions (any job thread). */
void cv_work(struct opsbot_job *job, void *op);
/* At init, on the loop: libvirt set up. */
void cv_init(void);
/* Keepalive settings for connections opened from now on (loop). */
void cv_configure(long long ka_interval_ms, long long ka_count);
/* Daemon start: opens every configured connection from jobs (loop). */
void cv_connect_all(const struct ceph_cfg *cfg);
/* The event loop woke up: handles connection drops (loop). */
void cv_on_wake(void);
/* Closes cached connections; at unload, on the loop. */
void cv_fini(void);

/* ceph.c: a lifecycle event of a domain (loop).  unexpected: it stopped
 * or crashed. */
void ceph_node_event(const char *uri, const char *name, const char *what,
		     int unexpected);

/*
 * evloop.c: libvirt's event loop on the host's loop.  start: at init
 * (loop), before any connection is opened: registers it once per process
 * and attaches (0), or -1 (logged; libvirt then runs without events).
 * stop: in fini after every connection was closed: calls the free
 * functions still due and detaches; returns how many records libvirt
 * still has registered (someone else's).  wake: any thread: the loop
 * reconciles soon and calls cv_on_wake().  active: attached and ours.
 */
int ce_evloop_start(void);
int ce_evloop_stop(void);
void ce_evloop_wake(void);
int ce_evloop_active(void);

/* Names: [a-z][a-z0-9-]{0,N}, no "--" at the end; 1 if valid. */
int ceph_name_ok(const char *s, size_t max);
/* When process pid started, "<boot id>/<ticks>"; 0, or -1 with "". */
int ceph_proc_start(long long pid, char *out, size_t n);
/* "1.5G" style for a byte count. */
void ceph_fmt_size(char *out, size_t n, unsigned long long bytes);

#endif /* CEPH_H */

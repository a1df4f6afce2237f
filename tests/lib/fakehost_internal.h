/*
 * fakehost_internal.h - what the parts of the fake host share; tests use
 * fakehost.h only.  fakehost.c owns virtual time, the event queue, timers,
 * HTTP, output and config; fakehost_work.c jobs, processes and fd
 * watches; fakehost_web.c webhooks, state and seen_before;
 * fakehost_life.c commands, progress lines, load/reconfigure/unload.
 */
#ifndef FAKEHOST_INTERNAL_H
#define FAKEHOST_INTERNAL_H

#include "fakehost.h"

/* A scheduled piece of the fake loop; returns the callbacks it ran. */
typedef int fh_event_fn(struct fakehost *h, void *arg);

enum fh_phase {
	FH_NONE,    /* no fakehost_load(): the table may be used freely */
	FH_LOADING, /* in init() */
	FH_ACTIVE,
	FH_CLOSING, /* unloading: nothing new starts */
	FH_GONE,    /* unloaded */
};

struct fh_work;
struct fh_web;
struct fh_life;

/* The plugin and the parts' state, kept in struct fakehost. */
struct fh_parts {
	const struct opsbot_plugin_descriptor *desc; /* fakehost_load() */
	char *name;				     /* "plugin" by default */
	enum fh_phase phase;
	struct fh_work *work;
	struct fh_web *web;
	struct fh_life *life;
};

/* fakehost.c */
struct fakehost *fh_current(void);
struct fh_parts *fh_parts(struct fakehost *h);
int64_t fh_new_id(struct fakehost *h);
/* Runs fn(h, arg) at now + delay_ms (FIFO among equals); the event id. */
int64_t fh_schedule(struct fakehost *h, long delay_ms, fh_event_fn *fn,
		    void *arg);
/* Drops a scheduled event that has not run; 0 or OPSBOT_ENOENT. */
int fh_unschedule(struct fakehost *h, int64_t event_id);
void fh_emit(struct fakehost *h, const char *prefix, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Cancels every timer and HTTP request (final calls due now). */
void fh_cancel_timers(struct fakehost *h);
/* Timers and HTTP requests whose final callback has not run. */
int fh_timers_live(const struct fakehost *h);
/* May the plugin start something now? Else the code to return. */
int fh_refuse_start(struct fakehost *h);
/* Config snapshots for fakehost_reconfigure(). */
void fh_config_save(struct fakehost *h);
void fh_config_restore(struct fakehost *h);

/* fakehost_work.c */
void fh_work_install(struct opsbot_api *api);
/* 1: id is none of its kinds; else cancel()'s result. */
int fh_work_cancel(struct fakehost *h, int64_t id, int status);
/* Cancels everything, or (unloading) what the policies say to. */
void fh_work_cancel_all(struct fakehost *h, int unloading);
int fh_work_live(const struct fakehost *h);
/* The host's refusal for REFUSE work, malloc'd, or NULL. */
char *fh_work_refusal(struct fakehost *h);
void fh_work_free(struct fakehost *h);

/* fakehost_web.c */
void fh_web_install(struct opsbot_api *api);
void fh_web_sweep(struct fakehost *h); /* routes */
void fh_web_free(struct fakehost *h);

/* fakehost_life.c */
void fh_life_install(struct opsbot_api *api);
/* Replies of a request go private (OPSBOT_COMMAND_PRIVATE)? */
int fh_life_force_private(struct fakehost *h, const struct opsbot_request *r);
void fh_life_free(struct fakehost *h);

#endif /* FAKEHOST_INTERNAL_H */

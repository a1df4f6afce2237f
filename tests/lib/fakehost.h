/*
 * fakehost.h - a fake host API table for plugin unit tests: virtual time,
 * scripted HTTP answers, captured replies and announcements, config from
 * a table, and an in-memory SQLite store.  Nothing runs until the test
 * calls fakehost_run(), so every interleaving is deterministic.
 *
 * Not implemented (they return OPSBOT_EINVAL): processes, jobs, webhooks.
 */
#ifndef FAKEHOST_H
#define FAKEHOST_H

#include "opsbot.h"

struct fakehost;

/* The answer a test's HTTP handler gives to one request. */
struct fakehost_reply {
	int status;	  /* OPSBOT_OK (an answer came), OPSBOT_ERR, ... */
	long code;	  /* HTTP code when status is OPSBOT_OK */
	const char *body; /* copied */
	const char *headers[8]; /* "Name: value", NULL-terminated */
	int request_sent;
	const char *error; /* for status != OPSBOT_OK */
	long delay_ms;	   /* virtual time until the callback */
};

/* Called once per http_start(); fills reply (zeroed: 200, empty body). */
typedef void fakehost_http_fn(const struct opsbot_http_request *req,
			      struct fakehost_reply *reply, void *data);

struct fakehost *fakehost_new(void);
void fakehost_free(struct fakehost *h);
const struct opsbot_api *fakehost_api(struct fakehost *h);
struct opsbot_plugin *fakehost_plugin(struct fakehost *h);

/* Config of the plugin's section; a key given twice is a LIST. */
void fakehost_config(struct fakehost *h, const char *key, const char *value);
void fakehost_mode(struct fakehost *h, int mode);
void fakehost_on_http(struct fakehost *h, fakehost_http_fn *fn, void *data);

/*
 * Runs timers and delivers HTTP answers in virtual-time order until
 * nothing is pending or virtual time passes max_ms from now.  Returns the
 * number of callbacks run.
 */
int fakehost_run(struct fakehost *h, long max_ms);
/* Cancels everything pending (callbacks run with OPSBOT_ECANCELED). */
void fakehost_cancel_all(struct fakehost *h);
int64_t fakehost_now(const struct fakehost *h);
/* HTTP requests started so far. */
int fakehost_http_count(const struct fakehost *h);

/* Everything said, replied or logged at WARN and above, one per line:
   "say #chan text", "reply text", "private text", "error text",
   "log text". */
const char *fakehost_output(const struct fakehost *h);
void fakehost_output_clear(struct fakehost *h);

#endif /* FAKEHOST_H */

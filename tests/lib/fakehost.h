/*
 * fakehost.h - a fake host API table for plugin unit tests: every member of
 * the ABI 2.0 table (host/opsbot.h) on virtual time, with no daemon, no
 * threads and no wall clock.  Nothing asynchronous runs until the test
 * calls fakehost_run() or fakehost_advance(), so every interleaving is
 * deterministic and the same on every run.
 *
 * What is real and what is scripted:
 *
 *  - Timers and HTTP: timers fire in virtual time; each http_start() asks
 *    the test's fakehost_on_http() function for the answer and its delay.
 *  - Jobs: the work function runs synchronously on the test's thread when
 *    virtual time reaches it (no real thread).  job_post() delivers the
 *    message to the message callback at once, as a loop that keeps up
 *    would, then calls the test's fakehost_on_job_message() hook: a test
 *    cancels a "running" job from either.  A cancel hook runs right after
 *    the message callback that cancelled, while the work is still on the
 *    stack.  Work takes no virtual time unless something it calls (a
 *    stub of the test) calls fakehost_advance(): timers, time limits and
 *    other jobs run inside that, so a job "runs" for that long; a job
 *    started there runs nested, to completion, before the outer one goes
 *    on.  At most fakehost_job_limit() jobs (4, like [bot] job_limit) are
 *    queued or running at once; more wait in start order.
 *  - Processes: nothing is executed.  process_start() hands the options to
 *    the test's fakehost_on_process() script function, which says what the
 *    "child" prints when (fakehost_script_*), how it exits, and how it
 *    reacts to each signal.  cancel() and the time limit send the
 *    cancel_signal (0: SIGTERM) to the script's reaction; if the child is
 *    still there kill_grace_ms (0: 5 s) later it gets SIGKILL.  Output
 *    keeps streaming after a cancel; EXIT is always the last event.
 *  - fd watches: recorded; fakehost_fd_ready() makes them fire.
 *  - Webhooks: routes are recorded; fakehost_webhook() is one request,
 *    with the body limit and the rate limit (token bucket in virtual time)
 *    applied.  Token and HMAC-SHA256 checks are real and constant-time
 *    (OpenSSL; the tests link -lcrypto, see tests/fakehost.mk).
 *  - State and seen_before(): in memory, namespaced by the plugin name,
 *    seen_before() lifetimes in virtual time.  store() is an in-memory
 *    SQLite database.
 *  - Commands: command_add() records them; fakehost_command() runs one
 *    typed line through the host's argument splitting, argument counts,
 *    private flag and confirmation rule (the host's confirm table, on
 *    virtual time).  has_capability() grants everything.
 *  - Progress lines: latest wins per (target, key) in virtual time.
 *  - The plugin's life: fakehost_load() runs init() (command_add and
 *    webhook_add are only valid there, as in the host), fakehost_
 *    reconfigure() runs reconfigure(), fakehost_unload() applies the
 *    unload policies (refuse, cancel, drain) and runs fini().  Without
 *    fakehost_load() a test may call the table directly, registrations
 *    included.
 *
 * Every start function keeps the host's promise: an id > 0 and then
 * exactly one final callback (also when cancelled, timed out, cancelled
 * twice, swept by fakehost_cancel_all() or an unload), or a negative code
 * and no callback.  cancel() never calls back from inside itself.
 *
 * One fake host at a time (reply() and log() carry no host pointer).
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

/*
 * Config of the plugin's section; a key given twice is a LIST.  A key of
 * a sub-section instance is "kind.instance.key" ("jenkins.main.url"):
 * config_string(self, "jenkins.main", "url") reads it, and the instance
 * counts for config_section_count(self, "jenkins") in first-set order.
 * After fakehost_load(), keys not set read as the descriptor's defaults.
 */
void fakehost_config(struct fakehost *h, const char *key, const char *value);
/* Removes every value of key (then fakehost_reconfigure()). */
void fakehost_config_unset(struct fakehost *h, const char *key);
/* Declares an instance that sets no key: [plugin.x.<kind>.<instance>]. */
void fakehost_config_section(struct fakehost *h, const char *kind,
			     const char *instance);
void fakehost_mode(struct fakehost *h, int mode);
void fakehost_on_http(struct fakehost *h, fakehost_http_fn *fn, void *data);

/*
 * Runs timers, deliveries and other due work in virtual-time order until
 * nothing is pending or virtual time passes max_ms from now.  Returns the
 * number of callbacks run.
 */
int fakehost_run(struct fakehost *h, long max_ms);
/*
 * Like fakehost_run(), but virtual time always moves on by ms.  Callable
 * from inside a job's work function (through a stub of the test) to stand
 * for work that takes that long.
 */
int fakehost_advance(struct fakehost *h, long ms);
/*
 * Cancels everything pending: timers, HTTP requests, jobs, processes and
 * fd watches.  Their final callbacks (OPSBOT_ECANCELED) come from the
 * next fakehost_run(); a process may need virtual time for its reaction
 * to the cancel signal.
 */
void fakehost_cancel_all(struct fakehost *h);
int64_t fakehost_now(const struct fakehost *h);
/* HTTP requests started so far. */
int fakehost_http_count(const struct fakehost *h);

/*
 * Everything said, replied or logged at WARN and above, one per line:
 * "say #chan text", "reply text", "private text", "error text",
 * "log text".
 */
const char *fakehost_output(const struct fakehost *h);
void fakehost_output_clear(struct fakehost *h);

/* ------------------------------------------------------------------------ */
/* The plugin's life                                                          */

/*
 * Takes the descriptor's name and command word, runs init() with the
 * table (registrations valid only now), and on failure sweeps what init
 * registered.  Returns init()'s status, or OPSBOT_EINVAL for a descriptor
 * the host would refuse (ABI, size, name).
 */
int fakehost_load(struct fakehost *h,
		  const struct opsbot_plugin_descriptor *desc);
/*
 * After fakehost_config() changes: runs the descriptor's reconfigure().
 * If it fails, the config before the changes is restored.  Returns its
 * status, or OPSBOT_ENOENT when there is none (the host would reload).
 */
int fakehost_reconfigure(struct fakehost *h);
/*
 * Unloads like the host: if running work has policy REFUSE, nothing
 * happens and OPSBOT_EBUSY is returned with the host's refusal in the
 * output ("refused <message>").  Otherwise nothing new may start
 * (OPSBOT_ECLOSING), timers, HTTP requests, fd watches and CANCEL work
 * are cancelled, DRAIN work runs on in virtual time until it ended (at
 * most a virtual day: then OPSBOT_EBUSY), pending commands are answered
 * with an error, routes, commands and progress lines are swept (a held
 * progress line is sent), and fini() runs.  desc may be NULL: the one
 * given to fakehost_load(), if any.
 */
int fakehost_unload(struct fakehost *h,
		    const struct opsbot_plugin_descriptor *desc);

/* ------------------------------------------------------------------------ */
/* Jobs                                                                       */

/* Jobs of the plugin queued or running at once (default 4). */
void fakehost_job_limit(struct fakehost *h, int limit);
/* Jobs counted against that limit now. */
int fakehost_jobs_active(const struct fakehost *h);

/*
 * Called after each job message reached the plugin's message callback,
 * while the work function is "running": the place for a test to cancel
 * it (api->cancel(fakehost_plugin(h), id)).
 */
typedef void fakehost_job_message_fn(struct fakehost *h, int64_t id,
				     const void *msg, size_t len, void *data);
void fakehost_on_job_message(struct fakehost *h, fakehost_job_message_fn *fn,
			     void *data);

/* ------------------------------------------------------------------------ */
/* Processes                                                                  */

/* What a scripted child does; built by the test's script function. */
struct fakehost_script;

/*
 * Called once per process_start() with the plugin's options (argv, env,
 * cwd, cancel_signal, kill_grace_ms, log_path, timeout_ms, ...); fills the
 * script.  A script with no exit runs until a signal ends it.
 */
typedef void fakehost_process_fn(const struct opsbot_process_options *opts,
				 struct fakehost_script *script, void *data);
void fakehost_on_process(struct fakehost *h, fakehost_process_fn *fn,
			 void *data);
/* Processes started so far (refused ones not counted). */
int fakehost_process_count(const struct fakehost *h);

/*
 * Steps, at at_ms of virtual time after the start (or, after
 * fakehost_script_on(), after the signal arrived).  Steps at the same
 * time keep their order.  The first exit or death ends the child; later
 * steps never happen.
 */
void fakehost_script_stdout(struct fakehost_script *s, long at_ms,
			    const char *line);
void fakehost_script_stderr(struct fakehost_script *s, long at_ms,
			    const char *line);
void fakehost_script_exit(struct fakehost_script *s, long at_ms, int code);
/* Killed by sig (a signal the plugin did not send: EXIT says OPSBOT_ERR). */
void fakehost_script_die(struct fakehost_script *s, long at_ms, int sig);
/*
 * The steps added after this call are the reaction to sig (0: back to
 * the main run).  A signal without a reaction kills the child at once;
 * a reaction without steps ignores the signal; SIGKILL always kills.
 */
void fakehost_script_on(struct fakehost_script *s, int sig);
void fakehost_script_ignore(struct fakehost_script *s, int sig);
/* process_start() fails with status (OPSBOT_ENOENT: no such program). */
void fakehost_script_refuse(struct fakehost_script *s, int status);

/* ------------------------------------------------------------------------ */
/* fd watches                                                                 */

/*
 * fd became ready: calls every live watch on fd with the events it asked
 * for (OPSBOT_FD_ERROR and _HANGUP always), as the loop would.  Returns
 * the number of callbacks run.
 */
int fakehost_fd_ready(struct fakehost *h, int fd, unsigned events);

/* ------------------------------------------------------------------------ */
/* Webhooks                                                                   */

/*
 * One request to the listener: target is the path with an optional
 * "?query"; headers "Name: value", NULL-terminated, or NULL; body may be
 * NULL.  Returns the HTTP status code (404 and 405 without a route, 413,
 * 429, 503 while unloading, or the handler's).
 */
int fakehost_webhook(struct fakehost *h, const char *method, const char *target,
		     const char *const *headers, const char *body);
/* The last response: body (the reason text if the handler set none),
 * its content type, and Retry-After of a 429 (or NULL). */
const char *fakehost_webhook_body(const struct fakehost *h);
const char *fakehost_webhook_content_type(const struct fakehost *h);
const char *fakehost_webhook_retry_after(const struct fakehost *h);
/* A header the handler added with webhook_respond_header(), or NULL. */
const char *fakehost_webhook_response_header(const struct fakehost *h,
					     const char *name);

/* ------------------------------------------------------------------------ */
/* Commands                                                                   */

/*
 * Who types the next commands and where (default: a channel, nick
 * "tester", account "tester", "#test").  account and channel may be NULL.
 */
void fakehost_asker(struct fakehost *h, enum opsbot_origin origin,
		    const char *nick, const char *account, const char *channel);
/*
 * Runs a typed line, "destroy x --yes": the first word picks a registered
 * subcommand (else the "" command gets the whole line).  Returns the
 * request's status (the handler's, OPSBOT_EUSAGE, OPSBOT_EPERM for a
 * confirmation that fails, OPSBOT_OK after asking for one), or
 * OPSBOT_PENDING until done(); OPSBOT_ENOENT if no command matches.
 */
int fakehost_command(struct fakehost *h, const char *line);
/* The last command's status: OPSBOT_PENDING until done() was called. */
int fakehost_command_status(const struct fakehost *h);

#endif /* FAKEHOST_H */

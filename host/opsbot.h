/*
 * opsbot.h - the plugin interface of opsbot.  This file is the documentation:
 * a plugin includes this header and nothing else from host/.
 *
 * A plugin is a shared object, <name>.so, that exports exactly one data
 * symbol, `opsbot_plugin` (a struct opsbot_plugin_descriptor).  The host reads
 * the descriptor's ABI numbers and name before it calls any plugin function
 * and refuses the plugin when the major differs or the minor is newer than
 * its own.  (dlopen() runs a shared object's ELF constructors: a plugin must
 * not have any.)  It then calls init() with a table of host functions (struct
 * opsbot_api); everything a plugin does goes through that table, so plugins
 * link against no host symbol and a test can hand in a table of its own.
 *
 * Rules, in one place:
 *
 *  - Threads.  Every callback runs on the host's single loop thread, except
 *    a job's work function (see job_start), which runs on a pool thread and
 *    may only call log() and job_is_cancelled().  Never block the loop: no
 *    sleep(), system(), popen(), blocking sockets, blocking libvirt calls.
 *    Blocking work goes to job_start(), subprocesses to process_start(),
 *    HTTP to http_start().
 *
 *  - Memory.  Strings the plugin passes to the host are borrowed for the
 *    duration of the call; the host copies what it keeps.  Strings and
 *    structs the host passes to a callback belong to the host and are valid
 *    until the callback returns; copy what you keep.
 *
 *  - Ownership.  Everything a plugin registers or starts (commands, timers,
 *    HTTP requests, processes, jobs, webhook routes, pending requests) is
 *    owned by the host and tagged with the plugin.  When the plugin is
 *    unloaded the host cancels and sweeps all of it; plugins need no
 *    bookkeeping of their own for that.
 *
 *  - Callbacks.  A start function (timer_start, http_start, process_start,
 *    job_start) returns an id > 0 and then calls its callback exactly once
 *    with a final status (OPSBOT_ECANCELED if the operation was cancelled or
 *    the plugin is being unloaded), or returns a negative OPSBOT_E* code and
 *    never calls it.  Timers and processes may call their callback several
 *    times before that final call; their types say which call is final.
 *    cancel() never calls the callback from inside itself: the cancelled
 *    call comes from the loop soon after, so a callback can cancel other
 *    operations, or its own, without re-entrancy.
 *
 *  - Unloading never happens while plugin code is on the stack: an unload
 *    requested while a command handler, a callback or a job is running is
 *    carried out once they have returned.
 *
 *  - Text.  reply(), say() and friends take printf formats; text from users
 *    or external systems must go through "%s", never be the format.  The
 *    host makes every line safe for IRC: it splits at CR and LF, drops NUL
 *    and \x01, splits long lines on UTF-8 boundaries to fit the 512-byte
 *    limit, and removes any configured secret.  Plugins cannot send raw IRC.
 *
 *  - Versions.  The ABI major changes only for incompatible changes.  Within
 *    a major the host-filled structs (opsbot_api, opsbot_request,
 *    opsbot_http_response, opsbot_process_event, opsbot_webhook) may grow new
 *    members at the end; a plugin built for minor N loads into any host of
 *    minor >= N.  Plugin-filled structs (opsbot_plugin_descriptor,
 *    opsbot_command, opsbot_config_key, opsbot_http_request,
 *    opsbot_process_options) are frozen for the whole major; extending them
 *    means a new function.
 */
#ifndef OPSBOT_H
#define OPSBOT_H

#include <stddef.h>
#include <stdint.h>

#define OPSBOT_ABI_MAJOR 1
#define OPSBOT_ABI_MINOR 0

/* Status codes.  0 is success; every failure is negative. */
enum opsbot_status {
	OPSBOT_OK = 0,
	OPSBOT_ERR = -1,    /* failed; a message has been logged or sent */
	OPSBOT_EUSAGE = -2, /* command handler: host replies with the usage */
	OPSBOT_ECANCELED = -3, /* cancel() or the plugin is being unloaded */
	OPSBOT_ETIMEDOUT = -4, /* the operation's time limit passed */
	OPSBOT_EINVAL = -5,    /* bad argument to a host function */
	OPSBOT_ENOMEM = -6,    /* out of memory */
	OPSBOT_ENOENT = -7,    /* no such id, key or name */
	OPSBOT_EPERM = -8,     /* the caller lacks the capability */
	OPSBOT_ECLOSING = -9,  /* the plugin is being unloaded; nothing new */
	OPSBOT_EEXIST = -10,   /* already registered */
	OPSBOT_PENDING = 1,    /* command handler: will call done() later */
};

/* Timer callback return value: do not run again. */
#define OPSBOT_TIMER_STOP (-1L)

enum opsbot_log_level {
	OPSBOT_LOG_ERROR,
	OPSBOT_LOG_WARN,
	OPSBOT_LOG_INFO,
	OPSBOT_LOG_DEBUG,
};

struct opsbot_plugin; /* opaque: the host's record of one loaded plugin */
struct opsbot_job;    /* opaque: a running job, seen by its work function */
struct sqlite3;	      /* from <sqlite3.h>; plugins that use the store link it */

/* ------------------------------------------------------------------------ */
/* Commands                                                                  */

/* How the host runs: as the IRC daemon, or for one command-line call. */
enum opsbot_mode {
	OPSBOT_MODE_DAEMON, /* `opsbot -c FILE`: connected to IRC */
	OPSBOT_MODE_CLI,    /* `opsbot run ...`: one command, then exit */
	OPSBOT_MODE_CHECK,  /* `opsbot --check-config`: init() only, to
			       validate; the store is a scratch in-memory
			       database and nothing may be started */
};

/* Where a command came from. */
enum opsbot_origin {
	OPSBOT_ORIGIN_CHANNEL, /* "!reg status bob" in a channel */
	OPSBOT_ORIGIN_PRIVATE, /* a private message to the bot */
	OPSBOT_ORIGIN_CLI,     /* `opsbot run registrar status bob` */
};

/*
 * One command invocation.  Host-filled and read-only.  Valid until the
 * handler returns, or, if the handler returned OPSBOT_PENDING, until the
 * plugin calls done() on it.  The host may have to end a pending request
 * itself (the plugin is unloaded): it then replies with an error, and the
 * plugin must not touch the request after its own cancelled callbacks ran.
 */
struct opsbot_request {
	const char *command;	 /* the subcommand matched: "status", or "" */
	int argc;		 /* arguments after the subcommand */
	const char *const *argv; /* argv[argc] is NULL; quotes removed */
	const char *args;	 /* the argument text as typed */
	const char *nick;	 /* who asked (the local user name in CLI) */
	const char *account;	 /* services account, or NULL if unknown */
	const char *channel;	 /* channel it was typed in, or NULL */
	enum opsbot_origin origin;
};

/*
 * A command handler.  Return OPSBOT_OK when the command is complete,
 * OPSBOT_EUSAGE to make the host reply with the usage line, OPSBOT_ERR after
 * reply_error() explained what went wrong, or OPSBOT_PENDING when the
 * command goes on asynchronously and done() will end it.
 */
typedef int opsbot_command_fn(struct opsbot_plugin *self,
			      struct opsbot_request *req, void *data);

/*
 * A command, as registered by a plugin (plugin-filled; frozen).  Users type
 * "!<word> <name> <args>", where <word> is the plugin's command word (see
 * the descriptor); a name of "" is the bare "!<word> <args>".
 */
struct opsbot_command {
	const char *name;	/* subcommand: [a-z0-9-]+, or "" */
	const char *usage;	/* arguments, e.g. "<name or e-mail>", or "" */
	const char *help;	/* one line: what it does */
	const char *capability; /* needed capability ("registrar.admin"), or
				   NULL for everyone; "admin" grants all */
	int min_args;		/* fewer arguments: usage error */
	int max_args;		/* more arguments: usage error; -1 unlimited */
	opsbot_command_fn *fn;
	void *data; /* passed to fn */
};

/* ------------------------------------------------------------------------ */
/* Configuration                                                             */

enum opsbot_config_type {
	OPSBOT_CONFIG_STRING,
	OPSBOT_CONFIG_INT,	/* decimal, range-checked against min/max */
	OPSBOT_CONFIG_BOOL,	/* true/false, yes/no, on/off, 1/0 */
	OPSBOT_CONFIG_DURATION, /* "90", "90s", "5m", "2h", "1d"; read as ms */
	OPSBOT_CONFIG_SECRET,	/* never logged, echoed or printed; the value
				   may come from "<key>_file = PATH" or
				   "<key>_env = VARIABLE" instead of the key */
	OPSBOT_CONFIG_LIST,	/* the key may repeat; each line is one item */
};

enum opsbot_config_flags {
	OPSBOT_CONFIG_REQUIRED = 1 << 0, /* --check-config fails without it */
};

/*
 * One key of a plugin's [plugin.<name>] section (plugin-filled; frozen).
 * The descriptor lists them in an array ended by an entry with key NULL.
 * The host validates the section against it before init() (unknown keys,
 * types, ranges, required keys), and `opsbot --check-config` does the same
 * without running plugin code.
 */
struct opsbot_config_key {
	const char *key;
	enum opsbot_config_type type;
	const char *default_value; /* as it would be written in the file */
	unsigned flags;
	long long min, max; /* INT and DURATION (ms); both 0: no limit */
	const char *help;   /* one line, for --check-config output */
};

/* ------------------------------------------------------------------------ */
/* HTTP client                                                               */

enum opsbot_http_flags {
	OPSBOT_HTTP_FOLLOW_REDIRECTS = 1 << 0, /* same scheme and host only */
};

/*
 * An outgoing HTTP request (plugin-filled; frozen).  POST and PATCH
 * requests always use a connection of their own: on a reused connection
 * that breaks, libcurl would send them again, and the server might act
 * twice.
 */
struct opsbot_http_request {
	const char *method; /* NULL: GET, or POST when body is set */
	const char *url;    /* http:// or https:// only */
	const char *const
	    *headers;	  /* "Name: value", NULL-terminated, or NULL;
			     a header containing CR or LF is refused */
	const char *body; /* copied by the host; NULL: no body */
	size_t body_len;
	const char *username;	   /* basic auth user, or NULL */
	const char *password;	   /* basic auth password; never logged */
	long timeout_ms;	   /* whole request; 0: 30 s */
	long connect_timeout_ms;   /* 0: 10 s */
	size_t max_response_bytes; /* 0: 8 MiB; more is an error */
	unsigned flags;		   /* enum opsbot_http_flags */
};

/*
 * The outcome of an HTTP request (host-filled).  status is OPSBOT_OK when a
 * response arrived, whatever its HTTP code; otherwise OPSBOT_ERR (could not
 * connect, reset, malformed, too large), OPSBOT_ETIMEDOUT or
 * OPSBOT_ECANCELED, with error set.
 */
struct opsbot_http_response {
	int status;
	long code;	  /* HTTP status code, 0 if none */
	const char *body; /* NUL-terminated; "" if none */
	size_t body_len;
	const char *error; /* one line for humans; NULL when OK */
	int request_sent;  /* 1 once any of the request reached the
			      server: a failure after that leaves the
			      outcome unknown (the server may have
			      acted on it) */
	long elapsed_ms;
};

/*
 * Called exactly once per request.  Use api->http_header() to read
 * response headers such as Retry-After.
 */
typedef void opsbot_http_fn(struct opsbot_plugin *self,
			    const struct opsbot_http_response *res, void *data);

/* ------------------------------------------------------------------------ */
/* Subprocesses                                                              */

/*
 * A child process (plugin-filled; frozen).  There is no shell: argv is
 * passed verbatim to execve.  The child starts in a new process group with
 * an environment of only PATH, HOME, LANG and TZ (from the host's) plus
 * env, stdin from stdin_data (or /dev/null) and no other inherited file
 * descriptors.
 */
struct opsbot_process_options {
	const char *const *argv; /* argv[0]: a path, or a name looked up in
				    PATH; NULL-terminated */
	const char *const *env;	 /* extra "NAME=value", NULL-terminated */
	const char *cwd;	 /* NULL: the host's working directory */
	const char *stdin_data;	 /* written to the child's stdin, then
				    closed; NULL: /dev/null */
	size_t stdin_len;
	long timeout_ms;    /* 0: none; on expiry SIGTERM to the whole
			       group, SIGKILL kill_grace_ms later */
	long kill_grace_ms; /* 0: 5 s */
};

enum opsbot_process_event_kind {
	OPSBOT_PROCESS_STDOUT, /* one line of stdout, without its newline */
	OPSBOT_PROCESS_STDERR, /* one line of stderr */
	OPSBOT_PROCESS_EXIT,   /* the final call: the process has ended */
};

/* One event from a child (host-filled). */
struct opsbot_process_event {
	enum opsbot_process_event_kind kind;
	const char *line; /* STDOUT/STDERR: NUL-terminated, no newline */
	size_t line_len;
	int truncated;	 /* the line was longer than 16 KiB and was cut;
			    the rest arrives as further lines */
	int status;	 /* EXIT: OPSBOT_OK if it exited by itself (any
			    code), OPSBOT_ETIMEDOUT, OPSBOT_ECANCELED, or
			    OPSBOT_ERR (killed by a signal) */
	int exit_code;	 /* EXIT: exit code, -1 if killed by a signal */
	int term_signal; /* EXIT: the signal that ended it, or 0 */
	long pid;
};

typedef void opsbot_process_fn(struct opsbot_plugin *self,
			       const struct opsbot_process_event *ev,
			       void *data);

/* ------------------------------------------------------------------------ */
/* Jobs: blocking work on the host's thread pool                             */

/*
 * Runs on a pool thread.  It may block (libvirt calls, file copies) and may
 * call only api->log() and api->job_is_cancelled().  It must not touch the
 * store or any other host state.
 */
typedef void opsbot_job_work_fn(struct opsbot_job *job, void *data);

/*
 * Runs on the loop thread, exactly once: OPSBOT_OK after the work function
 * returned, OPSBOT_ECANCELED if it was cancelled before it started.  A work
 * function that is already running is not interrupted: cancel() only makes
 * job_is_cancelled() return 1, and the status is then OPSBOT_ECANCELED.
 */
typedef void opsbot_job_done_fn(struct opsbot_plugin *self, int status,
				void *data);

/* ------------------------------------------------------------------------ */
/* Timers                                                                    */

/*
 * Called when the timer fires, with status OPSBOT_OK; returns the delay in
 * ms until the next call, or OPSBOT_TIMER_STOP.  If the timer is cancelled
 * (or its plugin unloaded) before it stopped, it is called once more with
 * status OPSBOT_ECANCELED, and its return value is ignored.
 */
typedef long opsbot_timer_fn(struct opsbot_plugin *self, int status,
			     void *data);

/* ------------------------------------------------------------------------ */
/* Webhooks: HTTP requests to the host's listener ([http] listen)           */

/* An incoming HTTP request (host-filled). */
struct opsbot_webhook {
	const char *method; /* "POST" */
	const char *path;   /* "/hooks/jenkins", without the query */
	const char *query;  /* after '?', or "" */
	const char *body;   /* NUL-terminated */
	size_t body_len;
	const char *remote_addr; /* "127.0.0.1" */
};

/*
 * Returns the HTTP status code to answer with (200, 400, 403...).  A body
 * can be set with api->webhook_respond() before returning; otherwise the
 * host sends a short text for the code.
 */
typedef int opsbot_webhook_fn(struct opsbot_plugin *self,
			      const struct opsbot_webhook *hook, void *data);

/* ------------------------------------------------------------------------ */
/* The host's functions (host-filled; members are only ever appended)        */

struct opsbot_api {
	unsigned abi_major, abi_minor; /* of the running host */

	/* --- commands and replies --- */

	/*
	 * Registers a command; only valid during init().  Returns OPSBOT_OK,
	 * OPSBOT_EEXIST (same name twice) or OPSBOT_EINVAL.
	 */
	int (*command_add)(struct opsbot_plugin *self,
			   const struct opsbot_command *cmd);

	/* Answers where the request came from (channel, private, stdout). */
	void (*reply)(struct opsbot_request *req, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

	/*
	 * Answers the asker only: a private message on IRC, stdout in the
	 * CLI.  Use it for personal data (e-mail addresses, form fields).
	 */
	void (*reply_private)(struct opsbot_request *req, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

	/* Like reply(), for errors: on the CLI it goes to stderr. */
	void (*reply_error)(struct opsbot_request *req, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

	/*
	 * Ends a request whose handler returned OPSBOT_PENDING.  status is
	 * OPSBOT_OK or a negative code; the CLI exits non-zero on failure.
	 * Returns nothing: after done() the request is gone.
	 */
	void (*done)(struct opsbot_request *req, int status);

	/*
	 * Does the asker hold the capability?  For checks inside a command
	 * (e.g. who may see personal data).  Returns 1 or 0.
	 */
	int (*has_capability)(const struct opsbot_request *req,
			      const char *capability);

	/*
	 * Sends an announcement to a channel (or a nick).  While the bot is
	 * disconnected it is queued and delivered after rejoin, or dropped
	 * with a log line once older than [irc] queue_ttl.  In the CLI it is
	 * printed to stdout as "<target> <text>".
	 */
	void (*say)(struct opsbot_plugin *self, const char *target,
		    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

	/* --- logging (any thread) --- */

	void (*log)(struct opsbot_plugin *self, enum opsbot_log_level level,
		    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

	/* --- configuration: the [plugin.<name>] section --- */

	/*
	 * The value of a key declared in the descriptor, or its default, or
	 * NULL if neither.  Host-owned; valid until the plugin is unloaded
	 * (a config reload that changes the section reloads the plugin).
	 */
	const char *(*config_string)(struct opsbot_plugin *self,
				     const char *key);
	long long (*config_int)(struct opsbot_plugin *self, const char *key);
	int (*config_bool)(struct opsbot_plugin *self, const char *key);
	long long (*config_duration_ms)(struct opsbot_plugin *self,
					const char *key);
	/* SECRET keys: the value from the key, its _file or its _env. */
	const char *(*config_secret)(struct opsbot_plugin *self,
				     const char *key);
	/* LIST keys: the number of items, and item i. */
	int (*config_list_count)(struct opsbot_plugin *self, const char *key);
	const char *(*config_list_item)(struct opsbot_plugin *self,
					const char *key, int i);

	/* --- the store (loop thread only) --- */

	/*
	 * The host's SQLite connection (WAL, synchronous=NORMAL, busy
	 * timeout, foreign keys on).  Use prepared statements only.  Each
	 * plugin owns the tables it creates; prefix them with its name.
	 */
	struct sqlite3 *(*store)(struct opsbot_plugin *self);

	/*
	 * Brings the plugin's schema to version count: runs steps[v] for
	 * each version v from the recorded one up to count - 1, each in its
	 * own transaction together with the new version number.  Returns
	 * OPSBOT_OK or OPSBOT_ERR (logged; nothing of the failed step kept).
	 */
	int (*store_migrate)(struct opsbot_plugin *self,
			     const char *const *steps, int count);

	/* --- asynchronous operations; see "Callbacks" above --- */

	int64_t (*timer_start)(struct opsbot_plugin *self, long delay_ms,
			       opsbot_timer_fn *fn, void *data);

	int64_t (*http_start)(struct opsbot_plugin *self,
			      const struct opsbot_http_request *req,
			      opsbot_http_fn *fn, void *data);

	/*
	 * A response header's value (first occurrence, name compared without
	 * case), or NULL.  Valid during the callback.
	 */
	const char *(*http_header)(const struct opsbot_http_response *res,
				   const char *name);

	int64_t (*process_start)(struct opsbot_plugin *self,
				 const struct opsbot_process_options *opts,
				 opsbot_process_fn *fn, void *data);

	int64_t (*job_start)(struct opsbot_plugin *self,
			     opsbot_job_work_fn *work, opsbot_job_done_fn *done,
			     void *data);

	/* In a work function: has the job been cancelled?  1 or 0. */
	int (*job_is_cancelled)(const struct opsbot_job *job);

	/*
	 * Cancels a timer, request, process or job of this plugin.  Returns
	 * OPSBOT_OK (its callback will run with OPSBOT_ECANCELED, from the
	 * loop, unless it had already completed in this loop pass) or
	 * OPSBOT_ENOENT (no such operation, or already completed).
	 */
	int (*cancel)(struct opsbot_plugin *self, int64_t id);

	/* --- webhooks --- */

	/*
	 * Routes method + exact path on the host's listener to fn; only
	 * valid during init().  Paths start with "/hooks/<plugin name>".
	 * Returns OPSBOT_OK, OPSBOT_EEXIST or OPSBOT_EINVAL.
	 */
	int (*webhook_add)(struct opsbot_plugin *self, const char *method,
			   const char *path, opsbot_webhook_fn *fn, void *data);

	/* The response body for the webhook being handled. */
	void (*webhook_respond)(const struct opsbot_webhook *hook,
				const char *content_type, const char *body,
				size_t body_len);

	/* A webhook request header, or NULL. */
	const char *(*webhook_header)(const struct opsbot_webhook *hook,
				      const char *name);

	/* --- small helpers every plugin needs --- */

	/*
	 * Percent-encodes src (RFC 3986 unreserved characters stay) into
	 * dst, NUL-terminated.  Returns the length the full result needs,
	 * like snprintf; the result is complete only if that is < size.
	 */
	size_t (*url_encode)(char *dst, size_t size, const char *src);

	/* Milliseconds on a monotonic clock. */
	int64_t (*now_ms)(void);

	/*
	 * Like say(), for announcements that may be summarised: when flood
	 * control or a disconnection makes lines wait, at most three lines
	 * of the same group wait per target; the others are counted and
	 * replaced by one line "(N more <group> messages not shown, to avoid
	 * flooding)".  group: a short word, e.g. "build".
	 */
	void (*say_grouped)(struct opsbot_plugin *self, const char *target,
			    const char *group, const char *fmt, ...)
	    __attribute__((format(printf, 4, 5)));

	/*
	 * OPSBOT_MODE_DAEMON, OPSBOT_MODE_CLI or OPSBOT_MODE_CHECK.  In the
	 * CLI the host unloads the plugin as soon as the command is done, so
	 * init() should not start background work (periodic syncs, polling)
	 * there.  In CHECK mode `opsbot --check-config` runs init() only to
	 * let the plugin validate what the schema cannot (files, formats,
	 * combinations): report each problem with log(), naming the key, and
	 * return an error; start nothing.
	 */
	int (*mode)(void);

	/*
	 * How the asker types a command of this plugin, for hints in
	 * replies: text "resend bob 1234" becomes "!reg resend bob 1234" on
	 * IRC (with the configured prefix) and "opsbot run registrar resend
	 * bob 1234" in a shell.  Returns the length like snprintf.
	 */
	size_t (*command_example)(const struct opsbot_request *req, char *out,
				  size_t size, const char *text);
};

/* ------------------------------------------------------------------------ */
/* The descriptor: the one symbol a plugin exports                          */

struct opsbot_plugin_descriptor {
	unsigned abi_major, abi_minor; /* OPSBOT_ABI_*, as built */
	const char *name;	 /* [a-z0-9_]+, must equal the file: name.so */
	const char *version;	 /* free text, e.g. "1.2.0" */
	const char *description; /* one line */
	const char *command; /* chat word: "reg" for "!reg ..."; NULL: name */
	const struct opsbot_config_key *config; /* ended by key NULL; or NULL */

	/*
	 * Registers commands and webhooks, migrates the store, starts timers.
	 * Returns OPSBOT_OK, or a negative code after logging why; the host
	 * then sweeps whatever init registered and unloads the plugin.
	 */
	int (*init)(struct opsbot_plugin *self, const struct opsbot_api *api);

	/*
	 * Called once before unloading, after every in-flight operation got
	 * its final callback.  Frees what the plugin allocated (the store is
	 * still open: finalize prepared statements here).  May be NULL.
	 */
	void (*fini)(struct opsbot_plugin *self);
};

#define OPSBOT_EXPORT __attribute__((visibility("default")))

/* The name of the exported descriptor symbol. */
#define OPSBOT_DESCRIPTOR_SYMBOL "opsbot_plugin"

#endif /* OPSBOT_H */

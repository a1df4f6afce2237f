/*
 * opsbot.h - the plugin interface of opsbot.  This file is the documentation:
 * a plugin includes this header and nothing else from host/ (what plugins
 * share beyond it, buffers, backoff, an HTTP call queue, lives in the plugin
 * SDK, plugins/sdk/).
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
 *    a job's work function (see job_start), which runs on a thread of the
 *    host's job pool and may only call log(), job_is_cancelled(),
 *    job_post() and job_post_wait().  Never block the loop: no sleep(),
 *    system(), popen(), blocking sockets, blocking libvirt calls.  Blocking
 * work goes to job_start(), subprocesses to process_start(), HTTP to
 * http_start(), sockets of a library to fd_watch().
 *
 *  - Memory.  Strings the plugin passes to the host are borrowed for the
 *    duration of the call; the host copies what it keeps.  Strings and
 *    structs the host passes to a callback belong to the host and are valid
 *    until the callback returns; copy what you keep.  The one exception,
 *    state_get(), says so.
 *
 *  - Ownership.  Everything a plugin registers or starts (commands, webhook
 *    routes, pending requests, timers, HTTP requests, processes, jobs, fd
 *    watches) is owned by the host and tagged with the plugin.  When the
 *    plugin is unloaded the host ends and sweeps all of it; plugins need no
 *    bookkeeping of their own for that.
 *
 *  - Callbacks.  A start function (timer_start, http_start, process_start,
 *    job_start, fd_watch) returns an id > 0 and then calls its final
 *    callback exactly once with a final status (OPSBOT_ECANCELED if the
 *    operation was cancelled or the plugin is being unloaded,
 *    OPSBOT_ETIMEDOUT if its time limit passed), or returns a negative
 *    OPSBOT_E* code and never calls it.  Timers, processes, jobs and fd
 *    watches may call back several times before that final call; their
 *    types say which call is final.  cancel() never calls the callback from
 *    inside itself: the final call comes from the loop later, so a callback
 *    can cancel other operations, or its own, without re-entrancy.
 *
 *  - Unloading (and reloading, and shutdown) never happens while plugin code
 *    is on the stack.  Long work says what an unload does to it (enum
 *    opsbot_unload_policy): cancel it, let it finish first (drain), or
 *    refuse the unload with a message.  A configuration change reaches a
 *    plugin with a reconfigure() function without unloading it, so an
 *    edited channel name never kills a running build.  Shutdown drains for
 *    [bot] shutdown_grace, then cancels, and is always bounded.
 *
 *  - Text.  reply(), say() and friends take printf formats; text from users
 *    or external systems must go through "%s", never be the format.  The
 *    host makes every line safe for IRC: it splits at CR and LF, drops NUL
 *    and \x01, splits long lines on UTF-8 boundaries to fit the 512-byte
 *    limit, and removes any configured secret.  Plugins cannot send raw IRC.
 *    Text from outside (sheet cells, job names, commit messages) should be
 *    cleaned once where it enters, with the SDK's text helpers.
 *
 *  - Versions.  The ABI major changes only for incompatible changes.  Within
 *    a major, host-filled structs (opsbot_api, opsbot_request,
 *    opsbot_http_response, opsbot_process_event, opsbot_webhook) may grow
 *    new members at the end; a plugin built for minor N loads into any host
 *    of minor >= N.  Every plugin-filled struct begins with `size_t size`,
 *    which the plugin sets to sizeof the struct as it was compiled; the
 *    host reads members only up to that size (later members count as zero),
 *    so these structs grow at the end within a major too.  A size of 0 or
 *    one smaller than the struct of minor 0 is refused with OPSBOT_EINVAL.
 *
 *  - Errors.  Host functions return 0 (OPSBOT_OK) or a negative OPSBOT_E*
 *    code and log one line saying why; plugins tell users what went wrong
 *    with reply_error() in one line that names the fix.
 */
#ifndef OPSBOT_H
#define OPSBOT_H

#include <stddef.h>
#include <stdint.h>

#define OPSBOT_ABI_MAJOR 2
#define OPSBOT_ABI_MINOR 1

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
	OPSBOT_EPERM = -8,     /* the caller lacks the capability; a webhook
				  failed verification */
	OPSBOT_ECLOSING = -9,  /* the plugin is being unloaded; nothing new */
	OPSBOT_EEXIST = -10,   /* already registered */
	OPSBOT_EBUSY = -11,    /* a limit is reached (try again later) */
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

/*
 * What unloading a plugin (or reloading it, or shutting down) does to a job
 * or process still running.  Timers, HTTP requests and fd watches are short
 * or restartable and are always cancelled.
 */
enum opsbot_unload_policy {
	OPSBOT_UNLOAD_DEFAULT = 0, /* the descriptor's unload_policy; if that
				      is DEFAULT too: CANCEL */
	OPSBOT_UNLOAD_CANCEL,	   /* cancel it (its final callback says
				      OPSBOT_ECANCELED) */
	OPSBOT_UNLOAD_DRAIN,	   /* nothing new starts; the unload waits
				      until it finished by itself */
	OPSBOT_UNLOAD_REFUSE,	   /* the unload is refused with a message
				      naming the work and how to stop it */
};

struct opsbot_plugin; /* opaque: the host's record of one loaded plugin */
struct opsbot_job;    /* opaque: a running job, seen by its work function */
struct sqlite3;	      /* from <sqlite3.h>; plugins that use the store link it */

/*
 * Does the plugin-filled struct *s, of the size the plugin set, contain
 * member m?  Hosts use it; plugins never need it.
 */
#define OPSBOT_HAS_MEMBER(s, m)                                                \
	((s)->size >= offsetof(__typeof__(*(s)), m) + sizeof((s)->m))

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
	const char *const *argv; /* argv[argc] is NULL; quotes removed; a
				    confirming "--yes" is not among them */
	const char *args;	 /* the argument text as typed */
	const char *nick;	 /* who asked (the local user name in CLI) */
	const char *account;	 /* services account, or NULL if unknown */
	const char *channel;	 /* channel it was typed in, or NULL */
	enum opsbot_origin origin;
	int confirmed; /* 1: an OPSBOT_COMMAND_CONFIRM command, confirmed */
};

/*
 * A command handler.  Return OPSBOT_OK when the command is complete,
 * OPSBOT_EUSAGE to make the host reply with the usage line, OPSBOT_ERR after
 * reply_error() explained what went wrong, or OPSBOT_PENDING when the
 * command goes on asynchronously and done() will end it.
 */
typedef int opsbot_command_fn(struct opsbot_plugin *self,
			      struct opsbot_request *req, void *data);

enum opsbot_command_flags {
	/*
	 * Destructive: the host runs it only when the same account types
	 * the same command again with "--yes" within [bot] confirm_timeout
	 * (60 s); the first time it answers how to confirm, naming `confirm`.
	 * In `opsbot run` the "--yes" may be given at once.
	 */
	OPSBOT_COMMAND_CONFIRM = 1 << 0,
	/* Replies only in private (the request says it came in private). */
	OPSBOT_COMMAND_PRIVATE = 1 << 1,
};

/*
 * A command, as registered by a plugin (plugin-filled).  Users type
 * "!<word> <name> <args>", where <word> is the plugin's command word (see
 * the descriptor); a name of "" is the bare "!<word> <args>".
 */
struct opsbot_command {
	size_t size;		/* sizeof(struct opsbot_command) */
	const char *name;	/* subcommand: [a-z0-9-]+, or "" */
	const char *usage;	/* arguments, e.g. "<name or e-mail>", or "" */
	const char *help;	/* one line: what it does */
	const char *capability; /* needed capability ("registrar.admin"), or
				   NULL for everyone; "admin" grants all */
	int min_args;		/* fewer arguments: usage error */
	int max_args;		/* more arguments: usage error; -1 unlimited */
	opsbot_command_fn *fn;
	void *data;	     /* passed to fn */
	unsigned flags;	     /* enum opsbot_command_flags */
	const char *confirm; /* CONFIRM: what it destroys, for the question
				"this deletes <confirm>"; NULL: "this" */
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
	/* A change of this key cannot be taken by reconfigure(): the plugin
	 * is reloaded (subject to its unload policy). */
	OPSBOT_CONFIG_RELOAD = 1 << 1,
};

/*
 * One key of a section (plugin-filled).  Arrays of keys end with an entry
 * whose key is NULL; every entry has the same size.  The host validates a
 * section against them before init() and reconfigure() (unknown keys,
 * types, ranges, required keys), and `opsbot --check-config` does the same
 * without running plugin code.
 */
struct opsbot_config_key {
	size_t size; /* sizeof(struct opsbot_config_key) */
	const char *key;
	enum opsbot_config_type type;
	const char *default_value; /* as it would be written in the file */
	unsigned flags;		   /* enum opsbot_config_flags */
	long long min, max;	   /* INT and DURATION (ms); both 0: no limit */
	const char *help;	   /* one line, for --config-reference */
};

/*
 * A kind of repeatable named sub-section (plugin-filled): kind "jenkins"
 * allows [plugin.ci.jenkins.main], [plugin.ci.jenkins.qa], ..., each
 * validated against keys.  Instance names are [a-z0-9_-]{1,32}.  Arrays
 * end with an entry whose kind is NULL.
 */
struct opsbot_config_section {
	size_t size; /* sizeof(struct opsbot_config_section) */
	const char *kind;
	const char *help; /* one line: what one instance is */
	const struct opsbot_config_key *keys;
	int min_count, max_count; /* instances allowed; max 0: unlimited */
};

/* ------------------------------------------------------------------------ */
/* HTTP client                                                               */

enum opsbot_http_flags {
	OPSBOT_HTTP_FOLLOW_REDIRECTS =
	    1 << 0, /* same scheme, host and port only, at most 5; a redirect
		       elsewhere ends the request with an error */
};

/*
 * An outgoing HTTP request (plugin-filled).  POST and PATCH requests always
 * use a connection of their own: on a reused connection that breaks,
 * libcurl would send them again, and the server might act twice.
 */
struct opsbot_http_request {
	size_t size;	    /* sizeof(struct opsbot_http_request) */
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
 * response headers such as Retry-After or Set-Cookie.
 */
typedef void opsbot_http_fn(struct opsbot_plugin *self,
			    const struct opsbot_http_response *res, void *data);

/* ------------------------------------------------------------------------ */
/* Subprocesses                                                              */

/*
 * A child process (plugin-filled).  There is no shell: argv is passed
 * verbatim to execve.  The child starts in a session and process group of
 * its own with an environment of only PATH, HOME, LANG and TZ (from the
 * host's) plus env, stdin from stdin_data (or /dev/null) and no other
 * inherited file descriptors.
 *
 * Ending it (cancel(), the time limit, an unload that cancels, shutdown):
 * cancel_signal goes to the whole group; output keeps streaming; if the
 * group is not gone after kill_grace_ms, SIGKILL follows.  The final EXIT
 * event comes only when the process has really exited, its output is read
 * and no process of its group is left, so a lock held for it can be
 * released then.  A group that outlives the child (a grandchild still
 * holding the output, or one that closed it) gets the same grace after
 * the child exited, then SIGKILL; output that a process outside the group
 * keeps open is closed 1 s after the SIGKILL, so EXIT always comes.
 *
 * No child outlives the host: if the host dies without a shutdown (even
 * by SIGKILL), the group gets cancel_signal, kill_grace_ms to clean up
 * (its output is read and dropped, so writing does not kill it) and then
 * SIGKILL.  (A keeper process leads the group for that; the pid in the
 * events is the group's id.)
 */
struct opsbot_process_options {
	size_t size;		 /* sizeof(struct opsbot_process_options) */
	const char *const *argv; /* argv[0]: a path, or a name looked up in
				    PATH; NULL-terminated */
	const char *const *env;	 /* extra "NAME=value", NULL-terminated */
	const char *cwd;	 /* NULL: the host's working directory */
	const char *stdin_data;	 /* written to the child's stdin, then
				    closed; NULL: /dev/null */
	size_t stdin_len;
	long timeout_ms;      /* 0: none */
	long kill_grace_ms;   /* 0: 5 s */
	int cancel_signal;    /* 0: SIGTERM; packer wants SIGINT */
	const char *log_path; /* NULL: none; else every stdout and stderr
				 line is also appended to this file (created
				 0600), "[out] " / "[err] " prefixed; if it
				 cannot be opened, process_start() returns
				 OPSBOT_EINVAL and starts nothing */
	size_t log_max_bytes; /* 0: 64 MiB; past it one line says the log
				 was cut, and nothing more is written */
	enum opsbot_unload_policy unload_policy;
	const char *name; /* for logs and refusals: "packer build qemu";
			     NULL: argv[0] */
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
			    code, or a signal sent with process_signal()),
			    OPSBOT_ETIMEDOUT, OPSBOT_ECANCELED, or
			    OPSBOT_ERR (killed by a signal nobody sent) */
	int exit_code;	 /* EXIT: exit code, -1 if killed by a signal */
	int term_signal; /* EXIT: the signal that ended it, or 0 */
	long pid;
	int64_t id; /* the id process_start returned */
};

typedef void opsbot_process_fn(struct opsbot_plugin *self,
			       const struct opsbot_process_event *ev,
			       void *data);

/* ------------------------------------------------------------------------ */
/* Jobs: blocking work on the host's job pool                                */

/*
 * Runs on a job pool thread.  It may block (libvirt calls, file copies) and
 * may call only api->log(), api->job_is_cancelled(), api->job_post() and
 * api->job_post_wait().
 * It must not touch the store or any other host state.
 */
typedef void opsbot_job_work_fn(struct opsbot_job *job, void *data);

/*
 * Runs on the loop thread, once per job_post(), in the order posted, all
 * before the job's done callback (also when the job was cancelled).  msg is
 * the host's copy, valid during the call.
 */
typedef void opsbot_job_message_fn(struct opsbot_plugin *self, const void *msg,
				   size_t len, void *data);

/*
 * Runs on the loop thread when a job whose work function is running is
 * cancelled (cancel(), its time limit, an unload, shutdown), at most once:
 * the place to interrupt a blocking call from outside (close its
 * connection, abort a stream).  Not called for a job that had not started.
 */
typedef void opsbot_job_cancel_fn(struct opsbot_plugin *self, void *data);

/*
 * Runs on the loop thread, exactly once, after every message: OPSBOT_OK
 * after the work function returned by itself, OPSBOT_ECANCELED if it was
 * cancelled (before it started, or while running), OPSBOT_ETIMEDOUT if its
 * time limit passed first.  A running work function is never killed:
 * cancelling makes job_is_cancelled() return 1 and runs the cancel hook.
 */
typedef void opsbot_job_done_fn(struct opsbot_plugin *self, int status,
				void *data);

/* A job (plugin-filled). */
struct opsbot_job_options {
	size_t size; /* sizeof(struct opsbot_job_options) */
	opsbot_job_work_fn *work;
	opsbot_job_done_fn *done;
	opsbot_job_message_fn *message; /* NULL: job_post() is refused */
	opsbot_job_cancel_fn *cancel;	/* may be NULL */
	long timeout_ms;		/* 0: none */
	enum opsbot_unload_policy unload_policy;
	const char *name; /* for logs and refusals: "clone ceph-01" */
};

/* ------------------------------------------------------------------------ */
/* Timers and file descriptors                                               */

/*
 * Called when the timer fires, with status OPSBOT_OK; returns the delay in
 * ms until the next call, or OPSBOT_TIMER_STOP.  If the timer is cancelled
 * (or its plugin unloaded) before it stopped, it is called once more with
 * status OPSBOT_ECANCELED, and its return value is ignored.
 */
typedef long opsbot_timer_fn(struct opsbot_plugin *self, int status,
			     void *data);

enum opsbot_fd_events {
	OPSBOT_FD_READABLE = 1 << 0,
	OPSBOT_FD_WRITABLE = 1 << 1,
	OPSBOT_FD_ERROR = 1 << 2,  /* reported, never asked for */
	OPSBOT_FD_HANGUP = 1 << 3, /* reported, never asked for */
};

/*
 * Called with status OPSBOT_OK and the events that happened, as long as
 * the watch lives; then once with OPSBOT_ECANCELED and events 0 after
 * cancel() or an unload.  The fd stays the plugin's: the host never closes
 * it, but the plugin must cancel the watch before closing it.
 */
typedef void opsbot_fd_fn(struct opsbot_plugin *self, int64_t id, int fd,
			  unsigned events, int status, void *data);

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
 * host sends a short text for the code.  Handlers run on the loop, at most
 * [http] requests_per_pass of them between two turns of its I/O phase (IRC
 * lines are read in between); complete requests past that wait their
 * turn, in order of arrival.
 */
typedef int opsbot_webhook_fn(struct opsbot_plugin *self,
			      const struct opsbot_webhook *hook, void *data);

/* A route on the listener (plugin-filled). */
struct opsbot_webhook_route {
	size_t size;	    /* sizeof(struct opsbot_webhook_route) */
	const char *method; /* "POST"; "GET" for a route serving pages */
	const char *path;   /* exact; starts with "/hooks/<plugin name>" */
	opsbot_webhook_fn *fn;
	void *data;
	size_t max_body_bytes; /* 0: 1 MiB; larger bodies get 413 (never
				  more than [http] max_body) */
	int rate_per_minute;   /* 0: unlimited; beyond it 429 with
				  Retry-After, the handler is not called */
	int burst;	       /* requests allowed at once; 0: rate/6 + 1 */
};

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
	 * How the asker types a command of this plugin, for hints in
	 * replies: text "resend bob 1234" becomes "!reg resend bob 1234" on
	 * IRC (with the configured prefix) and "opsbot run registrar resend
	 * bob 1234" in a shell.  Returns the length like snprintf.
	 */
	size_t (*command_example)(const struct opsbot_request *req, char *out,
				  size_t size, const char *text);

	/* --- announcements --- */

	/*
	 * Sends an announcement to a channel (or a nick).  While the bot is
	 * disconnected it is queued and delivered after rejoin, or dropped
	 * with a log line once older than [irc] queue_ttl.  In the CLI it is
	 * printed to stdout as "<target> <text>".
	 */
	void (*say)(struct opsbot_plugin *self, const char *target,
		    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

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
	 * Progress, "latest wins": at most one line per (target, key) every
	 * min_interval_ms (0: [bot] progress_interval, 30 s).  A line that
	 * comes sooner is held and replaced by any newer one; the newest is
	 * sent when the interval is over.  A held or queued line is also
	 * replaced while it waits for flood control.  key: e.g. the build.
	 */
	void (*say_progress)(struct opsbot_plugin *self, const char *target,
			     const char *key, long min_interval_ms,
			     const char *fmt, ...)
	    __attribute__((format(printf, 5, 6)));

	/*
	 * Drops the progress line held for (target, key), if any, and
	 * forgets the key: call it before the summary line of finished work,
	 * so no stale progress follows the summary.
	 */
	void (*progress_end)(struct opsbot_plugin *self, const char *target,
			     const char *key);

	/* --- logging (any thread) --- */

	void (*log)(struct opsbot_plugin *self, enum opsbot_log_level level,
		    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

	/* --- configuration --- */

	/*
	 * Values of the plugin's sections.  section NULL is [plugin.<name>];
	 * "jenkins.main" is the instance [plugin.<name>.jenkins.main] of a
	 * sub-section kind the descriptor declares.  Each returns the value,
	 * or the key's default, or NULL/0 if neither (or no such section).
	 * Strings are host-owned, valid until the plugin is unloaded or its
	 * reconfigure() returns.
	 */
	const char *(*config_string)(struct opsbot_plugin *self,
				     const char *section, const char *key);
	long long (*config_int)(struct opsbot_plugin *self, const char *section,
				const char *key);
	int (*config_bool)(struct opsbot_plugin *self, const char *section,
			   const char *key);
	long long (*config_duration_ms)(struct opsbot_plugin *self,
					const char *section, const char *key);
	/* SECRET keys: the value from the key, its _file or its _env. */
	const char *(*config_secret)(struct opsbot_plugin *self,
				     const char *section, const char *key);
	/* LIST keys: the number of items, and item i. */
	int (*config_list_count)(struct opsbot_plugin *self,
				 const char *section, const char *key);
	const char *(*config_list_item)(struct opsbot_plugin *self,
					const char *section, const char *key,
					int i);
	/*
	 * Instances of a sub-section kind: how many, and the name of
	 * instance i ("main"), in file order.
	 */
	int (*config_section_count)(struct opsbot_plugin *self,
				    const char *kind);
	const char *(*config_section_name)(struct opsbot_plugin *self,
					   const char *kind, int i);

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

	/*
	 * A small persisted key/value store of the plugin's own (other
	 * plugins cannot see its keys).  Keys are 1..256 bytes of text,
	 * values up to 1 MiB of bytes.  Written durably before return.
	 * Return OPSBOT_OK, OPSBOT_EINVAL or OPSBOT_ERR (logged).
	 */
	int (*state_set)(struct opsbot_plugin *self, const char *key,
			 const void *value, size_t len);
	/*
	 * The value of key: *value is a malloc'd copy with a NUL after its
	 * len bytes, for the caller to free().  OPSBOT_ENOENT if unset.
	 */
	int (*state_get)(struct opsbot_plugin *self, const char *key,
			 char **value, size_t *len);
	/* OPSBOT_OK, or OPSBOT_ENOENT if key was not set. */
	int (*state_delete)(struct opsbot_plugin *self, const char *key);
	/*
	 * Calls fn for every key that starts with prefix ("" for all), in
	 * key order, until fn returns non-zero.  Returns how many were
	 * visited, or a negative code.
	 */
	int (*state_each)(struct opsbot_plugin *self, const char *prefix,
			  int (*fn)(const char *key, const void *value,
				    size_t len, void *data),
			  void *data);

	/* --- asynchronous operations; see "Callbacks" above --- */

	int64_t (*timer_start)(struct opsbot_plugin *self, long delay_ms,
			       opsbot_timer_fn *fn, void *data);

	int64_t (*http_start)(struct opsbot_plugin *self,
			      const struct opsbot_http_request *req,
			      opsbot_http_fn *fn, void *data);

	/*
	 * The n-th value (from 0) of a response header, name compared
	 * without case, or NULL: every Set-Cookie, the one Retry-After.
	 * Valid during the callback.
	 */
	const char *(*http_header)(const struct opsbot_http_response *res,
				   const char *name, int n);

	/*
	 * Starts a child; fn gets each line and then, last, EXIT.  Returns
	 * the id, OPSBOT_EINVAL, OPSBOT_ENOENT (no such program) or
	 * OPSBOT_ERR.
	 */
	int64_t (*process_start)(struct opsbot_plugin *self,
				 const struct opsbot_process_options *opts,
				 opsbot_process_fn *fn, void *data);

	/*
	 * Sends sig to a running child's whole process group (SIGINT to
	 * stop a build politely; SIGUSR1 for a status).  It does not end the
	 * operation: the EXIT event still comes when the child is gone.
	 * Returns OPSBOT_OK, OPSBOT_ENOENT (no such process, or it ended)
	 * or OPSBOT_EINVAL (not a signal).
	 */
	int (*process_signal)(struct opsbot_plugin *self, int64_t id, int sig);

	/*
	 * Starts a job on the host's job pool.  At most [bot] job_limit jobs
	 * (4) of one plugin run at once; more wait in order.  Plugin jobs
	 * never use the threads the host's own work (DNS lookups) needs.
	 */
	int64_t (*job_start)(struct opsbot_plugin *self,
			     const struct opsbot_job_options *opts, void *data);

	/* In a work function: has the job been cancelled?  1 or 0. */
	int (*job_is_cancelled)(const struct opsbot_job *job);

	/*
	 * In a work function: sends a copy of msg (len bytes) to the job's
	 * message callback on the loop ("cloned 40%", "created volume v1").
	 * Never blocks.  OPSBOT_OK, or OPSBOT_EINVAL if the job has no
	 * message callback.
	 */
	int (*job_post)(struct opsbot_job *job, const void *msg, size_t len);

	/*
	 * In a work function: like job_post(), then waits until the message
	 * callback has run on the loop.  For what must be recorded before
	 * the work goes on: a job that created a volume posts "created v1"
	 * and the callback writes it to the store, so a crash after that
	 * never leaves an unrecorded orphan.  OPSBOT_OK, OPSBOT_EINVAL, or
	 * OPSBOT_ECANCELED if the host is shutting down and the message
	 * will not be delivered.
	 */
	int (*job_post_wait)(struct opsbot_job *job, const void *msg,
			     size_t len);

	/*
	 * Watches fd for events (OPSBOT_FD_READABLE | OPSBOT_FD_WRITABLE)
	 * on the loop.  Returns the id, or a negative code.
	 */
	int64_t (*fd_watch)(struct opsbot_plugin *self, int fd, unsigned events,
			    opsbot_fd_fn *fn, void *data);
	/* Changes the events a watch waits for (0: none for now). */
	int (*fd_watch_update)(struct opsbot_plugin *self, int64_t id,
			       unsigned events);

	/*
	 * Cancels a timer, request, process, job or fd watch of this
	 * plugin.  Returns OPSBOT_OK (its final callback will run with
	 * OPSBOT_ECANCELED, from the loop; a second cancel() changes
	 * nothing) or OPSBOT_ENOENT (no such operation, or it completed).
	 */
	int (*cancel)(struct opsbot_plugin *self, int64_t id);

	/* --- webhooks --- */

	/*
	 * Adds a route on the host's listener; only valid during init().
	 * Returns OPSBOT_OK, OPSBOT_EEXIST or OPSBOT_EINVAL.
	 */
	int (*webhook_add)(struct opsbot_plugin *self,
			   const struct opsbot_webhook_route *route);

	/*
	 * The response body for the webhook being handled, copied.
	 * content_type containing "json" is sent as application/json,
	 * "text/html" as text/html (pages of GET routes), anything else as
	 * text/plain; all in UTF-8.
	 */
	void (*webhook_respond)(const struct opsbot_webhook *hook,
				const char *content_type, const char *body,
				size_t body_len);

	/* A webhook request header, or NULL. */
	const char *(*webhook_header)(const struct opsbot_webhook *hook,
				      const char *name);

	/*
	 * Checks a shared token, compared in constant time: the value of
	 * header (e.g. "X-Gitlab-Token"; NULL: not looked at) or of the query
	 * parameter (e.g. "token"; NULL: not looked at; percent-decoded, the
	 * first one counts) must equal expected; the header, if the request
	 * has it, is the one checked.  Returns OPSBOT_OK, or OPSBOT_EPERM
	 * (missing or wrong, or expected NULL or "": nothing matches that).
	 */
	int (*webhook_verify_token)(const struct opsbot_webhook *hook,
				    const char *header, const char *query,
				    const char *expected);

	/*
	 * Checks an HMAC-SHA256 of the body with secret against header,
	 * whose value is prefix (e.g. "sha256=", or "") then lowercase or
	 * uppercase hex.  Constant time.  OPSBOT_OK or OPSBOT_EPERM.
	 */
	int (*webhook_verify_hmac)(const struct opsbot_webhook *hook,
				   const char *header, const char *prefix,
				   const char *secret);

	/*
	 * De-duplicates deliveries: returns 0 the first time key (a delivery
	 * id, a build URL + number) is seen and records it, persisted, for
	 * lifetime_ms (> 0, wall clock); 1 if it was seen within that time;
	 * negative on error.  Keys are the plugin's own, 1..256 bytes.
	 */
	int (*seen_before)(struct opsbot_plugin *self, const char *key,
			   long lifetime_ms);

	/* --- small helpers --- */

	/*
	 * Percent-encodes src (RFC 3986 unreserved characters stay) into
	 * dst, NUL-terminated.  Returns the length the full result needs,
	 * like snprintf; the result is complete only if that is < size.
	 */
	size_t (*url_encode)(char *dst, size_t size, const char *src);

	/* Milliseconds on a monotonic clock. */
	int64_t (*now_ms)(void);

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

	/* --- since ABI 2.1 --- */

	/*
	 * Adds a header to the answer of the webhook being handled (pages
	 * need Content-Security-Policy, Cache-Control, Referrer-Policy, a
	 * redirect's Location).  name: an HTTP token of at most 64 bytes,
	 * not one the host owns (Content-Type, Content-Length,
	 * Transfer-Encoding, Connection, Keep-Alive, Upgrade, Trailer,
	 * Date, Server); value: at most 4096 bytes of text without control
	 * characters (tab allowed).  At most 16 headers per answer.
	 * Returns OPSBOT_OK, OPSBOT_EINVAL (a name or value refused;
	 * logged) or OPSBOT_EBUSY (16 already).  Only during the handler.
	 */
	int (*webhook_respond_header)(const struct opsbot_webhook *hook,
				      const char *name, const char *value);
};

/* ------------------------------------------------------------------------ */
/* The descriptor: the one symbol a plugin exports                          */

struct opsbot_plugin_descriptor {
	unsigned abi_major, abi_minor; /* OPSBOT_ABI_*, as built; first, so
					  any host can read them */
	size_t size;		 /* sizeof(struct opsbot_plugin_descriptor) */
	const char *name;	 /* [a-z0-9_]+, must equal the file: name.so */
	const char *version;	 /* free text, e.g. "1.2.0" */
	const char *description; /* one line */
	const char *command; /* chat word: "reg" for "!reg ..."; NULL: name */
	const struct opsbot_config_key *config; /* ended by key NULL; or NULL */
	const struct opsbot_config_section *sections; /* ended by kind NULL;
							 or NULL */

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

	/*
	 * The plugin's sections changed (SIGHUP), and the new ones are valid
	 * against the schema; the config functions return the new values
	 * now.  Take them (re-read what you cached) and return OPSBOT_OK; or
	 * log why not and return an error: the old values stay.  NULL, or a
	 * changed key with OPSBOT_CONFIG_RELOAD: the plugin is reloaded
	 * instead, subject to the unload policy of its running work.
	 */
	int (*reconfigure)(struct opsbot_plugin *self);

	/* For jobs and processes that do not say (OPSBOT_UNLOAD_DEFAULT). */
	enum opsbot_unload_policy unload_policy;

	/*
	 * ABI 2.1: further chat words, ended by NULL (or NULL for none).
	 * Each stands for "!<command> <word>": with {"zuul", NULL} on the
	 * plugin whose word is "ci", "!zuul status x" runs the subcommand
	 * "zuul" as "!ci zuul status x" does.  Same rules as the command
	 * word: [a-z0-9_-], at most 32 bytes, not taken by the built-ins or
	 * another plugin (the plugin is refused otherwise).
	 */
	const char *const *extra_words;
};

/*
 * Positional initialisers that set the size member, for tables:
 *   static const struct opsbot_command commands[] = {
 *       OPSBOT_COMMAND("status", "<name>", "shows one", NULL, 1, 1, fn, NULL),
 *   };
 *   static const struct opsbot_config_key keys[] = {
 *       OPSBOT_CONFIG_KEY("url", OPSBOT_CONFIG_STRING, NULL, 0, 0, 0, "..."),
 *       OPSBOT_CONFIG_END,
 *   };
 */
#define OPSBOT_COMMAND(...)                                                    \
	{                                                                      \
		.size = sizeof(struct opsbot_command), __VA_ARGS__             \
	}
#define OPSBOT_CONFIG_KEY(...)                                                 \
	{                                                                      \
		.size = sizeof(struct opsbot_config_key), __VA_ARGS__          \
	}
#define OPSBOT_CONFIG_END                                                      \
	{                                                                      \
		0                                                              \
	}

#define OPSBOT_EXPORT __attribute__((visibility("default")))

/* The name of the exported descriptor symbol. */
#define OPSBOT_DESCRIPTOR_SYMBOL "opsbot_plugin"

#endif /* OPSBOT_H */

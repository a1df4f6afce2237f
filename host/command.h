/*
 * command.h - commands: the registry (built-ins and plugin subcommands),
 * argument splitting, dispatch with permission checks, and the request
 * objects that carry replies back to IRC or the terminal.
 */
#ifndef COMMAND_H
#define COMMAND_H

#include "opsbot.h"
#include "util.h"

#include <stdarg.h>
#include <stddef.h>

#define COMMAND_ARGS_MAX 64

struct opsbot_plugin;
struct request;

/* Where replies of a request go: IRC or the terminal. */
struct reply_sink {
	/*
	 * Delivers one reply text (may hold newlines; the sink splits and
	 * sanitises).  private: only to the asker.  is_error: stderr on a
	 * terminal.
	 */
	void (*send)(struct request *req, int private, int is_error,
		     const char *text, size_t len);
	/* The request has ended with status (CLI: exit code). */
	void (*finished)(struct request *req, int status);
};

/* Who typed a command and where. */
struct command_source {
	enum opsbot_origin origin;
	const char *nick;
	const char *user;	    /* ident, or NULL */
	const char *host;	    /* or NULL */
	const char *account;	    /* services account, or NULL */
	const char *account_source; /* "account-tag", "WHOIS", ... */
	const char *channel;	    /* NULL unless origin is CHANNEL */
	const char *reply_to;	    /* channel or nick replies go to */
	const struct reply_sink *sink;
	int trusted; /* 1: every capability (the local CLI) */
};

/* Host-private request; pub is what plugins see. */
struct request {
	struct opsbot_request pub;
	struct opsbot_plugin *plugin; /* NULL for built-ins */
	const char *word;	      /* "reg" */
	struct list link;	      /* in plugin->requests while pending */
	struct list all;	      /* every request until it is freed */
	struct command_source src;    /* strings owned by the request */
	char *strings;		      /* one block for every copied string */
	int lines_sent, lines_dropped;
	int line_limit;
	int pending;
	int finished;
	int force_private; /* OPSBOT_COMMAND_PRIVATE: every reply private */
	int status;
	void *sink_data; /* for the sink's own use */
};

/*
 * Splits text in place into argv (at most max entries plus a NULL),
 * honouring "double" and 'single' quotes and backslash escapes.  starts[i]
 * is set to the offset in the original text where argument i began (may be
 * NULL).  Returns the count, or -1 with *err set (malloc'd).
 */
int command_split_args(char *text, char **argv, size_t *starts, int max,
		       char **err);

/* Built-in commands; registers them.  version is the host's. */
void command_init(const char *version);
/* Takes prefix, unknown_command_reply and the line caps from [bot]. */
struct config;
void command_configure(const struct config *cfg);
/* The command prefix, "!" by default. */
const char *command_prefix(void);
void command_fini(void);
/* From now on every command is answered "error: <why>" (shutdown); NULL
 * lifts it. */
void command_refuse(const char *why);

/* Plugin side: add a subcommand (from init).  Returns OPSBOT_*. */
int command_add(struct opsbot_plugin *p, const struct opsbot_command *cmd);
/* Is word a built-in command? */
int command_is_builtin(const char *word);
/* Is word a built-in or another plugin's command word? */
int command_word_taken(const char *word);
/* Drops every command of p. */
void command_remove_plugin(struct opsbot_plugin *p);
/* Ends p's pending requests with an error (unload). */
void command_abort_requests(struct opsbot_plugin *p);

/*
 * Runs a command line typed on IRC (prefix already removed).  Returns 1 if
 * it was a command (known or not), 0 if it was ignored.
 */
int command_dispatch_text(const struct command_source *src, const char *text);
/*
 * The capability the command in text needs: NULL if none (or if text is
 * not a command the bot knows).  Lets the IRC layer look up the sender's
 * account before dispatching a privileged command.
 */
const char *command_capability_for(const char *text);

/* Runs an already split command line (the CLI). */
int command_dispatch_argv(const struct command_source *src, int argc,
			  char **argv);

/* Replies (the API's reply/reply_private/reply_error/done). */
void request_reply(struct request *req, int private, int is_error,
		   const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));
void request_done(struct request *req, int status);
int request_has_capability(const struct request *req, const char *cap);

/* "!reg text" or "opsbot run registrar text", for req's origin. */
size_t request_command_example(const struct request *req, char *out,
			       size_t size, const char *text);

/* How many requests are still pending (the CLI waits for 0). */
int command_pending_count(void);

#endif /* COMMAND_H */

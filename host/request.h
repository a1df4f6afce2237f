/*
 * request.h - the request lifecycle: one typed command from creation to
 * its end.  A request carries the asker (struct command_source), the
 * arguments, and the replies back to IRC or the terminal through a reply
 * sink, capped at a number of lines per origin.  It ends exactly once
 * (request_finish()); a plugin may still hold the pointer afterwards, so
 * every entry point checks that the request is live first.
 *
 * command_prefix(), command_abort_requests() and command_pending_count()
 * kept the names they had when this was part of command.c.
 */
#ifndef REQUEST_H
#define REQUEST_H

#include "opsbot.h"
#include "util.h"

#include <stdarg.h>
#include <stddef.h>

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
	int trusted;	  /* 1: every capability (the local CLI) */
	int nick_casemap; /* the server's enum irc_casemapping (0: rfc1459) */
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
 * Quoting back what a user typed: " 'text'" into buf, or "" when text is
 * longer than REQUEST_ECHO_MAX bytes or holds a secret (a "[redacted]" in
 * its place would confirm a guess).  Returns buf; size at least
 * REQUEST_ECHO_BUF.
 */
#define REQUEST_ECHO_MAX 32
#define REQUEST_ECHO_BUF (REQUEST_ECHO_MAX + 4)
const char *request_quote(const char *text, char *buf, size_t size);

/*
 * Takes the command prefix and the line caps of replies ([bot] prefix,
 * channel_reply_lines, private_reply_lines); command_configure() calls it.
 */
void request_configure(const char *prefix, int channel_lines,
		       int private_lines);
/* The command prefix, "!" by default. */
const char *command_prefix(void);
/* How a user starts a command here: the prefix on IRC, "opsbot run " in a
 * shell. */
const char *command_source_lead(const struct command_source *src);
/* How a user names plugin p here: its word on IRC, its name in a shell. */
const char *command_source_word(const struct command_source *src,
				const struct opsbot_plugin *p);

/*
 * A new request from src with a copy of argv and of args (the arguments as
 * typed).  plugin is the command's plugin (NULL for built-ins and for the
 * host's own answers); word and command point at the command's registry
 * entry, which outlives the request (NULL: "").  The caller ends it with
 * request_finish() or hands it to the command, which ends it with done().
 */
struct request *request_new(const struct command_source *src,
			    struct opsbot_plugin *plugin, const char *word,
			    const char *command, int argc, char **argv,
			    const char *args);
/* The command answered OPSBOT_PENDING: count req and, for a plugin's
 * command, keep it on the plugin's list until it is done. */
void request_mark_pending(struct request *req);
/* Ends req: the note about lines not shown, the sink's finished(), free. */
void request_finish(struct request *req, int status);

/* Replies (the API's reply/reply_private/reply_error/done). */
void request_reply(struct request *req, int private, int is_error,
		   const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));
/* A reply from the host itself, to where the command came from. */
void request_reply_now(struct request *req, int is_error, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void request_done(struct request *req, int status);
int request_has_capability(const struct request *req, const char *cap);

/* "!reg text" or "opsbot run registrar text", for req's origin. */
size_t request_command_example(const struct request *req, char *out,
			       size_t size, const char *text);

/* Ends p's pending requests with an error (unload). */
void command_abort_requests(struct opsbot_plugin *p);
/* How many requests are still pending (the CLI waits for 0). */
int command_pending_count(void);

#endif /* REQUEST_H */

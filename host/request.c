/*
 * request.c - the request lifecycle: creation (a copy of the asker and the
 * arguments), replies split into lines and capped per origin, the end of a
 * request (exactly once, with the note about lines not shown), the
 * capability check on a request, and aborting a plugin's pending requests
 * when it is unloaded.  It also keeps what replies depend on: the command
 * prefix and the line caps from [bot].
 */
#include "request.h"
#include "access.h"
#include "log.h"
#include "plugin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Requests not yet freed: a plugin may hold a pointer past done(). */
static struct list requests = LIST_INIT(requests);
static int pending_count;

/* Settings from [bot]. */
static int channel_lines = 8;
static int private_lines = 100;
static char prefix[16] = "!";

void request_configure(const char *new_prefix, int new_channel_lines,
		       int new_private_lines)
{
	strlcpy_safe(prefix, new_prefix, sizeof(prefix));
	channel_lines = new_channel_lines;
	private_lines = new_private_lines;
}

const char *command_prefix(void)
{
	return prefix;
}

const char *command_source_lead(const struct command_source *src)
{
	return src->origin == OPSBOT_ORIGIN_CLI ? "opsbot run " : prefix;
}

const char *command_source_word(const struct command_source *src,
				const struct opsbot_plugin *p)
{
	return src->origin == OPSBOT_ORIGIN_CLI ? p->name : p->command_word;
}

int command_pending_count(void)
{
	return pending_count;
}

/* Copies the source's strings into one block owned by the request. */
static void copy_source(struct request *req, const struct command_source *src,
			const char *args)
{
	const char *in[] = {
	    src->nick,		 src->user,    src->host,     src->account,
	    src->account_source, src->channel, src->reply_to, args};
	const char **out[] = {&req->src.nick,		&req->src.user,
			      &req->src.host,		&req->src.account,
			      &req->src.account_source, &req->src.channel,
			      &req->src.reply_to,	&req->pub.args};
	size_t total = 0, i;
	char *p;

	for (i = 0; i < ARRAY_SIZE(in); i++)
		total += in[i] ? strlen(in[i]) + 1 : 0;
	p = req->strings = xmalloc(total + 1);
	for (i = 0; i < ARRAY_SIZE(in); i++) {
		if (!in[i]) {
			*out[i] = NULL;
			continue;
		}
		*out[i] = p;
		memcpy(p, in[i], strlen(in[i]) + 1);
		p += strlen(in[i]) + 1;
	}
}

struct request *request_new(const struct command_source *src,
			    struct opsbot_plugin *plugin, const char *word,
			    const char *command, int argc, char **argv,
			    const char *args)
{
	size_t size = sizeof(struct request), len = 0;
	struct request *req;
	char **vec, *p;
	int i;

	for (i = 0; i < argc; i++)
		len += strlen(argv[i]) + 1;
	size += (size_t)(argc + 1) * sizeof(char *) + len;
	req = xcalloc(1, size);
	req->src = *src;
	copy_source(req, src, args ? args : "");
	vec = (char **)(req + 1);
	p = (char *)(vec + argc + 1);
	for (i = 0; i < argc; i++) {
		size_t n = strlen(argv[i]) + 1;

		memcpy(p, argv[i], n);
		vec[i] = p;
		p += n;
	}
	vec[argc] = NULL;
	req->pub.argc = argc;
	req->pub.argv = (const char *const *)vec;
	req->pub.command = command ? command : "";
	req->pub.nick = req->src.nick;
	req->pub.account = req->src.account;
	req->pub.channel = req->src.channel;
	req->pub.origin = src->origin;
	req->plugin = plugin;
	req->word = word ? word : "";
	list_add_tail(&requests, &req->all);
	req->line_limit = src->origin == OPSBOT_ORIGIN_CHANNEL ? channel_lines
							       : private_lines;
	if (src->origin == OPSBOT_ORIGIN_CLI)
		req->line_limit = 1 << 30;
	list_init(&req->link);
	return req;
}

void request_mark_pending(struct request *req)
{
	req->pending = 1;
	pending_count++;
	if (req->plugin)
		list_add_tail(&req->plugin->requests, &req->link);
}

static void send_line(struct request *req, int private, int is_error,
		      const char *line, size_t len)
{
	int limit = private ? private_lines : req->line_limit;

	if (req->src.origin == OPSBOT_ORIGIN_CLI)
		limit = 1 << 30;
	if (req->lines_sent >= limit) {
		req->lines_dropped++;
		return;
	}
	req->lines_sent++;
	req->src.sink->send(req, private, is_error, line, len);
}

static void send_text(struct request *req, int private, int is_error,
		      const char *text, size_t len)
{
	const char *p = text, *end = text + len;

	/* One sink call per line; CR and LF both end a line. */
	while (p < end) {
		const char *nl = p;

		while (nl < end && *nl != '\n' && *nl != '\r')
			nl++;
		if (nl > p)
			send_line(req, private, is_error, p, (size_t)(nl - p));
		p = nl + 1;
	}
}

/*
 * Does req still exist?  After done() a request is freed, but a plugin may
 * still hold it (done() twice, a reply from a late callback): compare the
 * pointer before reading the memory.
 */
static int request_live(const struct request *req)
{
	struct list *pos, *tmp;

	list_for_each_safe(pos, tmp, &requests)
	{
		if (list_entry(pos, struct request, all) == req)
			return 1;
	}
	return 0;
}

void request_reply(struct request *req, int private, int is_error,
		   const char *fmt, va_list ap)
{
	char small[512];
	va_list copy;
	int n;

	if (!req || !request_live(req) || req->finished)
		return;
	private |= req->force_private;
	va_copy(copy, ap);
	n = vsnprintf(small, sizeof(small), fmt, copy);
	va_end(copy);
	if (n < 0)
		return;
	if ((size_t)n < sizeof(small)) {
		send_text(req, private, is_error, small, (size_t)n);
	} else {
		char *big = xvasprintf(fmt, ap);

		send_text(req, private, is_error, big, strlen(big));
		free(big);
	}
}

void request_reply_now(struct request *req, int is_error, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	request_reply(req, 0, is_error, fmt, ap);
	va_end(ap);
}

static void request_free(struct request *req)
{
	list_del(&req->link);
	list_del(&req->all);
	free(req->strings);
	free(req);
}

void request_finish(struct request *req, int status)
{
	if (req->lines_dropped) {
		char note[128];
		int n = snprintf(note, sizeof(note),
				 "(%d more line%s not shown here; ask me in "
				 "private)",
				 req->lines_dropped,
				 req->lines_dropped == 1 ? "" : "s");

		req->src.sink->send(req, 0, 0, note, (size_t)n);
	}
	req->finished = 1;
	req->status = status;
	if (req->pending)
		pending_count--;
	req->src.sink->finished(req, status);
	request_free(req);
}

void request_done(struct request *req, int status)
{
	if (!req || !request_live(req) || req->finished || !req->pending) {
		warning("command", "done() called on a request that is not "
				   "pending; ignored");
		return;
	}
	request_finish(req, status > 0 ? OPSBOT_OK : status);
}

const char *request_quote(const char *text, char *buf, size_t size)
{
	size_t len = text ? strlen(text) : 0;

	buf[0] = '\0';
	if (len && len <= REQUEST_ECHO_MAX && !secret_found(text, len))
		snprintf(buf, size, " '%s'", text);
	return buf;
}

int request_has_capability(const struct request *req, const char *cap)
{
	struct identity id;

	if (!req || !request_live(req))
		return 0;
	if (!cap || req->src.trusted)
		return 1;
	id = (struct identity){req->src.nick, req->src.user, req->src.host,
			       req->src.account, req->src.nick_casemap};
	return access_has(&id, cap);
}

void command_abort_requests(struct opsbot_plugin *p)
{
	struct list *pos, *tmp;

	list_for_each_safe(pos, tmp, &p->requests)
	{
		struct request *req = list_entry(pos, struct request, link);

		request_reply_now(req, 1,
				  "error: plugin %s was unloaded before the "
				  "command finished",
				  p->name);
		request_finish(req, OPSBOT_ECANCELED);
	}
}

size_t request_command_example(const struct request *req, char *out,
			       size_t size, const char *text)
{
	const char *word =
	    req->plugin ? command_source_word(&req->src, req->plugin) : "";
	int n =
	    snprintf(out, size, "%s%s%s%s", command_source_lead(&req->src),
		     word, *word && text && *text ? " " : "", text ? text : "");

	return n < 0 ? 0 : (size_t)n;
}

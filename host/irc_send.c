/*
 * irc_send.c - every outbound line on its way to the connection: built by
 * irc_message_format(), which refuses CR, LF and NUL; paced by the
 * flood-control queue (irc_queue.c), with PONG and registration lines
 * skipping the wait but still counting; and text cut into PRIVMSGs that
 * fit what the server relays, for irc_send_text() and irc_say().
 */
#include "irc_internal.h"
#include "irc_queue.h"
#include "log.h"
#include "loop.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

#define COMPONENT "irc"

static struct {
	struct irc_queue *queue;
	uv_timer_t queue_timer;
	int handles_ready;
	size_t own_prefix_len; /* len(":nick!user@host "), 0 if unknown */
} pipeline;

void irc_send_init(void)
{
	if (!pipeline.handles_ready) {
		uv_timer_init(loop_get(), &pipeline.queue_timer);
		pipeline.handles_ready = 1;
	}
	if (!pipeline.queue)
		pipeline.queue = irc_queue_new();
}

void irc_send_fini(void)
{
	if (pipeline.handles_ready) {
		uv_close((uv_handle_t *)&pipeline.queue_timer, NULL);
		pipeline.handles_ready = 0;
	}
	irc_queue_free(pipeline.queue);
	pipeline.queue = NULL;
}

void irc_send_configure(void)
{
	const struct irc_settings *cfg = irc_settings_get();

	irc_queue_configure(pipeline.queue, !cfg->flood_control,
			    cfg->flood_burst, cfg->flood_interval_ms,
			    cfg->queue_ttl_ms);
}

void irc_send_on_connect(void)
{
	pipeline.own_prefix_len = 0;
	/* The server counts lines per connection: a new one starts full. */
	irc_queue_refill(pipeline.queue, time_now_ms());
}

void irc_send_learn_own_prefix(const char *source)
{
	pipeline.own_prefix_len = source ? strlen(source) + 2 : 0;
}

/* The queue's writer: one finished line to the connection. */
static void write_line(const char *line, size_t len, void *data)
{
	UNUSED(data);
	irc_conn_write_line(line, len);
}

/* Builds a line; returns its length or -1 (logged) if it is unsafe. */
static int build_line(char *out, size_t size, const char *command, int count,
		      const char *const *params)
{
	int n = irc_message_format(out, size, NULL, 0, command, count, params);

	if (n < 0)
		warning(COMPONENT,
			"refused to send an unsafe or oversized %s "
			"line",
			command);
	return n;
}

void irc_send_now(const char *command, int count, const char *const *params)
{
	char line[IRC_LINE_MAX];
	int n = build_line(line, sizeof(line) - 2, command, count, params);

	if (n < 0)
		return;
	irc_queue_consume(pipeline.queue, time_now_ms());
	irc_conn_write_line(line, (size_t)n);
}

void irc_send_now1(const char *command, const char *param)
{
	const char *params[] = {param};

	irc_send_now(command, 1, params);
}

void irc_send_urgent(const char *command, int count, const char *const *params)
{
	char line[IRC_LINE_MAX];
	int n = build_line(line, sizeof(line) - 2, command, count, params);
	int64_t now = time_now_ms();

	if (n < 0)
		return;
	if (irc_queue_can_send_now(pipeline.queue, now)) {
		irc_queue_consume(pipeline.queue, now);
		irc_conn_write_line(line, (size_t)n);
		return;
	}
	irc_queue_push_urgent(pipeline.queue, line, (size_t)n, now);
	irc_send_drain();
}

/* How a queued line waits: plain, in a group that may be summarised, or
 * under a key where a newer text replaces it (progress). */
struct queue_as {
	const char *group;
	const char *key;
	int replace; /* with key: the first line of a newer text */
};

static void send_or_queue(const char *target, const struct queue_as *as,
			  const char *command, int count,
			  const char *const *params)
{
	char line[IRC_LINE_MAX];
	int n = build_line(line, sizeof(line) - 2, command, count, params);
	int64_t now = time_now_ms();

	if (n < 0)
		return;
	if (irc_register_complete() &&
	    irc_queue_can_send_now(pipeline.queue, now)) {
		irc_queue_consume(pipeline.queue, now);
		irc_conn_write_line(line, (size_t)n);
		return;
	}
	if (as->key)
		irc_queue_push_keyed(pipeline.queue, target, as->key,
				     as->replace, line, (size_t)n, now);
	else if (as->group)
		irc_queue_push_grouped(pipeline.queue, target, as->group, line,
				       (size_t)n, now);
	else
		irc_queue_push(pipeline.queue, target, line, (size_t)n, now);
	if (irc_register_complete())
		irc_send_drain();
}

void irc_send_queued(const char *target, const char *group, const char *command,
		     int count, const char *const *params)
{
	struct queue_as as = {group, NULL, 0};

	send_or_queue(target, &as, command, count, params);
}

static void on_queue_timer(uv_timer_t *t)
{
	UNUSED(t);
	irc_send_drain();
}

void irc_send_drain(void)
{
	size_t expired, summarised;
	long wait;

	/* Nothing leaves before the channels are joined: announcements
	 * wait for the bot to be where they are going. */
	if (!irc_register_complete())
		return;
	wait = irc_queue_drain(pipeline.queue, time_now_ms(), write_line, NULL);
	summarised = irc_queue_take_summarised(pipeline.queue);
	if (summarised)
		info(COMPONENT, "summarised %zu queued announcement%s",
		     summarised, summarised == 1 ? "" : "s");
	expired = irc_queue_take_expired(pipeline.queue);
	if (expired) {
		irc_counters()->queue_expired += expired;
		warning(COMPONENT,
			"dropped %zu queued line%s older than "
			"[irc] queue_ttl",
			expired, expired == 1 ? "" : "s");
	}
	if (wait >= 0)
		loop_timer_start(&pipeline.queue_timer, on_queue_timer,
				 (uint64_t)wait, 0);
}

/* ---- text into PRIVMSGs ---- */

/* The room for text in "PRIVMSG <target> :<text>" as the server will
 * relay it, with our own ":nick!user@host " in front. */
static size_t text_budget(const char *target)
{
	const struct irc_isupport *server = irc_isupport();
	size_t prefix = pipeline.own_prefix_len;
	size_t fixed;

	if (!prefix)
		prefix = 1 + (size_t)server->nicklen + 1 +
			 (size_t)server->userlen + 1 + (size_t)server->hostlen +
			 1;
	fixed = prefix + strlen("PRIVMSG ") + strlen(target) + 2 + 2;
	return fixed + 16 < IRC_LINE_MAX ? IRC_LINE_MAX - fixed : 16;
}

struct split_ctx {
	const char *target;
	const char *command;
	const char *group;
	const char *key; /* progress: latest wins under this key */
	int chunks;	 /* sent so far */
};

static int send_chunk(const char *chunk, size_t len, void *data)
{
	struct split_ctx *ctx = data;
	struct queue_as as = {ctx->group, ctx->key, ctx->chunks == 0};
	char text[IRC_LINE_MAX];
	const char *params[2];

	if (len >= sizeof(text))
		len = sizeof(text) - 1;
	memcpy(text, chunk, len);
	text[len] = '\0';
	params[0] = ctx->target;
	params[1] = text;
	send_or_queue(ctx->target, &as, ctx->command, 2, params);
	ctx->chunks++;
	return 0;
}

static void send_text(const char *command, const char *target,
		      const char *group, const char *key, const char *text,
		      size_t len)
{
	struct split_ctx ctx = {target, command, group, key, 0};
	/* A secret that reached a reply leaves as "[redacted]". */
	char *copy = secret_redact_copy(text, len, &len);

	if (copy)
		text = copy;
	irc_text_split(text, len, text_budget(target), send_chunk, &ctx);
	free(copy);
}

void irc_send_text(const char *target, const char *text, size_t len)
{
	send_text("PRIVMSG", target, NULL, NULL, text, len);
}

void irc_say(const char *target, const char *group, const char *text,
	     size_t len)
{
	send_text("PRIVMSG", target, group, NULL, text, len);
}

void irc_say_progress(const char *target, const char *key, const char *text,
		      size_t len)
{
	send_text("PRIVMSG", target, NULL, key, text, len);
}

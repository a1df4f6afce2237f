/*
 * fdwatch.c - plugin fd watches on uv_poll.  The plugin owns the fd; the
 * watch is an op like a timer, swept on unload, ended by cancel() with one
 * final call from the loop after the poll handle is closed (so the plugin
 * may close the fd in that call).
 */
#include "fdwatch.h"
#include "log.h"
#include "loop.h"
#include "plugin.h"
#include "util.h"

#include <fcntl.h>
#include <stdlib.h>

struct fdwatch {
	struct op op;
	uv_poll_t poll;
	int fd;
	unsigned events;
	opsbot_fd_fn *fn;
	void *data;
};

static int to_uv(unsigned events)
{
	return (events & OPSBOT_FD_READABLE ? UV_READABLE : 0) |
	       (events & OPSBOT_FD_WRITABLE ? UV_WRITABLE : 0) | UV_DISCONNECT;
}

static void on_poll(uv_poll_t *h, int status, int uv_events)
{
	struct fdwatch *w = h->data;
	struct opsbot_plugin *p = w->op.plugin;
	unsigned events = 0;

	if (w->op.cancel_requested)
		return;
	if (status < 0) {
		events = OPSBOT_FD_ERROR;
	} else {
		if (uv_events & UV_READABLE)
			events |= OPSBOT_FD_READABLE;
		if (uv_events & UV_WRITABLE)
			events |= OPSBOT_FD_WRITABLE;
		if (uv_events & UV_DISCONNECT)
			events |= OPSBOT_FD_HANGUP;
	}
	/* An error or hang-up keeps firing: report it once per wake-up and
	 * let the plugin decide (libvirt removes the handle). */
	plugin_enter(p);
	w->fn(p, w->op.id, w->fd, events, OPSBOT_OK, w->data);
	plugin_leave(p);
	if (status < 0 && !w->op.cancel_requested)
		uv_poll_stop(&w->poll);
}

static void on_closed(uv_handle_t *h)
{
	struct fdwatch *w = h->data;
	struct opsbot_plugin *p = w->op.plugin;

	plugin_enter(p);
	op_finish(&w->op);
	w->fn(p, w->op.id, w->fd, 0, w->op.cancel_status, w->data);
	plugin_leave(p);
	free(w);
}

static void fdwatch_cancel(struct op *op)
{
	struct fdwatch *w = (struct fdwatch *)op;

	uv_close((uv_handle_t *)&w->poll, on_closed);
}

static const struct op_kind fdwatch_kind = {"fd watch", fdwatch_cancel, NULL};

int64_t fdwatch_start(struct opsbot_plugin *p, int fd, unsigned events,
		      opsbot_fd_fn *fn, void *data)
{
	struct fdwatch *w;
	int rc;

	if (fd < 0 || !fn ||
	    (events & ~(OPSBOT_FD_READABLE | OPSBOT_FD_WRITABLE)))
		return OPSBOT_EINVAL;
	if (fcntl(fd, F_GETFD) < 0)
		return OPSBOT_EINVAL;
	if (!plugin_accepts_work(p))
		return OPSBOT_ECLOSING;
	w = xcalloc(1, sizeof(*w));
	rc = uv_poll_init(loop_get(), &w->poll, fd);
	if (rc) {
		warning(plugin_log_name(p), "fd_watch(%d): %s", fd,
			uv_strerror(rc));
		free(w);
		return OPSBOT_EINVAL;
	}
	w->poll.data = w;
	w->fd = fd;
	w->fn = fn;
	w->data = data;
	w->events = events;
	if (events)
		uv_poll_start(&w->poll, to_uv(events), on_poll);
	op_start(&w->op, p, &fdwatch_kind);
	return w->op.id;
}

int fdwatch_update(struct opsbot_plugin *p, int64_t id, unsigned events)
{
	struct op *op = op_find(p, id);
	struct fdwatch *w;

	if (!op || op->kind != &fdwatch_kind || op->cancel_requested)
		return OPSBOT_ENOENT;
	if (events & ~(OPSBOT_FD_READABLE | OPSBOT_FD_WRITABLE))
		return OPSBOT_EINVAL;
	w = (struct fdwatch *)op;
	w->events = events;
	if (events)
		uv_poll_start(&w->poll, to_uv(events), on_poll);
	else
		uv_poll_stop(&w->poll);
	return OPSBOT_OK;
}

/*
 * timer.c - plugin timers on uv_timer_t.  A callback returns the next
 * delay or OPSBOT_TIMER_STOP; a cancelled timer gets one more call with
 * OPSBOT_ECANCELED, from the loop.
 */
#include "timer.h"
#include "loop.h"
#include "plugin.h"

#include <stdlib.h>

struct timer_op {
	struct op op;
	uv_timer_t handle;
	opsbot_timer_fn *fn;
	void *data;
};

static void on_closed(uv_handle_t *handle)
{
	free(handle->data);
}

static void timer_end(struct timer_op *t)
{
	op_finish(&t->op);
	uv_close((uv_handle_t *)&t->handle, on_closed);
}

static void deliver_cancel(void *data)
{
	struct timer_op *t = data;
	struct opsbot_plugin *p = t->op.plugin;

	plugin_enter(p);
	t->fn(p, OPSBOT_ECANCELED, t->data);
	timer_end(t);
	plugin_leave(p);
}

static void timer_cancel(struct op *op)
{
	struct timer_op *t = (struct timer_op *)op;

	uv_timer_stop(&t->handle);
	loop_defer(deliver_cancel, t);
}

static const struct op_kind timer_kind = {"timer", timer_cancel, NULL};

static void on_timer(uv_timer_t *handle)
{
	struct timer_op *t = handle->data;
	struct opsbot_plugin *p = t->op.plugin;
	long next;

	if (t->op.cancel_requested)
		return;
	plugin_enter(p);
	next = t->fn(p, OPSBOT_OK, t->data);
	/* Cancelled from inside its own callback: deliver_cancel ends it. */
	if (!t->op.cancel_requested) {
		if (next < 0) {
			timer_end(t);
		} else {
			/* The callback may have taken a while. */
			loop_timer_start(&t->handle, on_timer, (uint64_t)next,
					 0);
		}
	}
	plugin_leave(p);
}

int64_t timer_start(struct opsbot_plugin *p, long delay_ms, opsbot_timer_fn *fn,
		    void *data)
{
	struct timer_op *t;

	if (!fn || delay_ms < 0)
		return OPSBOT_EINVAL;
	if (!plugin_accepts_work(p))
		return OPSBOT_ECLOSING;
	t = xcalloc(1, sizeof(*t));
	t->fn = fn;
	t->data = data;
	uv_timer_init(loop_get(), &t->handle);
	t->handle.data = t;
	op_start(&t->op, p, &timer_kind);
	loop_timer_start(&t->handle, on_timer, (uint64_t)delay_ms, 0);
	return t->op.id;
}

/*
 * loop.c - the libuv loop and the deferred-call queue.
 */
#include "loop.h"
#include "log.h"
#include "util.h"

#include <pthread.h>
#include <stdlib.h>

struct deferred {
	loop_fn *fn;
	void *data;
	struct deferred *next;
};

static uv_loop_t loop;
static pthread_t loop_thread;
static uv_idle_t defer_idle;
static struct deferred *defer_head, **defer_tail = &defer_head;
static int stopping;
static unsigned generation;
static int running; /* inside loop_run() or another uv_run() of ours */

static void run_deferred(uv_idle_t *handle)
{
	struct deferred *list = defer_head, *d;

	/* Take the whole queue: calls deferred while running go to the
	 * next pass, so a call that defers itself cannot spin here. */
	defer_head = NULL;
	defer_tail = &defer_head;
	while ((d = list)) {
		list = d->next;
		d->fn(d->data);
		free(d);
	}
	if (!defer_head)
		uv_idle_stop(handle);
}

void loop_init(void)
{
	int rc;

	rc = uv_loop_init(&loop);
	if (rc) {
		error("loop", "cannot start the event loop: %s",
		      uv_strerror(rc));
		abort();
	}
	loop_thread = pthread_self();
	generation++;
	uv_idle_init(&loop, &defer_idle);
	uv_unref((uv_handle_t *)&defer_idle);
}

int loop_is_running(void)
{
	return running;
}

unsigned loop_generation(void)
{
	return generation;
}

uv_loop_t *loop_get(void)
{
	return &loop;
}

int loop_on_loop_thread(void)
{
	return pthread_equal(pthread_self(), loop_thread);
}

void loop_defer(loop_fn *fn, void *data)
{
	struct deferred *d = xmalloc(sizeof(*d));

	d->fn = fn;
	d->data = data;
	d->next = NULL;
	*defer_tail = d;
	defer_tail = &d->next;
	/* An active idle handle makes the poll phase not block. */
	if (!uv_is_active((uv_handle_t *)&defer_idle)) {
		uv_idle_start(&defer_idle, run_deferred);
		uv_ref((uv_handle_t *)&defer_idle);
	}
}

void loop_timer_start(uv_timer_t *t, uv_timer_cb cb, uint64_t ms,
		      uint64_t repeat)
{
	uv_update_time(&loop);
	uv_timer_start(t, cb, ms, repeat);
}

void loop_run(void)
{
	stopping = 0;
	running++;
	while (!stopping) {
		if (!uv_run(&loop, UV_RUN_ONCE) && !defer_head)
			break;
	}
	running--;
}

void loop_run_until(const int *flag)
{
	if (running) {
		error("loop", "loop_run_until inside the loop: uv_run is not "
			      "reentrant");
		abort();
	}
	running++;
	while (!*flag)
		uv_run(&loop, UV_RUN_ONCE);
	running--;
}

void loop_stop(void)
{
	stopping = 1;
	uv_stop(&loop);
}

static void close_walk(uv_handle_t *handle, void *arg)
{
	UNUSED(arg);
	if (!uv_is_closing(handle))
		uv_close(handle, NULL);
}

void loop_close(void)
{
	/* Drain deferred calls first: they may free memory. */
	while (defer_head)
		run_deferred(&defer_idle);
	uv_walk(&loop, close_walk, NULL);
	/* A loop_stop() while the loop was not running (a CLI command that
	 * ended at once) leaves libuv's stop flag set: that uv_run() returns
	 * before any close callback, and the next one does the work. */
	while (uv_run(&loop, UV_RUN_DEFAULT))
		;
	if (uv_loop_close(&loop))
		warning("loop", "event loop closed with handles still open");
}

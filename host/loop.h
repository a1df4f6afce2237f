/*
 * loop.h - the program's heartbeat: one libuv loop on one thread, and the
 * deferred-call queue that lets the host finish things "from the loop, soon"
 * instead of inside the caller (cancelled callbacks, plugin unloads).
 */
#ifndef LOOP_H
#define LOOP_H

#include <uv.h>

typedef void loop_fn(void *data);

/* Creates the loop and records the loop thread.  Call once, first. */
void loop_init(void);
uv_loop_t *loop_get(void);
/* Counts loop_init() calls: a module holding a handle of its own made
 * before the last loop_close() must make it again. */
unsigned loop_generation(void);
/* Is the caller on the loop thread? */
int loop_on_loop_thread(void);

/*
 * Runs fn(data) on the loop thread at the start of the next loop pass (or
 * later in this one), never inside the caller.  Calls run in FIFO order.
 */
void loop_defer(loop_fn *fn, void *data);

/*
 * uv_timer_start() counted from now: libuv counts from the time it cached
 * when the loop pass began, which after a busy pass (or under valgrind)
 * lies in the past, so the timer would fire that much early.  Every
 * timer of the host starts through here.
 */
void loop_timer_start(uv_timer_t *t, uv_timer_cb cb, uint64_t ms,
		      uint64_t repeat);

/* Runs the loop until loop_stop(). */
void loop_run(void);
/* Runs the loop until *flag is set; aborts if called from inside the loop
 * (a callback), since uv_run is not reentrant. */
void loop_run_until(const int *flag);
/* Is loop_run() or loop_run_until() on the stack? */
int loop_is_running(void);
void loop_stop(void);
/* Closes every handle and runs the loop until they are gone. */
void loop_close(void);

#endif /* LOOP_H */

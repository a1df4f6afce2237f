/*
 * process.c - children on uv_spawn.
 *
 * The child gets its own session (UV_PROCESS_DETACHED: setsid), so a
 * timeout or cancel reaches everything it started with kill(-pid).  The
 * EXIT event comes only after both pipes reached EOF and the exit status
 * is known, so every line is delivered before it.  A cancelled child is
 * detached from its plugin at once (the plugin gets EXIT/ECANCELED) and
 * the host alone kills and reaps it.
 */
#include "process.h"
#include "log.h"
#include "loop.h"
#include "plugin.h"
#include "util.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

#define LINE_MAX_BYTES (16 * 1024)
#define DEFAULT_GRACE_MS 5000

struct stream {
	uv_pipe_t pipe;
	struct buf line;
	int open;
	enum opsbot_process_event_kind kind;
	struct process_op *proc;
};

struct process_op {
	struct op op;
	uv_process_t process;
	struct stream out, err;
	uv_pipe_t in;
	uv_write_t in_write;
	char *in_data;
	int in_open;
	uv_timer_t timer;
	opsbot_process_fn *fn;
	void *data;
	long grace_ms;
	int exited, exit_code, term_signal;
	int timed_out;
	int detached;	 /* the plugin got its EXIT already */
	int refs;	 /* open uv handles + pending deferred calls */
	struct list all; /* every live child, for process_kill_all */
};

static struct list children = LIST_INIT(children);

static void proc_unref(struct process_op *proc)
{
	if (--proc->refs > 0)
		return;
	buf_free(&proc->out.line);
	buf_free(&proc->err.line);
	free(proc->in_data);
	free(proc);
}

static void on_handle_closed(uv_handle_t *handle)
{
	struct process_op *proc = handle->data;

	/* An output pipe's data is its struct stream, which starts with
	 * the pipe itself; every other handle's data is proc. */
	if (handle->data == (void *)handle)
		proc = ((struct stream *)handle->data)->proc;
	proc_unref(proc);
}

static void close_handle(uv_handle_t *h)
{
	if (!uv_is_closing(h))
		uv_close(h, on_handle_closed);
}

static void deliver(struct process_op *proc, struct opsbot_process_event *ev)
{
	struct opsbot_plugin *p = proc->op.plugin;

	ev->pid = proc->process.pid;
	plugin_enter(p);
	proc->fn(p, ev, proc->data);
	plugin_leave(p);
}

static void deliver_exit(struct process_op *proc, int status)
{
	struct opsbot_process_event ev = {0};

	if (proc->detached)
		return;
	proc->detached = 1;
	ev.kind = OPSBOT_PROCESS_EXIT;
	ev.line = "";
	ev.status = status;
	ev.exit_code =
	    proc->exited && !proc->term_signal ? proc->exit_code : -1;
	ev.term_signal = proc->term_signal;
	op_finish(&proc->op);
	deliver(proc, &ev);
}

/* Everything is over once the process exited and both pipes closed. */
static void maybe_finish(struct process_op *proc)
{
	int status;

	if (!proc->exited || proc->out.open || proc->err.open)
		return;
	list_del(&proc->all);
	uv_timer_stop(&proc->timer);
	if (proc->timed_out)
		status = OPSBOT_ETIMEDOUT;
	else if (proc->term_signal)
		status = OPSBOT_ERR;
	else
		status = OPSBOT_OK;
	deliver_exit(proc, status);
	close_handle((uv_handle_t *)&proc->timer);
	close_handle((uv_handle_t *)&proc->process);
}

static void emit_line(struct stream *s, const char *line, size_t len,
		      int truncated)
{
	struct opsbot_process_event ev = {0};
	char *copy;

	/* Cancelled (or its plugin unloading): detached at once, like a
	 * cancelled timer that never fires again; EXIT is all that is left. */
	if (s->proc->detached || s->proc->op.cancel_requested)
		return;
	copy = xstrndup(line, len);
	ev.kind = s->kind;
	ev.line = copy;
	ev.line_len = len;
	ev.truncated = truncated;
	deliver(s->proc, &ev);
	free(copy);
}

static void stream_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *b)
{
	static char chunk[65536];

	UNUSED(handle);
	UNUSED(suggested);
	/* Reads are consumed before the next one starts: one buffer. */
	b->base = chunk;
	b->len = sizeof(chunk);
}

static void stream_close(struct stream *s)
{
	if (!s->open)
		return;
	if (s->line.len)
		emit_line(s, s->line.data, s->line.len, 0);
	buf_reset(&s->line);
	s->open = 0;
	close_handle((uv_handle_t *)&s->pipe);
	maybe_finish(s->proc);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *b)
{
	struct stream *s = stream->data;
	const char *p, *end;

	if (nread < 0) {
		stream_close(s);
		return;
	}
	p = b->base;
	end = b->base + nread;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t take = nl ? (size_t)(nl - p) : (size_t)(end - p);

		if (s->line.len + take > LINE_MAX_BYTES) {
			size_t room = LINE_MAX_BYTES - s->line.len;

			buf_add(&s->line, p, room);
			emit_line(s, s->line.data, s->line.len, 1);
			buf_reset(&s->line);
			p += room;
			continue;
		}
		buf_add(&s->line, p, take);
		p += take;
		if (nl) {
			size_t len = s->line.len;

			if (len && s->line.data[len - 1] == '\r')
				len--;
			emit_line(s, s->line.data, len, 0);
			buf_reset(&s->line);
			p++;
		}
	}
}

static void on_exit_status(uv_process_t *process, int64_t status, int sig)
{
	struct process_op *proc = process->data;

	proc->exited = 1;
	proc->exit_code = (int)status;
	proc->term_signal = sig;
	maybe_finish(proc);
}

static void kill_group(struct process_op *proc, int sig)
{
	/* The child leads its own group (setsid); its children may outlive
	 * it, so the group is signalled even after the leader exited. */
	if (kill(-proc->process.pid, sig) < 0 && !proc->exited)
		kill(proc->process.pid, sig);
}

static void on_grace_over(uv_timer_t *timer)
{
	kill_group(timer->data, SIGKILL);
}

static void on_timeout(uv_timer_t *timer)
{
	struct process_op *proc = timer->data;

	proc->timed_out = 1;
	kill_group(proc, SIGTERM);
	loop_timer_start(&proc->timer, on_grace_over, (uint64_t)proc->grace_ms,
			 0);
}

static void deliver_cancel(void *data)
{
	struct process_op *proc = data;

	deliver_exit(proc, OPSBOT_ECANCELED);
	proc_unref(proc);
}

static void process_cancel(struct op *op)
{
	struct process_op *proc = (struct process_op *)op;

	kill_group(proc, SIGTERM);
	uv_timer_stop(&proc->timer);
	if (!proc->exited)
		loop_timer_start(&proc->timer, on_grace_over,
				 (uint64_t)proc->grace_ms, 0);
	/* Keep proc alive until the deferred call ran. */
	proc->refs++;
	loop_defer(deliver_cancel, proc);
}

static long process_grace(const struct op *op);
static const struct op_kind process_kind = {"process", process_cancel,
					    process_grace};

static long process_grace(const struct op *op)
{
	return ((const struct process_op *)op)->grace_ms;
}

static void on_stdin_written(uv_write_t *w, int status)
{
	struct process_op *proc = w->data;

	UNUSED(status);
	if (proc->in_open) {
		proc->in_open = 0;
		close_handle((uv_handle_t *)&proc->in);
	}
}

/* PATH, HOME, LANG and TZ from the host, then the plugin's. */
static char **build_env(const char *const *extra)
{
	static const char *const keep[] = {"PATH", "HOME", "LANG", "TZ"};
	size_t n = 0, i, count = ARRAY_SIZE(keep) + 1;
	char **env;

	for (i = 0; extra && extra[i]; i++)
		count++;
	env = xcalloc(count, sizeof(char *));
	for (i = 0; i < ARRAY_SIZE(keep); i++) {
		const char *v = getenv(keep[i]);

		if (v)
			env[n++] = xasprintf("%s=%s", keep[i], v);
	}
	if (!getenv("PATH"))
		env[n++] = xstrdup("PATH=/usr/local/bin:/usr/bin:/bin");
	for (i = 0; extra && extra[i]; i++)
		env[n++] = xstrdup(extra[i]);
	env[n] = NULL;
	return env;
}

static void free_env(char **env)
{
	size_t i;

	for (i = 0; env[i]; i++)
		free_secret(env[i]);
	free(env);
}

int64_t process_start(struct opsbot_plugin *p,
		      const struct opsbot_process_options *opts,
		      opsbot_process_fn *fn, void *data)
{
	uv_process_options_t o = {0};
	uv_stdio_container_t stdio[3];
	struct process_op *proc;
	char **env;
	size_t i;
	int rc;

	if (!opts || !opts->argv || !opts->argv[0] || !fn)
		return OPSBOT_EINVAL;
	for (i = 0; opts->env && opts->env[i]; i++)
		if (!strchr(opts->env[i], '='))
			return OPSBOT_EINVAL;
	if (!plugin_accepts_work(p))
		return OPSBOT_ECLOSING;
	proc = xcalloc(1, sizeof(*proc));
	proc->fn = fn;
	proc->data = data;
	proc->grace_ms =
	    opts->kill_grace_ms > 0 ? opts->kill_grace_ms : DEFAULT_GRACE_MS;
	proc->out.kind = OPSBOT_PROCESS_STDOUT;
	proc->err.kind = OPSBOT_PROCESS_STDERR;
	proc->out.proc = proc->err.proc = proc;

	uv_pipe_init(loop_get(), &proc->out.pipe, 0);
	uv_pipe_init(loop_get(), &proc->err.pipe, 0);
	uv_timer_init(loop_get(), &proc->timer);
	proc->out.pipe.data = &proc->out;
	proc->err.pipe.data = &proc->err;
	proc->timer.data = proc;
	proc->process.data = proc;
	if (opts->stdin_data) {
		uv_pipe_init(loop_get(), &proc->in, 0);
		proc->in.data = proc;
		stdio[0].flags = UV_CREATE_PIPE | UV_READABLE_PIPE;
		stdio[0].data.stream = (uv_stream_t *)&proc->in;
	} else {
		stdio[0].flags = UV_IGNORE;
	}
	stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
	stdio[1].data.stream = (uv_stream_t *)&proc->out.pipe;
	stdio[2].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
	stdio[2].data.stream = (uv_stream_t *)&proc->err.pipe;

	env = build_env(opts->env);
	o.file = opts->argv[0];
	o.args = (char **)opts->argv;
	o.env = env;
	o.cwd = opts->cwd;
	o.flags = UV_PROCESS_DETACHED;
	o.stdio_count = 3;
	o.stdio = stdio;
	o.exit_cb = on_exit_status;
	rc = uv_spawn(loop_get(), &proc->process, &o);
	free_env(env);
	if (rc) {
		warning(plugin_log_name(p), "cannot start '%s': %s",
			opts->argv[0], uv_strerror(rc));
		/* Nothing started: close what we made, no callback. */
		proc->refs = 4 + (opts->stdin_data != NULL);
		proc->detached = 1;
		close_handle((uv_handle_t *)&proc->out.pipe);
		close_handle((uv_handle_t *)&proc->err.pipe);
		close_handle((uv_handle_t *)&proc->timer);
		close_handle((uv_handle_t *)&proc->process);
		if (opts->stdin_data)
			close_handle((uv_handle_t *)&proc->in);
		return rc == UV_ENOENT ? OPSBOT_ENOENT : OPSBOT_ERR;
	}
	/* process, timer, out, err (+ in) */
	proc->refs = 4;
	proc->out.open = proc->err.open = 1;
	uv_read_start((uv_stream_t *)&proc->out.pipe, stream_alloc, on_read);
	uv_read_start((uv_stream_t *)&proc->err.pipe, stream_alloc, on_read);
	if (opts->stdin_data) {
		uv_buf_t b;

		proc->refs++;
		proc->in_open = 1;
		proc->in_data = xmalloc(opts->stdin_len + 1);
		memcpy(proc->in_data, opts->stdin_data, opts->stdin_len);
		b = uv_buf_init(proc->in_data, (unsigned)opts->stdin_len);
		proc->in_write.data = proc;
		uv_write(&proc->in_write, (uv_stream_t *)&proc->in, &b, 1,
			 on_stdin_written);
	}
	if (opts->timeout_ms > 0) {
		loop_timer_start(&proc->timer, on_timeout,
				 (uint64_t)opts->timeout_ms, 0);
	}
	list_add_tail(&children, &proc->all);
	op_start(&proc->op, p, &process_kind);
	return proc->op.id;
}

void process_kill_all(void)
{
	struct list *pos, *tmp;

	list_for_each_safe(pos, tmp, &children)
	{
		struct process_op *proc =
		    list_entry(pos, struct process_op, all);

		kill_group(proc, SIGKILL);
	}
}

int process_signal(struct opsbot_plugin *p, int64_t id, int sig)
{
	struct op *op = op_find(p, id);

	if (!op || op->kind != &process_kind)
		return OPSBOT_ENOENT;
	if (sig <= 0 || sig >= 65)
		return OPSBOT_EINVAL;
	kill_group((struct process_op *)op, sig);
	return OPSBOT_OK;
}

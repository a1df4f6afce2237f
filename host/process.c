/*
 * process.c - children on uv_spawn.
 *
 * The child gets its own session (UV_PROCESS_DETACHED: setsid), and every
 * signal goes to its whole process group with kill(-pgid).  Ending it
 * (cancel, the time limit, an unload, shutdown) sends the cancel signal and
 * keeps streaming its output to the plugin; when the grace is over the
 * group gets SIGKILL.  EXIT is delivered only when the leader has exited,
 * both output pipes are closed and no process of the group is left, so a
 * lock held for the child (one per hypervisor) can be released then.
 *
 * Nothing may hold EXIT for ever: when the leader exited but the rest of
 * its group lives on (a grandchild holding the pipes, or one that closed
 * them), the group gets the same grace and then SIGKILL; PIPE_CLOSE_MS
 * after any SIGKILL the pipes are closed by force (a process outside the
 * group may hold them) and the group is no longer waited for.
 *
 * The program does not lead its group itself: a keeper does (keeper.c, the
 * host's own binary run as `opsbot --process-keeper`), which mirrors the
 * program's exit status and ends the group when the host dies, even by
 * SIGKILL.  The program's path is looked up here, in the child's PATH, so
 * a missing program is still OPSBOT_ENOENT at once.
 *
 * The host makes itself a child subreaper: a grandchild whose parent died
 * is re-parented to the host instead of init, and is reaped here once the
 * leader is gone.  An init that does not reap (containers often have one)
 * would leave zombies that kill(-pgid, 0) still counts.
 */
#include "process.h"
#include "keeper.h"
#include "log.h"
#include "loop.h"
#include "plugin.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define LINE_MAX_BYTES (16 * 1024)
#define DEFAULT_GRACE_MS 5000
#define DEFAULT_LOG_MAX_BYTES ((size_t)64 * 1024 * 1024)
/* After SIGKILL: how long the pipes and the group may take to go. */
#define PIPE_CLOSE_MS 1000
/* How often to look whether the group's last process is gone. */
#define GROUP_POLL_MS 20

/* A member of the plugin's options, or 0 if its struct is older. */
#define OPTION(opts, m) (OPSBOT_HAS_MEMBER(opts, m) ? (opts)->m : 0)

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
	long pid; /* the leader's, and so the group's id */
	struct stream out, err;
	uv_pipe_t in;
	uv_write_t in_write;
	char *in_data;
	int in_open;
	uv_timer_t time_limit;
	uv_timer_t end_timer; /* the grace, the forced close, group polls */
	opsbot_process_fn *fn;
	void *data;
	long grace_ms;
	int cancel_signal;
	uint64_t signals_sent; /* by process_signal(): bit sig - 1 */
	int exited, exit_code, term_signal;
	int ending;	    /* cancelled, or the leader exited first */
	int64_t kill_at_ms; /* when the group gets SIGKILL */
	int killed;	    /* SIGKILL sent */
	int64_t killed_ms;
	int given_up; /* pipes closed by force; group no longer waited for */
	int finished; /* EXIT delivered */
	int log_fd;   /* -1: no log, or no more */
	size_t log_bytes, log_max;
	struct buf log_line;
	int refs;	 /* open uv handles */
	struct list all; /* every child not finished, for process_kill_all */
};

static struct list children = LIST_INIT(children);

static void close_fds(int *fds, int n)
{
	int i;

	for (i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

/* The keeper's binary (NULL: programs lead their groups themselves), and
 * the lifeline: the keepers read [0]; only the host holds [1]. */
static char *keeper_path;
static int lifeline[2] = {-1, -1};

void process_set_keeper(const char *path)
{
	free(keeper_path);
	keeper_path = NULL;
	/* A new lifeline each time: a forked process (a test) must not
	 * share its parent's. */
	close_fds(lifeline, 2);
	lifeline[0] = lifeline[1] = -1;
	if (!path)
		return;
	if (access(path, X_OK) < 0) {
		warning("process",
			"cannot use %s as the children's keeper (%s): a "
			"child outlives a host killed with SIGKILL",
			path, strerror(errno));
		return;
	}
	if (lifeline[0] < 0 && pipe2(lifeline, O_CLOEXEC) < 0) {
		warning("process", "no lifeline pipe for the keepers: %s",
			strerror(errno));
		return;
	}
	keeper_path = xstrdup(path);
}

/*
 * The program to run: file itself if it names a path, else the first
 * executable file in env's PATH (as execvp() would find it).  NULL with
 * errno ENOENT or EACCES.
 */
static char *find_program(const char *file, char *const *env)
{
	const char *path = "/usr/local/bin:/usr/bin:/bin", *p, *end;
	int saw_eacces = 0;
	size_t i;

	if (!*file) {
		errno = ENOENT;
		return NULL;
	}
	if (strchr(file, '/')) {
		if (access(file, X_OK) < 0)
			return NULL;
		return xstrdup(file);
	}
	for (i = 0; env[i]; i++)
		if (strncmp(env[i], "PATH=", 5) == 0) {
			path = env[i] + 5;
			break;
		}
	for (p = path;; p = end + 1) {
		char *cand;

		end = strchr(p, ':');
		if (!end)
			end = p + strlen(p);
		cand = xasprintf("%.*s%s%s", (int)(end - p), p,
				 end > p ? "/" : "./", file);
		if (access(cand, X_OK) == 0) {
			struct stat st;

			if (stat(cand, &st) == 0 && S_ISREG(st.st_mode))
				return cand;
		} else if (errno == EACCES) {
			saw_eacces = 1;
		}
		free(cand);
		if (!*end)
			break;
	}
	errno = saw_eacces ? EACCES : ENOENT;
	return NULL;
}

static void maybe_finish(struct process_op *proc);

static void proc_unref(struct process_op *proc)
{
	if (--proc->refs > 0)
		return;
	buf_free(&proc->out.line);
	buf_free(&proc->err.line);
	buf_free(&proc->log_line);
	free(proc->in_data);
	free((char *)proc->op.name);
	free(proc);
}

static void on_handle_closed(uv_handle_t *handle)
{
	proc_unref(handle->data);
}

static void on_pipe_closed(uv_handle_t *handle)
{
	proc_unref(((struct stream *)handle->data)->proc);
}

static void close_handle(uv_handle_t *h, uv_close_cb cb)
{
	if (!uv_is_closing(h))
		uv_close(h, cb);
}

static void deliver(struct process_op *proc, struct opsbot_process_event *ev)
{
	struct opsbot_plugin *p = proc->op.plugin;

	ev->pid = proc->pid;
	ev->id = proc->op.id;
	plugin_enter(p);
	proc->fn(p, ev, proc->data);
	plugin_leave(p);
}

/* ---- the output log ---- */

static int write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void log_close(struct process_op *proc)
{
	if (proc->log_fd >= 0)
		close(proc->log_fd);
	proc->log_fd = -1;
}

/*
 * Appends one line with plain write(2) on the loop thread: a line is at
 * most 16 KiB and an append to a local file lands in the page cache, so
 * it takes microseconds.  uv_fs_write would need a queue that keeps lines
 * in order and a close that waits for it, for no gain.
 */
static void log_write(struct process_op *proc, const char *prefix,
		      const char *line, size_t len)
{
	struct buf *b = &proc->log_line;

	if (proc->log_fd < 0)
		return;
	buf_reset(b);
	buf_adds(b, prefix);
	buf_add(b, line, len);
	buf_addch(b, '\n');
	if (proc->log_bytes + b->len > proc->log_max) {
		buf_reset(b);
		buf_addf(b,
			 "[log cut: the output passed %zu bytes; the rest is "
			 "not written]\n",
			 proc->log_max);
		write_all(proc->log_fd, b->data, b->len);
		log_close(proc);
		return;
	}
	if (write_all(proc->log_fd, b->data, b->len) < 0) {
		warning(plugin_log_name(proc->op.plugin),
			"process '%s': cannot write its log: %s; not logging "
			"it any more",
			proc->op.name, strerror(errno));
		log_close(proc);
		return;
	}
	proc->log_bytes += b->len;
}

/* ---- output ---- */

static void emit_line(struct stream *s, const char *line, size_t len,
		      int truncated)
{
	struct opsbot_process_event ev = {0};
	char *copy;

	if (s->proc->finished)
		return;
	log_write(s->proc,
		  s->kind == OPSBOT_PROCESS_STDOUT ? "[out] " : "[err] ", line,
		  len);
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

/* EOF (or closed by force): the last partial line, then the pipe. */
static void stream_close(struct stream *s)
{
	if (!s->open)
		return;
	if (s->line.len)
		emit_line(s, s->line.data, s->line.len, 0);
	buf_reset(&s->line);
	s->open = 0;
	close_handle((uv_handle_t *)&s->pipe, on_pipe_closed);
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

/* ---- ending ---- */

static void kill_group(struct process_op *proc, int sig)
{
	/* The child leads its own group (setsid); its children may outlive
	 * it, so the group is signalled even after the leader exited. */
	if (kill(-(pid_t)proc->pid, sig) < 0 && !proc->exited)
		kill((pid_t)proc->pid, sig);
}

/*
 * Is any process of the group left?  Call only after libuv reaped the
 * leader (it must not lose that status to us): then the group's processes
 * that are our children are orphans re-parented to the host, and a zombie
 * still counts for kill(), so they are reaped first.
 */
static int group_alive(struct process_op *proc)
{
	while (waitpid(-(pid_t)proc->pid, NULL, WNOHANG) > 0)
		;
	return kill(-(pid_t)proc->pid, 0) == 0 || errno != ESRCH;
}

static void on_end_timer(uv_timer_t *timer);

/* Arms end_timer for the next deadline, or the next look at the group. */
static void schedule_end(struct process_op *proc)
{
	int64_t now = time_now_ms(), next;

	if (!proc->killed)
		next = proc->kill_at_ms;
	else if (!proc->given_up)
		next = proc->killed_ms + PIPE_CLOSE_MS;
	else
		return; /* only the leader's exit is awaited now */
	/* No event says that the group's last process is gone: look. */
	if (proc->exited && !proc->out.open && !proc->err.open &&
	    now + GROUP_POLL_MS < next)
		next = now + GROUP_POLL_MS;
	loop_timer_start(&proc->end_timer, on_end_timer,
			 (uint64_t)(next > now ? next - now : 0), 0);
}

/* The grace starts (once): SIGKILL to the group when it is over. */
static void begin_ending(struct process_op *proc)
{
	if (!proc->ending) {
		proc->ending = 1;
		proc->kill_at_ms = time_now_ms() + proc->grace_ms;
	}
	schedule_end(proc);
}

static void on_end_timer(uv_timer_t *timer)
{
	struct process_op *proc = timer->data;
	const char *log_name = plugin_log_name(proc->op.plugin);
	int64_t now = time_now_ms();

	if (!proc->killed && now >= proc->kill_at_ms) {
		if (proc->exited)
			warning(log_name,
				"process '%s' (pid %ld) exited, but its "
				"process group is still there after %ld ms; "
				"killing it",
				proc->op.name, proc->pid, proc->grace_ms);
		else
			warning(log_name,
				"process '%s' (pid %ld) still running %ld ms "
				"after it was asked to end; killing its "
				"process group",
				proc->op.name, proc->pid, proc->grace_ms);
		kill_group(proc, SIGKILL);
		proc->killed = 1;
		proc->killed_ms = now;
	} else if (proc->killed && !proc->given_up &&
		   now >= proc->killed_ms + PIPE_CLOSE_MS) {
		proc->given_up = 1;
		if (proc->out.open || proc->err.open)
			warning(log_name,
				"process '%s' (pid %ld): its output is still "
				"open after SIGKILL (a process outside its "
				"group holds it); closing it",
				proc->op.name, proc->pid);
		stream_close(&proc->out);
		stream_close(&proc->err);
	}
	maybe_finish(proc);
	if (!proc->finished)
		schedule_end(proc);
}

static void finish(struct process_op *proc)
{
	struct opsbot_process_event ev = {0};

	proc->finished = 1;
	list_del(&proc->all);
	uv_timer_stop(&proc->time_limit);
	uv_timer_stop(&proc->end_timer);
	log_close(proc);
	if (proc->in_open) {
		proc->in_open = 0;
		close_handle((uv_handle_t *)&proc->in, on_handle_closed);
	}
	ev.kind = OPSBOT_PROCESS_EXIT;
	ev.line = "";
	if (proc->op.cancel_requested)
		ev.status = proc->op.cancel_status;
	else if (proc->term_signal &&
		 !(proc->signals_sent & (1ULL << (proc->term_signal - 1))))
		ev.status = OPSBOT_ERR;
	else
		ev.status = OPSBOT_OK;
	ev.exit_code = proc->term_signal ? -1 : proc->exit_code;
	ev.term_signal = proc->term_signal;
	op_finish(&proc->op);
	deliver(proc, &ev);
	close_handle((uv_handle_t *)&proc->time_limit, on_handle_closed);
	close_handle((uv_handle_t *)&proc->end_timer, on_handle_closed);
	close_handle((uv_handle_t *)&proc->process, on_handle_closed);
}

/* Everything is over once the leader exited, both pipes closed and the
 * group is gone (or given up on after SIGKILL). */
static void maybe_finish(struct process_op *proc)
{
	if (proc->finished || !proc->exited || proc->out.open || proc->err.open)
		return;
	if (group_alive(proc)) {
		if (!proc->given_up) {
			begin_ending(proc);
			return;
		}
		warning(plugin_log_name(proc->op.plugin),
			"process '%s' (pid %ld): its process group is still "
			"there after SIGKILL; not waiting for it",
			proc->op.name, proc->pid);
	}
	finish(proc);
}

static void on_exit_status(uv_process_t *process, int64_t status, int sig)
{
	struct process_op *proc = process->data;

	proc->exited = 1;
	proc->exit_code = (int)status;
	proc->term_signal = sig;
	maybe_finish(proc);
	/* Output still open: the grace for the rest of the group starts. */
	if (!proc->finished)
		begin_ending(proc);
}

static void on_time_limit(uv_timer_t *timer)
{
	struct process_op *proc = timer->data;

	warning(plugin_log_name(proc->op.plugin),
		"process '%s' (pid %ld) ran out of time; ending it",
		proc->op.name, proc->pid);
	op_cancel(&proc->op, OPSBOT_ETIMEDOUT);
}

/* op_cancel(): the cancel signal to the group, and the grace starts.
 * The EXIT comes from the loop when the group is gone. */
static void process_cancel(struct op *op)
{
	struct process_op *proc = (struct process_op *)op;

	uv_timer_stop(&proc->time_limit);
	kill_group(proc, proc->cancel_signal);
	begin_ending(proc);
}

static long process_grace(const struct op *op);
static const struct op_kind process_kind = {"process", process_cancel,
					    process_grace};

/* The longest a cancel can take: the grace, then SIGKILL and the forced
 * close of the pipes. */
static long process_grace(const struct op *op)
{
	return ((const struct process_op *)op)->grace_ms + PIPE_CLOSE_MS;
}

/* ---- starting ---- */

static void on_stdin_written(uv_write_t *w, int status)
{
	struct process_op *proc = w->data;

	UNUSED(status);
	if (proc->in_open) {
		proc->in_open = 0;
		close_handle((uv_handle_t *)&proc->in, on_handle_closed);
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

/* Orphaned grandchildren come to the host (see the top). */
static void become_subreaper(void)
{
	static int done;

	if (done)
		return;
	done = 1;
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
		warning("process",
			"cannot become a child subreaper (%s): a child's "
			"orphaned processes go to init",
			strerror(errno));
}

int64_t process_start(struct opsbot_plugin *p,
		      const struct opsbot_process_options *opts,
		      opsbot_process_fn *fn, void *data)
{
	uv_process_options_t o = {0};
	uv_stdio_container_t stdio[6];
	int outp[2] = {-1, -1}, errp[2] = {-1, -1};
	struct process_op *proc;
	const char *log_path, *name;
	int cancel_signal, log_fd = -1;
	char **env, *prog = NULL, **kargv = NULL;
	char sigbuf[16], gracebuf[24];
	size_t i, n;
	int rc;

	if (!opts || !opts->argv || !opts->argv[0] || !fn)
		return OPSBOT_EINVAL;
	for (i = 0; opts->env && opts->env[i]; i++)
		if (!strchr(opts->env[i], '='))
			return OPSBOT_EINVAL;
	cancel_signal = OPTION(opts, cancel_signal);
	if (cancel_signal < 0 || cancel_signal >= NSIG) {
		warning(plugin_log_name(p),
			"process_start: cancel_signal %d is not a signal",
			cancel_signal);
		return OPSBOT_EINVAL;
	}
	if (!plugin_accepts_work(p))
		return OPSBOT_ECLOSING;
	log_path = OPTION(opts, log_path);
	if (log_path) {
		log_fd = open(
		    log_path,
		    O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0600);
		if (log_fd < 0) {
			warning(plugin_log_name(p),
				"cannot start '%s': cannot open its log %s: "
				"%s",
				opts->argv[0], log_path, strerror(errno));
			return OPSBOT_EINVAL;
		}
	}
	env = build_env(opts->env);
	if (keeper_path) {
		prog = find_program(opts->argv[0], env);
		if (!prog) {
			int e = errno;

			warning(plugin_log_name(p), "cannot start '%s': %s",
				opts->argv[0],
				e == EACCES ? "permission denied"
					    : "no such program");
			free_env(env);
			if (log_fd >= 0)
				close(log_fd);
			return e == EACCES ? OPSBOT_ERR : OPSBOT_ENOENT;
		}
	}
	/* The output pipes are made here, not by libuv, so that the keeper
	 * can hold their read ends too (see keeper.c). */
	if (pipe2(outp, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) {
		warning(plugin_log_name(p), "cannot start '%s': pipe: %s",
			opts->argv[0], strerror(errno));
		close_fds(outp, 2);
		free_env(env);
		free(prog);
		if (log_fd >= 0)
			close(log_fd);
		return OPSBOT_ERR;
	}
	become_subreaper();
	proc = xcalloc(1, sizeof(*proc));
	proc->fn = fn;
	proc->data = data;
	proc->grace_ms =
	    opts->kill_grace_ms > 0 ? opts->kill_grace_ms : DEFAULT_GRACE_MS;
	proc->cancel_signal = cancel_signal ? cancel_signal : SIGTERM;
	proc->log_fd = log_fd;
	proc->log_max = OPTION(opts, log_max_bytes);
	if (!proc->log_max)
		proc->log_max = DEFAULT_LOG_MAX_BYTES;
	proc->out.kind = OPSBOT_PROCESS_STDOUT;
	proc->err.kind = OPSBOT_PROCESS_STDERR;
	proc->out.proc = proc->err.proc = proc;

	uv_pipe_init(loop_get(), &proc->out.pipe, 0);
	uv_pipe_init(loop_get(), &proc->err.pipe, 0);
	uv_timer_init(loop_get(), &proc->time_limit);
	uv_timer_init(loop_get(), &proc->end_timer);
	proc->out.pipe.data = &proc->out;
	proc->err.pipe.data = &proc->err;
	proc->time_limit.data = proc;
	proc->end_timer.data = proc;
	proc->process.data = proc;
	if (opts->stdin_data) {
		uv_pipe_init(loop_get(), &proc->in, 0);
		proc->in.data = proc;
		stdio[0].flags = UV_CREATE_PIPE | UV_READABLE_PIPE;
		stdio[0].data.stream = (uv_stream_t *)&proc->in;
	} else {
		stdio[0].flags = UV_IGNORE;
	}
	stdio[1].flags = UV_INHERIT_FD;
	stdio[1].data.fd = outp[1];
	stdio[2].flags = UV_INHERIT_FD;
	stdio[2].data.fd = errp[1];

	o.file = opts->argv[0];
	o.args = (char **)opts->argv;
	o.stdio_count = 3;
	if (prog) {
		/* opsbot --process-keeper SIG GRACE_MS PATH -- ARGV */
		for (n = 0; opts->argv[n]; n++)
			;
		kargv = xcalloc(n + 7, sizeof(char *));
		snprintf(sigbuf, sizeof(sigbuf), "%d", proc->cancel_signal);
		snprintf(gracebuf, sizeof(gracebuf), "%ld", proc->grace_ms);
		kargv[0] = keeper_path;
		kargv[1] = (char *)KEEPER_ARG;
		kargv[2] = sigbuf;
		kargv[3] = gracebuf;
		kargv[4] = prog;
		kargv[5] = (char *)"--";
		for (i = 0; i < n; i++)
			kargv[6 + i] = (char *)opts->argv[i];
		o.file = keeper_path;
		o.args = kargv;
		stdio[3].flags = UV_INHERIT_FD;
		stdio[3].data.fd = lifeline[0];
		stdio[4].flags = UV_INHERIT_FD;
		stdio[4].data.fd = outp[0];
		stdio[5].flags = UV_INHERIT_FD;
		stdio[5].data.fd = errp[0];
		o.stdio_count = 6;
	}
	o.env = env;
	o.cwd = opts->cwd;
	o.flags = UV_PROCESS_DETACHED;
	o.stdio = stdio;
	o.exit_cb = on_exit_status;
	rc = uv_spawn(loop_get(), &proc->process, &o);
	free_env(env);
	free(kargv);
	free(prog);
	close(outp[1]);
	close(errp[1]);
	if (rc) {
		close(outp[0]);
		close(errp[0]);
	} else {
		uv_pipe_open(&proc->out.pipe, outp[0]);
		uv_pipe_open(&proc->err.pipe, errp[0]);
	}
	/* process, two timers, out, err (+ in) */
	proc->refs = 5 + (opts->stdin_data != NULL);
	if (rc) {
		warning(plugin_log_name(p), "cannot start '%s': %s",
			opts->argv[0], uv_strerror(rc));
		/* Nothing started: close what we made, no callback. */
		proc->finished = 1;
		log_close(proc);
		close_handle((uv_handle_t *)&proc->out.pipe, on_pipe_closed);
		close_handle((uv_handle_t *)&proc->err.pipe, on_pipe_closed);
		close_handle((uv_handle_t *)&proc->time_limit,
			     on_handle_closed);
		close_handle((uv_handle_t *)&proc->end_timer, on_handle_closed);
		close_handle((uv_handle_t *)&proc->process, on_handle_closed);
		if (opts->stdin_data)
			close_handle((uv_handle_t *)&proc->in,
				     on_handle_closed);
		return rc == UV_ENOENT ? OPSBOT_ENOENT : OPSBOT_ERR;
	}
	proc->pid = proc->process.pid;
	proc->out.open = proc->err.open = 1;
	uv_read_start((uv_stream_t *)&proc->out.pipe, stream_alloc, on_read);
	uv_read_start((uv_stream_t *)&proc->err.pipe, stream_alloc, on_read);
	if (opts->stdin_data) {
		uv_buf_t b;

		proc->in_open = 1;
		proc->in_data = xmalloc(opts->stdin_len + 1);
		memcpy(proc->in_data, opts->stdin_data, opts->stdin_len);
		b = uv_buf_init(proc->in_data, (unsigned)opts->stdin_len);
		proc->in_write.data = proc;
		uv_write(&proc->in_write, (uv_stream_t *)&proc->in, &b, 1,
			 on_stdin_written);
	}
	if (opts->timeout_ms > 0)
		loop_timer_start(&proc->time_limit, on_time_limit,
				 (uint64_t)opts->timeout_ms, 0);
	list_add_tail(&children, &proc->all);
	op_start(&proc->op, p, &process_kind);
	op_set_policy(&proc->op, OPTION(opts, unload_policy));
	name = OPTION(opts, name);
	proc->op.name = xstrdup(name ? name : opts->argv[0]);
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
		/* The loop closes next: no callback of this child will
		 * run, and a later host (tests) must not signal its
		 * group again. */
		list_del(&proc->all);
	}
}

int process_signal(struct opsbot_plugin *p, int64_t id, int sig)
{
	struct op *op = op_find(p, id);
	struct process_op *proc;

	if (!op || op->kind != &process_kind)
		return OPSBOT_ENOENT;
	if (sig <= 0 || sig >= NSIG) {
		warning(plugin_log_name(p),
			"process_signal: %d is not a signal", sig);
		return OPSBOT_EINVAL;
	}
	proc = (struct process_op *)op;
	/* It ended the child?  Then somebody sent it: not OPSBOT_ERR. */
	proc->signals_sent |= 1ULL << (sig - 1);
	kill_group(proc, sig);
	return OPSBOT_OK;
}

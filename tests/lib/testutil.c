/*
 * testutil.c - helpers shared by the host's tests.
 */
#include "testutil.h"
#include "loop.h"
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

char *test_make_dir(const char *name)
{
	const char *tmp = getenv("TMPDIR");
	char *dir =
	    xasprintf("%s/opsbot-%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", name);

	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		abort();
	}
	return dir;
}

static void remove_tree(const char *path)
{
	char *argv[] = {"rm", "-rf", (char *)path, NULL};
	pid_t pid;
	int status;

	/* Test code only: a plain fork/exec of rm on our own temp dir. */
	pid = fork();
	if (pid == 0) {
		execvp("rm", argv);
		_exit(127);
	}
	if (pid > 0)
		waitpid(pid, &status, 0);
}

void test_cleanup_dir(char *dir)
{
	if (!dir)
		return;
	if (!getenv("OPSBOT_KEEP_TEST_DIRS"))
		remove_tree(dir);
	free(dir);
}

const char *test_build_dir(void)
{
	const char *b = getenv("BUILD");

	return b && *b ? b : "build";
}

char *test_build_path(const char *rel)
{
	return xasprintf("%s/%s", test_build_dir(), rel);
}

static void on_deadline(uv_timer_t *t)
{
	*(int *)t->data = 1;
}

int test_run_until(const int *flag, long ms)
{
	uv_timer_t timer;
	int expired = 0;

	int64_t deadline = time_now_ms() + ms;

	uv_timer_init(loop_get(), &timer);
	timer.data = &expired;
	/* Counted from now (loop_timer_start), and repeating: libuv 1.44
	 * runs due timers before it polls, so a one-shot timer already due
	 * when uv_run() starts would leave the poll with no timeout at all
	 * while any other handle keeps the loop alive. */
	loop_timer_start(&timer, on_deadline, (uint64_t)ms,
			 (uint64_t)(ms > 0 ? ms : 1));
	while (!*flag && !expired && time_now_ms() < deadline)
		uv_run(loop_get(), UV_RUN_ONCE);
	uv_close((uv_handle_t *)&timer, NULL);
	uv_run(loop_get(), UV_RUN_NOWAIT);
	return *flag;
}

void test_run_for(long ms)
{
	int never = 0;

	test_run_until(&never, ms);
}

static struct test_sink *current;

static void sink_send(struct request *req, int private, int is_error,
		      const char *text, size_t len)
{
	if (!current)
		return;
	buf_addf(&current->out, "%s%s%.*s\n", private ? "[private] " : "",
		 is_error ? "[error] " : "", (int)len, text);
}

static void sink_finished(struct request *req, int status)
{
	if (!current)
		return;
	current->finished++;
	current->status = status;
}

const struct reply_sink test_reply_sink = {sink_send, sink_finished};

void test_sink_use(struct test_sink *s)
{
	current = s;
}

void test_source(struct command_source *src, enum opsbot_origin origin,
		 const char *nick, const char *host)
{
	memset(src, 0, sizeof(*src));
	src->origin = origin;
	src->nick = nick;
	src->user = "~user";
	src->host = host;
	src->channel = origin == OPSBOT_ORIGIN_CHANNEL ? "#test" : NULL;
	src->reply_to = origin == OPSBOT_ORIGIN_CHANNEL ? "#test" : nick;
	src->sink = &test_reply_sink;
	src->trusted = origin == OPSBOT_ORIGIN_CLI;
}

char *test_write_file(const char *dir, const char *name, const char *text)
{
	char *path = xasprintf("%s/%s", dir, name);
	FILE *f = fopen(path, "w");

	if (!f) {
		perror(path);
		abort();
	}
	fputs(text, f);
	fclose(f);
	return path;
}

int test_store_count(const char *sql)
{
	sqlite3_stmt *st;
	int n = -1;

	if (sqlite3_prepare_v2(store_db(), sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return n;
}

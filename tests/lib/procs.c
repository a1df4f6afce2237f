/*
 * procs.c - starting and stopping test processes by PID.
 */
#include "waitscale.h"
#include "procs.h"
#include "testutil.h"
#include "util.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

/* Servers started by scripts are re-parented to us, so we can reap
 * them instead of leaving zombies to PID 1. */
static void become_subreaper(void)
{
	prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
}

static char *read_file(const char *path)
{
	struct buf b = BUF_INIT;
	char chunk[4096];
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return xstrdup("");
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_add(&b, chunk, n);
	fclose(f);
	return buf_detach(&b);
}

static int run_capture(char *const *argv, char **out, char **err,
		       long timeout_ms)
{
	char out_path[] = "/tmp/opsbot-test-out-XXXXXX";
	char err_path[] = "/tmp/opsbot-test-err-XXXXXX";
	int out_fd = mkstemp(out_path), err_fd = mkstemp(err_path);
	int64_t deadline = time_now_ms() + timeout_ms;
	pid_t pid;
	int status = -1, rc = -1;

	pid = fork();
	if (pid == 0) {
		dup2(out_fd, 1);
		dup2(err_fd, 2);
		execvp(argv[0], argv);
		_exit(127);
	}
	while (pid > 0) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid) {
			rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
			break;
		}
		if (time_now_ms() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			break;
		}
		usleep(5000);
	}
	close(out_fd);
	close(err_fd);
	if (out)
		*out = read_file(out_path);
	if (err)
		*err = read_file(err_path);
	unlink(out_path);
	unlink(err_path);
	return rc;
}

int ngircd_start(struct ngircd *s, const char *dir, const char *extra)
{
	char *argv[6] = {"tests/servers/ngircd-start", (char *)dir, NULL};
	char *out = NULL, *err = NULL, *p;
	int rc;

	become_subreaper();
	if (extra)
		argv[2] = (char *)extra;
	memset(s, 0, sizeof(*s));
	s->dir = xstrdup(dir);
	rc = run_capture(argv, &out, &err, 30000);
	if (rc != 0) {
		fprintf(stderr, "ngircd-start failed (%d): %s\n", rc, err);
		free(out);
		free(err);
		return -1;
	}
	p = strstr(out, "\nPORT=");
	s->port = p ? (int)strtol(p + 6, NULL, 10) : 0;
	p = strstr(out, "\nPID=");
	s->pid = p ? (pid_t)strtol(p + 5, NULL, 10) : 0;
	free(out);
	free(err);
	return s->port && s->pid ? 0 : -1;
}

void ngircd_stop(struct ngircd *s)
{
	char *argv[] = {"tests/servers/ngircd-stop", s->dir, NULL};

	if (!s->dir)
		return;
	run_capture(argv, NULL, NULL, 15000);
	if (s->pid)
		waitpid(s->pid, NULL, WNOHANG);
	free(s->dir);
	s->dir = NULL;
}

/*
 * argv for running the bot: OPSBOT_BOT_WRAPPER (e.g. "valgrind -q ...")
 * split at spaces, then the binary, then args.  Returns the count.
 */
static int bot_argv(const char **argv, int max, char *bin, char **wrapper,
		    const char *const *args)
{
	const char *env = getenv("OPSBOT_BOT_WRAPPER");
	int n = 0, i;

	*wrapper = NULL;
	if (env && *env) {
		char *w = *wrapper = xstrdup(env), *p = w;

		while (*p && n < max - 20) {
			while (*p == ' ')
				*p++ = '\0';
			if (!*p)
				break;
			argv[n++] = p;
			while (*p && *p != ' ')
				p++;
		}
	}
	argv[n++] = bin;
	for (i = 0; args[i] && n < max - 1; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	return n;
}

int bot_start(struct bot *b, const char *log_path, const char *const *args)
{
	char *bin = test_build_path("opsbot"), *wrapper;
	const char *argv[64];
	int fd;

	memset(b, 0, sizeof(*b));
	b->log_path = xstrdup(log_path);
	bot_argv(argv, 64, bin, &wrapper, args);
	b->pid = fork();
	if (b->pid == 0) {
		fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
		dup2(fd, 1);
		dup2(fd, 2);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	free(bin);
	free(wrapper);
	return b->pid > 0 ? 0 : -1;
}

int bot_signal_and_wait(struct bot *b, int sig, long ms)
{
	int64_t deadline = time_now_ms() + ms;

	if (b->pid <= 0)
		return 0;
	kill(b->pid, sig);
	while (time_now_ms() < deadline) {
		if (waitpid(b->pid, &b->exit_status, WNOHANG) == b->pid) {
			b->pid = 0;
			return 0;
		}
		usleep(5000);
	}
	return -1;
}

void bot_stop(struct bot *b)
{
	if (b->pid > 0 && bot_signal_and_wait(b, SIGTERM, 5000) < 0)
		bot_signal_and_wait(b, SIGKILL, 5000);
	free(b->log_path);
	b->log_path = NULL;
}

int bot_log_contains(const struct bot *b, const char *text)
{
	char *log = read_file(b->log_path);
	int found = strstr(log, text) != NULL;

	free(log);
	return found;
}

int bot_wait_log(const struct bot *b, const char *text, long ms)
{
	int64_t deadline = time_now_ms() + test_wait_ms(ms);

	while (time_now_ms() < deadline) {
		if (bot_log_contains(b, text))
			return 1;
		usleep(20000);
	}
	return bot_log_contains(b, text);
}

int run_opsbot(const char *const *args, char **out, char **err)
{
	char *bin = test_build_path("opsbot"), *wrapper;
	const char *argv[64];
	int rc;

	bot_argv(argv, 64, bin, &wrapper, args);
	rc = run_capture((char *const *)argv, out, err, 60000);
	free(bin);
	free(wrapper);
	return rc;
}

char *script_run(const char *const *argv, long timeout_ms)
{
	char *out = NULL, *err = NULL;
	int rc;

	become_subreaper();
	rc = run_capture((char *const *)argv, &out, &err, timeout_ms);
	if (rc != 0) {
		fprintf(stderr, "%s failed (%d): %s\n", argv[0], rc,
			err ? err : "");
		free(out);
		free(err);
		return NULL;
	}
	free(err);
	return out;
}

int kv_get(const char *text, const char *key, char *out, size_t size)
{
	size_t n = strlen(key);
	const char *p = text;

	while (p && *p) {
		if (!strncmp(p, key, n) && p[n] == '=') {
			size_t len = strcspn(p + n + 1, "\n");

			if (len >= size)
				return -1;
			memcpy(out, p + n + 1, len);
			out[len] = '\0';
			return 0;
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return -1;
}

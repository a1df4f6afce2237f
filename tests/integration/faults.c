/*
 * faults.c - helpers of the fault-injection tests.  See faults.h.
 */
#include "faults.h"
#include "testutil.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

char *faults_dir(const char *name)
{
	char *dir = test_make_dir(name), *plugins, *target, *link;
	char abs_build[PATH_MAX];

	plugins = xasprintf("%s/plugins", dir);
	mkdir(plugins, 0700);
	if (!realpath(test_build_dir(), abs_build))
		snprintf(abs_build, sizeof(abs_build), "%s", test_build_dir());
	target = xasprintf("%s/test-plugins/probe.so", abs_build);
	link = xasprintf("%s/probe.so", plugins);
	if (symlink(target, link) < 0)
		perror("faults_dir: symlink");
	free(target);
	free(link);
	free(plugins);
	return dir;
}

char *faults_write_config(const char *dir, int port, const char *irc_extra)
{
	struct buf b = BUF_INIT;
	char *path;

	buf_addf(&b,
		 "[irc]\nserver = 127.0.0.1\nport = %d\nnick = opsbot\n"
		 "channels = #c\n%s"
		 "[bot]\nplugins = probe\nplugin_dir = plugins\n"
		 "state = state.db\n",
		 port, irc_extra ? irc_extra : "");
	path = test_write_file(dir, "opsbot.conf", b.data);
	buf_free(&b);
	return path;
}

/* fork + exec with the child killed when this process dies; output to
 * log_path (appended) unless NULL. */
static pid_t spawn(char *const *argv, const char *log_path)
{
	pid_t parent = getpid(), pid = fork();

	if (pid == 0) {
		int fd;

		prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
		if (getppid() != parent)
			_exit(127);
		if (log_path) {
			fd =
			    open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
			if (fd >= 0) {
				dup2(fd, 1);
				dup2(fd, 2);
				close(fd);
			}
		}
		execvp(argv[0], argv);
		_exit(127);
	}
	return pid;
}

int faults_bot_start(struct bot *b, const char *dir, const char *conf)
{
	char *bin = test_build_path("opsbot"), *wrapper = NULL;
	const char *env = getenv("OPSBOT_BOT_WRAPPER");
	const char *argv[40];
	int n = 0;

	memset(b, 0, sizeof(*b));
	b->log_path = xasprintf("%s/bot.log", dir);
	/* Under valgrind (tests/run VALGRIND=1) the wrapper comes first. */
	if (env && *env) {
		char *p = wrapper = xstrdup(env);

		while (*p && n < 30) {
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
	argv[n++] = "-c";
	argv[n++] = conf;
	argv[n++] = "-v";
	argv[n] = NULL;
	b->pid = spawn((char *const *)argv, b->log_path);
	free(bin);
	free(wrapper);
	return b->pid > 0 ? 0 : -1;
}

char *faults_read_file(const char *path, size_t *len)
{
	struct buf b = BUF_INIT;
	char chunk[65536];
	ssize_t n;
	int fd = open(path, O_RDONLY);

	if (fd >= 0) {
		while ((n = read(fd, chunk, sizeof(chunk))) > 0)
			buf_add(&b, chunk, (size_t)n);
		close(fd);
	}
	if (len)
		*len = b.len;
	return buf_detach(&b);
}

static int count_in(const char *data, size_t len, const char *text)
{
	size_t tl = strlen(text);
	const char *p = data, *end = data + len;
	int n = 0;

	while (p < end && (p = memmem(p, (size_t)(end - p), text, tl))) {
		n++;
		p += tl;
	}
	return n;
}

int faults_log_count(const struct bot *b, const char *text)
{
	size_t len;
	char *log = faults_read_file(b->log_path, &len);
	int n = count_in(log, len, text);

	free(log);
	return n;
}

int64_t faults_wait_log(const struct bot *b, const char *text, int n,
			long timeout_ms)
{
	int64_t deadline = time_now_ms() + timeout_ms;

	for (;;) {
		if (faults_log_count(b, text) >= n)
			return time_now_ms();
		if (time_now_ms() > deadline)
			return -1;
		usleep(10000);
	}
}

int faults_reconnect_delays(const struct bot *b, long *out, int max)
{
	static const char key[] = "; reconnecting in ";
	size_t len;
	char *log = faults_read_file(b->log_path, &len), *p = log;
	int n = 0;

	while ((p = memmem(p, len - (size_t)(p - log), key, sizeof(key) - 1))) {
		p += sizeof(key) - 1;
		if (n < max)
			out[n] = (long)(strtod(p, NULL) * 1000.0 + 0.5);
		n++;
	}
	free(log);
	return n < max ? n : max;
}

int fake_start(struct fake *f, const char *dir, const char *scenario,
	       const char *const *options)
{
	const char *argv[48];
	char *port_path, *text;
	int n = 0, i;
	int64_t deadline;

	memset(f, 0, sizeof(*f));
	f->dir = xasprintf("%s/fake-%s", dir, scenario);
	mkdir(f->dir, 0700);
	argv[n++] = "python3";
	argv[n++] = "tests/servers/fakeircd.py";
	argv[n++] = "--dir";
	argv[n++] = f->dir;
	argv[n++] = "--scenario";
	argv[n++] = scenario;
	for (i = 0; options && options[i] && n < 47; i++)
		argv[n++] = options[i];
	argv[n] = NULL;
	text = xasprintf("%s/fake.log", f->dir);
	f->pid = spawn((char *const *)argv, text);
	free(text);
	if (f->pid <= 0)
		return -1;
	port_path = xasprintf("%s/port", f->dir);
	deadline = time_now_ms() + 10000;
	while (!f->port && time_now_ms() < deadline) {
		text = faults_read_file(port_path, NULL);
		f->port = (int)strtol(text, NULL, 10);
		free(text);
		if (!f->port) {
			if (waitpid(f->pid, NULL, WNOHANG) == f->pid) {
				f->pid = 0;
				break;
			}
			usleep(10000);
		}
	}
	free(port_path);
	return f->port ? 0 : -1;
}

int fake_wait_done(const struct fake *f, long ms)
{
	char *done = xasprintf("%s/done", f->dir);
	int64_t deadline = time_now_ms() + ms;
	int ok;

	while (!(ok = access(done, F_OK) == 0) && time_now_ms() < deadline)
		usleep(10000);
	free(done);
	return ok;
}

char *fake_stop(struct fake *f)
{
	int64_t deadline = time_now_ms() + 10000;
	int status = 0, exited = 0;
	char *record;

	if (f->pid > 0) {
		kill(f->pid, SIGTERM);
		while (time_now_ms() < deadline) {
			if (waitpid(f->pid, &status, WNOHANG) == f->pid) {
				exited = 1;
				break;
			}
			usleep(10000);
		}
		if (!exited) {
			kill(f->pid, SIGKILL);
			waitpid(f->pid, &status, 0);
		}
		f->pid = 0;
	}
	record = xasprintf("%s/record.json", f->dir);
	free(f->dir);
	f->dir = NULL;
	if (!exited || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		free(record);
		return NULL;
	}
	return record;
}

/*
 * keeper.c - the small process that leads every child's process group, so
 * that no child outlives a host killed with SIGKILL.
 *
 * process_start() does not exec the plugin's program itself: it execs the
 * host's own binary as `opsbot --process-keeper SIG GRACE_MS PATH -- ARGV`,
 * in the child's new session, with the read end of the host's lifeline
 * pipe as fd 3.  The keeper forks the program (same group, every signal
 * disposition and the signal mask as the host left them, fd 3 closed) and
 * then only waits for one of two things:
 *
 *  - the program exits: the keeper exits the same way (its code, or the
 *    same signal), so the host sees the program's status as before;
 *  - the lifeline reads end-of-file: every write end (held only by the
 *    host, close-on-exec) is closed, so the host is gone, whatever killed
 *    it.  The keeper sends SIG (the child's cancel signal) to the group,
 *    gives the program GRACE_MS to clean up, then SIGKILLs the group, the
 *    keeper with it.
 *
 * The keeper ignores every signal the host sends to the group (the
 * program gets them) and keeps no copy of stdin, stdout or stderr (the
 * host still sees end-of-file when the program's group closes them).  It
 * holds the read ends of the program's output pipes (fds 4 and 5) without
 * reading them while the host lives; once the host is gone it reads and
 * drops what the program writes, so that the clean-up the program does on
 * SIG is not cut short by SIGPIPE (Go programs such as packer die of it
 * on their first write to a pipe without a reader).
 */
#include "keeper.h"
#include "config.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define LIFELINE_FD 3
#define OUT_FD 4 /* read ends of the program's stdout and stderr */
#define ERR_FD 5

/* A decimal in [min, max], or -1. */
static long parse_long(const char *s, long min, long max)
{
	long long v;

	if (config_parse_int(s, &v) < 0 || v < min || v > max)
		return -1;
	return (long)v;
}

/* Leaves the way the program left: its exit code, or its signal. */
static void mirror(int status)
{
	sigset_t none;

	if (WIFEXITED(status))
		_exit(WEXITSTATUS(status));
	if (WIFSIGNALED(status)) {
		int sig = WTERMSIG(status);

		signal(sig, SIG_DFL);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		raise(sig);
		_exit(128 + sig);
	}
	_exit(127);
}

int keeper_main(int argc, char **argv)
{
	long sig, grace_ms;
	sigset_t all, old;
	struct pollfd pfd[2];
	int pidfd, status, null_fd;
	pid_t pid;

	/* opsbot --process-keeper SIG GRACE_MS PATH -- ARGV0 [ARG...] */
	if (argc < 7 || strcmp(argv[5], "--") != 0 ||
	    (sig = parse_long(argv[2], 1, NSIG - 1)) < 0 ||
	    (grace_ms = parse_long(argv[3], 0, 86400000L)) < 0) {
		fprintf(stderr, "opsbot: --process-keeper is for the host's "
				"own use\n");
		return 2;
	}
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "opsbot: cannot start %s: %s\n", argv[4],
			strerror(errno));
		_exit(127);
	}
	if (pid == 0) {
		close(LIFELINE_FD);
		close(OUT_FD);
		close(ERR_FD);
		sigprocmask(SIG_SETMASK, &old, NULL);
		execv(argv[4], argv + 6);
		fprintf(stderr, "opsbot: cannot run %s: %s\n", argv[4],
			strerror(errno));
		_exit(127);
	}
	/* Signals for the group are the program's: ignore them (those
	 * blocked meanwhile are dropped), but not SIGCHLD, which would
	 * make the program's status unavailable. */
	for (int s = 1; s < NSIG; s++)
		if (s != SIGKILL && s != SIGSTOP && s != SIGCHLD)
			signal(s, SIG_IGN);
	sigprocmask(SIG_SETMASK, &old, NULL);
	null_fd = open("/dev/null", O_RDWR);
	if (null_fd >= 0) {
		dup2(null_fd, 0);
		dup2(null_fd, 1);
		dup2(null_fd, 2);
		if (null_fd > 2)
			close(null_fd);
	}

	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	pfd[0].fd = LIFELINE_FD;
	pfd[0].events = POLLIN;
	pfd[1].fd = pidfd;
	pfd[1].events = POLLIN;
	for (;;) {
		/* Without pidfds (Linux < 5.3), look every 100 ms. */
		int n = poll(pfd, pidfd >= 0 ? 2 : 1, pidfd >= 0 ? -1 : 100);
		char c;

		if (waitpid(pid, &status, WNOHANG) == pid)
			mirror(status);
		if (n < 0 && errno != EINTR)
			break;
		if (n > 0 && pfd[0].revents) {
			ssize_t r = read(LIFELINE_FD, &c, 1);

			if (r == 0 ||
			    (r < 0 && errno != EINTR && errno != EAGAIN))
				break; /* the host is gone */
		}
	}

	/* The host is gone: end the group as the host would have. */
	kill(0, (int)sig);
	{
		int64_t end = time_now_ms() + grace_ms;
		struct pollfd w[3] = {{OUT_FD, POLLIN, 0},
				      {ERR_FD, POLLIN, 0},
				      {pidfd, POLLIN, 0}};
		char drop[4096];

		for (;;) {
			int64_t left = end - time_now_ms();
			int i;

			if (waitpid(pid, &status, WNOHANG) == pid || left <= 0)
				break;
			if (pidfd < 0 && left > 100)
				left = 100;
			if (poll(w, pidfd >= 0 ? 3 : 2, (int)left) <= 0)
				continue;
			for (i = 0; i < 2; i++) {
				if (w[i].fd < 0 || !w[i].revents)
					continue;
				ssize_t r = read(w[i].fd, drop, sizeof(drop));

				if (r == 0 || (r < 0 && errno != EINTR &&
					       errno != EAGAIN))
					w[i].fd = -1; /* all writers gone */
			}
		}
	}
	kill(0, SIGKILL);
	_exit(137);
}

// clang-format off
// fuzz-sources: host
// fuzz-libs: -luv -lsqlite3 -linih -ldl -lm -lpthread
// fuzz-options: -max_len=20000
// clang-format on
/*
 * fuzz_irc_protocol.c - the whole protocol handler fed raw server bytes,
 * the way irssi's server-fuzz does it: a fresh session per input, with
 * what the bot would send collected instead of written to a socket.  The
 * first byte picks a configuration (plain, SASL PLAIN, NickServ) so the
 * login state machines are reached too.  Checked, with abort() on a miss:
 * every line the bot sends is at most 510 bytes and holds no CR, LF or
 * NUL, whatever the server said.
 */
#include "builtin.h"
#include "command.h"
#include "config.h"
#include "irc.h"
#include "log.h"
#include "loop.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct config *configs[3];

static void check_line(const char *line, size_t len)
{
	if (len > 510 || memchr(line, '\r', len) || memchr(line, '\n', len) ||
	    memchr(line, '\0', len))
		abort();
}

static void init_once(void)
{
	static int done;

	if (done)
		return;
	done = 1;
	log_set_level(LOG_ERROR);
	loop_init();
	command_init();
	builtin_init("fuzz");
	configs[0] = config_load_string(
	    "[irc]\nchannels = #a, #b key\nflood_control = false\n"
	    "alt_nicks = x1, x2\n",
	    "fuzz");
	configs[1] =
	    config_load_string("[irc]\nchannels = #a\nflood_control = false\n"
			       "sasl_mechanism = plain\nsasl_password = pw\n",
			       "fuzz");
	configs[2] =
	    config_load_string("[irc]\nchannels = #a\nnickserv_password = pw\n"
			       "identify_timeout = 1s\n",
			       "fuzz");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy;

	init_once();
	if (size < 1)
		return 0;
	irc_test_attach(configs[data[0] % 3], check_line);
	copy = malloc(size);
	if (!copy)
		return 0;
	memcpy(copy, data + 1, size - 1);
	irc_test_receive(copy, size - 1);
	free(copy);
	irc_fini();
	/* Let closed handles finish before the next session reuses them. */
	uv_run(loop_get(), UV_RUN_NOWAIT);
	return 0;
}

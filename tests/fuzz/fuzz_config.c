// clang-format off
// fuzz-sources: host
// fuzz-libs: -luv -lsqlite3 -linih -ldl -lm -lpthread
// fuzz-options: -max_len=8192
// clang-format on
/*
 * fuzz_config.c - the INI parser, the schema validation of every host
 * section, the grant parser and the SASL/TLS checks on arbitrary files.
 * Checked: no crash or leak, every error line names the file, and the
 * getters work on whatever parsed.
 */
#include "access.h"
#include "config.h"
#include "irc.h"
#include "log.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config *cfg;
	char *text, **items;
	int count;

	log_set_level(LOG_ERROR);
	text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	cfg = config_load_string(text, "fuzz.conf");
	config_validate_host(cfg);
	irc_validate_config(cfg);
	access_validate(cfg);
	if (cfg->error_count && strncmp(cfg->errors.data, "fuzz.conf", 9))
		abort();
	items =
	    config_get_list(cfg, "irc", config_irc_keys, "channels", &count);
	free(items);
	config_get_int(cfg, "irc", config_irc_keys, "port");
	config_get_duration_ms(cfg, "irc", config_irc_keys, "ping_timeout");
	access_configure(cfg);
	access_clear();
	config_free(cfg);
	free(text);
	return 0;
}

/* taken_word.c - asks for the built-in "ping" as an extra command word
 * (ABI 2.1): refused at load. */
#include "opsbot.h"

#include <stdlib.h>

static int init(struct opsbot_plugin *p, const struct opsbot_api *api)
{
	abort();
}

static const char *const words[] = {"pong", "ping", NULL};

OPSBOT_EXPORT const struct opsbot_plugin_descriptor opsbot_plugin = {
    .abi_major = OPSBOT_ABI_MAJOR,
    .abi_minor = OPSBOT_ABI_MINOR,
    .size = sizeof(struct opsbot_plugin_descriptor),
    .name = "taken_word",
    .version = "1",
    .description = "wants the built-in ping as an extra word",
    .init = init,
    .extra_words = words,
};

/* newer_minor.c - built for a newer minor than the host has: refused. */
#include "opsbot.h"

#include <stdlib.h>

static int init(struct opsbot_plugin *p, const struct opsbot_api *api)
{
	abort();
}

OPSBOT_EXPORT const struct opsbot_plugin_descriptor opsbot_plugin = {
    .abi_major = OPSBOT_ABI_MAJOR,
    .abi_minor = OPSBOT_ABI_MINOR + 1,
    .size = sizeof(struct opsbot_plugin_descriptor),
    .name = "newer_minor",
    .version = "1",
    .description = "newer ABI minor",
    .init = init,
};

/* newer_minor.c - built for a newer minor than the host has: refused. */
#include "opsbot.h"

#include <stdlib.h>

static int init(struct opsbot_plugin *p, const struct opsbot_api *api)
{
	abort();
}

OPSBOT_EXPORT const struct opsbot_plugin_descriptor opsbot_plugin = {
    OPSBOT_ABI_MAJOR,
    OPSBOT_ABI_MINOR + 1,
    "newer_minor",
    "1",
    "newer ABI minor",
    NULL,
    NULL,
    init,
    NULL,
};

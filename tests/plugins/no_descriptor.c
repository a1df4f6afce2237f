/* no_descriptor.c - a shared object that is not an opsbot plugin. */
#include "opsbot.h"

OPSBOT_EXPORT int not_a_plugin = 1;

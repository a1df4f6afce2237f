/*
 * api.h - the table plugins get (host_api in plugin.h) and the mode the
 * host runs in, which api->mode() reports.
 */
#ifndef API_H
#define API_H

/* OPSBOT_MODE_DAEMON (the default), OPSBOT_MODE_CLI or _CHECK. */
void api_set_mode(int mode);

#endif /* API_H */

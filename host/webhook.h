/*
 * webhook.h - the host's small HTTP listener for webhooks ([http] listen):
 * plugins route exact paths to handlers (api->webhook_add).
 */
#ifndef WEBHOOK_H
#define WEBHOOK_H

#include "opsbot.h"

struct config;

/* Checks [http] listen's form; errors go into cfg. */
void webhook_validate_config(struct config *cfg);
/* Starts or stops listening per [http]; returns 0 or -1 (logged). */
int webhook_configure(const struct config *cfg);
void webhook_stop(void);
/* The port actually bound (tests listen on port 0). */
int webhook_port(void);

int webhook_add(struct opsbot_plugin *p, const char *method, const char *path,
		opsbot_webhook_fn *fn, void *data);
void webhook_remove_plugin(struct opsbot_plugin *p);
void webhook_respond(const struct opsbot_webhook *hook,
		     const char *content_type, const char *body,
		     size_t body_len);
const char *webhook_header(const struct opsbot_webhook *hook, const char *name);

#endif /* WEBHOOK_H */

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
/* Complete requests waiting for their turn in the listener (tests). */
size_t webhook_waiting(void);

/* Registers the routes' sweep with the plugin core (start-up). */
void webhook_init(void);
int webhook_add(struct opsbot_plugin *p,
		const struct opsbot_webhook_route *route);
/* Constant-time checks; OPSBOT_OK or OPSBOT_EPERM (see opsbot.h). */
int webhook_verify_token(const struct opsbot_webhook *hook, const char *header,
			 const char *query, const char *expected);
int webhook_verify_hmac(const struct opsbot_webhook *hook, const char *header,
			const char *prefix, const char *secret);
void webhook_respond(const struct opsbot_webhook *hook,
		     const char *content_type, const char *body,
		     size_t body_len);
int webhook_respond_header(const struct opsbot_webhook *hook, const char *name,
			   const char *value);
const char *webhook_header(const struct opsbot_webhook *hook, const char *name);

#endif /* WEBHOOK_H */

/*
 * mailgun.c - Mailgun's send API (POST /v3/{domain}/messages, basic auth
 * api:KEY, urlencoded form), US or EU region.  Mailgun has no idempotency
 * key: a mail whose answer was lost is reported as unknown, never resent
 * here.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "registrar.h"

struct reg_mail_op {
	reg_mail_fn *fn;
	void *data;
};

void reg_mailgun_form(const struct reg *reg, const struct reg_mail *mail,
		      struct sdk_buf *b)
{
	sdk_form_add(b, reg->api, "from", reg->mail_from);
	sdk_form_add(b, reg->api, "to", mail->to);
	if (reg->mail_cc && *reg->mail_cc)
		sdk_form_add(b, reg->api, "cc", reg->mail_cc);
	if (reg->mail_reply_to && *reg->mail_reply_to)
		sdk_form_add(b, reg->api, "h:Reply-To", reg->mail_reply_to);
	sdk_form_add(b, reg->api, "subject", mail->subject);
	sdk_form_add(b, reg->api, "text", mail->text);
	if (mail->html && *mail->html)
		sdk_form_add(b, reg->api, "html", mail->html);
	/* Mailgun allows three tags per message; we use two. */
	sdk_form_add(b, reg->api, "o:tag", "registrar");
	sdk_form_add(b, reg->api, "o:tag", mail->role);
	if (mail->marker)
		sdk_form_add(b, reg->api, "v:registrar-ref", mail->marker);
}

/*
 * Mailgun's answers (api-contracts 3.3): 401 a wrong key, 403 a domain not
 * allowed to send, 404 an unknown domain (or the wrong region), 400 a
 * missing or invalid parameter, named in the message.  Only an invalid
 * "to" is the registrant's; from, cc, h:Reply-To, subject and the text
 * come from the configuration and would fail for everyone.
 */
enum reg_failure reg_mailgun_failure(const struct reg_result *res,
				     const char **hint)
{
	const char *cause = res->cause ? res->cause : "";

	*hint = "";
	if (res->transient) {
		if ((res->code == 429 || res->code == 420) &&
		    !strstr(cause, "later sync"))
			*hint = "; rate limited, retried at the next sync";
		else if (!strstr(cause, "later sync"))
			*hint = "; retried at the next sync";
		return REG_FAIL_PASSING;
	}
	switch (res->code) {
	case 401:
		*hint = "; check [plugin.registrar] mailgun_key";
		return REG_FAIL_CONFIG;
	case 403:
		*hint = "; check the domain's sending rights in mailgun";
		return REG_FAIL_CONFIG;
	case 404:
		*hint = "; check mailgun_domain and mailgun_region";
		return REG_FAIL_CONFIG;
	case 400:
		if (strstr(cause, "to parameter")) {
			*hint = "; check the registrant's address, then !reg "
				"retry";
			return REG_FAIL_ROW;
		}
		if (strstr(cause, "from") || strstr(cause, "cc ") ||
		    strstr(cause, "Reply-To")) {
			*hint = "; check mail_from, mail_cc and mail_reply_to";
			return REG_FAIL_CONFIG;
		}
		if (strstr(cause, "subject") || strstr(cause, "'text'")) {
			*hint = "; check the mail templates";
			return REG_FAIL_CONFIG;
		}
		return REG_FAIL_ROW;
	default:
		return REG_FAIL_ROW;
	}
}

static void reg_mail_done(struct reg *reg, const struct reg_result *res,
			  void *data)
{
	struct reg_mail_op *op = data;
	json_t *root = NULL;
	const char *id = NULL;
	char *error = NULL;
	enum reg_outcome outcome = res->outcome;
	enum reg_failure why = REG_FAIL_PASSING;

	if (outcome == REG_CANCELLED) {
		error = sdk_xstrdup("cancelled");
	} else if (outcome == REG_SKIPPED) {
		error = sdk_xasprintf("mailgun: %s", res->cause);
	} else if (outcome == REG_UNKNOWN) {
		error = sdk_xasprintf("mailgun: %s after sending; the mail may "
				      "have gone out: check the mailgun log, "
				      "then !reg resend or !reg set",
				      res->cause);
	} else if (outcome != REG_OK) {
		const char *hint;

		why = reg_mailgun_failure(res, &hint);
		error = sdk_xasprintf("mailgun: %s%s", res->cause, hint);
	} else {
		/* Accepted.  An unreadable body still means queued. */
		root = json_loads(res->body, 0, NULL);
		id = sdk_json_string(root, "id", NULL);
		if (!id)
			id = "(accepted, no id)";
	}
	op->fn(reg, outcome, why, id, error, op->data);
	json_decref(root);
	free(error);
	free(op);
}

void reg_mailgun_send(struct reg *reg, const struct reg_mail *mail,
		      reg_mail_fn *fn, void *data)
{
	struct reg_mail_op *op = sdk_xcalloc(1, sizeof(*op));
	struct sdk_buf body = SDK_BUF_INIT, url = SDK_BUF_INIT;
	static const char *const headers[] = {
	    "Content-Type: application/x-www-form-urlencoded", NULL};
	struct sdk_http_call spec = {
	    .service = REG_SVC_MAILGUN,
	    .method = "POST",
	    .headers = headers,
	    .username = "api",
	    .password = reg->mailgun_key,
	    /* no SDK_HTTP_5XX_UNKNOWN: Mailgun's 5xx means not sent */
	    .on_send = mail->on_send,
	    .send_data = mail->send_data,
	};

	op->fn = fn;
	op->data = data;
	reg_mailgun_form(reg, mail, &body);
	sdk_buf_addf(&url, "%s/", reg->mailgun_base);
	sdk_url_encode(&url, reg->api,
		       reg->mailgun_domain ? reg->mailgun_domain : "");
	sdk_buf_adds(&url, "/messages");
	spec.url = sdk_buf_str(&url);
	spec.body = body.buf;
	spec.body_len = body.len;
	reg_call(reg, &spec, reg_mail_done, op);
	sdk_buf_release(&body);
	sdk_buf_release(&url);
}

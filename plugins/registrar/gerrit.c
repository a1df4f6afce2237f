/*
 * gerrit.c - the guide's steps that Gerrit can tell: an account with the
 * registrant's e-mail address (/accounts/?q=email:...), a change they own
 * (/changes/?q=owner:N), a merged one (owner:N+status:merged).  Polled
 * gently: one round every gerrit_poll_interval, one request in flight at
 * a time, through the SDK's call queue (its rate limit, Retry-After and
 * backoff on 429, 5xx and network failures).  A 401 or 403 ends the round
 * with one log line naming the keys to fix; an outage ends it after the
 * queue's retries, and the next round starts over.
 *
 * Gerrit's JSON starts with ")]}'" (against cross-site script
 * inclusion); it is removed before parsing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sqlite3.h>

#include "registrar.h"

/* One registrant to check in a round. */
struct reg_gerrit_item {
	int64_t id;
	char *email;
	long long account; /* 0: not known yet */
	int need_account, need_uploaded, need_merged;
};

struct reg_gerrit_round {
	struct reg *reg;
	struct reg_gerrit_item *items;
	int n, next;
	int stage; /* of items[next]: 0 account, 1 uploaded, 2 merged */
	int checked, changed;
};

int reg_gerrit_setup(struct reg *reg, struct sdk_buf *err)
{
	const struct opsbot_api *api = reg->api;
	const char *url = api->config_string(reg->self, NULL, "gerrit_url");

	reg->gerrit_url = url && *url ? url : NULL;
	reg->gerrit_user =
	    api->config_string(reg->self, NULL, "gerrit_username");
	if (reg->gerrit_user && !*reg->gerrit_user)
		reg->gerrit_user = NULL;
	reg->gerrit_password =
	    api->config_secret(reg->self, NULL, "gerrit_password");
	reg->gerrit_interval_ms =
	    api->config_duration_ms(reg->self, NULL, "gerrit_poll_interval");
	if (reg->gerrit_url &&
	    ((strncmp(reg->gerrit_url, "https://", 8) != 0 &&
	      strncmp(reg->gerrit_url, "http://", 7) != 0) ||
	     reg->gerrit_url[strlen(reg->gerrit_url) - 1] == '/')) {
		sdk_buf_addf(err,
			     "[plugin.registrar] gerrit_url: \"%s\" is not an "
			     "http(s) base URL without a trailing slash",
			     reg->gerrit_url);
		return -1;
	}
	if (reg->gerrit_user && !reg->gerrit_password) {
		sdk_buf_adds(err, "[plugin.registrar] gerrit_password: "
				  "gerrit_username needs it (an HTTP "
				  "password from Gerrit's settings)");
		return -1;
	}
	return 0;
}

/* The JSON of a Gerrit answer, without its ")]}'" line; NULL if none. */
json_t *reg_gerrit_json(const char *body)
{
	json_error_t jerr;

	if (strncmp(body, ")]}'", 4) == 0)
		body += 4;
	return json_loads(body, JSON_DECODE_ANY, &jerr);
}

static void reg_gerrit_round_free(struct reg_gerrit_round *round)
{
	for (int i = 0; i < round->n; i++)
		free(round->items[i].email);
	free(round->items);
	free(round);
}

static void reg_gerrit_next(struct reg_gerrit_round *round);

static void reg_gerrit_end(struct reg_gerrit_round *round, const char *why)
{
	struct reg *reg = round->reg;

	if (why)
		reg->api->log(reg->self, OPSBOT_LOG_WARN,
			      "gerrit: round ended after %d of %d "
			      "registrant(s): %s",
			      round->next, round->n, why);
	else
		reg->api->log(reg->self, OPSBOT_LOG_DEBUG,
			      "gerrit: %d registrant(s) checked, %d step(s) "
			      "done",
			      round->n, round->changed);
	reg->gerrit_round = NULL;
	reg_gerrit_round_free(round);
}

static void reg_gerrit_done_step(struct reg_gerrit_round *round, int64_t id,
				 int verify, const char *detail)
{
	struct reg *reg = round->reg;

	for (int i = 0; i < reg->nsteps; i++) {
		if (reg->steps[i].verify != verify)
			continue;
		if (reg_guide_mark(reg, id, reg->steps[i].id, "gerrit",
				   detail) > 0)
			round->changed++;
	}
	if (verify == REG_VERIFY_GERRIT_MERGED)
		reg_guide_milestone(reg, id, detail);
}

static void reg_gerrit_save_account(struct reg *reg, int64_t id,
				    long long account)
{
	sqlite3_stmt *st;

	if (sqlite3_prepare_v2(reg->api->store(reg->self),
			       "INSERT INTO registrar_guide_gerrit (registrant,"
			       " account_id) VALUES (?, ?) ON CONFLICT"
			       " (registrant) DO UPDATE SET account_id ="
			       " excluded.account_id",
			       -1, &st, NULL) != SQLITE_OK)
		return;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, account);
	sqlite3_step(st);
	sqlite3_finalize(st);
}

static void reg_gerrit_answer(struct reg *reg, const struct reg_result *res,
			      void *data)
{
	struct reg_gerrit_round *round = data;
	struct reg_gerrit_item *it = &round->items[round->next];
	json_t *j, *first;

	if (res->outcome == REG_CANCELLED) {
		reg->gerrit_round = NULL;
		reg_gerrit_round_free(round);
		return;
	}
	if (res->code == 401 || res->code == 403) {
		char why[160];

		snprintf(why, sizeof(why),
			 "%ld %s; check gerrit_username and gerrit_password",
			 res->code,
			 res->code == 401 ? "unauthorized" : "forbidden");
		reg_gerrit_end(round, why);
		return;
	}
	/* a 404 is "nothing there" (an account query Gerrit does not
	   allow anonymously answers so too) */
	if (res->outcome != REG_OK && res->code != 404) {
		reg_gerrit_end(round, res->cause ? res->cause : "failed");
		return;
	}
	j = res->code == 404 ? NULL : reg_gerrit_json(res->body);
	if (res->code != 404 && !json_is_array(j)) {
		json_decref(j);
		reg_gerrit_end(round, "unexpected answer (no JSON list)");
		return;
	}
	first = j ? json_array_get(j, 0) : NULL;
	if (round->stage == 0) {
		json_t *acc =
		    first ? json_object_get(first, "_account_id") : NULL;

		if (json_is_integer(acc)) {
			it->account = json_integer_value(acc);
			reg_gerrit_save_account(reg, it->id, it->account);
			if (it->need_account)
				reg_gerrit_done_step(round, it->id,
						     REG_VERIFY_GERRIT_ACCOUNT,
						     NULL);
		}
	} else if (first) {
		const char *project =
		    json_string_value(json_object_get(first, "project"));
		char *clean = project ? reg_clean_line(project, 100) : NULL;

		reg_gerrit_done_step(round, it->id,
				     round->stage == 1
					 ? REG_VERIFY_GERRIT_UPLOADED
					 : REG_VERIFY_GERRIT_MERGED,
				     clean);
		free(clean);
	}
	json_decref(j);
	if (round->stage == 0 && !it->account)
		round->stage = 3; /* no account: nothing more to ask */
	round->stage++;
	reg_gerrit_next(round);
}

/* The next request of the round, or its end. */
static void reg_gerrit_next(struct reg_gerrit_round *round)
{
	struct reg *reg = round->reg;
	struct sdk_buf url = SDK_BUF_INIT;
	struct sdk_http_call call;
	const char *const headers[] = {"Accept: application/json", NULL};

	for (;;) {
		struct reg_gerrit_item *it;

		if (round->next >= round->n) {
			reg_gerrit_end(round, NULL);
			return;
		}
		it = &round->items[round->next];
		if (round->stage == 0 && it->account)
			round->stage = 1;
		if (round->stage == 1 && !it->need_uploaded)
			round->stage = 2;
		if (round->stage == 2 && !it->need_merged)
			round->stage = 3;
		if (round->stage < 3)
			break;
		round->next++;
		round->stage = 0;
	}
	{
		struct reg_gerrit_item *it = &round->items[round->next];
		char q[64];

		sdk_buf_addf(&url, "%s%s", reg->gerrit_url,
			     reg->gerrit_user ? "/a" : "");
		if (round->stage == 0) {
			sdk_buf_adds(&url, "/accounts/?q=");
			sdk_url_encode(&url, reg->api, "email:");
			sdk_url_encode(&url, reg->api, it->email);
			sdk_buf_adds(&url, "&n=1");
		} else {
			snprintf(q, sizeof(q), "owner:%lld%s", it->account,
				 round->stage == 2 ? " status:merged" : "");
			sdk_buf_adds(&url, "/changes/?q=");
			sdk_url_encode(&url, reg->api, q);
			sdk_buf_adds(&url, "&n=1");
		}
	}
	memset(&call, 0, sizeof(call));
	call.service = REG_SVC_GERRIT;
	call.url = sdk_buf_str(&url);
	call.headers = headers;
	call.username = reg->gerrit_user;
	call.password = reg->gerrit_user ? reg->gerrit_password : NULL;
	call.flags = SDK_HTTP_IDEMPOTENT;
	reg_call(reg, &call, reg_gerrit_answer, round);
	sdk_buf_release(&url);
}

/* Starts a round over every student with a Gerrit step left. */
int reg_gerrit_poll(struct reg *reg)
{
	struct reg_gerrit_round *round;
	sqlite3_stmt *st;
	int rc, cap = 0;

	if (!reg->gerrit_url || reg->gerrit_round || reg->closing)
		return 1;
	if (sqlite3_prepare_v2(
		reg->api->store(reg->self),
		"SELECT r.id, r.email, g.account_id,"
		" (SELECT group_concat(step, char(31)) FROM"
		"  registrar_guide_step s WHERE s.registrant = r.id)"
		" FROM registrar_registrant r LEFT JOIN registrar_guide_gerrit"
		" g ON g.registrant = r.id WHERE r.role = 'student' AND"
		" r.status != 'withdrawn' ORDER BY r.id",
		-1, &st, NULL) != SQLITE_OK)
		return -1;
	round = sdk_xcalloc(1, sizeof(*round));
	round->reg = reg;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *done = (const char *)sqlite3_column_text(st, 3);
		struct reg_gerrit_item it;

		memset(&it, 0, sizeof(it));
		it.id = sqlite3_column_int64(st, 0);
		it.account = sqlite3_column_int64(st, 2);
		for (int i = 0; i < reg->nsteps; i++) {
			const struct reg_guide_step *s = &reg->steps[i];
			int is_done = 0;

			for (const char *p = done; p && *p;) {
				size_t l = strcspn(p, "\x1f");

				if (l == strlen(s->id) &&
				    strncmp(p, s->id, l) == 0)
					is_done = 1;
				p += l;
				if (*p)
					p++;
			}
			if (is_done)
				continue;
			if (s->verify == REG_VERIFY_GERRIT_ACCOUNT)
				it.need_account = 1;
			else if (s->verify == REG_VERIFY_GERRIT_UPLOADED)
				it.need_uploaded = 1;
			else if (s->verify == REG_VERIFY_GERRIT_MERGED)
				it.need_merged = 1;
		}
		if (!it.need_account && !it.need_uploaded && !it.need_merged)
			continue;
		if (round->n == cap) {
			cap = cap ? cap * 2 : 32;
			round->items = sdk_xrealloc(
			    round->items, (size_t)cap * sizeof(*round->items));
		}
		it.email =
		    sdk_xstrdup((const char *)sqlite3_column_text(st, 1));
		round->items[round->n++] = it;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE || !round->n) {
		reg_gerrit_round_free(round);
		return rc == SQLITE_DONE ? 0 : -1;
	}
	reg->gerrit_round = round;
	reg_gerrit_next(round);
	return 0;
}

static long reg_gerrit_tick(struct opsbot_plugin *self, int status, void *data)
{
	struct reg *reg = data;

	(void)self;
	if (status != OPSBOT_OK || reg->closing)
		return OPSBOT_TIMER_STOP;
	if (reg_gerrit_poll(reg) < 0)
		reg->api->log(reg->self, OPSBOT_LOG_WARN,
			      "gerrit: cannot read the ledger for a round");
	return (long)reg->gerrit_interval_ms;
}

void reg_gerrit_start(struct reg *reg)
{
	if (!reg->gerrit_url || reg->gerrit_interval_ms <= 0)
		return;
	/* the first round soon after start, then every interval */
	reg->api->timer_start(reg->self,
			      (long)(reg->gerrit_interval_ms < 5000
					 ? reg->gerrit_interval_ms
					 : 5000),
			      reg_gerrit_tick, reg);
}

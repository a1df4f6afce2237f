/*
 * trello.c - Trello REST: find the target list on the board, list its
 * cards (to find a card carrying our marker before creating it again), and
 * create a card.  key and token travel in the query string, as Trello
 * documents, so URLs here are never logged.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "registrar.h"

#define REG_TRELLO_MAX_DESC 16384

struct reg_trello_op {
	char *list_id;
	reg_trello_list_fn *list_fn;
	reg_trello_cards_fn *cards_fn;
	reg_trello_card_fn *card_fn;
	void *data;
};

void reg_trello_card_free(struct reg_trello_card *c)
{
	free(c->id);
	free(c->url);
	free(c->marker);
	memset(c, 0, sizeof(*c));
}

char *reg_trello_marker_in(const char *desc)
{
	const char *p = desc ? strstr(desc, REG_MARKER_PREFIX) : NULL;
	size_t n;

	if (!p)
		return NULL;
	p += strlen(REG_MARKER_PREFIX);
	n = strcspn(p, " \r\n");
	return n ? sdk_xstrndup(p, n) : NULL;
}

/* base URL + path + ?key=&token= (+ extra query) */
static char *reg_trello_url(const struct reg *reg, const char *path,
			    const char *query)
{
	struct sdk_buf b = SDK_BUF_INIT;

	sdk_buf_addf(&b, "%s%s?key=", reg->trello_url, path);
	sdk_url_encode(&b, reg->api, reg->trello_key ? reg->trello_key : "");
	sdk_buf_adds(&b, "&token=");
	sdk_url_encode(&b, reg->api,
		       reg->trello_token ? reg->trello_token : "");
	if (query)
		sdk_buf_addf(&b, "&%s", query);
	return sdk_buf_detach(&b);
}

static char *reg_trello_cause(const char *what, const struct reg_result *res)
{
	const char *hint = "";

	if (res->code == 401)
		hint = "; check [plugin.registrar] trello_key and trello_token";
	else if (res->transient && strstr(res->cause, "later sync"))
		hint = "";
	else if (res->code == 429)
		hint = "; rate limited, retried at the next sync";
	else if (res->transient)
		hint = "; retried at the next sync";
	return sdk_xasprintf("trello: %s: %s%s", what, res->cause, hint);
}

static void reg_trello_get(struct reg *reg, const char *path, const char *query,
			   reg_call_fn *fn, void *data)
{
	char *url = reg_trello_url(reg, path, query);
	struct sdk_http_call spec = {
	    .service = REG_SVC_TRELLO,
	    .url = url,
	    .flags = SDK_HTTP_IDEMPOTENT,
	    .max_response_bytes = 64u << 20,
	};

	reg_call(reg, &spec, fn, data);
	free(url);
}

/* ------------------------------------------------------------------------ */

static void reg_lists_done(struct reg *reg, const struct reg_result *res,
			   void *data)
{
	struct reg_trello_op *op = data;
	json_t *root = NULL, *item;
	const char *found = NULL;
	char *error = NULL;
	size_t i;

	if (res->outcome == REG_CANCELLED) {
		error = sdk_xstrdup("cancelled");
	} else if (res->outcome != REG_OK) {
		error = reg_trello_cause("board lists", res);
		if (res->code == 400 || res->code == 404) {
			free(error);
			error = sdk_xasprintf(
			    "trello: board \"%s\" not found (%s); check "
			    "[plugin.registrar] trello_board",
			    reg->trello_board, res->cause);
		}
	} else {
		root = json_loads(res->body, 0, NULL);
		if (!json_is_array(root))
			error = sdk_xstrdup("trello: board lists: the answer "
					    "is not a json list");
		json_array_foreach(root, i, item)
		{
			const char *name = sdk_json_string(item, "name", NULL);

			if (name && strcmp(name, reg->trello_list) == 0) {
				found = sdk_json_string(item, "id", NULL);
				break;
			}
		}
		if (!error && !found)
			error = sdk_xasprintf(
			    "trello: list \"%s\" not found on board %s; "
			    "create it or set [plugin.registrar] trello_list",
			    reg->trello_list, reg->trello_board);
	}
	op->list_fn(reg, error ? NULL : found, error, op->data);
	json_decref(root);
	free(error);
	free(op);
}

void reg_trello_find_list(struct reg *reg, reg_trello_list_fn *fn, void *data)
{
	struct reg_trello_op *op = sdk_xcalloc(1, sizeof(*op));
	struct sdk_buf path = SDK_BUF_INIT;

	op->list_fn = fn;
	op->data = data;
	sdk_buf_adds(&path, "/boards/");
	sdk_url_encode(&path, reg->api,
		       reg->trello_board ? reg->trello_board : "");
	sdk_buf_adds(&path, "/lists");
	reg_trello_get(reg, sdk_buf_str(&path), "filter=open&fields=name",
		       reg_lists_done, op);
	sdk_buf_release(&path);
}

/* ------------------------------------------------------------------------ */

static void reg_cards_done(struct reg *reg, const struct reg_result *res,
			   void *data)
{
	struct reg_trello_op *op = data;
	struct reg_trello_card *cards = NULL;
	json_t *root = NULL, *item;
	char *error = NULL;
	size_t i, n = 0;

	if (res->outcome == REG_CANCELLED) {
		error = sdk_xstrdup("cancelled");
	} else if (res->outcome != REG_OK) {
		error = reg_trello_cause("list cards", res);
	} else {
		root = json_loads(res->body, 0, NULL);
		if (!json_is_array(root)) {
			error = sdk_xstrdup("trello: list cards: the answer is "
					    "not a json list");
		} else {
			cards = sdk_xcalloc(json_array_size(root) + 1,
					    sizeof(*cards));
			json_array_foreach(root, i, item)
			{
				const char *id =
				    sdk_json_string(item, "id", NULL);
				const char *url =
				    sdk_json_string(item, "shortUrl", "");
				const char *desc =
				    sdk_json_string(item, "desc", NULL);

				if (!id)
					continue;
				cards[n].id = sdk_xstrdup(id);
				cards[n].url = sdk_xstrdup(url);
				cards[n].marker = reg_trello_marker_in(desc);
				n++;
			}
		}
	}
	op->cards_fn(reg, cards, (int)n, error, op->data);
	for (i = 0; i < n; i++)
		reg_trello_card_free(&cards[i]);
	free(cards);
	json_decref(root);
	free(error);
	free(op);
}

void reg_trello_list_cards(struct reg *reg, const char *list_id,
			   reg_trello_cards_fn *fn, void *data)
{
	struct reg_trello_op *op = sdk_xcalloc(1, sizeof(*op));
	struct sdk_buf path = SDK_BUF_INIT;

	op->cards_fn = fn;
	op->data = data;
	sdk_buf_adds(&path, "/lists/");
	sdk_url_encode(&path, reg->api, list_id);
	sdk_buf_adds(&path, "/cards");
	reg_trello_get(reg, sdk_buf_str(&path), "fields=name,desc,shortUrl",
		       reg_cards_done, op);
	sdk_buf_release(&path);
}

/* ------------------------------------------------------------------------ */

/*
 * Trello's refusals of a card POST (api-contracts 2.3): 401 a wrong key
 * or token, 400 "invalid value for idList" a list that is gone, 404 a
 * missing model: the configuration's, the same for every card.  Other
 * 4xx (a field Trello refuses) are the registrant's.
 */
enum reg_failure reg_trello_failure(const struct reg_result *res)
{
	if (res->transient)
		return REG_FAIL_PASSING;
	if (res->code == 401 || res->code == 403 || res->code == 404 ||
	    (res->code == 400 && res->cause && strstr(res->cause, "idList")))
		return REG_FAIL_CONFIG;
	return REG_FAIL_ROW;
}

static void reg_card_done(struct reg *reg, const struct reg_result *res,
			  void *data)
{
	struct reg_trello_op *op = data;
	struct reg_trello_card card = {NULL, NULL, NULL};
	json_t *root = NULL;
	char *error = NULL;
	enum reg_outcome outcome = res->outcome;

	if (outcome == REG_CANCELLED) {
		error = sdk_xstrdup("cancelled");
	} else if (outcome == REG_UNKNOWN) {
		error = sdk_xasprintf("trello: create card: %s; outcome "
				      "unknown, looking for the card",
				      res->cause);
	} else if (outcome != REG_OK) {
		error = reg_trello_cause("create card", res);
		if (res->code == 400 && strstr(res->cause, "idList"))
			error = (free(error),
				 sdk_xasprintf("trello: list \"%s\" is gone "
					       "(%s); check trello_list",
					       reg->trello_list, res->cause));
	} else {
		const char *id, *url;

		root = json_loads(res->body, 0, NULL);
		id = sdk_json_string(root, "id", NULL);
		url = sdk_json_string(root, "shortUrl",
				      sdk_json_string(root, "url", NULL));
		if (!id) {
			/* 2xx but unreadable: the card probably exists */
			outcome = REG_UNKNOWN;
			error = sdk_xstrdup("trello: create card: unreadable "
					    "answer; looking for the card");
		} else {
			card.id = sdk_xstrdup(id);
			card.url = sdk_xstrdup(url ? url : "");
		}
	}
	op->card_fn(reg, outcome,
		    outcome == REG_FAILED ? reg_trello_failure(res)
					  : REG_FAIL_PASSING,
		    error ? NULL : &card, error, op->data);
	reg_trello_card_free(&card);
	json_decref(root);
	free(error);
	free(op->list_id);
	free(op);
}

void reg_trello_create_card(struct reg *reg, const char *list_id,
			    const char *name, const char *desc,
			    reg_trello_card_fn *fn, void *data)
{
	struct reg_trello_op *op = sdk_xcalloc(1, sizeof(*op));
	struct sdk_buf body = SDK_BUF_INIT;
	char *url = reg_trello_url(reg, "/cards", NULL);
	static const char *const headers[] = {
	    "Content-Type: application/x-www-form-urlencoded", NULL};
	struct sdk_http_call spec = {
	    .service = REG_SVC_TRELLO,
	    .method = "POST",
	    .url = url,
	    .headers = headers,
	    /* no idempotency key: any doubt is resolved by the marker */
	    .flags = SDK_HTTP_5XX_UNKNOWN,
	};

	op->card_fn = fn;
	op->data = data;
	sdk_form_add(&body, reg->api, "idList", list_id);
	sdk_form_add(&body, reg->api, "name", name);
	sdk_form_add(&body, reg->api, "desc", desc);
	sdk_form_add(&body, reg->api, "pos", "bottom");
	spec.body = body.buf;
	spec.body_len = body.len;
	reg_call(reg, &spec, reg_card_done, op);
	sdk_buf_release(&body);
	free(url);
}

/*
 * zuul.c - the ci plugin's Zuul watching: polls a tenant's status
 * (/api/tenant/<t>/status; items with refs[] since Zuul 10, the older
 * item layout, and the v2 /status.json), announces each change leaving a
 * pipeline with its result and failed jobs, persists the items seen so a
 * restart misses and repeats nothing, and answers `!ci zuul status` and
 * `!ci zuul builds`.
 *
 * State keys: "z/<server>/<pipeline> <item id>" = "state\tproject\t
 * change\turl\tfailed jobs\tenqueue ms", state one of running, passed,
 * failed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ci.h"

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void item_free(struct ci_zitem *it)
{
	for (int i = 0; i < it->njobs; i++) {
		free(it->jobs[i].name);
		free(it->jobs[i].result);
	}
	free(it->jobs);
	free(it->key);
	free(it->pipeline);
	free(it->change);
	free(it->project);
	free(it->url);
	free(it->queue);
	free(it);
}

static void items_free(struct ci_zitem *it)
{
	while (it) {
		struct ci_zitem *next = it->next;

		item_free(it);
		it = next;
	}
}

static int ok_result(const char *r)
{
	return !strcmp(r, "SUCCESS") || !strcmp(r, "SKIPPED");
}

/* running / passed / failed, and the failed voting jobs. */
static void summarize(const struct ci_zitem *it, char state[16],
		      struct sdk_buf *failed)
{
	int done = 1, bad = 0;

	for (int i = 0; i < it->njobs; i++) {
		const struct ci_zjob *j = &it->jobs[i];

		if (!j->result) {
			done = 0;
			continue;
		}
		if (ok_result(j->result) || !j->voting)
			continue;
		if (failed) {
			if (bad)
				sdk_buf_adds(failed, ", ");
			ci_clean(failed, j->name, 80);
			sdk_buf_adds(failed, " ");
			ci_clean(failed, j->result, 20);
		}
		bad++;
	}
	snprintf(state, 16, "%s",
		 bad		       ? "failed"
		 : (done && it->njobs) ? "passed"
				       : "running");
}

/* ------------------------------------------------------------------------ */
/* Parsing both layouts                                                      */

static char *str_or(const json_t *o, const char *path, const char *def)
{
	const char *s = sdk_json_string(o, path, def);

	return s ? sdk_xstrdup(s) : NULL;
}

static struct ci_zitem *parse_item(const json_t *o, const char *pipeline,
				   const char *queue, int position)
{
	struct ci_zitem *it;
	json_t *refs = json_object_get(o, "refs"), *jobs, *j;
	const char *id = sdk_json_string(o, "id", NULL);
	size_t i;

	if (!json_is_object(o) || !id)
		return NULL;
	it = sdk_xcalloc(1, sizeof(*it));
	it->pipeline = sdk_xstrdup(pipeline);
	it->queue = sdk_xstrdup(queue ? queue : "");
	it->position = position;
	it->enqueue_ms = sdk_json_int(o, "enqueue_time", 0);
	it->remaining_ms = sdk_json_int(o, "remaining_time", -1);
	if (json_is_array(refs) && json_array_size(refs)) {
		/* Zuul >= 10: the item is a uuid, the changes are refs */
		const json_t *r = json_array_get(refs, 0);
		const char *cid = sdk_json_string(r, "id", NULL);

		it->key = sdk_xasprintf("%s %s", pipeline, id);
		if (json_array_size(refs) > 1)
			it->change = sdk_xasprintf(
			    "%s +%zu",
			    cid ? cid : sdk_json_string(r, "ref", "?"),
			    json_array_size(refs) - 1);
		else
			it->change = str_or(r, cid ? "id" : "ref", "?");
		it->project = str_or(r, "project", "?");
		it->url = str_or(r, "url", NULL);
	} else {
		/* older: the change is the item; it may come back later */
		it->key = sdk_xasprintf("%s %s@%lld", pipeline, id,
					(long long)it->enqueue_ms);
		it->change = sdk_xstrdup(id);
		it->project = str_or(o, "project", "?");
		it->url = str_or(o, "url", NULL);
	}
	jobs = json_object_get(o, "jobs");
	if (json_is_array(jobs) && json_array_size(jobs)) {
		it->jobs =
		    sdk_xcalloc(json_array_size(jobs), sizeof(*it->jobs));
		json_array_foreach(jobs, i, j)
		{
			struct ci_zjob *zj = &it->jobs[it->njobs];
			const char *name = sdk_json_string(j, "name", NULL);

			if (!name)
				continue;
			zj->name = sdk_xstrdup(name);
			zj->result = str_or(j, "result", NULL);
			zj->remaining_ms =
			    sdk_json_int(j, "remaining_time", -1);
			zj->voting = sdk_json_bool(j, "voting", 1);
			it->njobs++;
		}
	}
	summarize(it, it->state, NULL);
	return it;
}

/* Items of a status document, in pipeline and queue order. */
static int parse(const char *body, size_t len, struct ci_zitem **out,
		 struct sdk_buf *err)
{
	json_t *root = json_loadb(body, len, 0, NULL), *p, *pipelines;
	struct ci_zitem *head = NULL, **tail = &head;
	size_t i;

	*out = NULL;
	pipelines = json_object_get(root, "pipelines");
	if (!json_is_array(pipelines)) {
		sdk_buf_adds(err, root ? "unexpected layout: no pipelines list"
				       : (body[strspn(body, " \t\r\n")] == '<'
					      ? "unexpected html answer"
					      : "answer is not JSON"));
		json_decref(root);
		return -1;
	}
	json_array_foreach(pipelines, i, p)
	{
		const char *pname = sdk_json_string(p, "name", NULL);
		json_t *queues = json_object_get(p, "change_queues"), *q;
		size_t k;

		if (!pname || !json_is_array(queues))
			continue;
		json_array_foreach(queues, k, q)
		{
			json_t *heads = json_object_get(q, "heads"), *h;
			const char *qname = sdk_json_string(q, "name", "");
			size_t m;
			int pos = 0;

			if (!json_is_array(heads))
				continue;
			json_array_foreach(heads, m, h)
			{
				size_t n;
				json_t *o;

				if (!json_is_array(h))
					continue;
				json_array_foreach(h, n, o)
				{
					struct ci_zitem *it =
					    parse_item(o, pname, qname, ++pos);

					if (!it)
						continue;
					*tail = it;
					tail = &it->next;
				}
			}
		}
	}
	json_decref(root);
	*out = head;
	return 0;
}

int ci_zuul_parse(struct ci_zserver *z, const char *body, size_t len,
		  struct sdk_buf *err)
{
	struct ci_zitem *items;

	if (parse(body, len, &items, err) < 0)
		return -1;
	items_free(z->items);
	z->items = items;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Persisted items                                                           */

static void item_save(struct ci_zserver *z, const struct ci_zitem *it)
{
	struct ci *ci = z->ci;
	struct sdk_buf k = SDK_BUF_INIT, v = SDK_BUF_INIT,
		       failed = SDK_BUF_INIT;
	char state[16];

	summarize(it, state, &failed);
	sdk_buf_addf(&k, "z/%s/%s", z->name, it->key);
	sdk_buf_addf(&v, "%s\t%s\t%s\t%s\t%s\t%lld", state, it->project,
		     it->change, it->url ? it->url : "", sdk_buf_str(&failed),
		     it->enqueue_ms);
	if (k.len <= 256)
		ci->api->state_set(ci->self, k.buf, v.buf, v.len);
	sdk_buf_release(&k);
	sdk_buf_release(&v);
	sdk_buf_release(&failed);
}

static void item_forget(struct ci_zserver *z, const struct ci_zitem *it)
{
	struct sdk_buf k = SDK_BUF_INIT;

	sdk_buf_addf(&k, "z/%s/%s", z->name, it->key);
	if (k.len <= 256)
		z->ci->api->state_delete(z->ci->self, k.buf);
	sdk_buf_release(&k);
}

/* Items remembered from before a restart: state and texts, no jobs. */
struct loaded {
	struct ci_zserver *z;
	struct ci_zitem **tail;
};

static int load_one(const char *key, const void *value, size_t len, void *data)
{
	struct loaded *l = data;
	struct ci_zitem *it = sdk_xcalloc(1, sizeof(*it));
	char *copy = sdk_xstrndup(value, len), *f[6] = {0}, *p = copy;
	const char *k = key + 3 + strlen(l->z->name);
	const char *sp = strchr(k, ' ');

	for (int i = 0; i < 6 && p; i++) {
		f[i] = p;
		p = strchr(p, '\t');
		if (p)
			*p++ = '\0';
	}
	it->key = sdk_xstrdup(k);
	it->pipeline = sp ? sdk_xstrndup(k, (size_t)(sp - k)) : sdk_xstrdup(k);
	snprintf(it->state, sizeof(it->state), "%s", f[0] ? f[0] : "running");
	it->project = sdk_xstrdup(f[1] ? f[1] : "?");
	it->change = sdk_xstrdup(f[2] ? f[2] : "?");
	it->url = f[3] && *f[3] ? sdk_xstrdup(f[3]) : NULL;
	it->queue = sdk_xstrdup(f[4] ? f[4] : ""); /* failed jobs, here */
	it->enqueue_ms = f[5] ? strtoll(f[5], NULL, 10) : 0;
	it->generation = -1; /* from the store */
	free(copy);
	*l->tail = it;
	l->tail = &it->next;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Announcing a change that left a pipeline                                  */

static void say_left(struct ci_zserver *z, const struct ci_zitem *it,
		     enum ci_event ev, const char *failed)
{
	struct ci *ci = z->ci;
	struct sdk_buf line = SDK_BUF_INIT, item = SDK_BUF_INIT;

	ci_clean(&item, it->project, 100);
	sdk_buf_adds(&item, " ");
	ci_clean(&item, it->change, 60);
	sdk_buf_addf(&line, "zuul %s: ", it->pipeline);
	sdk_buf_adds(&line, sdk_buf_str(&item));
	if (ev == CI_EV_ZUUL_FAILED) {
		sdk_buf_adds(&line, " failed");
		if (failed && *failed) {
			sdk_buf_adds(&line, " (");
			ci_clean(&line, failed, 300);
			sdk_buf_adds(&line, ")");
		}
	} else if (ev == CI_EV_ZUUL_PASSED) {
		sdk_buf_adds(&line, " passed");
	} else {
		sdk_buf_adds(&line, " left the pipeline before its jobs ended");
	}
	if (it->enqueue_ms > 0 && ev != CI_EV_ZUUL_DEQUEUED) {
		long long took = wall_ms() - it->enqueue_ms;

		if (took > 0 && took < 7LL * 24 * 3600 * 1000) {
			sdk_buf_adds(&line, ", ");
			ci_duration(&line, took);
		}
	}
	if (it->url) {
		sdk_buf_adds(&line, ": ");
		ci_clean(&line, it->url, 200);
	}
	ci_announce(ci, ev, z->name, it->project, it->pipeline,
		    sdk_buf_str(&item), sdk_buf_str(&line));
	sdk_buf_release(&line);
	sdk_buf_release(&item);
}

/* A change left without a result we saw: ask the buildsets. */
struct left {
	struct ci_zserver *z;
	struct ci_zitem *it;
};

static void buildset_fn(const struct sdk_http_result *res, void *data)
{
	struct left *l = data;
	struct ci_zserver *z = l->z;
	enum ci_event ev = CI_EV_ZUUL_DEQUEUED;

	if (res->outcome == SDK_HTTP_OK && !z->ci->closing) {
		json_t *root = json_loadb(res->body, res->body_len, 0, NULL);
		const char *r = sdk_json_string(root, "[0].result", NULL);

		if (r)
			ev = ok_result(r) ? CI_EV_ZUUL_PASSED
					  : CI_EV_ZUUL_FAILED;
		json_decref(root);
	}
	if (!z->ci->closing) {
		char failed[64] = "";

		if (ev == CI_EV_ZUUL_FAILED)
			snprintf(failed, sizeof(failed), "buildset failed");
		say_left(z, l->it, ev, failed);
	}
	item_free(l->it);
	free(l);
}

static void item_left(struct ci_zserver *z, struct ci_zitem *it)
{
	struct ci *ci = z->ci;
	struct sdk_buf failed = SDK_BUF_INIT;
	char state[16];

	/* forgotten first: a crash now loses a line, never repeats one */
	item_forget(z, it);
	if (it->generation == -1) {
		snprintf(state, sizeof(state), "%s", it->state);
		sdk_buf_adds(&failed, it->queue ? it->queue : "");
	} else {
		summarize(it, state, &failed);
	}
	if (!strcmp(state, "failed")) {
		say_left(z, it, CI_EV_ZUUL_FAILED, sdk_buf_str(&failed));
	} else if (!strcmp(state, "passed")) {
		say_left(z, it, CI_EV_ZUUL_PASSED, NULL);
	} else if (!z->legacy && z->tenant) {
		struct sdk_buf url = SDK_BUF_INIT;
		struct left *l = sdk_xcalloc(1, sizeof(*l));
		struct sdk_http_call call = {0};
		const char *headers[] = {"Accept: application/json", NULL};
		char *change =
		    sdk_xstrndup(it->change, strcspn(it->change, ", "));

		sdk_buf_addf(&url, "%sapi/tenant/", z->url);
		sdk_url_encode(&url, ci->api, z->tenant);
		sdk_buf_adds(&url, "/buildsets?limit=1&project=");
		sdk_url_encode(&url, ci->api, it->project);
		sdk_buf_adds(&url, "&pipeline=");
		sdk_url_encode(&url, ci->api, it->pipeline);
		sdk_buf_adds(&url, "&change=");
		sdk_url_encode(&url, ci->api, change);
		free(change);
		l->z = z;
		l->it = it;
		call.service = z->service;
		call.url = sdk_buf_str(&url);
		call.headers = headers;
		call.flags = SDK_HTTP_IDEMPOTENT;
		sdk_buf_release(&failed);
		sdk_http_queue_add(&ci->q, &call, buildset_fn, l);
		sdk_buf_release(&url);
		return; /* it is freed by buildset_fn */
	} else {
		say_left(z, it, CI_EV_ZUUL_DEQUEUED, NULL);
	}
	sdk_buf_release(&failed);
	item_free(it);
}

/* ------------------------------------------------------------------------ */
/* Polling                                                                   */

static void zpoll_start(struct ci_zserver *z, long delay);

static struct ci_zitem *find(struct ci_zitem *list, const char *key)
{
	for (; list; list = list->next)
		if (!strcmp(list->key, key))
			return list;
	return NULL;
}

static void polled(const struct sdk_http_result *res, void *data)
{
	struct ci_zserver *z = data;
	struct ci *ci = z->ci;
	struct ci_zitem *items, *it, *old, *next;
	struct sdk_buf err = SDK_BUF_INIT;

	if (ci->closing)
		return;
	z->polls++;
	if (res->outcome != SDK_HTTP_OK ||
	    parse(res->body, res->body_len, &items, &err) < 0) {
		if (res->outcome != SDK_HTTP_OK) {
			sdk_buf_reset(&err);
			sdk_buf_addf(&err, "%s", res->cause);
		} else {
			char code[32];

			snprintf(code, sizeof(code), " (%ld)", res->code);
			sdk_buf_adds(&err, code);
		}
		ci_outage_failed(ci, &z->out, "zuul", z->name,
				 sdk_buf_str(&err));
		sdk_buf_release(&err);
		zpoll_start(z, ci_next_poll(ci, &z->out, ci->zuul_poll_ms));
		return;
	}
	ci_outage_ok(ci, &z->out, "zuul", z->name);
	z->last_ok = ci->api->now_ms();
	z->generation++;
	/* matched against what was there: new, changed, gone */
	for (it = items; it; it = it->next) {
		if (!ci_match_any(z->projects, it->project) ||
		    !ci_match_any(z->pipelines, it->pipeline)) {
			it->generation = -2; /* not watched */
			continue;
		}
		it->generation = z->generation;
		old = find(z->items, it->key);
		if (!old || strcmp(old->state, it->state))
			item_save(z, it);
		if (old)
			old->generation = z->generation;
	}
	for (old = z->items; old; old = next) {
		next = old->next;
		if (old->generation != z->generation && old->generation != -2) {
			/* item_left owns it from here */
			old->next = NULL;
			item_left(z, old);
		} else {
			item_free(old);
		}
	}
	z->items = items;
	z->polled_once = 1;
	zpoll_start(z, ci->zuul_poll_ms);
}

static void zpoll_now(struct ci_zserver *z)
{
	struct sdk_http_call call = {0};
	const char *headers[] = {"Accept: application/json", NULL};

	call.service = z->service;
	call.url = z->status_url;
	call.headers = headers;
	call.flags = SDK_HTTP_IDEMPOTENT;
	sdk_http_queue_add(&z->ci->q, &call, polled, z);
}

static long zpoll_timer_fn(struct opsbot_plugin *self, int status, void *data)
{
	struct ci_zserver *z = data;

	(void)self;
	z->timer = 0;
	if (status == OPSBOT_OK && !z->ci->closing)
		zpoll_now(z);
	return OPSBOT_TIMER_STOP;
}

static void zpoll_start(struct ci_zserver *z, long delay)
{
	int64_t id;

	if (z->ci->closing)
		return;
	id = z->ci->api->timer_start(z->ci->self, delay, zpoll_timer_fn, z);
	z->timer = id > 0 ? id : 0;
}

int ci_zuul_start(struct ci *ci)
{
	for (int i = 0; i < ci->nzs; i++) {
		struct ci_zserver *z = &ci->zs[i];
		struct loaded l = {z, &z->items};
		char prefix[48];

		snprintf(prefix, sizeof(prefix), "z/%s/", z->name);
		ci->api->state_each(ci->self, prefix, load_one, &l);
		if (ci->api->mode() == OPSBOT_MODE_DAEMON)
			zpoll_start(z, 1200 + 500 * i);
	}
	return 0;
}

void ci_zuul_free(struct ci *ci)
{
	for (int i = 0; i < ci->nzs; i++) {
		struct ci_zserver *z = &ci->zs[i];

		items_free(z->items);
		z->items = NULL;
		free(z->url);
		free(z->tenant);
		free(z->status_url);
		ci_strv_free(z->projects);
		ci_strv_free(z->pipelines);
		free(z->out.error);
	}
}

struct ci_zserver *ci_zserver_find(struct ci *ci, const char *name)
{
	for (int i = 0; i < ci->nzs; i++)
		if (!name || !strcmp(ci->zs[i].name, name))
			return &ci->zs[i];
	return NULL;
}

/* ------------------------------------------------------------------------ */
/* !ci zuul status <change or project> / builds <project> [n]              */

struct zreq {
	struct ci *ci;
	struct ci_zserver *z;
	struct opsbot_request *req;
	char *what;
	int builds;
	long n;
};

static int item_matches(const struct ci_zitem *it, const char *what)
{
	size_t n = strlen(what);

	char *pattern[2] = {(char *)what, NULL};

	if (ci_match_any(pattern, it->project))
		return 1;
	/* "12345" matches "12345,6" */
	return !strncmp(it->change, what, n) &&
	       (it->change[n] == '\0' || it->change[n] == ',');
}

static void status_reply(struct ci *ci, struct ci_zserver *z,
			 struct ci_zitem *items, struct opsbot_request *req,
			 const char *what)
{
	int shown = 0, total = 0;

	for (struct ci_zitem *it = items; it; it = it->next) {
		struct sdk_buf line = SDK_BUF_INIT;
		int done = 0, bad = 0, running = 0;
		long long left = -1;

		if (it->generation == -1 || !item_matches(it, what))
			continue;
		total++;
		if (shown >= 5)
			continue;
		shown++;
		for (int i = 0; i < it->njobs; i++) {
			const struct ci_zjob *j = &it->jobs[i];

			if (j->result) {
				done++;
				if (!ok_result(j->result) && j->voting)
					bad++;
			} else {
				running++;
				if (j->remaining_ms > left)
					left = j->remaining_ms;
			}
		}
		if (it->remaining_ms >= 0)
			left = it->remaining_ms;
		ci_clean(&line, it->project, 100);
		sdk_buf_adds(&line, " ");
		ci_clean(&line, it->change, 60);
		sdk_buf_adds(&line, " in ");
		ci_clean(&line, it->pipeline, 40);
		if (it->queue && *it->queue) {
			sdk_buf_adds(&line, " (queue ");
			ci_clean(&line, it->queue, 40);
			sdk_buf_addf(&line, ", #%d)", it->position);
		} else {
			sdk_buf_addf(&line, " (#%d)", it->position);
		}
		sdk_buf_addf(&line, ": %d/%d jobs done", done, it->njobs);
		if (bad)
			sdk_buf_addf(&line, ", %d failing", bad);
		if (running && left >= 0) {
			sdk_buf_adds(&line, ", about ");
			ci_duration(&line, left);
			sdk_buf_adds(&line, " left");
		}
		/* the running jobs with their own time left */
		for (int i = 0, k = 0; i < it->njobs; i++) {
			const struct ci_zjob *j = &it->jobs[i];

			if (j->result)
				continue;
			if (k == 4) {
				sdk_buf_addf(&line, ", +%d", running - 4);
				break;
			}
			sdk_buf_adds(&line, k++ ? ", " : "; running: ");
			ci_clean(&line, j->name, 60);
			if (j->remaining_ms >= 0) {
				sdk_buf_adds(&line, " ");
				ci_duration(&line, j->remaining_ms);
			}
		}
		ci->api->reply(req, "%s", sdk_buf_str(&line));
		sdk_buf_release(&line);
	}
	if (!total)
		ci->api->reply(req, "zuul %s: %s is in no pipeline now",
			       z->name, what);
	else if (total > shown)
		ci->api->reply(req, "... and %d more", total - shown);
}

static void builds_reply(struct ci *ci, struct opsbot_request *req,
			 const struct sdk_http_result *res, long n)
{
	json_t *root = json_loadb(res->body, res->body_len, 0, NULL), *b;
	size_t i;

	if (!json_is_array(root)) {
		ci->api->reply_error(req, "zuul: unexpected answer to builds");
		json_decref(root);
		return;
	}
	if (!json_array_size(root))
		ci->api->reply(req, "no builds");
	json_array_foreach(root, i, b)
	{
		struct sdk_buf line = SDK_BUF_INIT;
		json_t *dur = json_object_get(b, "duration");
		const char *change = sdk_json_string(b, "ref.change", NULL);
		long long c = sdk_json_int(b, "ref.change", 0);

		if ((long)i >= n)
			break;
		ci_clean(&line, sdk_json_string(b, "job_name", "?"), 80);
		sdk_buf_adds(&line, " ");
		ci_clean(&line, sdk_json_string(b, "result", "RUNNING"), 20);
		if (json_is_number(dur)) {
			sdk_buf_adds(&line, " ");
			ci_duration(&line,
				    (long long)(json_number_value(dur) * 1000));
		}
		sdk_buf_adds(&line, " (");
		ci_clean(&line, sdk_json_string(b, "pipeline", "?"), 40);
		if (!c)
			c = sdk_json_int(b, "change", 0);
		if (c)
			sdk_buf_addf(&line, ", change %lld", c);
		else if (change)
			ci_clean(&line, change, 40);
		sdk_buf_adds(&line, ")");
		if (sdk_json_string(b, "log_url", NULL)) {
			sdk_buf_adds(&line, ": ");
			ci_clean(&line, sdk_json_string(b, "log_url", ""), 200);
		}
		ci->api->reply(req, "%s", sdk_buf_str(&line));
		sdk_buf_release(&line);
	}
	json_decref(root);
}

static void zreq_fn(const struct sdk_http_result *res, void *data)
{
	struct zreq *r = data;
	struct ci *ci = r->ci;

	if (res->outcome == SDK_HTTP_CANCELLED) {
		/* the host answers a request it ends itself */
	} else if (res->outcome != SDK_HTTP_OK) {
		ci->api->reply_error(r->req, "zuul %s: %s", r->z->name,
				     res->cause);
		ci->api->done(r->req, OPSBOT_ERR);
	} else if (r->builds) {
		builds_reply(ci, r->req, res, r->n);
		ci->api->done(r->req, OPSBOT_OK);
	} else {
		struct sdk_buf err = SDK_BUF_INIT;
		struct ci_zitem *items;

		/* a snapshot of its own: the watched items stay as they are */
		if (parse(res->body, res->body_len, &items, &err) < 0) {
			ci->api->reply_error(r->req, "zuul %s: %s", r->z->name,
					     sdk_buf_str(&err));
			ci->api->done(r->req, OPSBOT_ERR);
		} else {
			status_reply(ci, r->z, items, r->req, r->what);
			ci->api->done(r->req, OPSBOT_OK);
		}
		items_free(items);
		sdk_buf_release(&err);
	}
	free(r->what);
	free(r);
}

int ci_zuul_cmd(struct ci *ci, struct opsbot_request *req)
{
	struct ci_zserver *z = ci_zserver_find(ci, NULL);
	const char *sub = req->argc > 0 ? req->argv[0] : "";
	struct zreq *r;
	struct sdk_http_call call = {0};
	const char *headers[] = {"Accept: application/json", NULL};
	struct sdk_buf url = SDK_BUF_INIT;

	if (!z) {
		ci->api->reply_error(req, "ci: no [plugin.ci.zuul.*] server "
					  "is configured");
		return OPSBOT_ERR;
	}
	if (strcmp(sub, "status") && strcmp(sub, "builds"))
		return OPSBOT_EUSAGE;
	if (req->argc < 2 || req->argc > 3)
		return OPSBOT_EUSAGE;
	if (!strcmp(sub, "status") && z->polled_once) {
		status_reply(ci, z, z->items, req, req->argv[1]);
		return OPSBOT_OK;
	}
	r = sdk_xcalloc(1, sizeof(*r));
	r->ci = ci;
	r->z = z;
	r->req = req;
	r->what = sdk_xstrdup(req->argv[1]);
	if (!strcmp(sub, "builds")) {
		char *end = NULL;

		r->builds = 1;
		r->n = req->argc > 2 ? strtol(req->argv[2], &end, 10) : 5;
		if ((end && *end) || r->n < 1 || r->n > 20) {
			free(r->what);
			free(r);
			ci->api->reply_error(req, "ci: the number of builds is "
						  "1 to 20");
			return OPSBOT_ERR;
		}
		if (z->legacy || !z->tenant) {
			free(r->what);
			free(r);
			ci->api->reply_error(req,
					     "zuul %s: builds need the "
					     "REST API (a tenant)",
					     z->name);
			return OPSBOT_ERR;
		}
		sdk_buf_addf(&url, "%sapi/tenant/", z->url);
		sdk_url_encode(&url, ci->api, z->tenant);
		sdk_buf_adds(&url, "/builds?project=");
		sdk_url_encode(&url, ci->api, req->argv[1]);
		sdk_buf_addf(&url, "&limit=%ld", r->n);
		call.url = sdk_buf_str(&url);
	} else {
		call.url = z->status_url;
	}
	call.service = z->service;
	call.headers = headers;
	call.flags = SDK_HTTP_IDEMPOTENT;
	sdk_http_queue_add(&ci->q, &call, zreq_fn, r);
	sdk_buf_release(&url);
	return OPSBOT_PENDING;
}

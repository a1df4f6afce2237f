/*
 * jenkins.c - the plugin SDK's Jenkins client (see sdk_jenkins.h): request
 * building, CSRF crumbs, parsing of jobs, builds and queue items, and
 * following a queue item to the end of its build.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sdk_jenkins.h"
#include "sdk_json.h"
#include "sdk_text.h"

/* ------------------------------------------------------------------------ */
/* Set-up                                                                    */

int sdk_jenkins_init(struct sdk_jenkins *j, struct sdk_http_queue *q,
		     const struct sdk_jenkins_config *cfg, struct sdk_buf *err)
{
	const char *url = cfg->url ? cfg->url : "";
	size_t n = strlen(url);

	memset(j, 0, sizeof(*j));
	if ((strncmp(url, "http://", 7) && strncmp(url, "https://", 8)) ||
	    strlen(url) < 9 || strpbrk(url, " \t\r\n?#")) {
		if (err)
			sdk_buf_addf(err,
				     "jenkins %s: url must be http(s)://host"
				     "[:port][/path], not \"%s\"",
				     cfg->name ? cfg->name : "", url);
		return -1;
	}
	j->q = q;
	j->api = q->api;
	j->self = q->self;
	snprintf(j->name, sizeof(j->name), "%s", cfg->name ? cfg->name : "");
	j->root = sdk_xasprintf("%s%s", url, url[n - 1] == '/' ? "" : "/");
	if (cfg->user && *cfg->user) {
		j->user = sdk_xstrdup(cfg->user);
		if (cfg->token && *cfg->token) {
			j->secret = sdk_xstrdup(cfg->token);
		} else if (cfg->password && *cfg->password) {
			j->secret = sdk_xstrdup(cfg->password);
			j->use_crumb = 1;
		} else {
			j->secret = sdk_xstrdup("");
		}
	}
	j->service = cfg->service;
	j->max_response_bytes = cfg->max_response_bytes;
	return 0;
}

void sdk_jenkins_free(struct sdk_jenkins *j)
{
	free(j->root);
	free(j->user);
	if (j->secret) {
		memset(j->secret, 0, strlen(j->secret));
		free(j->secret);
	}
	free(j->crumb_header);
	free(j->cookie);
	memset(j, 0, sizeof(*j));
}

void sdk_jenkins_job_path(struct sdk_buf *b, const struct opsbot_api *api,
			  const char *full_name)
{
	const char *p = full_name ? full_name : "";

	while (*p) {
		size_t n = strcspn(p, "/");

		if (n) {
			char *seg = sdk_xstrndup(p, n);

			sdk_buf_adds(b, "job/");
			/* "." and ".." would be removed by URL normalising */
			if (!strcmp(seg, ".") || !strcmp(seg, ".."))
				sdk_buf_adds(b, n == 1 ? "%2E" : "%2E%2E");
			else
				sdk_url_encode(b, api, seg);
			sdk_buf_adds(b, "/");
			free(seg);
		}
		p += n;
		if (*p == '/')
			p++;
	}
}

char *sdk_jenkins_job_url(const struct sdk_jenkins *j, const char *full_name)
{
	struct sdk_buf b = SDK_BUF_INIT;

	sdk_buf_adds(&b, j->root);
	sdk_jenkins_job_path(&b, j->api, full_name);
	return sdk_buf_detach(&b);
}

/* ------------------------------------------------------------------------ */
/* Parsing                                                                   */

static const char *const result_names[] = {
    "NONE", "SUCCESS", "UNSTABLE", "FAILURE", "NOT_BUILT", "ABORTED", "OTHER",
};

enum sdk_jenkins_result sdk_jenkins_result_parse(const char *s)
{
	if (!s)
		return SDK_JENKINS_NONE;
	for (int i = SDK_JENKINS_SUCCESS; i < SDK_JENKINS_OTHER; i++)
		if (!strcmp(s, result_names[i]))
			return (enum sdk_jenkins_result)i;
	return SDK_JENKINS_OTHER;
}

const char *sdk_jenkins_result_name(enum sdk_jenkins_result r)
{
	if ((unsigned)r > SDK_JENKINS_OTHER)
		r = SDK_JENKINS_OTHER;
	return result_names[r];
}

/* The axis of a matrix run from its URL: ".../job/k/database=pg/212/". */
static char *run_axis(const char *url)
{
	const char *end, *start;

	if (!url)
		return sdk_xstrdup("?");
	end = url + strlen(url);
	if (end > url && end[-1] == '/')
		end--;
	while (end > url && end[-1] != '/') /* the number */
		end--;
	if (end > url)
		end--;
	start = end;
	while (start > url && start[-1] != '/')
		start--;
	if (start == end)
		return sdk_xstrdup("?");
	return sdk_xstrndup(start, (size_t)(end - start));
}

void sdk_jenkins_build_clear(struct sdk_jenkins_build *b)
{
	free(b->url);
	free(b->display_name);
	for (int i = 0; i < b->nculprits; i++)
		free(b->culprits[i]);
	free(b->culprits);
	for (int i = 0; i < b->nruns; i++) {
		free(b->runs[i].axis);
		free(b->runs[i].url);
	}
	free(b->runs);
	memset(b, 0, sizeof(*b));
}

void sdk_jenkins_build_parse(struct sdk_jenkins_build *b, const json_t *o)
{
	json_t *a, *v;
	size_t i;

	memset(b, 0, sizeof(*b));
	if (!json_is_object(o))
		return;
	b->number = (long)sdk_json_int(o, "number", 0);
	b->result =
	    sdk_jenkins_result_parse(sdk_json_string(o, "result", NULL));
	b->building = sdk_json_bool(o, "building", 0);
	b->duration_ms = sdk_json_int(o, "duration", 0);
	b->estimated_ms = sdk_json_int(o, "estimatedDuration", 0);
	b->timestamp_ms = sdk_json_int(o, "timestamp", 0);
	b->url = sdk_xstrdup_or_null(sdk_json_string(o, "url", NULL));
	b->display_name =
	    sdk_xstrdup_or_null(sdk_json_string(o, "fullDisplayName", NULL));
	a = json_object_get(o, "culprits");
	if (json_is_array(a) && json_array_size(a)) {
		b->culprits = sdk_xcalloc(json_array_size(a), sizeof(char *));
		json_array_foreach(a, i, v)
		{
			const char *name = sdk_json_string(v, "fullName", NULL);

			if (name)
				b->culprits[b->nculprits++] = sdk_xstrdup(name);
		}
	}
	a = json_object_get(o, "runs");
	if (json_is_array(a) && json_array_size(a)) {
		b->runs = sdk_xcalloc(json_array_size(a),
				      sizeof(struct sdk_jenkins_run));
		json_array_foreach(a, i, v)
		{
			struct sdk_jenkins_run *r = &b->runs[b->nruns];
			long n = (long)sdk_json_int(v, "number", 0);

			/* a configuration not rebuilt shows its older run */
			if (!json_is_object(v) || (b->number && n != b->number))
				continue;
			r->number = n;
			r->result = sdk_jenkins_result_parse(
			    sdk_json_string(v, "result", NULL));
			r->building = sdk_json_bool(v, "building", 0);
			r->url = sdk_xstrdup_or_null(
			    sdk_json_string(v, "url", NULL));
			r->axis = run_axis(r->url);
			b->nruns++;
		}
	}
}

void sdk_jenkins_job_list_clear(struct sdk_jenkins_job_list *l)
{
	for (int i = 0; i < l->njobs; i++) {
		free(l->jobs[i].full_name);
		free(l->jobs[i].url);
		free(l->jobs[i].color);
		sdk_jenkins_build_clear(&l->jobs[i].last_completed);
	}
	free(l->jobs);
	memset(l, 0, sizeof(*l));
}

static enum sdk_jenkins_job_kind job_kind(const json_t *o)
{
	const char *cls = sdk_json_string(o, "_class", "");

	if (strstr(cls, "MatrixProject"))
		return SDK_JENKINS_MATRIX;
	if (json_is_array(json_object_get(o, "jobs")) ||
	    strstr(cls, "Folder") || strstr(cls, "MultiBranchProject"))
		return SDK_JENKINS_FOLDER;
	return SDK_JENKINS_JOB;
}

static void list_add(struct sdk_jenkins_job_list *l, size_t *alloc,
		     const json_t *jobs, const char *prefix, int depth)
{
	size_t i;
	json_t *o;

	if (!json_is_array(jobs) || depth > 16)
		return;
	json_array_foreach(jobs, i, o)
	{
		struct sdk_jenkins_job *job;
		const char *name = sdk_json_string(o, "name", NULL);
		const char *full = sdk_json_string(o, "fullName", NULL);
		char *fn;

		if (!json_is_object(o) || !name)
			continue;
		fn = full ? sdk_xstrdup(full)
			  : (*prefix ? sdk_xasprintf("%s/%s", prefix, name)
				     : sdk_xstrdup(name));
		if ((size_t)l->njobs == *alloc) {
			*alloc = *alloc ? *alloc * 2 : 16;
			l->jobs = sdk_xreallocarray(l->jobs, *alloc,
						    sizeof(*l->jobs));
		}
		job = &l->jobs[l->njobs++];
		memset(job, 0, sizeof(*job));
		job->full_name = fn;
		job->url = sdk_xstrdup_or_null(sdk_json_string(o, "url", NULL));
		job->color =
		    sdk_xstrdup_or_null(sdk_json_string(o, "color", NULL));
		job->kind = job_kind(o);
		job->building = sdk_json_bool(o, "lastBuild.building", 0);
		job->last_number = (long)sdk_json_int(o, "lastBuild.number", 0);
		sdk_jenkins_build_parse(
		    &job->last_completed,
		    json_object_get(o, "lastCompletedBuild"));
		list_add(l, alloc, json_object_get(o, "jobs"), fn, depth + 1);
	}
}

/* ------------------------------------------------------------------------ */
/* Calls                                                                     */

enum jk_kind { JK_JSON, JK_LIST, JK_BUILD, JK_TRIGGER, JK_ITEM, JK_DONE };

struct jk_call {
	struct sdk_jenkins *j;
	enum jk_kind kind;
	void *fn, *data;
	char *what;   /* "job foo" for messages, cleaned */
	char *method; /* NULL: GET */
	char *path;   /* under root */
	char *body;
	char *prefix; /* JK_LIST: the folder */
	long number;
	int crumb_retried;
};

static void jk_send(struct jk_call *c);

static char *clean(const char *s)
{
	return sdk_text_clean_str(s, SDK_TEXT_SQUEEZE, 120);
}

static void jk_free(struct jk_call *c)
{
	free(c->what);
	free(c->method);
	free(c->path);
	free(c->body);
	free(c->prefix);
	free(c);
}

static int body_has(const struct sdk_http_result *res, const char *word)
{
	return res->body && strstr(res->body, word) != NULL;
}

static int looks_html(const char *body)
{
	return body && body[strspn(body, " \t\r\n")] == '<';
}

/* The one-line error of a call that did not succeed (malloc'd). */
static char *jk_error(const struct jk_call *c,
		      const struct sdk_http_result *res)
{
	const char *n = c->j->name;
	long code = res->code;

	if (res->outcome == SDK_HTTP_CANCELLED)
		return sdk_xstrdup("cancelled");
	if (!code && res->outcome == SDK_HTTP_UNKNOWN && c->method)
		return sdk_xasprintf(
		    "jenkins %s: %s after sending; it may have "
		    "been acted on, look before trying again",
		    n, *res->cause ? res->cause : "no answer");
	if (!code || res->outcome == SDK_HTTP_NOT_SENT ||
	    res->outcome == SDK_HTTP_SKIPPED)
		return sdk_xasprintf("jenkins %s: %s", n,
				     *res->cause ? res->cause : "no answer");
	switch (code) {
	case 401:
		return sdk_xasprintf("jenkins %s: bad credentials (401)", n);
	case 403:
		if (body_has(res, "crumb"))
			return sdk_xasprintf("jenkins %s: no valid crumb (403)",
					     n);
		return sdk_xasprintf("jenkins %s: permission denied for %s "
				     "(403)",
				     n, c->what);
	case 404:
		return sdk_xasprintf("jenkins %s: %s not found (404)", n,
				     c->what);
	case 409:
		return sdk_xasprintf("jenkins %s: %s is disabled or not "
				     "buildable (409)",
				     n, c->what);
	case 500:
		if (c->kind == JK_TRIGGER && c->body &&
		    (body_has(res, "not parameterized") ||
		     looks_html(res->body) || !*res->body))
			return sdk_xasprintf("jenkins %s: %s takes no "
					     "parameters, or failed (500)",
					     n, c->what);
		break;
	default:
		break;
	}
	if (code >= 200 && code < 300)
		return sdk_xasprintf(
		    "jenkins %s: unexpected %s answer (%ld)", n,
		    looks_html(res->body) ? "html" : "non-json", code);
	if (looks_html(res->body))
		return sdk_xasprintf("jenkins %s: error %ld (html page)", n,
				     code);
	return sdk_xasprintf("jenkins %s: %s", n, res->cause);
}

static void jk_finish_error(struct jk_call *c, const char *error, long code)
{
	switch (c->kind) {
	case JK_JSON:
		((sdk_jenkins_json_fn *)c->fn)(error, code, NULL, c->data);
		break;
	case JK_LIST:
		((sdk_jenkins_list_fn *)c->fn)(error, NULL, c->data);
		break;
	case JK_BUILD:
		((sdk_jenkins_build_fn *)c->fn)(error, NULL, c->data);
		break;
	case JK_TRIGGER:
		((sdk_jenkins_trigger_fn *)c->fn)(error, code, NULL, c->data);
		break;
	case JK_ITEM:
		((sdk_jenkins_item_fn *)c->fn)(error, code, NULL, c->data);
		break;
	case JK_DONE:
		((sdk_jenkins_done_fn *)c->fn)(error, code, c->data);
		break;
	}
	jk_free(c);
}

static long queue_id_of(const char *location)
{
	const char *p = location ? strstr(location, "/queue/item/") : NULL;

	return p ? strtol(p + 12, NULL, 10) : 0;
}

static void jk_json_ok(struct jk_call *c, long code, json_t *root)
{
	switch (c->kind) {
	case JK_JSON:
		((sdk_jenkins_json_fn *)c->fn)(NULL, code, root, c->data);
		break;
	case JK_LIST: {
		struct sdk_jenkins_job_list l = {0};
		size_t alloc = 0;

		list_add(&l, &alloc, json_object_get(root, "jobs"),
			 c->prefix ? c->prefix : "", 0);
		((sdk_jenkins_list_fn *)c->fn)(NULL, &l, c->data);
		sdk_jenkins_job_list_clear(&l);
		break;
	}
	case JK_BUILD: {
		struct sdk_jenkins_build b;

		sdk_jenkins_build_parse(&b, root);
		((sdk_jenkins_build_fn *)c->fn)(NULL, &b, c->data);
		sdk_jenkins_build_clear(&b);
		break;
	}
	case JK_ITEM: {
		struct sdk_jenkins_item it = {0};
		json_t *exe = json_object_get(root, "executable");

		it.id = (long)sdk_json_int(root, "id", 0);
		if (json_is_object(exe)) {
			it.state = SDK_JENKINS_ITEM_STARTED;
			it.number = (long)sdk_json_int(exe, "number", 0);
			it.url = sdk_json_string(exe, "url", NULL);
		} else if (sdk_json_bool(root, "cancelled", 0)) {
			it.state = SDK_JENKINS_ITEM_CANCELLED;
		} else {
			it.state = SDK_JENKINS_ITEM_WAITING;
			it.why = sdk_json_string(root, "why", NULL);
		}
		((sdk_jenkins_item_fn *)c->fn)(NULL, code, &it, c->data);
		break;
	}
	default:
		break;
	}
	jk_free(c);
}

static void jk_crumb_then_send(struct jk_call *c);

static void jk_answered(const struct sdk_http_result *res, void *data)
{
	struct jk_call *c = data;
	struct sdk_jenkins *j = c->j;
	char *err;

	/* a stale crumb (session expired): fetch one and send once more */
	if (res->code == 403 && j->use_crumb && c->method &&
	    !c->crumb_retried && body_has(res, "crumb")) {
		c->crumb_retried = 1;
		j->crumb_state = 0;
		jk_crumb_then_send(c);
		return;
	}
	if (c->kind == JK_TRIGGER &&
	    (res->code == 201 || res->code == 303 || res->code == 302)) {
		struct sdk_jenkins_queued qd = {0};

		qd.url = res->response
			     ? j->api->http_header(res->response, "Location", 0)
			     : NULL;
		qd.queue_id = queue_id_of(qd.url);
		qd.existing = res->code == 303;
		((sdk_jenkins_trigger_fn *)c->fn)(NULL, res->code, &qd,
						  c->data);
		jk_free(c);
		return;
	}
	if (c->kind == JK_DONE && ((res->code >= 200 && res->code < 400) ||
				   (res->outcome == SDK_HTTP_OK))) {
		((sdk_jenkins_done_fn *)c->fn)(NULL, res->code, c->data);
		jk_free(c);
		return;
	}
	if (res->outcome == SDK_HTTP_OK && c->kind != JK_TRIGGER) {
		json_error_t jerr;
		json_t *root = json_loadb(res->body, res->body_len, 0, &jerr);

		if (json_is_object(root) && c->kind == JK_LIST &&
		    !json_is_array(json_object_get(root, "jobs"))) {
			/* a proxy's JSON, or a layout this client does not
			   know: not "no jobs" */
			err = sdk_xasprintf("jenkins %s: unexpected answer, no "
					    "jobs list (%ld)",
					    j->name, res->code);
			json_decref(root);
			jk_finish_error(c, err, res->code);
			free(err);
			return;
		}
		if (json_is_object(root)) {
			jk_json_ok(c, res->code, root);
			json_decref(root);
			return;
		}
		json_decref(root);
	}
	err = jk_error(c, res);
	jk_finish_error(c, err, res->code);
	free(err);
}

static void jk_send(struct jk_call *c)
{
	struct sdk_jenkins *j = c->j;
	struct sdk_buf url = SDK_BUF_INIT;
	const char *headers[5];
	int nh = 0;
	struct sdk_http_call call = {0};

	sdk_buf_adds(&url, j->root);
	sdk_buf_adds(&url, c->path);
	if (c->method) {
		if (j->crumb_header && j->crumb_state == 1)
			headers[nh++] = j->crumb_header;
		if (j->cookie && j->crumb_state == 1)
			headers[nh++] = j->cookie;
		if (c->body)
			headers[nh++] = "Content-Type: "
					"application/x-www-form-urlencoded";
	} else {
		headers[nh++] = "Accept: application/json";
	}
	headers[nh] = NULL;
	call.service = j->service;
	call.method = c->method;
	call.url = sdk_buf_str(&url);
	call.headers = headers;
	call.body = c->body ? c->body : (c->method ? "" : NULL);
	call.body_len = c->body ? strlen(c->body) : 0;
	call.username = j->user;
	call.password = j->secret;
	call.max_response_bytes = j->max_response_bytes;
	/* GETs are retried by the queue; a trigger is never sent twice */
	call.flags = c->method ? SDK_HTTP_5XX_UNKNOWN : SDK_HTTP_IDEMPOTENT;
	sdk_http_queue_add(j->q, &call, jk_answered, c);
	sdk_buf_release(&url);
}

/* crumbIssuer answered: keep the crumb and the session cookie. */
static void jk_crumb_answered(const struct sdk_http_result *res, void *data)
{
	struct jk_call *c = data;
	struct sdk_jenkins *j = c->j;
	json_t *root = NULL;

	if (res->code == 404) {
		j->crumb_state = 2; /* CSRF protection off */
		jk_send(c);
		return;
	}
	if (res->outcome == SDK_HTTP_OK)
		root = json_loadb(res->body, res->body_len, 0, NULL);
	if (json_is_object(root) && sdk_json_string(root, "crumb", NULL)) {
		const char *field =
		    sdk_json_string(root, "crumbRequestField", "Jenkins-Crumb");
		const char *crumb = sdk_json_string(root, "crumb", "");

		free(j->crumb_header);
		free(j->cookie);
		j->cookie = NULL;
		if (strpbrk(field, "\r\n:") || strpbrk(crumb, "\r\n"))
			field = "Jenkins-Crumb";
		j->crumb_header = sdk_xasprintf("%s: %s", field, crumb);
		if (res->response) {
			struct sdk_buf ck = SDK_BUF_INIT;
			const char *sc;

			for (int i = 0; (sc = j->api->http_header(
					     res->response, "Set-Cookie", i));
			     i++) {
				size_t n = strcspn(sc, ";\r\n");

				sdk_buf_adds(&ck, ck.len ? "; " : "Cookie: ");
				sdk_buf_add(&ck, sc, n);
			}
			if (ck.len)
				j->cookie = sdk_buf_detach(&ck);
			sdk_buf_release(&ck);
		}
		j->crumb_state = 1;
		json_decref(root);
		jk_send(c);
		return;
	}
	json_decref(root);
	{
		struct jk_call tmp = *c;
		char *err;

		tmp.what = "the crumb issuer";
		err = jk_error(&tmp, res);
		jk_finish_error(c, err, res->code);
		free(err);
	}
}

static void jk_crumb_then_send(struct jk_call *c)
{
	struct sdk_jenkins *j = c->j;
	struct sdk_http_call call = {0};
	char *url;
	const char *headers[] = {"Accept: application/json", NULL};

	if (!j->use_crumb || j->crumb_state) {
		jk_send(c);
		return;
	}
	url = sdk_xasprintf("%scrumbIssuer/api/json", j->root);
	call.service = j->service;
	call.url = url;
	call.headers = headers;
	call.username = j->user;
	call.password = j->secret;
	call.flags = SDK_HTTP_IDEMPOTENT;
	sdk_http_queue_add(j->q, &call, jk_crumb_answered, c);
	free(url);
}

static struct jk_call *jk_new(struct sdk_jenkins *j, enum jk_kind kind,
			      void *fn, void *data, const char *what)
{
	struct jk_call *c = sdk_xcalloc(1, sizeof(*c));

	c->j = j;
	c->kind = kind;
	c->fn = fn;
	c->data = data;
	c->what = clean(what);
	return c;
}

void sdk_jenkins_get(struct sdk_jenkins *j, const char *path,
		     sdk_jenkins_json_fn *fn, void *data)
{
	struct jk_call *c = jk_new(j, JK_JSON, (void *)fn, data, path);

	c->path = sdk_xstrdup(path);
	jk_send(c);
}

/* Appends the tree= value, brackets percent-encoded. */
static void tree_level(struct sdk_buf *b, int depth)
{
	sdk_buf_adds(b, "name,fullName,url,color,"
			"lastBuild%5Bnumber,building%5D,"
			"lastCompletedBuild%5Bnumber,result,duration,"
			"timestamp,url%5D");
	if (depth > 0) {
		sdk_buf_adds(b, ",jobs%5B");
		tree_level(b, depth - 1);
		sdk_buf_adds(b, "%5D");
	} else {
		sdk_buf_adds(b, ",jobs%5Bname%5D");
	}
}

void sdk_jenkins_list(struct sdk_jenkins *j, const char *folder, int depth,
		      sdk_jenkins_list_fn *fn, void *data)
{
	struct sdk_buf p = SDK_BUF_INIT;
	struct jk_call *c;
	char *what =
	    sdk_xasprintf("folder %s", folder && *folder ? folder : "(root)");

	c = jk_new(j, JK_LIST, (void *)fn, data, what);
	free(what);
	c->prefix = sdk_xstrdup(folder ? folder : "");
	sdk_jenkins_job_path(&p, j->api, folder);
	sdk_buf_adds(&p, "api/json?tree=jobs%5B");
	tree_level(&p, depth < 0 ? 0 : depth > 8 ? 8 : depth);
	sdk_buf_adds(&p, "%5D");
	c->path = sdk_buf_detach(&p);
	jk_send(c);
}

void sdk_jenkins_build(struct sdk_jenkins *j, const char *job, long number,
		       sdk_jenkins_build_fn *fn, void *data)
{
	struct sdk_buf p = SDK_BUF_INIT;
	struct jk_call *c;
	char *what;

	if (number > 0)
		what = sdk_xasprintf("build %s #%ld", job, number);
	else
		what = sdk_xasprintf("a build of job %s", job);
	c = jk_new(j, JK_BUILD, (void *)fn, data, what);
	free(what);
	sdk_jenkins_job_path(&p, j->api, job);
	if (number > 0)
		sdk_buf_addf(&p, "%ld/", number);
	else if (number == SDK_JENKINS_LAST)
		sdk_buf_adds(&p, "lastBuild/");
	else
		sdk_buf_adds(&p, "lastCompletedBuild/");
	sdk_buf_adds(&p, "api/json?tree=number,result,building,duration,"
			 "estimatedDuration,timestamp,url,fullDisplayName,"
			 "culprits%5BfullName%5D,"
			 "runs%5Bnumber,result,building,url%5D");
	c->path = sdk_buf_detach(&p);
	c->number = number;
	jk_send(c);
}

void sdk_jenkins_trigger(struct sdk_jenkins *j, const char *job,
			 const char *const *params, int nparams,
			 sdk_jenkins_trigger_fn *fn, void *data)
{
	struct sdk_buf p = SDK_BUF_INIT, body = SDK_BUF_INIT;
	char *what = sdk_xasprintf("job %s", job);
	struct jk_call *c = jk_new(j, JK_TRIGGER, (void *)fn, data, what);

	free(what);
	sdk_jenkins_job_path(&p, j->api, job);
	if (nparams > 0) {
		sdk_buf_adds(&p, "buildWithParameters");
		for (int i = 0; i < nparams; i++)
			sdk_form_add(&body, j->api, params[2 * i],
				     params[2 * i + 1] ? params[2 * i + 1]
						       : "");
		c->body = sdk_buf_detach(&body);
	} else {
		sdk_buf_adds(&p, "build");
	}
	c->path = sdk_buf_detach(&p);
	c->method = sdk_xstrdup("POST");
	sdk_buf_release(&body);
	jk_crumb_then_send(c);
}

void sdk_jenkins_queue_item(struct sdk_jenkins *j, long id,
			    sdk_jenkins_item_fn *fn, void *data)
{
	char *what = sdk_xasprintf("queue item %ld", id);
	struct jk_call *c = jk_new(j, JK_ITEM, (void *)fn, data, what);

	free(what);
	c->path = sdk_xasprintf("queue/item/%ld/api/json", id);
	jk_send(c);
}

void sdk_jenkins_stop(struct sdk_jenkins *j, const char *job, long number,
		      sdk_jenkins_done_fn *fn, void *data)
{
	struct sdk_buf p = SDK_BUF_INIT;
	char *what = sdk_xasprintf("build %s #%ld", job, number);
	struct jk_call *c = jk_new(j, JK_DONE, (void *)fn, data, what);

	free(what);
	sdk_jenkins_job_path(&p, j->api, job);
	sdk_buf_addf(&p, "%ld/stop", number);
	c->path = sdk_buf_detach(&p);
	c->method = sdk_xstrdup("POST");
	jk_crumb_then_send(c);
}

void sdk_jenkins_cancel_item(struct sdk_jenkins *j, long id,
			     sdk_jenkins_done_fn *fn, void *data)
{
	char *what = sdk_xasprintf("queue item %ld", id);
	struct jk_call *c = jk_new(j, JK_DONE, (void *)fn, data, what);

	free(what);
	c->path = sdk_xasprintf("queue/cancelItem?id=%ld", id);
	c->method = sdk_xstrdup("POST");
	jk_crumb_then_send(c);
}

/* ------------------------------------------------------------------------ */
/* Following                                                                 */

struct sdk_jenkins_follow {
	struct sdk_jenkins *j;
	char *job;
	long queue_id, number;
	char *url;
	struct sdk_jenkins_follow_options o;
	sdk_jenkins_follow_fn *fn;
	void *data;
	int64_t started_at, timer;
	int busy;     /* calls in flight + frames of ours on the stack */
	int stopped;  /* no more callbacks */
	int finished; /* the final event was given */
	int queued_told, started_told, errors;
};

static void follow_poll(struct sdk_jenkins_follow *f);

/* Frees f when it ended and nothing refers to it; 1 if freed. */
static int follow_maybe_free(struct sdk_jenkins_follow *f)
{
	if ((f->stopped || f->finished) && !f->busy && !f->timer) {
		free(f->job);
		free(f->url);
		free(f);
		return 1;
	}
	return 0;
}

static void follow_tell(struct sdk_jenkins_follow *f,
			struct sdk_jenkins_follow_update *u)
{
	u->queue_id = f->queue_id;
	if (!u->number)
		u->number = f->number;
	if (!u->url)
		u->url = f->url;
	if (u->event >= SDK_JENKINS_FOLLOW_FINISHED)
		f->finished = 1;
	if (!f->stopped) {
		f->busy++; /* the callback may stop f */
		f->fn(u, f->data);
		f->busy--;
	}
}

static void follow_fail(struct sdk_jenkins_follow *f, const char *error)
{
	struct sdk_jenkins_follow_update u = {.event = SDK_JENKINS_FOLLOW_ERROR,
					      .error = error};

	follow_tell(f, &u);
}

static long follow_timer_fn(struct opsbot_plugin *self, int status, void *data)
{
	struct sdk_jenkins_follow *f = data;

	(void)self;
	f->timer = 0;
	if (status != OPSBOT_OK) {
		if (!f->finished)
			follow_fail(f, "cancelled");
		follow_maybe_free(f);
		return OPSBOT_TIMER_STOP;
	}
	if (f->stopped) {
		follow_maybe_free(f);
		return OPSBOT_TIMER_STOP;
	}
	follow_poll(f);
	return OPSBOT_TIMER_STOP;
}

static void follow_again(struct sdk_jenkins_follow *f)
{
	int64_t id;

	if (f->stopped || f->finished)
		return;
	if (f->j->api->now_ms() - f->started_at > f->o.max_ms) {
		char *msg =
		    sdk_xasprintf("jenkins %s: still not finished "
				  "after %lld s; no longer followed",
				  f->j->name, (long long)(f->o.max_ms / 1000));
		follow_fail(f, msg);
		free(msg);
		return;
	}
	id = f->j->api->timer_start(f->j->self, f->o.poll_ms, follow_timer_fn,
				    f);
	if (id < 0) {
		follow_fail(f, "cannot start a timer");
		return;
	}
	f->timer = id;
}

/* A failed poll: retried until o.errors in a row (404 ends at once). */
static void follow_poll_failed(struct sdk_jenkins_follow *f, const char *error,
			       long code)
{
	if (!strcmp(error, "cancelled") || code == 404 ||
	    ++f->errors >= f->o.errors)
		follow_fail(f, error);
	else
		follow_again(f);
}

static void follow_build_fn(const char *error,
			    const struct sdk_jenkins_build *b, void *data)
{
	struct sdk_jenkins_follow *f = data;

	if (f->stopped) {
		f->busy--;
		follow_maybe_free(f);
		return;
	}
	if (error) {
		follow_poll_failed(f, error, strstr(error, "(404)") ? 404 : 0);
	} else {
		f->errors = 0;
		if (b->url && !f->url)
			f->url = sdk_xstrdup(b->url);
		if (!f->started_told) {
			struct sdk_jenkins_follow_update u = {
			    .event = SDK_JENKINS_FOLLOW_STARTED};

			f->started_told = 1;
			follow_tell(f, &u);
		}
		if (!b->building && b->result != SDK_JENKINS_NONE) {
			struct sdk_jenkins_follow_update u = {
			    .event = SDK_JENKINS_FOLLOW_FINISHED, .build = b};

			follow_tell(f, &u);
		} else {
			follow_again(f);
		}
	}
	f->busy--;
	follow_maybe_free(f);
}

static void follow_item_fn(const char *error, long code,
			   const struct sdk_jenkins_item *it, void *data)
{
	struct sdk_jenkins_follow *f = data;

	if (f->stopped) {
		f->busy--;
		follow_maybe_free(f);
		return;
	}
	if (error) {
		follow_poll_failed(f, error, code);
	} else if (it->state == SDK_JENKINS_ITEM_CANCELLED) {
		struct sdk_jenkins_follow_update u = {
		    .event = SDK_JENKINS_FOLLOW_CANCELLED};

		follow_tell(f, &u);
	} else if (it->state == SDK_JENKINS_ITEM_WAITING) {
		f->errors = 0;
		if (!f->queued_told) {
			struct sdk_jenkins_follow_update u = {
			    .event = SDK_JENKINS_FOLLOW_QUEUED, .why = it->why};

			f->queued_told = 1;
			follow_tell(f, &u);
		}
		follow_again(f);
	} else {
		f->errors = 0;
		f->number = it->number;
		free(f->url);
		f->url = sdk_xstrdup_or_null(it->url);
		f->started_told = 1;
		{
			struct sdk_jenkins_follow_update u = {
			    .event = SDK_JENKINS_FOLLOW_STARTED};

			follow_tell(f, &u);
		}
		/* the build may be done already: look at once */
		if (!f->stopped && !f->finished) {
			f->busy++;
			sdk_jenkins_build(f->j, f->job, f->number,
					  follow_build_fn, f);
		}
	}
	f->busy--;
	follow_maybe_free(f);
}

static void follow_poll(struct sdk_jenkins_follow *f)
{
	f->busy++;
	if (f->number > 0)
		sdk_jenkins_build(f->j, f->job, f->number, follow_build_fn, f);
	else
		sdk_jenkins_queue_item(f->j, f->queue_id, follow_item_fn, f);
}

struct sdk_jenkins_follow *
sdk_jenkins_follow_start(struct sdk_jenkins *j, const char *job, long queue_id,
			 long number,
			 const struct sdk_jenkins_follow_options *opts,
			 sdk_jenkins_follow_fn *fn, void *data)
{
	struct sdk_jenkins_follow *f = sdk_xcalloc(1, sizeof(*f));

	f->j = j;
	f->job = sdk_xstrdup(job);
	f->queue_id = queue_id;
	f->number = queue_id > 0 ? 0 : number;
	if (opts)
		f->o = *opts;
	if (f->o.poll_ms <= 0)
		f->o.poll_ms = 5000;
	if (f->o.max_ms <= 0)
		f->o.max_ms = 6LL * 3600 * 1000;
	if (f->o.errors <= 0)
		f->o.errors = 10;
	f->fn = fn;
	f->data = data;
	f->started_at = j->api->now_ms();
	f->busy++; /* the first poll may end at once (a closed queue) */
	follow_poll(f);
	f->busy--;
	return follow_maybe_free(f) ? NULL : f;
}

void sdk_jenkins_follow_stop(struct sdk_jenkins_follow *f)
{
	if (!f)
		return;
	f->stopped = 1;
	if (f->timer)
		f->j->api->cancel(f->j->self, f->timer);
	follow_maybe_free(f);
}

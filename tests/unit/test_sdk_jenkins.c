/*
 * test_sdk_jenkins.c - the SDK's Jenkins client (plugins/sdk/sdk_jenkins.h)
 * on the fake host's virtual time: URLs and tree= queries, parsing of
 * listings (folders, matrix), builds (culprits, matrix runs), queue
 * items; triggering (201, 303, 409, 404, 500, 401, 403, HTML), CSRF
 * crumbs with session cookies and one resend after a stale crumb;
 * following a queue item to the end of its build; stop and cancel; no
 * secret in any error.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/check_main.h"
#include "../lib/fakehost.h"
#include "sdk_jenkins.h"

static struct fakehost *host;
static struct sdk_http_queue queue;
static struct sdk_jenkins jk;

/* A route: the first whose method and URL part match answers. */
struct route {
	const char *method; /* NULL: any */
	const char *url;    /* substring */
	long code;
	const char *body;
	const char *headers[4];
	int times; /* 0: always; else answers that often, then passes */
	int used;
};
static struct route routes[16];
static int nroutes;

/* What was asked, in order. */
struct seen {
	char method[8];
	char url[1024];
	char headers[512];
	char body[256];
	char user[32], password[32];
};
static struct seen seen[64];
static int nseen;

static void route(const char *method, const char *url, long code,
		  const char *body, const char *h0, int times)
{
	struct route *r = &routes[nroutes++];

	memset(r, 0, sizeof(*r));
	r->method = method;
	r->url = url;
	r->code = code;
	r->body = body;
	r->headers[0] = h0;
	r->times = times;
}

static void http_fn(const struct opsbot_http_request *req,
		    struct fakehost_reply *reply, void *data)
{
	struct seen *s = &seen[nseen < 63 ? nseen++ : 63];
	const char *method = req->method ? req->method : "GET";

	(void)data;
	memset(s, 0, sizeof(*s));
	snprintf(s->method, sizeof(s->method), "%s", method);
	snprintf(s->url, sizeof(s->url), "%s", req->url);
	for (const char *const *h = req->headers; h && *h; h++) {
		strncat(s->headers, *h,
			sizeof(s->headers) - strlen(s->headers) - 2);
		strncat(s->headers, "|",
			sizeof(s->headers) - strlen(s->headers) - 1);
	}
	if (req->body)
		snprintf(s->body, sizeof(s->body), "%.*s", (int)req->body_len,
			 req->body);
	snprintf(s->user, sizeof(s->user), "%s",
		 req->username ? req->username : "");
	snprintf(s->password, sizeof(s->password), "%s",
		 req->password ? req->password : "");
	reply->delay_ms = 50;
	reply->request_sent = 1;
	for (int i = 0; i < nroutes; i++) {
		struct route *r = &routes[i];

		if (r->method && strcmp(r->method, method))
			continue;
		if (!strstr(req->url, r->url))
			continue;
		if (r->times && r->used >= r->times)
			continue;
		r->used++;
		reply->status = OPSBOT_OK;
		reply->code = r->code;
		reply->body = r->body;
		for (int k = 0; k < 4 && r->headers[k]; k++)
			reply->headers[k] = r->headers[k];
		return;
	}
	reply->code = 404;
	reply->body = "<html><body>Not Found</body></html>";
}

static void setup_with(const char *user, const char *token,
		       const char *password)
{
	const struct sdk_http_options opts = {
	    .concurrency = 2,
	    .max_attempts = 2,
	    .backoff_base_ms = 100,
	    .backoff_max_ms = 1000,
	    .seed = 7,
	};
	const struct sdk_http_service svc = {.name = "jenkins"};
	struct sdk_jenkins_config cfg = {
	    .name = "main",
	    .url = "http://jenkins.test/ctx",
	    .user = user,
	    .token = token,
	    .password = password,
	};
	struct sdk_buf err = SDK_BUF_INIT;

	host = fakehost_new();
	sdk_http_queue_init(&queue, fakehost_plugin(host), fakehost_api(host),
			    &opts);
	cfg.service = sdk_http_service_add(&queue, &svc);
	ck_assert_int_eq(sdk_jenkins_init(&jk, &queue, &cfg, &err), 0);
	fakehost_on_http(host, http_fn, NULL);
	nroutes = nseen = 0;
}

static void setup(void)
{
	setup_with("bot", "sekrit-token", NULL);
}

static void teardown(void)
{
	sdk_http_queue_cancel_all(&queue);
	fakehost_run(host, 1000);
	sdk_jenkins_free(&jk);
	fakehost_free(host);
}

/* ------------------------------------------------------------------------ */

START_TEST(test_init_and_paths)
{
	struct sdk_jenkins bad;
	struct sdk_buf err = SDK_BUF_INIT, b = SDK_BUF_INIT;
	struct sdk_jenkins_config cfg = {.name = "x", .url = "ftp://x/"};
	char *url;

	ck_assert_int_eq(sdk_jenkins_init(&bad, &queue, &cfg, &err), -1);
	ck_assert_ptr_nonnull(strstr(sdk_buf_str(&err), "ftp://x/"));
	ck_assert_ptr_null(strchr(sdk_buf_str(&err), '\n'));
	sdk_buf_release(&err);

	ck_assert_str_eq(jk.root, "http://jenkins.test/ctx/");
	sdk_jenkins_job_path(&b, fakehost_api(host), "team/my app/main");
	ck_assert_str_eq(sdk_buf_str(&b), "job/team/job/my%20app/job/main/");
	sdk_buf_reset(&b);
	/* a name cannot climb out of the job tree or add a query */
	sdk_jenkins_job_path(&b, fakehost_api(host), "../x?y#/.");
	ck_assert_str_eq(sdk_buf_str(&b), "job/%2E%2E/job/x%3Fy%23/job/%2E/");
	sdk_buf_release(&b);
	url = sdk_jenkins_job_url(&jk, "a//b/");
	ck_assert_str_eq(url, "http://jenkins.test/ctx/job/a/job/b/");
	free(url);

	ck_assert_int_eq(sdk_jenkins_result_parse("FAILURE"),
			 SDK_JENKINS_FAILURE);
	ck_assert_int_eq(sdk_jenkins_result_parse(NULL), SDK_JENKINS_NONE);
	ck_assert_int_eq(sdk_jenkins_result_parse("WEIRD"), SDK_JENKINS_OTHER);
	ck_assert_str_eq(sdk_jenkins_result_name(SDK_JENKINS_ABORTED),
			 "ABORTED");
}
END_TEST

/* --- listing ---------------------------------------------------------- */

static const char *listing =
    "{\"_class\":\"hudson.model.Hudson\",\"jobs\":["
    "{\"_class\":\"hudson.matrix.MatrixProject\",\"name\":\"kallithea\","
    "\"fullName\":\"kallithea\",\"url\":\"http://j/job/kallithea/\","
    "\"color\":\"red_anime\",\"lastBuild\":{\"number\":213,\"building\":true},"
    "\"lastCompletedBuild\":{\"number\":212,\"result\":\"FAILURE\","
    "\"duration\":252000,\"timestamp\":1700000000000,"
    "\"url\":\"http://j/job/kallithea/212/\"}},"
    "{\"_class\":\"com.cloudbees.hudson.plugins.folder.Folder\","
    "\"name\":\"team\",\"url\":\"http://j/job/team/\",\"jobs\":["
    "{\"_class\":\"hudson.model.FreeStyleProject\",\"name\":\"app\","
    "\"color\":\"blue\",\"lastBuild\":{\"number\":3,\"building\":false},"
    "\"lastCompletedBuild\":{\"number\":3,\"result\":\"SUCCESS\"}},"
    "{\"name\":\"never\",\"color\":\"notbuilt\",\"lastBuild\":null,"
    "\"lastCompletedBuild\":null}, 7, {\"noname\":1}]}]}";

struct got_list {
	int calls;
	char error[256];
	int njobs;
	char names[8][64];
	enum sdk_jenkins_job_kind kinds[8];
	long completed[8], last[8];
	enum sdk_jenkins_result results[8];
	int building[8];
};

static void list_fn(const char *error, const struct sdk_jenkins_job_list *l,
		    void *data)
{
	struct got_list *g = data;

	g->calls++;
	snprintf(g->error, sizeof(g->error), "%s", error ? error : "");
	if (!l)
		return;
	g->njobs = l->njobs;
	for (int i = 0; i < l->njobs && i < 8; i++) {
		snprintf(g->names[i], 64, "%s", l->jobs[i].full_name);
		g->kinds[i] = l->jobs[i].kind;
		g->completed[i] = l->jobs[i].last_completed.number;
		g->results[i] = l->jobs[i].last_completed.result;
		g->last[i] = l->jobs[i].last_number;
		g->building[i] = l->jobs[i].building;
	}
}

START_TEST(test_list)
{
	struct got_list g = {0};

	route("GET", "/ctx/api/json?tree=jobs%5B", 200, listing, NULL, 0);
	sdk_jenkins_list(&jk, NULL, 2, list_fn, &g);
	fakehost_run(host, 10000);
	ck_assert_int_eq(g.calls, 1);
	ck_assert_str_eq(g.error, "");
	ck_assert_int_eq(nseen, 1); /* one request for every job */
	ck_assert_str_eq(seen[0].user, "bot");
	ck_assert_str_eq(seen[0].password, "sekrit-token");
	/* nested twice for depth 2, brackets encoded */
	ck_assert_ptr_nonnull(strstr(seen[0].url, ",jobs%5Bname,fullName"));
	ck_assert_ptr_null(strchr(seen[0].url, '['));
	ck_assert_int_eq(g.njobs, 4);
	ck_assert_str_eq(g.names[0], "kallithea");
	ck_assert_int_eq(g.kinds[0], SDK_JENKINS_MATRIX);
	ck_assert_int_eq(g.completed[0], 212);
	ck_assert_int_eq(g.results[0], SDK_JENKINS_FAILURE);
	ck_assert_int_eq(g.last[0], 213);
	ck_assert_int_eq(g.building[0], 1);
	ck_assert_str_eq(g.names[1], "team");
	ck_assert_int_eq(g.kinds[1], SDK_JENKINS_FOLDER);
	ck_assert_str_eq(g.names[2], "team/app"); /* built: no fullName */
	ck_assert_int_eq(g.results[2], SDK_JENKINS_SUCCESS);
	ck_assert_str_eq(g.names[3], "team/never");
	ck_assert_int_eq(g.completed[3], 0);
}
END_TEST

START_TEST(test_list_folder_and_errors)
{
	struct got_list g = {0};

	route("GET", "/ctx/job/team/api/json", 200,
	      "<!DOCTYPE html><html><body>Sign in</body></html>", NULL, 1);
	route("GET", "/ctx/job/team/api/json", 503,
	      "<html><body>\nService\r\nUnavailable</body></html>", NULL, 0);
	sdk_jenkins_list(&jk, "team", 0, list_fn, &g);
	fakehost_run(host, 10000);
	ck_assert_int_eq(g.calls, 1);
	ck_assert_str_eq(g.error, "jenkins main: unexpected html answer (200)");
	/* JSON of another layout is not an empty folder */
	memset(&g, 0, sizeof(g));
	nroutes = 0;
	route("GET", "/ctx/job/team/api/json", 200, "{\"items\":[]}", NULL, 1);
	route("GET", "/ctx/job/team/api/json", 503,
	      "<html><body>\nService\r\nUnavailable</body></html>", NULL, 0);
	sdk_jenkins_list(&jk, "team", 0, list_fn, &g);
	fakehost_run(host, 10000);
	ck_assert_str_eq(g.error,
			 "jenkins main: unexpected answer, no jobs list (200)");
	/* a 503 is retried (GET), then ends with one line */
	memset(&g, 0, sizeof(g));
	nseen = 0;
	sdk_jenkins_list(&jk, "team", 0, list_fn, &g);
	fakehost_run(host, 10000);
	ck_assert_int_eq(g.calls, 1);
	ck_assert_int_eq(nseen, 2);
	ck_assert_ptr_nonnull(strstr(g.error, "503"));
	ck_assert_ptr_null(strpbrk(g.error, "\r\n"));
	ck_assert_ptr_null(strstr(g.error, "sekrit"));
}
END_TEST

/* --- builds ----------------------------------------------------------- */

struct got_build {
	int calls;
	char error[256];
	long number;
	enum sdk_jenkins_result result;
	int building, nculprits, nruns;
	char culprit0[64], axes[256];
	long long duration;
};

static void build_fn(const char *error, const struct sdk_jenkins_build *b,
		     void *data)
{
	struct got_build *g = data;

	g->calls++;
	snprintf(g->error, sizeof(g->error), "%s", error ? error : "");
	if (!b)
		return;
	g->number = b->number;
	g->result = b->result;
	g->building = b->building;
	g->duration = b->duration_ms;
	g->nculprits = b->nculprits;
	if (b->nculprits)
		snprintf(g->culprit0, sizeof(g->culprit0), "%s",
			 b->culprits[0]);
	g->nruns = b->nruns;
	g->axes[0] = '\0';
	for (int i = 0; i < b->nruns; i++) {
		strncat(g->axes, b->runs[i].axis,
			sizeof(g->axes) - strlen(g->axes) - 1);
		strncat(g->axes, ":", sizeof(g->axes) - strlen(g->axes) - 1);
		strncat(g->axes, sdk_jenkins_result_name(b->runs[i].result),
			sizeof(g->axes) - strlen(g->axes) - 1);
		strncat(g->axes, " ", sizeof(g->axes) - strlen(g->axes) - 1);
	}
}

START_TEST(test_build_matrix)
{
	struct got_build g = {0};

	route("GET", "/job/kallithea/212/api/json?tree=", 200,
	      "{\"_class\":\"hudson.matrix.MatrixBuild\",\"number\":212,"
	      "\"result\":\"FAILURE\",\"building\":false,\"duration\":252000,"
	      "\"culprits\":[{\"fullName\":\"Alice\"},{\"x\":1}],\"runs\":["
	      "{\"number\":212,\"result\":\"SUCCESS\",\"url\":"
	      "\"http://j/job/kallithea/database=sqlite/212/\"},"
	      "{\"number\":212,\"result\":\"FAILURE\",\"url\":"
	      "\"http://j/job/kallithea/database=postgresql/212/\"},"
	      "{\"number\":180,\"result\":\"FAILURE\",\"url\":"
	      "\"http://j/job/kallithea/database=oracle/180/\"}]}",
	      NULL, 0);
	sdk_jenkins_build(&jk, "kallithea", 212, build_fn, &g);
	fakehost_run(host, 10000);
	ck_assert_int_eq(g.calls, 1);
	ck_assert_str_eq(g.error, "");
	ck_assert_ptr_nonnull(strstr(seen[0].url, "culprits%5BfullName%5D"));
	ck_assert_int_eq(g.number, 212);
	ck_assert_int_eq(g.result, SDK_JENKINS_FAILURE);
	ck_assert_int_eq(g.duration, 252000);
	ck_assert_int_eq(g.nculprits, 1);
	ck_assert_str_eq(g.culprit0, "Alice");
	/* the old run of a configuration not rebuilt is left out */
	ck_assert_int_eq(g.nruns, 2);
	ck_assert_str_eq(g.axes, "database=sqlite:SUCCESS "
				 "database=postgresql:FAILURE ");
}
END_TEST

START_TEST(test_build_last_never_ran)
{
	struct got_build g = {0};

	route("GET", "/job/x/lastBuild/api/json", 404,
	      "<html><body>Not Found</body></html>", NULL, 0);
	sdk_jenkins_build(&jk, "x", SDK_JENKINS_LAST, build_fn, &g);
	fakehost_run(host, 10000);
	ck_assert_int_eq(g.calls, 1);
	ck_assert_str_eq(g.error, "jenkins main: a build of job x not found "
				  "(404)");
	memset(&g, 0, sizeof(g));
	route("GET", "/job/y/lastCompletedBuild/api/json", 200,
	      "{\"number\":5,\"result\":null,\"building\":true}", NULL, 0);
	sdk_jenkins_build(&jk, "y", SDK_JENKINS_LAST_COMPLETED, build_fn, &g);
	fakehost_run(host, 10000);
	ck_assert_str_eq(g.error, "");
	ck_assert_int_eq(g.result, SDK_JENKINS_NONE);
	ck_assert_int_eq(g.building, 1);
}
END_TEST

/* --- triggering -------------------------------------------------------- */

struct got_trigger {
	int calls;
	char error[256];
	long code, queue_id;
	int existing;
};

static void trigger_fn(const char *error, long code,
		       const struct sdk_jenkins_queued *q, void *data)
{
	struct got_trigger *g = data;

	g->calls++;
	g->code = code;
	snprintf(g->error, sizeof(g->error), "%s", error ? error : "");
	if (q) {
		g->queue_id = q->queue_id;
		g->existing = q->existing;
	}
}

static const char *const params[] = {"BRANCH", "stable & more", "DB", "pg"};

START_TEST(test_trigger_created_and_existing)
{
	struct got_trigger g = {0};

	route("POST", "/job/kallithea/buildWithParameters", 201, "",
	      "Location: http://jenkins.test/ctx/queue/item/73/", 1);
	route("POST", "/job/kallithea/buildWithParameters", 303, "",
	      "Location: http://jenkins.test/ctx/queue/item/73/", 1);
	route("POST", "/job/plain/build", 201, "",
	      "Location: http://jenkins.test/ctx/queue/item/74/", 1);
	sdk_jenkins_trigger(&jk, "kallithea", params, 2, trigger_fn, &g);
	fakehost_run(host, 10000);
	ck_assert_int_eq(g.calls, 1);
	ck_assert_str_eq(g.error, "");
	ck_assert_int_eq(g.code, 201);
	ck_assert_int_eq(g.queue_id, 73);
	ck_assert_int_eq(g.existing, 0);
	/* token auth: no crumb request, the form in the body */
	ck_assert_int_eq(nseen, 1);
	ck_assert_str_eq(seen[0].method, "POST");
	ck_assert_str_eq(seen[0].body, "BRANCH=stable%20%26%20more&DB=pg");
	ck_assert_ptr_nonnull(strstr(seen[0].headers, "x-www-form-urlencoded"));
	ck_assert_ptr_null(strstr(seen[0].headers, "Crumb"));

	memset(&g, 0, sizeof(g));
	sdk_jenkins_trigger(&jk, "kallithea", params, 2, trigger_fn, &g);
	fakehost_run(host, 10000);
	ck_assert_int_eq(g.code, 303);
	ck_assert_int_eq(g.queue_id, 73);
	ck_assert_int_eq(g.existing, 1);

	memset(&g, 0, sizeof(g));
	sdk_jenkins_trigger(&jk, "plain", NULL, 0, trigger_fn, &g);
	fakehost_run(host, 10000);
	ck_assert_int_eq(g.queue_id, 74);
	ck_assert_ptr_nonnull(strstr(seen[nseen - 1].url, "/job/plain/build"));
}
END_TEST

START_TEST(test_trigger_errors)
{
	static const struct {
		long code;
		const char *body, *expect;
	} cases[] = {
	    {409, "<html>x is not buildable</html>",
	     "jenkins main: job j is disabled or not buildable (409)"},
	    {404, "<html>nope</html>", "jenkins main: job j not found (404)"},
	    {500,
	     "<html><pre>java.lang.IllegalStateException: This build is not "
	     "parameterized!</pre></html>",
	     "jenkins main: job j takes no parameters, or failed (500)"},
	    {401, "<html>Invalid password/token</html>",
	     "jenkins main: bad credentials (401)"},
	    {403, "<html>bot is missing the Job/Build permission</html>",
	     "jenkins main: permission denied for job j (403)"},
	    {200, "<html>Sign in</html>",
	     "jenkins main: unexpected html answer (200)"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct got_trigger g = {0};

		nroutes = nseen = 0;
		route("POST", "/job/j/", cases[i].code, cases[i].body, NULL, 0);
		sdk_jenkins_trigger(&jk, "j", params, 1, trigger_fn, &g);
		fakehost_run(host, 60000);
		ck_assert_int_eq(g.calls, 1);
		ck_assert_str_eq(g.error, cases[i].expect);
		/* a POST is never repeated, not even after a 500 */
		ck_assert_int_eq(nseen, 1);
		ck_assert_ptr_null(strstr(g.error, "sekrit"));
	}
}
END_TEST

static void refused_fn(const struct opsbot_http_request *req,
		       struct fakehost_reply *reply, void *data)
{
	(void)req;
	(void)data;
	reply->status = OPSBOT_ERR;
	reply->code = 0;
	reply->request_sent = 0;
	reply->error = "could not connect: connection refused";
	reply->delay_ms = 10;
}

static void lost_fn(const struct opsbot_http_request *req,
		    struct fakehost_reply *reply, void *data)
{
	(void)data;
	nseen++;
	reply->status = req->method ? OPSBOT_ETIMEDOUT : OPSBOT_OK;
	reply->code = 0;
	reply->request_sent = 1;
	reply->error = "timed out";
	reply->delay_ms = 10;
}

START_TEST(test_trigger_answer_lost)
{
	struct got_trigger g = {0};

	fakehost_on_http(host, lost_fn, NULL);
	sdk_jenkins_trigger(&jk, "j", NULL, 0, trigger_fn, &g);
	fakehost_run(host, 60000);
	ck_assert_int_eq(g.calls, 1);
	/* sent once, and the error says it may have been queued */
	ck_assert_int_eq(nseen, 1);
	ck_assert_msg(strstr(g.error, "may have been acted on"), "%s", g.error);
}
END_TEST

START_TEST(test_trigger_unreachable)
{
	struct got_trigger g = {0};

	fakehost_on_http(host, refused_fn, NULL);
	/* a job name with control characters comes back cleaned */
	sdk_jenkins_trigger(&jk, "evil\r\nPRIVMSG #x :hi", NULL, 0, trigger_fn,
			    &g);
	fakehost_run(host, 60000);
	ck_assert_int_eq(g.calls, 1);
	ck_assert_ptr_nonnull(strstr(g.error, "jenkins main: "));
	ck_assert_ptr_null(strpbrk(g.error, "\r\n"));
}
END_TEST

/* --- crumbs ------------------------------------------------------------- */

static void crumb_setup(void)
{
	setup_with("bot", NULL, "pass-word");
}

START_TEST(test_crumb_session)
{
	struct got_trigger g = {0};

	route("GET", "/ctx/crumbIssuer/api/json", 200,
	      "{\"_class\":\"hudson.security.csrf.DefaultCrumbIssuer\","
	      "\"crumb\":\"6e78c5\",\"crumbRequestField\":\"Jenkins-Crumb\"}",
	      "Set-Cookie: JSESSIONID.4f2a=abc123; Path=/; HttpOnly", 0);
	route("POST", "/job/j/build", 201, "",
	      "Location: http://jenkins.test/ctx/queue/item/9/", 0);
	sdk_jenkins_trigger(&jk, "j", NULL, 0, trigger_fn, &g);
	fakehost_run(host, 10000);
	ck_assert_str_eq(g.error, "");
	ck_assert_int_eq(g.queue_id, 9);
	ck_assert_int_eq(nseen, 2);
	ck_assert_ptr_nonnull(strstr(seen[0].url, "crumbIssuer"));
	ck_assert_str_eq(seen[1].password, "pass-word");
	ck_assert_ptr_nonnull(
	    strstr(seen[1].headers, "Jenkins-Crumb: 6e78c5|"));
	ck_assert_ptr_nonnull(
	    strstr(seen[1].headers, "Cookie: JSESSIONID.4f2a=abc123|"));
	/* the crumb is kept: the next POST needs no new one */
	sdk_jenkins_trigger(&jk, "j", NULL, 0, trigger_fn, &g);
	fakehost_run(host, 10000);
	ck_assert_int_eq(nseen, 3);
	ck_assert_str_eq(seen[2].method, "POST");
}
END_TEST

START_TEST(test_crumb_stale_resent_once)
{
	struct got_trigger g = {0};

	route("GET", "/ctx/crumbIssuer/api/json", 200,
	      "{\"crumb\":\"c1\",\"crumbRequestField\":\"Jenkins-Crumb\"}",
	      NULL, 0);
	route("POST", "/job/j/build", 403,
	      "<html>No valid crumb was included in the request</html>", NULL,
	      2);
	route("POST", "/job/j/build", 201, "",
	      "Location: http://jenkins.test/ctx/queue/item/10/", 0);
	sdk_jenkins_trigger(&jk, "j", NULL, 0, trigger_fn, &g);
	fakehost_run(host, 10000);
	/* crumb, POST 403, crumb again, POST 403: given up after one resend */
	ck_assert_int_eq(nseen, 4);
	ck_assert_str_eq(g.error, "jenkins main: no valid crumb (403)");
	/* then a fresh crumb works */
	memset(&g, 0, sizeof(g));
	sdk_jenkins_trigger(&jk, "j", NULL, 0, trigger_fn, &g);
	fakehost_run(host, 10000);
	ck_assert_str_eq(g.error, "");
	ck_assert_int_eq(g.queue_id, 10);
}
END_TEST

START_TEST(test_crumb_off)
{
	struct got_trigger g = {0};

	route("GET", "/ctx/crumbIssuer/api/json", 404, "<html/>", NULL, 0);
	route("POST", "/job/j/build", 201, "",
	      "Location: http://jenkins.test/ctx/queue/item/11/", 0);
	sdk_jenkins_trigger(&jk, "j", NULL, 0, trigger_fn, &g);
	fakehost_run(host, 10000);
	sdk_jenkins_trigger(&jk, "j", NULL, 0, trigger_fn, &g);
	fakehost_run(host, 10000);
	ck_assert_str_eq(g.error, "");
	/* asked once: CSRF protection is off */
	ck_assert_int_eq(nseen, 3);
	ck_assert_ptr_null(strstr(seen[1].headers, "Crumb"));
}
END_TEST

/* --- queue items, stop, cancel ------------------------------------------ */

struct got_item {
	int calls;
	char error[256];
	enum sdk_jenkins_item_state state;
	long number;
	char why[128];
};

static void item_fn(const char *error, long code,
		    const struct sdk_jenkins_item *it, void *data)
{
	struct got_item *g = data;

	(void)code;
	g->calls++;
	snprintf(g->error, sizeof(g->error), "%s", error ? error : "");
	if (!it)
		return;
	g->state = it->state;
	g->number = it->number;
	snprintf(g->why, sizeof(g->why), "%s", it->why ? it->why : "");
}

START_TEST(test_queue_item_states)
{
	struct got_item g = {0};

	route("GET", "/queue/item/1/", 200,
	      "{\"_class\":\"hudson.model.Queue$WaitingItem\",\"id\":1,"
	      "\"why\":\"Waiting for next available executor\"}",
	      NULL, 0);
	route("GET", "/queue/item/2/", 200,
	      "{\"_class\":\"hudson.model.Queue$LeftItem\",\"id\":2,"
	      "\"cancelled\":false,\"executable\":{\"number\":14,"
	      "\"url\":\"http://j/job/x/14/\"}}",
	      NULL, 0);
	route("GET", "/queue/item/3/", 200,
	      "{\"_class\":\"hudson.model.Queue$LeftItem\",\"id\":3,"
	      "\"cancelled\":true,\"executable\":null}",
	      NULL, 0);
	sdk_jenkins_queue_item(&jk, 1, item_fn, &g);
	fakehost_run(host, 10000);
	ck_assert_int_eq(g.state, SDK_JENKINS_ITEM_WAITING);
	ck_assert_str_eq(g.why, "Waiting for next available executor");
	sdk_jenkins_queue_item(&jk, 2, item_fn, &g);
	fakehost_run(host, 10000);
	ck_assert_int_eq(g.state, SDK_JENKINS_ITEM_STARTED);
	ck_assert_int_eq(g.number, 14);
	sdk_jenkins_queue_item(&jk, 3, item_fn, &g);
	fakehost_run(host, 10000);
	ck_assert_int_eq(g.state, SDK_JENKINS_ITEM_CANCELLED);
	sdk_jenkins_queue_item(&jk, 4, item_fn, &g);
	fakehost_run(host, 10000);
	ck_assert_str_eq(g.error, "jenkins main: queue item 4 not found (404)");
	ck_assert_int_eq(g.calls, 4);
}
END_TEST

struct got_done {
	int calls;
	char error[256];
};

static void done_fn(const char *error, long code, void *data)
{
	struct got_done *g = data;

	(void)code;
	g->calls++;
	snprintf(g->error, sizeof(g->error), "%s", error ? error : "");
}

START_TEST(test_stop_and_cancel)
{
	struct got_done a = {0}, b = {0}, c = {0};

	route("POST", "/job/x/14/stop", 302, "", "Location: http://j/job/x/14/",
	      0);
	route("POST", "/queue/cancelItem?id=7", 204, "", NULL, 0);
	sdk_jenkins_stop(&jk, "x", 14, done_fn, &a);
	sdk_jenkins_cancel_item(&jk, 7, done_fn, &b);
	sdk_jenkins_cancel_item(&jk, 8, done_fn, &c);
	fakehost_run(host, 10000);
	ck_assert_int_eq(a.calls + b.calls + c.calls, 3);
	ck_assert_str_eq(a.error, "");
	ck_assert_str_eq(b.error, "");
	ck_assert_str_eq(c.error, "jenkins main: queue item 8 not found (404)");
}
END_TEST

/* --- following ---------------------------------------------------------- */

struct got_follow {
	char events[256];
	int finals;
	long number;
	enum sdk_jenkins_result result;
	char error[256];
	struct sdk_jenkins_follow *f;
	int stop_on_started;
};

static void follow_fn(const struct sdk_jenkins_follow_update *u, void *data)
{
	struct got_follow *g = data;
	static const char *names[] = {"Q", "S", "F", "C", "E"};

	strncat(g->events, names[u->event],
		sizeof(g->events) - strlen(g->events) - 1);
	if (u->event >= SDK_JENKINS_FOLLOW_FINISHED)
		g->finals++;
	g->number = u->number;
	if (u->build)
		g->result = u->build->result;
	if (u->error)
		snprintf(g->error, sizeof(g->error), "%s", u->error);
	if (u->event == SDK_JENKINS_FOLLOW_STARTED && g->stop_on_started)
		sdk_jenkins_follow_stop(g->f);
}

START_TEST(test_follow_to_the_end)
{
	struct got_follow g = {0};
	const struct sdk_jenkins_follow_options o = {.poll_ms = 2000};

	route("GET", "/queue/item/73/", 200,
	      "{\"id\":73,\"why\":\"Waiting for next available executor\"}",
	      NULL, 2);
	route("GET", "/queue/item/73/", 200,
	      "{\"id\":73,\"cancelled\":false,\"executable\":{\"number\":14,"
	      "\"url\":\"http://j/job/x/14/\"}}",
	      NULL, 0);
	route("GET", "/job/x/14/api/json", 200,
	      "{\"number\":14,\"building\":true,\"result\":null}", NULL, 2);
	route("GET", "/job/x/14/api/json", 200,
	      "{\"number\":14,\"building\":false,\"result\":\"UNSTABLE\"}",
	      NULL, 0);
	g.f = sdk_jenkins_follow_start(&jk, "x", 73, 0, &o, follow_fn, &g);
	ck_assert_ptr_nonnull(g.f);
	fakehost_run(host, 600000);
	ck_assert_str_eq(g.events, "QSF");
	ck_assert_int_eq(g.finals, 1);
	ck_assert_int_eq(g.number, 14);
	ck_assert_int_eq(g.result, SDK_JENKINS_UNSTABLE);
	/* 3 queue polls, 3 build polls, 2 s apart: no busy polling */
	ck_assert_int_eq(nseen, 6);
	ck_assert_int_ge(fakehost_now(host), 4 * 2000);
}
END_TEST

START_TEST(test_follow_cancelled_gone_and_stopped)
{
	struct got_follow a = {0}, b = {0}, c = {0};
	const struct sdk_jenkins_follow_options o = {.poll_ms = 1000};

	route("GET", "/queue/item/1/", 200,
	      "{\"id\":1,\"cancelled\":true,\"executable\":null}", NULL, 0);
	route("GET", "/queue/item/3/", 200,
	      "{\"id\":3,\"executable\":{\"number\":2}}", NULL, 0);
	route("GET", "/job/x/2/api/json", 200,
	      "{\"number\":2,\"building\":true}", NULL, 0);
	a.f = sdk_jenkins_follow_start(&jk, "x", 1, 0, &o, follow_fn, &a);
	/* item 2 unknown (purged): an error at once */
	b.f = sdk_jenkins_follow_start(&jk, "x", 2, 0, &o, follow_fn, &b);
	/* stopped from inside its own callback: nothing more comes */
	c.stop_on_started = 1;
	c.f = sdk_jenkins_follow_start(&jk, "x", 3, 0, &o, follow_fn, &c);
	fakehost_run(host, 60000);
	ck_assert_str_eq(a.events, "C");
	ck_assert_str_eq(b.events, "E");
	ck_assert_str_eq(b.error, "jenkins main: queue item 2 not found (404)");
	ck_assert_str_eq(c.events, "S");
}
END_TEST

START_TEST(test_follow_errors_and_limit)
{
	struct got_follow a = {0}, b = {0};
	const struct sdk_jenkins_follow_options o = {
	    .poll_ms = 1000, .max_ms = 10000, .errors = 3};

	/* a build number directly; the server keeps failing */
	route("GET", "/job/down/5/api/json", 502, "<html>Bad Gateway</html>",
	      NULL, 0);
	route("GET", "/job/slow/5/api/json", 200,
	      "{\"number\":5,\"building\":true}", NULL, 0);
	a.f = sdk_jenkins_follow_start(&jk, "down", 0, 5, &o, follow_fn, &a);
	b.f = sdk_jenkins_follow_start(&jk, "slow", 0, 5, &o, follow_fn, &b);
	fakehost_run(host, 600000);
	ck_assert_str_eq(a.events, "E");
	ck_assert_ptr_nonnull(strstr(a.error, "502"));
	ck_assert_str_eq(b.events, "SE");
	ck_assert_ptr_nonnull(strstr(b.error, "still not finished"));
}
END_TEST

START_TEST(test_follow_unload)
{
	struct got_follow a = {0};
	const struct sdk_jenkins_follow_options o = {.poll_ms = 1000};

	route("GET", "/queue/item/5/", 200, "{\"id\":5,\"why\":\"w\"}", NULL,
	      0);
	a.f = sdk_jenkins_follow_start(&jk, "x", 5, 0, &o, follow_fn, &a);
	fakehost_run(host, 2500);
	/* the host cancels everything (an unload): one final error */
	sdk_http_queue_cancel_all(&queue);
	fakehost_cancel_all(host);
	fakehost_run(host, 10000);
	ck_assert_int_eq(a.finals, 1);
	ck_assert_str_eq(a.error, "cancelled");
}
END_TEST

static Suite *jenkins_suite(void)
{
	Suite *s = suite_create("sdk_jenkins");
	TCase *tc = tcase_create("client");
	TCase *cr = tcase_create("crumbs");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_init_and_paths);
	tcase_add_test(tc, test_list);
	tcase_add_test(tc, test_list_folder_and_errors);
	tcase_add_test(tc, test_build_matrix);
	tcase_add_test(tc, test_build_last_never_ran);
	tcase_add_test(tc, test_trigger_created_and_existing);
	tcase_add_test(tc, test_trigger_errors);
	tcase_add_test(tc, test_trigger_unreachable);
	tcase_add_test(tc, test_trigger_answer_lost);
	tcase_add_test(tc, test_queue_item_states);
	tcase_add_test(tc, test_stop_and_cancel);
	tcase_add_test(tc, test_follow_to_the_end);
	tcase_add_test(tc, test_follow_cancelled_gone_and_stopped);
	tcase_add_test(tc, test_follow_errors_and_limit);
	tcase_add_test(tc, test_follow_unload);
	suite_add_tcase(s, tc);

	tcase_add_checked_fixture(cr, crumb_setup, teardown);
	tcase_add_test(cr, test_crumb_session);
	tcase_add_test(cr, test_crumb_stale_resent_once);
	tcase_add_test(cr, test_crumb_off);
	suite_add_tcase(s, cr);
	return s;
}

CHECK_MAIN(jenkins_suite)

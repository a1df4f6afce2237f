/*
 * test_ci.c - the ci plugin on the fake host's virtual time, against a
 * small Jenkins model and scripted Zuul status documents: polled result
 * sequences (broken, still failing rate-limited, fixed, aborted), matrix
 * axes and culprits, webhooks (bad tokens, caps, malformed bodies,
 * duplicates, phases out of order), a restart in the middle of a
 * sequence, outages (one log line and one notice each way, backoff),
 * untrusted text, channel budgets merging bursts, deleted jobs, Zuul
 * items leaving pipelines in both layouts, and the chat commands.
 */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../plugins/ci/ci.h"
#include "../lib/check_main.h"
#include "../lib/fakehost.h"

extern const struct opsbot_plugin_descriptor opsbot_plugin;

static struct fakehost *host;

/* ------------------------------------------------------------------------ */
/* A Jenkins model                                                           */

struct mjob {
	char name[128];
	int matrix;
	long number;
	const char *result;
	int building;
	long long duration;
	const char *culprit;
	const char *pg_result; /* matrix: database=postgresql's result */
	int gone;
	const char *history[64]; /* result of each build number */
};
static struct mjob jobs[32];
static int njobs;
static int down, html, listings, details, triggers;
static const char *zuul_body, *buildsets_body;
static int zuul_polls;

static struct mjob *mj(const char *name)
{
	for (int i = 0; i < njobs; i++)
		if (!strcmp(jobs[i].name, name))
			return &jobs[i];
	snprintf(jobs[njobs].name, sizeof(jobs[0].name), "%s", name);
	return &jobs[njobs++];
}

static void set(const char *name, long number, const char *result)
{
	struct mjob *j = mj(name);

	j->number = number;
	j->result = result;
	j->duration = 252000;
	if (number > 0 && number < 64)
		j->history[number] = result;
}

static char *job_url(const char *name);

/* {"builds":[...]} newest first, for the job whose URL starts requrl */
static char *history(const char *requrl)
{
	for (int i = 0; i < njobs; i++) {
		struct mjob *j = &jobs[i];
		char *url = job_url(j->name), *s;
		size_t n = strlen(url);
		json_t *arr;

		if (strncmp(requrl, url, n) ||
		    strncmp(requrl + n, "api/json?tree=builds", 20)) {
			free(url);
			continue;
		}
		arr = json_array();
		for (long k = j->number; k > 0; k--) {
			char bu[600];

			if (!j->history[k])
				continue;
			snprintf(bu, sizeof(bu), "%s%ld/", url, k);
			json_array_append_new(
			    arr, json_pack("{s:i,s:s,s:b,s:i,s:s}", "number",
					   (json_int_t)k, "result",
					   j->history[k], "building", 0,
					   "duration", 1000, "url", bu));
		}
		free(url);
		{
			json_t *doc = json_pack("{s:o}", "builds", arr);

			s = json_dumps(doc, 0);
			json_decref(doc);
		}
		return s;
	}
	return NULL;
}

static char *job_url(const char *name)
{
	struct sdk_buf b = SDK_BUF_INIT;
	const char *p = name;

	sdk_buf_adds(&b, "http://jenkins.test/");
	while (*p) {
		size_t n = strcspn(p, "/");

		sdk_buf_adds(&b, "job/");
		sdk_buf_add(&b, p, n);
		sdk_buf_adds(&b, "/");
		p += n;
		if (*p)
			p++;
	}
	return sdk_buf_detach(&b);
}

static char *listing(void)
{
	json_t *root = json_object(), *arr = json_array();

	for (int i = 0; i < njobs; i++) {
		struct mjob *j = &jobs[i];
		char *url = job_url(j->name), bu[600];
		json_t *o;

		if (j->gone) {
			free(url);
			continue;
		}
		snprintf(bu, sizeof(bu), "%s%ld/", url, j->number);
		o = json_pack("{s:s,s:s,s:s,s:s}", "_class",
			      j->matrix ? "hudson.matrix.MatrixProject"
					: "hudson.model.FreeStyleProject",
			      "name",
			      strrchr(j->name, '/') ? strrchr(j->name, '/') + 1
						    : j->name,
			      "fullName", j->name, "url", url);
		json_object_set_new(
		    o, "lastBuild",
		    json_pack("{s:i,s:b}", "number",
			      (json_int_t)(j->number + (j->building ? 1 : 0)),
			      "building", j->building));
		if (j->number)
			json_object_set_new(
			    o, "lastCompletedBuild",
			    json_pack("{s:i,s:s,s:I,s:s}", "number",
				      (json_int_t)j->number, "result",
				      j->result, "duration",
				      (json_int_t)j->duration, "url", bu));
		json_array_append_new(arr, o);
		free(url);
	}
	json_object_set_new(root, "jobs", arr);
	{
		char *s = json_dumps(root, 0);

		json_decref(root);
		return s;
	}
}

static char *detail(const char *requrl)
{
	for (int i = 0; i < njobs; i++) {
		struct mjob *j = &jobs[i];
		char *url = job_url(j->name), want[600];
		json_t *o;
		char *s;

		snprintf(want, sizeof(want), "%s%ld/api/json", url, j->number);
		if (strncmp(requrl, want, strlen(want))) {
			snprintf(want, sizeof(want),
				 "%slastCompletedBuild/api/json", url);
		}
		if (strncmp(requrl, want, strlen(want))) {
			free(url);
			continue;
		}
		o = json_pack("{s:i,s:s,s:b,s:I}", "number",
			      (json_int_t)j->number, "result", j->result,
			      "building", 0, "duration",
			      (json_int_t)j->duration);
		snprintf(want, sizeof(want), "%s%ld/", url, j->number);
		json_object_set_new(o, "url", json_string(want));
		if (j->culprit)
			json_object_set_new(
			    o, "culprits",
			    json_pack("[{s:s}]", "fullName", j->culprit));
		if (j->matrix) {
			json_t *runs = json_array();
			const char *axes[] = {"sqlite", "mysql", "postgresql"};

			for (int k = 0; k < 3; k++) {
				char ru[700];

				snprintf(ru, sizeof(ru), "%sdatabase=%s/%ld/",
					 url, axes[k], j->number);
				json_array_append_new(
				    runs,
				    json_pack("{s:i,s:s,s:s}", "number",
					      (json_int_t)j->number, "result",
					      k == 2 && j->pg_result
						  ? j->pg_result
						  : "SUCCESS",
					      "url", ru));
			}
			json_object_set_new(o, "runs", runs);
		}
		free(url);
		s = json_dumps(o, 0);
		json_decref(o);
		return s;
	}
	return NULL;
}

static char *bodies[4096];
static int nbodies;

static const char *keep(char *s)
{
	if (nbodies < 4096)
		bodies[nbodies++] = s;
	return s;
}

static void http_fn(const struct opsbot_http_request *req,
		    struct fakehost_reply *reply, void *data)
{
	const char *url = req->url;

	(void)data;
	reply->delay_ms = 20;
	if (strstr(url, "zuul.test")) {
		if (strstr(url, "/status")) {
			zuul_polls++;
			if (down || !zuul_body) {
				reply->status = OPSBOT_ERR;
				reply->request_sent = 0;
				reply->error = "connection refused";
				return;
			}
			reply->body = zuul_body;
		} else if (strstr(url, "/buildsets")) {
			reply->body = buildsets_body ? buildsets_body : "[]";
		} else if (strstr(url, "/builds")) {
			reply->body =
			    "[{\"job_name\":\"tox-py311\",\"result\":"
			    "\"FAILURE\",\"duration\":61.5,\"pipeline\":"
			    "\"check\",\"ref\":{\"change\":12345},"
			    "\"log_url\":\"https://logs/1/\"}]";
		} else {
			reply->code = 404;
		}
		return;
	}
	if (down) {
		reply->status = OPSBOT_ERR;
		reply->request_sent = 0;
		reply->error = "could not connect: connection refused";
		return;
	}
	if (html) {
		reply->body = "<html><body>Please sign in</body></html>";
		return;
	}
	if (strstr(url, "/api/json?tree=jobs")) {
		listings++;
		reply->body = keep(listing());
		return;
	}
	if (strstr(url, "/buildWithParameters") || strstr(url, "/build")) {
		triggers++;
		reply->code = 201;
		reply->body = "";
		reply->headers[0] =
		    "Location: http://jenkins.test/queue/item/7/";
		return;
	}
	if (strstr(url, "/queue/item/7/")) {
		reply->body = "{\"id\":7,\"executable\":{\"number\":99,\"url\":"
			      "\"http://jenkins.test/job/app/99/\"}}";
		return;
	}
	if (strstr(url, "/job/app/99/api/json")) {
		reply->body = "{\"number\":99,\"result\":\"SUCCESS\","
			      "\"building\":false,\"duration\":3000}";
		return;
	}
	if (strstr(url, "api/json?tree=builds")) {
		char *hist = history(url);

		if (hist) {
			reply->body = keep(hist);
			return;
		}
	}
	{
		char *d = detail(url);

		details++;
		if (d) {
			reply->body = keep(d);
			return;
		}
	}
	reply->code = 404;
	reply->body = "<html>Not Found</html>";
}

/* ------------------------------------------------------------------------ */

static void configure(void)
{
	fakehost_mode(host, OPSBOT_MODE_DAEMON);
	fakehost_config(host, "poll_interval", "10s");
	fakehost_config(host, "zuul_poll_interval", "10s");
	fakehost_config(host, "still_failing_every", "0");
	fakehost_config(host, "channel_burst", "20");
	fakehost_config(host, "channel_per_minute", "60");
	fakehost_config(host, "flap_burst", "100");
	fakehost_config(host, "jenkins.main.url", "http://jenkins.test/");
	fakehost_config(host, "jenkins.main.user", "bot");
	fakehost_config(host, "jenkins.main.token", "api-tok");
	fakehost_config(host, "jenkins.main.webhook_token", "hooktok");
	fakehost_config(host, "route.all.channel", "#ci");
	fakehost_config(host, "route.all.events", "all");
}

static void setup(void)
{
	host = fakehost_new();
	njobs = down = html = listings = details = triggers = 0;
	zuul_body = buildsets_body = NULL;
	zuul_polls = 0;
	memset(jobs, 0, sizeof(jobs));
	fakehost_on_http(host, http_fn, NULL);
	configure();
}

static void teardown(void)
{
	fakehost_unload(host, NULL);
	fakehost_free(host);
	for (int i = 0; i < nbodies; i++)
		free(bodies[i]);
	nbodies = 0;
}

static void load(void)
{
	ck_assert_int_eq(fakehost_load(host, &opsbot_plugin), OPSBOT_OK);
}

static int count(const char *needle)
{
	const char *out = fakehost_output(host), *p = out;
	int n = 0;

	while ((p = strstr(p, needle))) {
		n++;
		p += strlen(needle);
	}
	return n;
}

#define HAS(s)                                                                 \
	ck_assert_msg(count(s) == 1, "want once: %s\n---\n%s", s,              \
		      fakehost_output(host))
#define HASN(s, n)                                                             \
	ck_assert_msg(count(s) == (n), "want %d: %s\n---\n%s", n, s,           \
		      fakehost_output(host))

/* ------------------------------------------------------------------------ */

START_TEST(test_pure_parts)
{
	struct sdk_buf b = SDK_BUF_INIT;
	struct sdk_buf err = SDK_BUF_INIT;

	ck_assert_int_eq(
	    ci_transition(SDK_JENKINS_SUCCESS, SDK_JENKINS_FAILURE),
	    CI_EV_BROKEN);
	ck_assert_int_eq(ci_transition(SDK_JENKINS_NONE, SDK_JENKINS_UNSTABLE),
			 CI_EV_BROKEN);
	ck_assert_int_eq(
	    ci_transition(SDK_JENKINS_FAILURE, SDK_JENKINS_FAILURE),
	    CI_EV_FAILING);
	ck_assert_int_eq(
	    ci_transition(SDK_JENKINS_UNSTABLE, SDK_JENKINS_SUCCESS),
	    CI_EV_FIXED);
	ck_assert_int_eq(
	    ci_transition(SDK_JENKINS_SUCCESS, SDK_JENKINS_SUCCESS),
	    CI_EV_NONE);
	ck_assert_int_eq(
	    ci_transition(SDK_JENKINS_SUCCESS, SDK_JENKINS_ABORTED),
	    CI_EV_ABORTED);
	ci_duration(&b, 252000);
	ck_assert_str_eq(sdk_buf_str(&b), "4m12s");
	sdk_buf_reset(&b);
	ci_duration(&b, 3723000);
	ck_assert_str_eq(sdk_buf_str(&b), "1h02m");
	sdk_buf_release(&b);
	ck_assert_int_eq(ci_event_mask("broken, fixed", &err),
			 (1 << CI_EV_BROKEN) | (1 << CI_EV_FIXED));
	ck_assert_int_eq(ci_event_mask("broken bogus", &err), -1);
	ck_assert_ptr_nonnull(strstr(sdk_buf_str(&err), "\"bogus\""));
	sdk_buf_release(&err);
}
END_TEST

START_TEST(test_poll_sequence)
{
	set("app", 1, "SUCCESS");
	load();
	fakehost_run(host, 5000);
	/* the first listing is the baseline: nothing said */
	ck_assert_int_eq(listings, 1);
	HASN("say #ci", 0);
	set("app", 2, "FAILURE");
	mj("app")->culprit = "alice";
	fakehost_advance(host, 10000);
	HAS("say #ci app #2 broken, 4m12s, by alice: "
	    "http://jenkins.test/job/app/2/");
	set("app", 3, "FAILURE");
	fakehost_advance(host, 10000);
	HAS("say #ci app #3 still failing, 4m12s, by alice");
	set("app", 4, "SUCCESS");
	fakehost_advance(host, 10000);
	HAS("say #ci app #4 fixed, 4m12s: http://jenkins.test/job/app/4/");
	set("app", 5, "ABORTED");
	fakehost_advance(host, 10000);
	HAS("say #ci app #5 aborted after 4m12s");
	/* after an abort, a success is not "fixed" (it never broke) */
	set("app", 6, "SUCCESS");
	fakehost_advance(host, 10000);
	HASN("fixed", 1);
	/* one listing per cycle, whatever the number of jobs */
	ck_assert_int_eq(listings, 6);
	HASN("log ", 0);
}
END_TEST

START_TEST(test_still_failing_rate_limited)
{
	fakehost_config(host, "still_failing_every", "1h");
	set("app", 1, "SUCCESS");
	load();
	fakehost_run(host, 5000);
	for (int n = 2; n <= 8; n++) {
		set("app", n, "FAILURE");
		fakehost_advance(host, 10000);
	}
	HAS("app #2 broken");
	HASN("still failing", 0);
	fakehost_advance(host, 3600 * 1000);
	/* wall-clock based: virtual time does not move it; a direct check
	   of the rule: within the hour, nothing more was said */
	HASN("say #ci", 1);
}
END_TEST

START_TEST(test_matrix_axes)
{
	struct mjob *k = mj("kallithea");

	k->matrix = 1;
	set("kallithea", 211, "SUCCESS");
	load();
	fakehost_run(host, 5000);
	set("kallithea", 212, "FAILURE");
	k->pg_result = "FAILURE";
	k->culprit = "bob";
	fakehost_advance(host, 10000);
	HAS("say #ci kallithea #212 broken on database=postgresql (sqlite, "
	    "mysql ok), 4m12s, by bob: http://jenkins.test/job/kallithea/212/");
	k->pg_result = NULL;
	set("kallithea", 213, "SUCCESS");
	fakehost_advance(host, 10000);
	HAS("say #ci kallithea #213 fixed, 4m12s");
}
END_TEST

static const char *hook_body(const char *url, long number, const char *phase,
			     const char *status)
{
	static char buf[8192];

	snprintf(
	    buf, sizeof(buf),
	    "{\"name\":\"x\",\"url\":\"%s\",\"build\":{\"full_url\":"
	    "\"http://jenkins.test/%s%ld/\",\"number\":%ld,\"phase\":\"%s\""
	    "%s%s%s,\"duration\":42000,\"scm\":{\"culprits\":[\"carol\"]}}}",
	    url, url, number, number, phase, status ? ",\"status\":\"" : "",
	    status ? status : "", status ? "\"" : "");
	return buf;
}

START_TEST(test_webhooks)
{
	const char *path = "/hooks/ci/jenkins/main?token=hooktok";
	char big[300000];

	fakehost_config(host, "jenkins.main.poll", "false");
	load();
	/* tokens */
	ck_assert_int_eq(
	    fakehost_webhook(host, "POST", "/hooks/ci/jenkins/main?token=no",
			     NULL,
			     hook_body("job/app/", 1, "COMPLETED", "FAILURE")),
	    403);
	ck_assert_int_eq(
	    fakehost_webhook(host, "POST", "/hooks/ci/jenkins/main", NULL,
			     hook_body("job/app/", 1, "COMPLETED", "FAILURE")),
	    403);
	/* the Notification plugin's user:token@ (Basic auth): the password
	   is the token */
	{
		/* "jenkins:hooktok" and "jenkins:wrong" */
		const char *good[] = {
		    "Authorization: Basic amVua2luczpob29rdG9r", NULL};
		const char *bad[] = {
		    "Authorization: Basic amVua2luczp3cm9uZw==", NULL};

		ck_assert_int_eq(
		    fakehost_webhook(host, "POST", "/hooks/ci/jenkins/main",
				     bad,
				     hook_body("job/b/", 1, "QUEUED", NULL)),
		    403);
		ck_assert_int_eq(
		    fakehost_webhook(host, "POST", "/hooks/ci/jenkins/main",
				     good,
				     hook_body("job/b/", 1, "QUEUED", NULL)),
		    200);
	}
	/* malformed and oversized */
	ck_assert_int_eq(fakehost_webhook(host, "POST", path, NULL, "{\"a\":"),
			 400);
	ck_assert_int_eq(fakehost_webhook(host, "POST", path, NULL,
					  "{\"url\":\"job/a/\",\"build\":{}}"),
			 400);
	memset(big, ' ', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	big[0] = '{';
	ck_assert_int_eq(fakehost_webhook(host, "POST", path, NULL, big), 413);
	HASN("say #ci", 0);

	/* a success, then a failure delivered twice, COMPLETED and FINALIZED */
	ck_assert_int_eq(fakehost_webhook(host, "POST", path, NULL,
					  hook_body("job/team/job/app/", 1,
						    "COMPLETED", "SUCCESS")),
			 200);
	ck_assert_int_eq(fakehost_webhook(host, "POST", path, NULL,
					  hook_body("job/team/job/app/", 2,
						    "COMPLETED", "FAILURE")),
			 200);
	ck_assert_int_eq(fakehost_webhook(host, "POST", path, NULL,
					  hook_body("job/team/job/app/", 2,
						    "COMPLETED", "FAILURE")),
			 200);
	ck_assert_str_eq(fakehost_webhook_body(host), "duplicate");
	ck_assert_int_eq(fakehost_webhook(host, "POST", path, NULL,
					  hook_body("job/team/job/app/", 2,
						    "FINALIZED", "FAILURE")),
			 200);
	/* out of order: STARTED of #2 after its end, #1 again after #2 */
	fakehost_webhook(host, "POST", path, NULL,
			 hook_body("job/team/job/app/", 2, "STARTED", NULL));
	fakehost_webhook(
	    host, "POST", path, NULL,
	    hook_body("job/team/job/app/", 1, "FINALIZED", "SUCCESS"));
	fakehost_run(host, 1000);
	HAS("say #ci team/app #2 broken, 42s, by carol: "
	    "http://jenkins.test/job/team/job/app/2/");
	HASN("say #ci", 1);
	/* FINALIZED arriving before COMPLETED (old FINISHED too) */
	fakehost_webhook(host, "POST", path, NULL,
			 hook_body("job/team/job/app/", 3, "STARTED", NULL));
	fakehost_webhook(
	    host, "POST", path, NULL,
	    hook_body("job/team/job/app/", 3, "FINISHED", "SUCCESS"));
	fakehost_webhook(
	    host, "POST", path, NULL,
	    hook_body("job/team/job/app/", 3, "COMPLETED", "SUCCESS"));
	fakehost_run(host, 1000);
	HAS("team/app #3 started");
	HAS("team/app #3 fixed");
	/* a matrix configuration's own run is not the job */
	fakehost_webhook(
	    host, "POST", path, NULL,
	    hook_body("job/k/database=pg/", 4, "COMPLETED", "FAILURE"));
	ck_assert_str_eq(fakehost_webhook_body(host), "ignored");
	HASN("say #ci", 3);
}
END_TEST

START_TEST(test_webhook_injection)
{
	const char *path = "/hooks/ci/jenkins/main?token=hooktok";
	const char *body =
	    "{\"url\":\"job/evil%0D%0APRIVMSG%20%23x%20:hi\\u0001VERSION/\","
	    "\"build\":{\"number\":1,\"phase\":\"COMPLETED\",\"status\":"
	    "\"FAILURE\",\"full_url\":\"http://j/\\r\\nQUIT\\u0003,4red\\u0002"
	    "\",\"scm\":{\"culprits\":[\"ma\\nllory\\u0001ACTION x\\u0001\","
	    "\"\\u202eeve\"]}}}";
	const char *out;

	fakehost_config(host, "jenkins.main.poll", "false");
	load();
	ck_assert_int_eq(fakehost_webhook(host, "POST", path, NULL, body), 200);
	fakehost_run(host, 1000);
	out = fakehost_output(host);
	HASN("say #ci", 1);
	HAS("broken");
	/* one line; no CR, CTCP, colour, bold or direction override */
	ck_assert_int_eq(count("\n"), 1);
	ck_assert_ptr_null(strpbrk(out, "\r\x01\x02\x03"));
	ck_assert_ptr_null(strstr(out, "\xe2\x80\xae"));
}
END_TEST

START_TEST(test_restart_mid_sequence)
{
	set("app", 1, "SUCCESS");
	set("lib", 5, "FAILURE");
	load();
	fakehost_run(host, 5000);
	set("app", 2, "FAILURE");
	fakehost_advance(host, 10000);
	HAS("app #2 broken");
	/* down: app fixed, lib fixed while the bot was away */
	ck_assert_int_eq(fakehost_unload(host, NULL), OPSBOT_OK);
	set("app", 3, "SUCCESS");
	set("lib", 6, "SUCCESS");
	fakehost_output_clear(host);
	load();
	fakehost_run(host, 5000);
	HAS("app #3 fixed");
	HAS("lib #6 fixed");
	/* and again without changes: nothing repeated */
	ck_assert_int_eq(fakehost_unload(host, NULL), OPSBOT_OK);
	fakehost_output_clear(host);
	load();
	fakehost_run(host, 5000);
	fakehost_advance(host, 30000);
	HASN("say #ci", 0);
}
END_TEST

START_TEST(test_restart_missed_builds)
{
	set("app", 1, "SUCCESS");
	load();
	fakehost_run(host, 5000);
	ck_assert_int_eq(fakehost_unload(host, NULL), OPSBOT_OK);
	/* while away: broken and fixed again; the last result alone says
	   nothing, the builds in between do */
	set("app", 2, "FAILURE");
	set("app", 3, "FAILURE");
	set("app", 4, "SUCCESS");
	load();
	fakehost_run(host, 5000);
	HAS("say #ci app #2 broken");
	HAS("say #ci app #3 still failing");
	HAS("say #ci app #4 fixed");
	fakehost_advance(host, 30000);
	HASN("say #ci", 3);
}
END_TEST

START_TEST(test_outage_once_and_backoff)
{
	int before;

	set("app", 1, "SUCCESS");
	fakehost_config(host, "notice_channel", "#ops");
	load();
	fakehost_run(host, 5000);
	down = 1;
	before = fakehost_http_count(host);
	fakehost_advance(host, 10 * 60 * 1000);
	/* one log line and one notice for the whole outage */
	HASN("log jenkins main unreachable", 1);
	HASN("say #ops jenkins main is unreachable", 1);
	/* backed off: far fewer than one poll per 10 s (60), 3 tries each */
	ck_assert_int_lt(fakehost_http_count(host) - before, 3 * 12);
	/* HTML instead of JSON counts as the same outage */
	down = 0;
	html = 1;
	fakehost_advance(host, 10 * 60 * 1000);
	HASN("unreachable", 2);
	html = 0;
	set("app", 2, "FAILURE");
	fakehost_advance(host, 10 * 60 * 1000 + 10000);
	HAS("say #ops jenkins main answers again after");
	HAS("say #ci app #2 broken");
}
END_TEST

START_TEST(test_routes)
{
	/* a route for some jobs of one server, one for another server */
	fakehost_config(host, "route.k.channel", "#k");
	fakehost_config(host, "route.k.servers", "main");
	fakehost_config(host, "route.k.jobs", "kal*");
	fakehost_config(host, "route.k.events", "broken notice");
	fakehost_config(host, "route.o.channel", "#other");
	fakehost_config(host, "route.o.servers", "qa");
	set("kallithea", 1, "SUCCESS");
	set("app", 1, "SUCCESS");
	load();
	fakehost_run(host, 5000);
	set("kallithea", 2, "FAILURE");
	set("app", 2, "FAILURE");
	fakehost_advance(host, 10000);
	HAS("say #k kallithea #2 broken");
	HASN("say #k app", 0);
	HAS("say #ci app #2 broken");
	HASN("say #other", 0);
	set("kallithea", 3, "SUCCESS");
	fakehost_advance(host, 10000);
	HASN("say #k kallithea #3", 0); /* fixed is not routed there */
	/* an outage notice reaches every route of the server */
	down = 1;
	fakehost_advance(host, 10000);
	HAS("say #k jenkins main is unreachable");
	HAS("say #ci jenkins main is unreachable");
	HASN("say #other", 0);
}
END_TEST

START_TEST(test_budget_merges_bursts)
{
	char name[16];

	fakehost_config(host, "channel_burst", "3");
	fakehost_config(host, "channel_per_minute", "2");
	for (int i = 0; i < 10; i++) {
		snprintf(name, sizeof(name), "j%d", i);
		set(name, 1, "FAILURE");
	}
	load();
	fakehost_run(host, 5000);
	for (int i = 0; i < 10; i++) {
		snprintf(name, sizeof(name), "j%d", i);
		set(name, 2, "SUCCESS");
	}
	fakehost_advance(host, 10000);
	/* three lines at once, the rest merged into one when budget allows */
	HASN("say #ci", 3);
	fakehost_advance(host, 60000);
	HAS("say #ci 7 jobs fixed: j");
	HASN("say #ci", 4);
}
END_TEST

START_TEST(test_deleted_and_renamed)
{
	set("old", 1, "SUCCESS");
	load();
	fakehost_run(host, 5000);
	mj("old")->gone = 1;
	set("new", 1, "FAILURE");
	fakehost_advance(host, 10000);
	/* gone is forgotten; the renamed one is a new baseline, not broken */
	HASN("say #ci", 0);
	set("new", 2, "SUCCESS");
	fakehost_advance(host, 10000);
	HAS("new #2 fixed");
}
END_TEST

START_TEST(test_commands)
{
	set("app", 1, "FAILURE");
	load();
	fakehost_run(host, 5000);
	ck_assert_int_eq(fakehost_command(host, "status"), OPSBOT_OK);
	HAS("reply jenkins main: 1 jobs, 1 failing: app");
	ck_assert_int_eq(fakehost_command(host, "status app"), OPSBOT_OK);
	HAS("reply app: last #1 failure in 4m12s (jenkins main)");
	ck_assert_int_eq(fakehost_command(host, "last app"), OPSBOT_PENDING);
	fakehost_run(host, 1000);
	ck_assert_int_eq(fakehost_command_status(host), OPSBOT_OK);
	HAS("reply app #1 broken, 4m12s: http://jenkins.test/job/app/1/ "
	    "(failure)");
	ck_assert_int_eq(fakehost_command(host, "build app BRANCH=x"),
			 OPSBOT_PENDING);
	fakehost_run(host, 60000);
	HAS("reply app queued as item 7");
	HAS("reply app #99 started: http://jenkins.test/job/app/99/");
	HAS("reply app #99 finished: success in 3s");
	ck_assert_int_eq(fakehost_command_status(host), OPSBOT_OK);
	ck_assert_int_eq(fakehost_command(host, "build app bad"), OPSBOT_ERR);
	ck_assert_int_eq(triggers, 1);
	/* watch: kept over a restart, refused without a channel */
	ck_assert_int_eq(fakehost_command(host, "watch lib #lib"), OPSBOT_OK);
	ck_assert_int_eq(fakehost_command(host, "watch lib nochan"),
			 OPSBOT_ERR);
	ck_assert_int_eq(fakehost_unload(host, NULL), OPSBOT_OK);
	set("lib", 1, "SUCCESS");
	load();
	fakehost_run(host, 5000);
	set("lib", 2, "FAILURE");
	fakehost_advance(host, 10000);
	HAS("say #lib lib #2 broken");
	ck_assert_int_eq(fakehost_command(host, "unwatch lib #lib"), OPSBOT_OK);
	ck_assert_int_eq(fakehost_command(host, "unwatch lib #lib"),
			 OPSBOT_ERR);
	set("lib", 3, "SUCCESS");
	fakehost_advance(host, 10000);
	HASN("say #lib", 1);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Zuul                                                                      */

#define V10_ITEM(uuid, change, result2)                                        \
	"{\"id\":\"" uuid                                                      \
	"\",\"active\":true,\"live\":true,\"refs\":[{\"id\":"                  \
	"\"" change "\",\"url\":\"https://review/" change "\",\"project\":"    \
	"\"org/repo\"}],\"enqueue_time\":0,\"remaining_time\":120000,"         \
	"\"jobs\":[{\"name\":\"tox-py311\",\"result\":\"SUCCESS\","            \
	"\"voting\":true,\"remaining_time\":null},{\"name\":\"docs\","         \
	"\"result\":" result2 ",\"voting\":true,\"remaining_time\":120000}]}"

static const char *v10_two =
    "{\"zuul_version\":\"10.1\",\"pipelines\":[{\"name\":\"gate\","
    "\"change_queues\":[{\"name\":\"integrated\",\"heads\":[[" V10_ITEM(
	"u1", "12345,6",
	"null") "," V10_ITEM("u2", "12346,1",
			     "null") "]]}]},{\"name\":\"check\",\"change_"
				     "queues\":[{\"name\":\"\","
				     "\"heads\":[[" V10_ITEM("u3", "12345,6",
							     "null") "]]}]}]}";
static const char *v10_failed =
    "{\"pipelines\":[{\"name\":\"gate\",\"change_queues\":[{\"name\":"
    "\"integrated\",\"heads\":[[" V10_ITEM(
	"u1", "12345,6",
	"\"FAILURE\"") "," V10_ITEM("u2", "12346,1",
				    "\"SUCCESS\"") "]]}]},{\"name\":\"check\","
						   "\"change_queues\":[{"
						   "\"name\":\"\",\"heads\":["
						   "[" V10_ITEM(
						       "u3", "12345,6",
						       "null") "]]}]}]}";
static const char *v10_gone =
    "{\"pipelines\":[{\"name\":\"gate\",\"change_queues\":[]},{\"name\":"
    "\"check\",\"change_queues\":[{\"name\":\"\",\"heads\":[[" V10_ITEM(
	"u3", "12345,6", "null") "]]}]}]}";
static const char *v10_empty =
    "{\"pipelines\":[{\"name\":\"gate\",\"change_queues\":[]}]}";

static void zuul_configure(void)
{
	fakehost_config_unset(host, "jenkins.main.url");
	fakehost_config_unset(host, "jenkins.main.user");
	fakehost_config_unset(host, "jenkins.main.token");
	fakehost_config(host, "zuul.oi.url", "http://zuul.test/");
	fakehost_config(host, "zuul.oi.tenant", "openstack");
}

START_TEST(test_zuul_v10)
{
	zuul_configure();
	zuul_body = v10_two;
	load();
	fakehost_run(host, 5000);
	HASN("say #ci", 0);
	ck_assert_int_eq(fakehost_command(host, "zuul status 12345"),
			 OPSBOT_OK);
	HAS("reply org/repo 12345,6 in gate (queue integrated, #1): 1/2 jobs "
	    "done, about 2m00s left; running: docs 2m00s");
	HAS("reply org/repo 12345,6 in check (#1): 1/2 jobs done");
	zuul_body = v10_failed;
	fakehost_advance(host, 10000);
	HASN("say #ci", 0);
	zuul_body = v10_gone;
	fakehost_advance(host, 10000);
	/* the failed one (routes take zuul-failed; passed is on with all) */
	HAS("say #ci zuul gate: org/repo 12345,6 failed (docs FAILURE)");
	HAS("say #ci zuul gate: org/repo 12346,1 passed");
	/* still in check: nothing about it */
	HASN("zuul check", 0);
	/* restart with u3 in check; it leaves while the bot is away and its
	   result comes from the buildsets */
	ck_assert_int_eq(fakehost_unload(host, NULL), OPSBOT_OK);
	zuul_body = v10_empty;
	buildsets_body = "[{\"uuid\":\"b\",\"result\":\"SUCCESS\"}]";
	load();
	fakehost_run(host, 5000);
	HAS("say #ci zuul check: org/repo 12345,6 passed");
	ck_assert_int_eq(fakehost_command(host, "zuul builds org/repo 3"),
			 OPSBOT_PENDING);
	fakehost_run(host, 1000);
	HAS("reply tox-py311 FAILURE 1m02s (check, change 12345): "
	    "https://logs/1/");
	/* nothing twice after another restart */
	ck_assert_int_eq(fakehost_unload(host, NULL), OPSBOT_OK);
	fakehost_output_clear(host);
	load();
	fakehost_run(host, 30000);
	HASN("say #ci", 0);
}
END_TEST

static const char *legacy_two =
    "{\"pipelines\":[{\"name\":\"gate\",\"change_queues\":[{\"name\":"
    "\"q\",\"heads\":[[{\"id\":\"10104,1\",\"project\":\"openstack/nova\","
    "\"url\":\"https://r/10104\",\"enqueue_time\":1,\"jobs\":[{\"name\":"
    "\"lint\",\"result\":\"FAILURE\",\"voting\":true},{\"name\":\"test\","
    "\"result\":null,\"voting\":true},{\"name\":\"nv\",\"result\":"
    "\"FAILURE\",\"voting\":false}]}]]}]}]}";
static const char *legacy_none =
    "{\"pipelines\":[{\"name\":\"gate\",\"change_queues\":[]}]}";

START_TEST(test_zuul_legacy_and_outage)
{
	zuul_configure();
	fakehost_config_unset(host, "zuul.oi.tenant");
	fakehost_config(host, "notice_channel", "#ops");
	zuul_body = legacy_two;
	load();
	fakehost_run(host, 5000);
	zuul_body = "{\"layout\":\"changed\"}";
	fakehost_advance(host, 10000);
	HAS("say #ops zuul oi is unreachable (unexpected layout: no "
	    "pipelines list (200))");
	fakehost_advance(host, 60000);
	HASN("unreachable", 2); /* the log line and the notice */
	zuul_body = legacy_none;
	fakehost_advance(host, 10 * 60 * 1000);
	HAS("say #ops zuul oi answers again");
	/* the non-voting failure is not named */
	HAS("say #ci zuul gate: openstack/nova 10104,1 failed (lint FAILURE)");
}
END_TEST

static Suite *ci_suite(void)
{
	Suite *s = suite_create("ci");
	TCase *tc = tcase_create("ci");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_pure_parts);
	tcase_add_test(tc, test_poll_sequence);
	tcase_add_test(tc, test_still_failing_rate_limited);
	tcase_add_test(tc, test_matrix_axes);
	tcase_add_test(tc, test_webhooks);
	tcase_add_test(tc, test_webhook_injection);
	tcase_add_test(tc, test_restart_mid_sequence);
	tcase_add_test(tc, test_restart_missed_builds);
	tcase_add_test(tc, test_outage_once_and_backoff);
	tcase_add_test(tc, test_routes);
	tcase_add_test(tc, test_budget_merges_bursts);
	tcase_add_test(tc, test_deleted_and_renamed);
	tcase_add_test(tc, test_commands);
	tcase_add_test(tc, test_zuul_v10);
	tcase_add_test(tc, test_zuul_legacy_and_outage);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(ci_suite)

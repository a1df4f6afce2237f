/*
 * test_registrar_guide.c - the registrar's guide on the fake host's
 * virtual time: the steps file (the default path, every mistake with its
 * line), form and query decoding, the pages through the plugin's routes
 * (escaping, headers, 404 with no data, the per-page token, signed and
 * expired mentor links), and the Gerrit rounds with scripted answers
 * (the ")]}'" prefix, 404 as nothing yet, 401 ending a round, an outage
 * retried with backoff, one request at a time, the milestone announced
 * once across an unload and a new load).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "../../plugins/registrar/registrar.h"
#include "../lib/check_main.h"
#include "../lib/fakehost.h"

extern const struct opsbot_plugin_descriptor opsbot_plugin;

/* ------------------------------------------------------------------------ */
/* Steps and forms */

static int parse(const char *text, struct sdk_buf *err)
{
	struct reg_guide_step *steps = NULL;
	int n = 0,
	    rc = reg_guide_steps_parse(text, "steps.ini", &steps, &n, err);

	if (rc == 0)
		reg_guide_steps_free(steps, n);
	return rc == 0 ? n : -1;
}

START_TEST(steps_file)
{
	struct sdk_buf err = SDK_BUF_INIT;
	struct reg_guide_step *steps;
	int n;

	ck_assert_int_eq(reg_guide_steps_parse("# c\n[a]\ntitle = A\nverify = "
					       "self\nhelp = one\nhelp = two\n"
					       "link = https://x.org/y Docs\n"
					       "[b-2]\ntitle=B\nverify="
					       "gerrit-change-merged\n",
					       "f", &steps, &n, &err),
			 0);
	ck_assert_int_eq(n, 2);
	ck_assert_str_eq(steps[0].help, "one\ntwo");
	ck_assert_str_eq(steps[0].links[0].url, "https://x.org/y");
	ck_assert_str_eq(steps[0].links[0].text, "Docs");
	ck_assert_int_eq(steps[1].verify, REG_VERIFY_GERRIT_MERGED);
	reg_guide_steps_free(steps, n);

	/* every mistake names the file and the line */
	ck_assert_int_eq(parse("[A]\ntitle=x\nverify=self\n", &err), -1);
	ck_assert_msg(strstr(sdk_buf_str(&err), "steps.ini: line 1"), "%s",
		      sdk_buf_str(&err));
	sdk_buf_reset(&err);
	ck_assert_int_eq(parse("[a]\ntitle=x\nverify=magic\n", &err), -1);
	ck_assert_msg(strstr(sdk_buf_str(&err), "line 3: verify \"magic\""),
		      "%s", sdk_buf_str(&err));
	sdk_buf_reset(&err);
	ck_assert_int_eq(
	    parse("[a]\ntitle=x\nverify=self\nlink = javascript:alert(1)\n",
		  &err),
	    -1);
	ck_assert_msg(strstr(sdk_buf_str(&err), "line 4: a link is an http"),
		      "%s", sdk_buf_str(&err));
	sdk_buf_reset(&err);
	ck_assert_int_eq(parse("[a]\ntitle=x\nverify=self\n[a]\n", &err), -1);
	ck_assert_msg(strstr(sdk_buf_str(&err), "step \"a\" twice"), "%s",
		      sdk_buf_str(&err));
	sdk_buf_reset(&err);
	ck_assert_int_eq(parse("[a]\nverify=self\n", &err), -1);
	ck_assert_msg(strstr(sdk_buf_str(&err), "needs a title"), "%s",
		      sdk_buf_str(&err));
	sdk_buf_reset(&err);
	ck_assert_int_eq(parse("title = x\n", &err), -1);
	ck_assert_msg(strstr(sdk_buf_str(&err), "inside a [step]"), "%s",
		      sdk_buf_str(&err));
	sdk_buf_reset(&err);
	ck_assert_int_eq(parse("# nothing\n", &err), -1);
	ck_assert_msg(strstr(sdk_buf_str(&err), "no steps"), "%s",
		      sdk_buf_str(&err));
	sdk_buf_release(&err);
}
END_TEST

START_TEST(form_params)
{
	char out[16];

	ck_assert_int_eq(
	    reg_form_param("tt=1&t=x+y%21&t=2", "t", out, sizeof(out)), 0);
	ck_assert_str_eq(out, "x y!");
	ck_assert_int_eq(reg_form_param("a=1", "t", out, sizeof(out)), -1);
	ck_assert_int_eq(reg_form_param("t=%zz", "t", out, sizeof(out)), -1);
	ck_assert_int_eq(reg_form_param("t=%4", "t", out, sizeof(out)), -1);
	ck_assert_int_eq(reg_form_param("t=a%00b", "t", out, sizeof(out)), -1);
	ck_assert_int_eq(
	    reg_form_param("t=0123456789abcdef", "t", out, sizeof(out)),
	    -1); /* longer than out */
	ck_assert_int_eq(reg_form_param("t=", "t", out, sizeof(out)), 0);
	ck_assert_str_eq(out, "");
	ck_assert_int_eq(reg_form_param("t=%41&", "t", out, sizeof(out)), 0);
	ck_assert_str_eq(out, "A");
}
END_TEST

/* ------------------------------------------------------------------------ */
/* The plugin on the fake host */

static struct fakehost *host;
static char dir[64];
static char urls[8192];
static int64_t request_at[64];
static int nrequests, outage, unauthorized, merged;

static void gerrit_fn(const struct opsbot_http_request *req,
		      struct fakehost_reply *reply, void *data)
{
	(void)data;
	{
		size_t len = strlen(urls);

		snprintf(urls + len, sizeof(urls) - len, "%s\n", req->url);
	}
	if (nrequests < 64)
		request_at[nrequests] = fakehost_now(host);
	nrequests++;
	reply->delay_ms = 20;
	if (unauthorized) {
		reply->code = 401;
		reply->body = "Unauthorized";
		return;
	}
	if (outage > 0) {
		outage--;
		reply->code = 503;
		reply->body = "Service Unavailable";
		return;
	}
	if (strstr(req->url, "/accounts/")) {
		if (strstr(req->url, "ada%40example.org"))
			reply->body = ")]}'\n[{\"_account_id\": 1000042}]";
		else /* a server that hides accounts answers 404 */
			reply->code = 404, reply->body = "Not found";
	} else if (strstr(req->url, "status%3Amerged"))
		reply->body = merged
				  ? ")]}'\n[{\"project\": \"openstack/nova\","
				    "\"_number\": 7}]"
				  : ")]}'\n[]";
	else
		reply->body = ")]}'\n[{\"project\": \"openstack/nova\"}]";
}

static void write_file(const char *name, const char *text)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

static void config(void)
{
	char path[128];

	fakehost_config(host, "sheet", "student S1 Form");
	fakehost_config(host, "google_api_key", "AIzaKey");
	fakehost_config(host, "trello_key", "k");
	fakehost_config(host, "trello_token", "t");
	fakehost_config(host, "trello_board", "b");
	fakehost_config(host, "mailgun_domain", "mg.example.org");
	fakehost_config(host, "mailgun_key", "key-1");
	fakehost_config(host, "mail_from", "a@example.org");
	snprintf(path, sizeof(path), "%s/student.txt", dir);
	fakehost_config(host, "student_template", path);
	fakehost_config(host, "channel", "#class");
	fakehost_config(host, "sync_interval", "0");
	fakehost_config(host, "guide_url", "https://guide.example.org");
	fakehost_config(host, "gerrit_url", "https://review.example.org");
	fakehost_config(host, "gerrit_poll_interval", "60s");
	fakehost_config(host, "gerrit_rate_limit", "0");
	fakehost_config(host, "backoff_base", "1s");
	fakehost_config(host, "backoff_max", "8s");
}

static void add_student(const char *name, const char *email)
{
	struct sqlite3 *db = fakehost_api(host)->store(fakehost_plugin(host));
	char fields[512];
	int64_t id;
	int is_new;

	snprintf(fields, sizeof(fields),
		 "[[\"Name\", \"%s\"], [\"Email\", \"%s\"], [\"Class\", "
		 "\"Berlin <2026>\"]]",
		 name, email);
	ck_assert_int_eq(reg_ledger_upsert(db, "S1/Form", email, "student",
					   name, fields, 2, 0, &id, &is_new),
			 0);
}

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/guide-test-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	write_file("student.txt", "Subject: Hi {Name}\n\nYour page: "
				  "{GuideURL}\n");
	host = fakehost_new();
	fakehost_mode(host, OPSBOT_MODE_DAEMON);
	fakehost_on_http(host, gerrit_fn, NULL);
	nrequests = outage = unauthorized = merged = 0;
	urls[0] = '\0';
	config();
	ck_assert_int_eq(fakehost_load(host, &opsbot_plugin), OPSBOT_OK);
	add_student("Ada <b>&amp;</b>", "ada@example.org");
	add_student("Bob", "bob@example.org");
}

static void teardown(void)
{
	char cmd[128];

	fakehost_unload(host, NULL);
	fakehost_free(host);
	snprintf(cmd, sizeof(cmd), "%s/student.txt", dir);
	unlink(cmd);
	rmdir(dir);
}

/* The page link !reg link gives (in private). */
static void link_for(const char *who, char *token, size_t size)
{
	char line[64];
	const char *out, *t;

	fakehost_output_clear(host);
	fakehost_asker(host, OPSBOT_ORIGIN_PRIVATE, "org", "org", NULL);
	snprintf(line, sizeof(line), "link %s", who);
	ck_assert_int_eq(fakehost_command(host, line), OPSBOT_OK);
	out = fakehost_output(host);
	t = strstr(out, "https://guide.example.org/hooks/registrar/guide?t=");
	ck_assert_msg(t != NULL, "%s", out);
	t = strchr(t, '=') + 1;
	snprintf(token, size, "%.*s", (int)strcspn(t, " \n"), t);
	ck_assert_int_eq(strlen(token), 32);
}

static int get(const char *target)
{
	return fakehost_webhook(host, "GET", target, NULL, NULL);
}

START_TEST(student_page)
{
	char token[64], target[128], csrf[65], body[512];
	const char *page, *c;
	const char *headers[] = {"Origin: https://guide.example.org", NULL};
	const char *evil[] = {"Origin: https://evil.example", NULL};

	link_for("#1", token, sizeof(token));
	snprintf(target, sizeof(target), "/hooks/registrar/guide?t=%s", token);
	ck_assert_int_eq(get(target), 200);
	page = fakehost_webhook_body(host);
	/* escaped, once: the name's own "&amp;" stays visible as text */
	ck_assert_msg(strstr(page, "<h1>Ada &lt;b&gt;&amp;amp;&lt;/b&gt;</h1>"),
		      "%s", page);
	ck_assert_msg(strstr(page, "Class: Berlin &lt;2026&gt;"), "%s", page);
	ck_assert_ptr_null(strstr(page, "<b>"));
	ck_assert_ptr_null(strstr(page, "<script"));
	ck_assert_str_eq(fakehost_webhook_content_type(host),
			 "text/html; charset=utf-8");
	ck_assert_msg(
	    strstr(fakehost_webhook_response_header(host,
						    "Content-Security-Policy"),
		   "default-src 'none'; style-src 'sha256-"),
	    "%s",
	    fakehost_webhook_response_header(host, "Content-Security-Policy"));
	ck_assert_str_eq(fakehost_webhook_response_header(host, "X-Robots-Tag"),
			 "noindex, nofollow");
	c = strstr(page, "name=\"csrf\" value=\"");
	ck_assert_ptr_nonnull(c);
	snprintf(csrf, sizeof(csrf), "%.64s", c + 19);

	/* a token one character off, none, the other's: plain 404 */
	token[5] = token[5] == 'A' ? 'B' : 'A';
	snprintf(target, sizeof(target), "/hooks/registrar/guide?t=%s", token);
	ck_assert_int_eq(get(target), 404);
	ck_assert_str_eq(fakehost_webhook_body(host), "Not Found");
	ck_assert_int_eq(get("/hooks/registrar/guide"), 404);

	/* a new link ends the old one; the tick needs the page's token */
	link_for("#1", token, sizeof(token));
	snprintf(body, sizeof(body), "t=%s&step=cla&csrf=%s", token, csrf);
	/* the csrf of the old link's page does not fit the new token */
	ck_assert_int_eq(fakehost_webhook(host, "POST",
					  "/hooks/registrar/guide", headers,
					  body),
			 403);
	snprintf(target, sizeof(target), "/hooks/registrar/guide?t=%s", token);
	ck_assert_int_eq(get(target), 200);
	c = strstr(fakehost_webhook_body(host), "name=\"csrf\" value=\"");
	snprintf(csrf, sizeof(csrf), "%.64s", c + 19);
	snprintf(body, sizeof(body), "t=%s&step=cla&csrf=%s", token, csrf);
	ck_assert_int_eq(fakehost_webhook(host, "POST",
					  "/hooks/registrar/guide", evil, body),
			 403);
	ck_assert_int_eq(fakehost_webhook(host, "POST",
					  "/hooks/registrar/guide", headers,
					  body),
			 303);
	ck_assert_msg(
	    !strncmp(fakehost_webhook_response_header(host, "Location"),
		     "guide?t=", 8),
	    "%s", fakehost_webhook_response_header(host, "Location"));
	ck_assert_int_eq(get(target), 200);
	ck_assert_msg(strstr(fakehost_webhook_body(host),
			     "<li class=\"done\" id=\"step-cla\">"),
		      "%s", fakehost_webhook_body(host));

	/* un-ticked by the same form (untick=1): open again; twice is
	   harmless; a mentor's tick is not the registrant's to un-tick */
	ck_assert_msg(strstr(fakehost_webhook_body(host), "name=\"untick\""),
		      "%s", fakehost_webhook_body(host));
	snprintf(body, sizeof(body), "t=%s&step=cla&csrf=%s&untick=1", token,
		 csrf);
	ck_assert_int_eq(fakehost_webhook(host, "POST",
					  "/hooks/registrar/guide", evil, body),
			 403);
	ck_assert_int_eq(fakehost_webhook(host, "POST",
					  "/hooks/registrar/guide", headers,
					  body),
			 303);
	ck_assert_int_eq(get(target), 200);
	ck_assert_msg(strstr(fakehost_webhook_body(host),
			     "<li class=\"todo\" id=\"step-cla\">"),
		      "%s", fakehost_webhook_body(host));
	ck_assert_int_eq(fakehost_webhook(host, "POST",
					  "/hooks/registrar/guide", headers,
					  body),
			 303);
	fakehost_asker(host, OPSBOT_ORIGIN_PRIVATE, "grace", "grace", NULL);
	ck_assert_int_eq(fakehost_command(host, "done #1 cla"), OPSBOT_OK);
	ck_assert_int_eq(get(target), 200);
	ck_assert_msg(
	    strstr(fakehost_webhook_body(host), "ticked by your mentor"), "%s",
	    fakehost_webhook_body(host));
	ck_assert_int_eq(fakehost_webhook(host, "POST",
					  "/hooks/registrar/guide", headers,
					  body),
			 400);
	ck_assert_int_eq(fakehost_command(host, "undo #1 cla"), OPSBOT_OK);
	ck_assert_int_eq(get(target), 200);
	ck_assert_msg(strstr(fakehost_webhook_body(host),
			     "<li class=\"todo\" id=\"step-cla\">"),
		      "%s", fakehost_webhook_body(host));
	/* a Gerrit step: no un-tick, even forged */
	snprintf(body, sizeof(body), "t=%s&step=first-merge&csrf=%s&untick=1",
		 token, csrf);
	ck_assert_int_eq(fakehost_webhook(host, "POST",
					  "/hooks/registrar/guide", headers,
					  body),
			 400);

	/* revoked: 404 */
	fakehost_asker(host, OPSBOT_ORIGIN_PRIVATE, "org", "org", NULL);
	ck_assert_int_eq(fakehost_command(host, "revoke #1"), OPSBOT_OK);
	ck_assert_int_eq(fakehost_command(host, "revoke #1 --yes"), OPSBOT_OK);
	ck_assert_int_eq(get(target), 404);
	ck_assert_str_eq(fakehost_webhook_body(host), "Not Found");
}
END_TEST

/* A mapped mentor's page: their students, the filter said, a link to
 * the whole class; unmapped: the whole class. */
START_TEST(class_filter)
{
	struct reg reg;
	struct reg_class_row rows[3] = {
	    {1, "Ada", "B", "Grace", 1, 0, 0},
	    {2, "Bob", "B", "Linus <&>", 0, 0, 0},
	    {3, "Cy", "B", "grace", 0, 0, 0},
	};
	struct sdk_buf b = SDK_BUF_INIT;
	const char *page;

	memset(&reg, 0, sizeof(reg));
	reg.nsteps = 6;
	reg.stuck_days = 7;
	reg_guide_render_class_for(&reg, &b, rows, 3, "name", "class?m=x",
				   "Grace", 0);
	page = sdk_buf_str(&b);
	ck_assert_msg(strstr(page, "<h1>Your students</h1>"), "%s", page);
	ck_assert_msg(strstr(page, "2 of the class's 3 students"), "%s", page);
	ck_assert_msg(strstr(page, "href=\"class?m=x&amp;all=1\""), "%s", page);
	ck_assert_msg(strstr(page, ">Ada<") && strstr(page, ">Cy<"), "%s",
		      page);
	ck_assert_ptr_null(strstr(page, ">Bob<"));
	sdk_buf_release(&b);
	reg_guide_render_class_for(&reg, &b, rows, 3, "name", "class?m=x",
				   "Grace", 1);
	page = sdk_buf_str(&b);
	ck_assert_msg(strstr(page, ">Bob<") && strstr(page, "Linus &lt;&amp;"
							    "&gt;"),
		      "%s", page);
	ck_assert_msg(strstr(page, "Only your students (Grace)"), "%s", page);
	ck_assert_msg(strstr(page, "&amp;all=1&amp;sort=done"), "%s", page);
	sdk_buf_release(&b);
	reg_guide_render_class_for(&reg, &b, rows, 3, "name", "class?m=x", NULL,
				   0);
	page = sdk_buf_str(&b);
	ck_assert_msg(strstr(page, ">Bob<") && strstr(page, "not mapped"), "%s",
		      page);
	sdk_buf_release(&b);
}
END_TEST

START_TEST(mentor_links)
{
	const char *out, *u;
	char url[512], target[512], bad[600];
	char *p;

	fakehost_output_clear(host);
	fakehost_asker(host, OPSBOT_ORIGIN_CHANNEL, "mentor", "grace", "#c");
	ck_assert_int_eq(fakehost_command(host, "guide"), OPSBOT_OK);
	out = fakehost_output(host);
	/* only in private */
	ck_assert_msg(strstr(out, "private the class, for you only (valid 12 "
				  "hours): "),
		      "%s", out);
	u = strstr(out, "https://");
	snprintf(url, sizeof(url), "%.*s", (int)strcspn(u, " \n"), u);
	snprintf(target, sizeof(target), "%s",
		 url + strlen("https://guide."
			      "example.org"));
	ck_assert_int_eq(get(target), 200);
	ck_assert_msg(strstr(fakehost_webhook_body(host),
			     "Ada &lt;b&gt;&amp;amp;&lt;/b&gt;</a>"),
		      "%s", fakehost_webhook_body(host));
	ck_assert_msg(
	    strstr(fakehost_webhook_body(host), "2 students, 0 stuck"), "%s",
	    fakehost_webhook_body(host));
	/* another asker in the link, or another expiry: not signed */
	snprintf(bad, sizeof(bad), "%s", target);
	p = strstr(bad, "grace");
	ck_assert_ptr_nonnull(p);
	p[0] = 'G';
	ck_assert_int_eq(get(bad), 404);
	snprintf(bad, sizeof(bad), "%s", target);
	p = strstr(bad, "&e=") + 3;
	p[9] = p[9] == '9' ? '8' : '9';
	ck_assert_int_eq(get(bad), 404);
	/* the stuck students after stuck_days (wall clock: none yet) */
	fakehost_output_clear(host);
	ck_assert_int_eq(fakehost_command(host, "stuck"), OPSBOT_OK);
	ck_assert_msg(strstr(fakehost_output(host), "nobody is stuck"), "%s",
		      fakehost_output(host));
	/* Bob registered 9 days ago, Ada 8 days ago but ticked a step 2
	   days ago: Bob is stuck, Ada is not */
	{
		struct sqlite3 *db =
		    fakehost_api(host)->store(fakehost_plugin(host));
		char sql[256];
		long long now = (long long)time(NULL) * 1000, day = 86400000;

		snprintf(sql, sizeof(sql),
			 "UPDATE registrar_registrant SET created_at = %lld - "
			 "CASE name WHEN 'Bob' THEN 9 ELSE 8 END * %lld",
			 now, day);
		ck_assert_int_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), 0);
		snprintf(sql, sizeof(sql),
			 "INSERT INTO registrar_guide_step VALUES (1, 'cla', "
			 "%lld, 'self', NULL)",
			 now - 2 * day);
		ck_assert_int_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), 0);
	}
	fakehost_output_clear(host);
	ck_assert_int_eq(fakehost_command(host, "stuck"), OPSBOT_OK);
	ck_assert_msg(strstr(fakehost_output(host),
			     "1 stuck (no progress for 7 days or more): Bob "
			     "(0/6)"),
		      "%s", fakehost_output(host));
	snprintf(bad, sizeof(bad), "%s&sort=idle", target);
	ck_assert_int_eq(get(bad), 200);
	{
		const char *page = fakehost_webhook_body(host);
		const char *bob = strstr(page, ">Bob</a>");
		const char *ada = strstr(page, ">Ada &lt;b&gt;");

		/* the longest without progress first, marked stuck */
		ck_assert_msg(bob && ada && bob < ada, "%s", page);
		ck_assert_msg(strstr(bob, "<td>0/6</td><td>9</td><td "
					  "class=\"stuck\">stuck</td>"),
			      "%s", bob);
		ck_assert_msg(strstr(ada, "<td>1/6</td><td>2</td><td></td>"),
			      "%s", ada);
		ck_assert_msg(strstr(page, "2 students, 1 stuck"), "%s", page);
	}
}
END_TEST

START_TEST(gerrit_rounds)
{
	const char *out, *m;
	int n;

	/* the first round, 5 s after start: Ada's account, her change */
	fakehost_run(host, 6000);
	/* as Gerrit's REST API has them, with the HTTP queue's encoding */
	ck_assert_msg(strstr(urls, "https://review.example.org/accounts/?q="
				   "email%3Aada%40example.org&n=1\n"
				   "https://review.example.org/changes/?q=owner"
				   "%3A1000042&n=1\n"
				   "https://review.example.org/changes/?q=owner"
				   "%3A1000042%20status%3Amerged&n=1\n"
				   "https://review.example.org/accounts/?q="
				   "email%3Abob%40example.org&n=1\n"),
		      "%s", urls);
	/* Bob: 404 is nothing yet; Ada: account, uploaded, merged? */
	ck_assert_int_eq(nrequests, 4);
	/* one request at a time */
	for (int i = 1; i < nrequests; i++)
		ck_assert_int_ge(request_at[i] - request_at[i - 1], 20);
	fakehost_asker(host, OPSBOT_ORIGIN_CHANNEL, "mentor", "grace", "#c");
	fakehost_output_clear(host);
	fakehost_command(host, "progress ada");
	ck_assert_msg(strstr(fakehost_output(host),
			     "gerrit-account done, git-review to do, "
			     "first-change done, first-merge to do"),
		      "%s", fakehost_output(host));

	/* an outage: retried with a growing pause, then the round ends */
	merged = 1;
	outage = 3;
	n = nrequests;
	fakehost_run(host, 75000);
	ck_assert_int_ge(nrequests, n + 4);
	ck_assert_int_ge(request_at[n + 1] - request_at[n], 500);
	ck_assert_int_gt(request_at[n + 2] - request_at[n + 1],
			 request_at[n + 1] - request_at[n] - 600);
	out = fakehost_output(host);
	m = strstr(out, "say #class milestone: Ada <b>&amp;</b>'s first change "
			"in openstack/nova is merged");
	ck_assert_msg(m != NULL, "%s", out);
	ck_assert_msg(strstr(m + 1, "say #class milestone") == NULL, "%s", out);

	/* a 401 ends the round at once, with the keys to fix */
	unauthorized = 1;
	add_student("Cy", "cy@example.org");
	n = nrequests;
	fakehost_run(host, 61000);
	ck_assert_int_eq(nrequests, n + 1);
	ck_assert_msg(strstr(fakehost_output(host),
			     "check gerrit_username and gerrit_password"),
		      "%s", fakehost_output(host));
	unauthorized = 0;

	/* once, also after an unload and a new load */
	fakehost_output_clear(host);
	ck_assert_int_eq(fakehost_unload(host, NULL), OPSBOT_OK);
	ck_assert_msg(fakehost_load(host, &opsbot_plugin) == OPSBOT_OK, "%s",
		      fakehost_output(host));
	fakehost_asker(host, OPSBOT_ORIGIN_CHANNEL, "mentor", "grace", "#c");
	ck_assert_int_eq(fakehost_command(host, "done ada first-merge"),
			 OPSBOT_OK);
	fakehost_run(host, 130000);
	ck_assert_ptr_null(strstr(fakehost_output(host), "milestone"));
	ck_assert_msg(strstr(fakehost_output(host), "already done"), "%s",
		      fakehost_output(host));
}
END_TEST

START_TEST(guide_url_needed_by_the_template)
{
	fakehost_unload(host, NULL);
	fakehost_config_unset(host, "guide_url");
	fakehost_output_clear(host);
	ck_assert_int_ne(fakehost_load(host, &opsbot_plugin), OPSBOT_OK);
	ck_assert_msg(strstr(fakehost_output(host),
			     "student_template: uses {GuideURL} but the guide "
			     "is off; set guide_url"),
		      "%s", fakehost_output(host));
	/* a base URL with a trailing slash or a query is refused too */
	fakehost_config(host, "guide_url", "https://guide.example.org/");
	ck_assert_int_ne(fakehost_load(host, &opsbot_plugin), OPSBOT_OK);
	ck_assert_msg(strstr(fakehost_output(host), "guide_url: "), "%s",
		      fakehost_output(host));
	fakehost_config_unset(host, "guide_url");
	fakehost_config(host, "guide_url", "https://guide.example.org");
	ck_assert_int_eq(fakehost_load(host, &opsbot_plugin), OPSBOT_OK);
}
END_TEST

/* The class page of 500 students: its render time, reported (a figure,
 * not a timed assertion). */
START_TEST(class_of_500)
{
	char target[512], email[64], name[64];
	const char *out, *u;
	struct timespec a, b;
	double best = 1e9;

	for (int i = 0; i < 500; i++) {
		snprintf(email, sizeof(email), "s%03d@example.org", i);
		snprintf(name, sizeof(name), "Student %03d", i);
		add_student(name, email);
	}
	fakehost_output_clear(host);
	fakehost_asker(host, OPSBOT_ORIGIN_PRIVATE, "mentor", "grace", NULL);
	fakehost_command(host, "guide");
	out = fakehost_output(host);
	u = strstr(out, "/hooks/registrar/class?");
	snprintf(target, sizeof(target), "%.*s", (int)strcspn(u, " \n"), u);
	for (int i = 0; i < 5; i++) {
		double ms;

		clock_gettime(CLOCK_MONOTONIC, &a);
		ck_assert_int_eq(get(target), 200);
		clock_gettime(CLOCK_MONOTONIC, &b);
		ms = (double)(b.tv_sec - a.tv_sec) * 1e3 +
		     (double)(b.tv_nsec - a.tv_nsec) / 1e6;
		if (ms < best)
			best = ms;
	}
	ck_assert_msg(strstr(fakehost_webhook_body(host), "502 students"),
		      "the class page lists every student");
	printf("class page of 502 students: %.2f ms (best of 5)\n", best);
}
END_TEST

static Suite *guide_suite(void)
{
	Suite *s = suite_create("registrar_guide");
	TCase *pure = tcase_create("pure");
	TCase *plugin = tcase_create("plugin");

	tcase_add_test(pure, steps_file);
	tcase_add_test(pure, form_params);
	tcase_add_test(pure, class_filter);
	suite_add_tcase(s, pure);
	tcase_add_checked_fixture(plugin, setup, teardown);
	tcase_set_timeout(plugin, 60);
	tcase_add_test(plugin, student_page);
	tcase_add_test(plugin, mentor_links);
	tcase_add_test(plugin, gerrit_rounds);
	tcase_add_test(plugin, class_of_500);
	tcase_add_test(plugin, guide_url_needed_by_the_template);
	suite_add_tcase(s, plugin);
	return s;
}

CHECK_MAIN(guide_suite)

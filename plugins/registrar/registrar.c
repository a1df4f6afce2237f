/*
 * registrar.c - the registrar plugin: Google Sheets form answers become
 * Trello cards (students) and welcome mails (everyone), each step exactly
 * once, with status in chat.  This file holds the descriptor, the
 * configuration, init/fini and the !reg commands; the sync is in sync.c.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/random.h>

#include <sqlite3.h>

#include "registrar.h"

#define REG_MAX_MATCHES 8
/* !reg list: names shown in a channel, in a private reply */
#define REG_LIST_CHANNEL 10
#define REG_LIST_PRIVATE 100

static struct reg *reg_instance;

static const struct opsbot_config_key reg_config[] = {
    OPSBOT_CONFIG_KEY(
	"sheet", OPSBOT_CONFIG_LIST, NULL, OPSBOT_CONFIG_REQUIRED, 0, 0,
	"a form sheet: ROLE SPREADSHEET_ID [TAB]; ROLE is student or mentor"),
    OPSBOT_CONFIG_KEY("sheets_url", OPSBOT_CONFIG_STRING,
		      "https://sheets.googleapis.com/v4/spreadsheets", 0, 0, 0,
		      "base URL of the Sheets API"),
    OPSBOT_CONFIG_KEY("google_key", OPSBOT_CONFIG_SECRET, NULL, 0, 0, 0,
		      "service-account json key (use google_key_file)"),
    OPSBOT_CONFIG_KEY(
	"google_api_key", OPSBOT_CONFIG_SECRET, NULL, 0, 0, 0,
	"API key for public sheets (read only: rows are not marked)"),
    OPSBOT_CONFIG_KEY("status_column", OPSBOT_CONFIG_STRING,
		      "upstream-registrar", 0, 0, 0,
		      "header of the column marked when a row is done"),
    OPSBOT_CONFIG_KEY("status_value", OPSBOT_CONFIG_STRING, "processed", 0, 0,
		      0, "value written into the status column"),
    OPSBOT_CONFIG_KEY("email_column", OPSBOT_CONFIG_STRING, "Email", 0, 0, 0,
		      "header of the e-mail column"),
    OPSBOT_CONFIG_KEY("name_column", OPSBOT_CONFIG_STRING, "Name", 0, 0, 0,
		      "header of the name column"),
    OPSBOT_CONFIG_KEY("trello_url", OPSBOT_CONFIG_STRING,
		      "https://api.trello.com/1", 0, 0, 0,
		      "base URL of the Trello API"),
    OPSBOT_CONFIG_KEY("trello_key", OPSBOT_CONFIG_SECRET, NULL, 0, 0, 0,
		      "Trello API key"),
    OPSBOT_CONFIG_KEY("trello_token", OPSBOT_CONFIG_SECRET, NULL, 0, 0, 0,
		      "Trello user token"),
    OPSBOT_CONFIG_KEY("trello_board", OPSBOT_CONFIG_STRING, NULL, 0, 0, 0,
		      "Trello board id"),
    OPSBOT_CONFIG_KEY("trello_list", OPSBOT_CONFIG_STRING, "Applicants", 0, 0,
		      0, "name of the list new student cards go to"),
    OPSBOT_CONFIG_KEY("card_title", OPSBOT_CONFIG_STRING,
		      "{Name}, {Title} @ {Organization}", 0, 0, 0,
		      "card title template ({Column} placeholders)"),
    OPSBOT_CONFIG_KEY("mailgun_region", OPSBOT_CONFIG_STRING, "us", 0, 0, 0,
		      "us or eu: the region of the Mailgun domain"),
    OPSBOT_CONFIG_KEY("mailgun_url", OPSBOT_CONFIG_STRING, NULL, 0, 0, 0,
		      "base URL up to /v3, overriding mailgun_region"),
    OPSBOT_CONFIG_KEY("mailgun_domain", OPSBOT_CONFIG_STRING, NULL,
		      OPSBOT_CONFIG_REQUIRED, 0, 0, "Mailgun sending domain"),
    OPSBOT_CONFIG_KEY("mailgun_key", OPSBOT_CONFIG_SECRET, NULL,
		      OPSBOT_CONFIG_REQUIRED, 0, 0,
		      "Mailgun API key (basic auth api:KEY)"),
    OPSBOT_CONFIG_KEY("mail_from", OPSBOT_CONFIG_STRING, NULL,
		      OPSBOT_CONFIG_REQUIRED, 0, 0,
		      "From: of the welcome mails"),
    OPSBOT_CONFIG_KEY("mail_cc", OPSBOT_CONFIG_STRING, NULL, 0, 0, 0,
		      "Cc: (optional)"),
    OPSBOT_CONFIG_KEY("mail_reply_to", OPSBOT_CONFIG_STRING, NULL, 0, 0, 0,
		      "Reply-To: (optional)"),
    OPSBOT_CONFIG_KEY(
	"student_template", OPSBOT_CONFIG_STRING, NULL, 0, 0, 0,
	"student mail: file with a \"Subject: ...\" line, a blank line, "
	"the text"),
    OPSBOT_CONFIG_KEY("student_template_html", OPSBOT_CONFIG_STRING, NULL, 0, 0,
		      0, "student mail, html part (optional file)"),
    OPSBOT_CONFIG_KEY("mentor_template", OPSBOT_CONFIG_STRING, NULL, 0, 0, 0,
		      "mentor mail template file"),
    OPSBOT_CONFIG_KEY("mentor_template_html", OPSBOT_CONFIG_STRING, NULL, 0, 0,
		      0, "mentor mail, html part (optional file)"),
    OPSBOT_CONFIG_KEY(
	"channel", OPSBOT_CONFIG_STRING, NULL, 0, 0, 0,
	"organisers' channel: new registrations and sync problems"),
    OPSBOT_CONFIG_KEY("sync_interval", OPSBOT_CONFIG_DURATION, "15m", 0, 0, 0,
		      "time between periodic syncs; 0 turns them off"),
    OPSBOT_CONFIG_KEY("sync_start_delay", OPSBOT_CONFIG_DURATION, "30s", 0, 0,
		      0, "delay of the first periodic sync after start"),
    OPSBOT_CONFIG_KEY("concurrency", OPSBOT_CONFIG_INT, "8", 0, 1, 64,
		      "HTTP requests in flight at most"),
    OPSBOT_CONFIG_KEY("http_timeout", OPSBOT_CONFIG_DURATION, "30s", 0, 1000,
		      600000, "time limit of one HTTP request"),
    OPSBOT_CONFIG_KEY(
	"max_attempts", OPSBOT_CONFIG_INT, "5", 0, 1, 20,
	"attempts per request before a step waits for the next sync"),
    OPSBOT_CONFIG_KEY("backoff_base", OPSBOT_CONFIG_DURATION, "1s", 0, 1,
		      600000, "first retry delay (doubles, with jitter)"),
    OPSBOT_CONFIG_KEY("backoff_max", OPSBOT_CONFIG_DURATION, "5m", 0, 1,
		      3600000, "longest retry delay"),
    OPSBOT_CONFIG_KEY("trello_429_backoff", OPSBOT_CONFIG_DURATION, "10s", 0, 0,
		      600000,
		      "pause after a Trello 429 (it sends no Retry-After)"),
    OPSBOT_CONFIG_KEY(
	"trello_rate_limit", OPSBOT_CONFIG_INT, "90", 0, 0, 100000,
	"Trello requests per 10 s (its limit is 100 per token); 0: none"),
    OPSBOT_CONFIG_KEY("mailgun_rate_limit", OPSBOT_CONFIG_INT, "0", 0, 0,
		      100000, "Mailgun requests per 10 s; 0: none"),
    OPSBOT_CONFIG_KEY(
	"sheets_rate_limit", OPSBOT_CONFIG_INT, "50", 0, 0, 100000,
	"Sheets requests per minute (quota 60 per user); 0: none"),
    OPSBOT_CONFIG_KEY("lease_ttl", OPSBOT_CONFIG_DURATION, "2m", 0, 3000,
		      3600000,
		      "sync lease lifetime, renewed while a sync runs"),
    OPSBOT_CONFIG_KEY("resend_confirm_time", OPSBOT_CONFIG_DURATION, "5m", 0,
		      1000, 3600000, "how long a !reg resend code is valid"),
    OPSBOT_CONFIG_KEY(
	"guide_url", OPSBOT_CONFIG_STRING, NULL, 0, 0, 0,
	"public base URL of the [http] listener (https://guide.example.org, "
	"or http://127.0.0.1:8080); set, the guide's pages are served"),
    OPSBOT_CONFIG_KEY("guide_steps", OPSBOT_CONFIG_STRING, NULL, 0, 0, 0,
		      "file of the guide's steps; unset: the OpenStack path"),
    OPSBOT_CONFIG_KEY("guide_channel", OPSBOT_CONFIG_STRING, NULL, 0, 0, 0,
		      "class channel for milestones; unset: channel"),
    OPSBOT_CONFIG_KEY("class_column", OPSBOT_CONFIG_STRING, "Class", 0, 0, 0,
		      "header of the class column (shown on the pages)"),
    OPSBOT_CONFIG_KEY("mentor_column", OPSBOT_CONFIG_STRING, "Mentor", 0, 0, 0,
		      "header of the mentor column (shown on the pages)"),
    OPSBOT_CONFIG_KEY(
	"mentor", OPSBOT_CONFIG_LIST, NULL, 0, 0, 0,
	"\"ACCOUNT Mentor Name\" (or \"nick:NICK Mentor Name\" without "
	"services): whose !reg guide link shows that mentor's students "
	"first (the name as the mentor column spells it)"),
    OPSBOT_CONFIG_KEY("stuck_days", OPSBOT_CONFIG_INT, "7", 0, 1, 365,
		      "days without progress after which a student is stuck"),
    OPSBOT_CONFIG_KEY("guide_link_ttl", OPSBOT_CONFIG_DURATION, "12h", 0, 60000,
		      604800000,
		      "how long a mentor's link from !reg guide works"),
    OPSBOT_CONFIG_KEY("gerrit_url", OPSBOT_CONFIG_STRING, NULL, 0, 0, 0,
		      "Gerrit server whose REST API verifies steps "
		      "(https://review.opendev.org); unset: no checks"),
    OPSBOT_CONFIG_KEY("gerrit_username", OPSBOT_CONFIG_STRING, NULL, 0, 0, 0,
		      "Gerrit HTTP user (optional: /a/ endpoints)"),
    OPSBOT_CONFIG_KEY("gerrit_password", OPSBOT_CONFIG_SECRET, NULL, 0, 0, 0,
		      "Gerrit HTTP password"),
    OPSBOT_CONFIG_KEY("gerrit_poll_interval", OPSBOT_CONFIG_DURATION, "10m", 0,
		      1000, 86400000, "time between two rounds of checks"),
    OPSBOT_CONFIG_KEY("gerrit_rate_limit", OPSBOT_CONFIG_INT, "60", 0, 0,
		      100000, "Gerrit requests per minute; 0: none"),
    OPSBOT_CONFIG_END,
};

/* ------------------------------------------------------------------------ */
/* Configuration */

static const char *reg_cfg(struct reg *reg, const char *key)
{
	const char *v = reg->api->config_string(reg->self, NULL, key);

	return v && *v ? v : NULL;
}

static const char *reg_secret(struct reg *reg, const char *key)
{
	const char *v = reg->api->config_secret(reg->self, NULL, key);

	return v && *v ? v : NULL;
}

/*
 * Configuration errors name the key, as the host's do ("[plugin.registrar]
 * mailgun_region: ..."); the host's own checks (types, ranges, required
 * keys, secret files) ran before init, with the file and line.
 */
#define REG_SECTION "[plugin.registrar] "

int reg_read_text_file(const char *key, const char *path, char **out,
		       struct sdk_buf *err)
{
	FILE *f = fopen(path, "r");
	struct sdk_buf b = SDK_BUF_INIT;
	char chunk[4096];
	size_t n, bad;

	if (!f) {
		sdk_buf_addf(err, REG_SECTION "%s: cannot read %s: %s", key,
			     path, strerror(errno));
		return -1;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		sdk_buf_add(&b, chunk, n);
	if (ferror(f)) {
		sdk_buf_addf(err, REG_SECTION "%s: cannot read %s: %s", key,
			     path, strerror(errno));
		fclose(f);
		sdk_buf_release(&b);
		return -1;
	}
	fclose(f);
	/* mails are sent as UTF-8: another encoding would arrive garbled */
	if (!sdk_utf8_valid(b.buf ? b.buf : "", b.len, &bad)) {
		sdk_buf_addf(err,
			     REG_SECTION "%s: %s is not UTF-8 text (byte %zu); "
					 "save it as UTF-8",
			     key, path, bad + 1);
		sdk_buf_release(&b);
		return -1;
	}
	*out = sdk_buf_detach(&b);
	return 0;
}

static int reg_check_template(const char *key, const char *tpl,
			      struct sdk_buf *err)
{
	struct sdk_buf why = SDK_BUF_INIT;

	if (reg_template_check(tpl, &why) == 0)
		return 0;
	sdk_buf_addf(err, REG_SECTION "%s: %s", key, sdk_buf_str(&why));
	sdk_buf_release(&why);
	return -1;
}

/* A template file: "Subject: ..." on the first line, a blank line, text. */
static int reg_load_template(struct reg *reg, int role, const char *key,
			     const char *html_key, struct sdk_buf *err)
{
	const char *path = reg_cfg(reg, key), *html = reg_cfg(reg, html_key);
	char *text, *body, *nl;

	if (!path) {
		if (html) {
			sdk_buf_addf(err,
				     REG_SECTION "%s: needs %s (the text part "
						 "and the subject)",
				     html_key, key);
			return -1;
		}
		return 0;
	}
	if (reg_read_text_file(key, path, &text, err) < 0)
		return -1;
	if (strncasecmp(text, "Subject:", 8) != 0) {
		sdk_buf_addf(err,
			     REG_SECTION "%s: %s: the first line must be "
					 "\"Subject: ...\"",
			     key, path);
		free(text);
		return -1;
	}
	nl = strchr(text, '\n');
	body = nl ? nl + 1 : text + strlen(text);
	if (nl) {
		*nl = '\0';
		if (nl > text && nl[-1] == '\r')
			nl[-1] = '\0';
	}
	if (*body == '\n')
		body++;
	else if (body[0] == '\r' && body[1] == '\n')
		body += 2;
	reg->tpl_subject[role] = sdk_xstrdup(text + 8 + strspn(text + 8, " "));
	reg->tpl_text[role] = sdk_xstrdup(body);
	free(text);
	body = reg->tpl_text[role];
	if (!reg->tpl_subject[role][0] || !body[strspn(body, " \t\r\n")]) {
		sdk_buf_addf(err,
			     REG_SECTION "%s: %s: %s is empty; write the "
					 "welcome mail",
			     key, path,
			     reg->tpl_subject[role][0] ? "the text"
						       : "the subject");
		return -1;
	}
	if (reg_check_template(key, reg->tpl_subject[role], err) < 0 ||
	    reg_check_template(key, reg->tpl_text[role], err) < 0)
		return -1;
	if (html &&
	    (reg_read_text_file(html_key, html, &reg->tpl_html[role], err) <
		 0 ||
	     reg_check_template(html_key, reg->tpl_html[role], err) < 0))
		return -1;
	return 0;
}

static int reg_parse_sheets(struct reg *reg, struct sdk_buf *err)
{
	int n = reg->api->config_list_count(reg->self, NULL, "sheet");

	if (n <= 0) {
		sdk_buf_adds(err, REG_SECTION "sheet: no sheet configured; add "
					      "sheet = student SPREADSHEET_ID "
					      "[TAB]");
		return -1;
	}
	reg->sheets = sdk_xcalloc((size_t)n, sizeof(*reg->sheets));
	for (int i = 0; i < n; i++) {
		const char *item =
		    reg->api->config_list_item(reg->self, NULL, "sheet", i);
		struct reg_sheet_cfg *sc = &reg->sheets[i];
		const char *p = item, *role, *id;
		size_t rl, il;

		while (isspace((unsigned char)*p))
			p++;
		role = p;
		rl = strcspn(p, " \t");
		p += rl;
		while (isspace((unsigned char)*p))
			p++;
		id = p;
		il = strcspn(p, " \t");
		p += il;
		while (isspace((unsigned char)*p))
			p++;
		if (rl == 7 && strncmp(role, "student", 7) == 0)
			sc->role = REG_STUDENT;
		else if (rl == 6 && strncmp(role, "mentor", 6) == 0)
			sc->role = REG_MENTOR;
		else {
			sdk_buf_addf(err,
				     REG_SECTION "sheet: \"%s\": the role "
						 "must be student or mentor "
						 "(sheet = ROLE SPREADSHEET_ID "
						 "[TAB])",
				     item);
			return -1;
		}
		if (!il) {
			sdk_buf_addf(err,
				     REG_SECTION "sheet: \"%s\": no "
						 "spreadsheet id (sheet = "
						 "ROLE SPREADSHEET_ID [TAB])",
				     item);
			return -1;
		}
		sc->id = sdk_xstrndup(id, il);
		sc->tab = sdk_xstrdup(*p ? p : "Sheet1");
		/* trailing blanks of the tab name are not part of it */
		for (size_t l = strlen(sc->tab);
		     l && isspace((unsigned char)sc->tab[l - 1]); l--)
			sc->tab[l - 1] = '\0';
		sc->name = sdk_xasprintf(
		    "%s sheet \"%s\"",
		    sc->role == REG_MENTOR ? "mentor" : "student", sc->tab);
		reg->nsheets++;
		for (int k = 0; k < i; k++) {
			if (strcmp(reg->sheets[k].id, sc->id) == 0 &&
			    strcmp(reg->sheets[k].tab, sc->tab) == 0) {
				sdk_buf_addf(err,
					     REG_SECTION "sheet: \"%s\" is "
							 "configured twice",
					     item);
				return -1;
			}
		}
	}
	return 0;
}

/* A base URL: http:// or https://, no trailing slash kept. */
static int reg_check_url(struct reg *reg, const char *key, struct sdk_buf *err)
{
	const char *url = reg_cfg(reg, key);

	if (!url || strncmp(url, "https://", 8) == 0 ||
	    strncmp(url, "http://", 7) == 0)
		return 0;
	sdk_buf_addf(err,
		     REG_SECTION "%s: \"%s\" is not an http:// or "
				 "https:// URL",
		     key, url);
	return -1;
}

/* "n requests per window": a burst of n, then n per window (0: none). */
static void reg_rate_limit(struct reg *reg, enum reg_service service,
			   const char *key, double window_s)
{
	double n = (double)reg->api->config_int(reg->self, NULL, key);

	sdk_http_service_limit(&reg->http, service, n / window_s, n);
}

static int reg_configure(struct reg *reg, struct sdk_buf *err)
{
	const struct opsbot_api *api = reg->api;
	const char *region, *url;
	int has_student = 0;

	if (reg_parse_sheets(reg, err) < 0)
		return -1;
	reg->sheets_url = reg_cfg(reg, "sheets_url");
	reg->google_key = reg_secret(reg, "google_key");
	reg->google_api_key = reg_secret(reg, "google_api_key");
	reg->status_column = reg_cfg(reg, "status_column");
	reg->status_value = reg_cfg(reg, "status_value");
	reg->email_column = reg_cfg(reg, "email_column");
	reg->name_column = reg_cfg(reg, "name_column");
	reg->trello_url = reg_cfg(reg, "trello_url");
	reg->trello_key = reg_secret(reg, "trello_key");
	reg->trello_token = reg_secret(reg, "trello_token");
	reg->trello_board = reg_cfg(reg, "trello_board");
	reg->trello_list = reg_cfg(reg, "trello_list");
	reg->card_title = reg_cfg(reg, "card_title");
	reg->mailgun_domain = reg_cfg(reg, "mailgun_domain");
	reg->mailgun_key = reg_secret(reg, "mailgun_key");
	reg->mail_from = reg_cfg(reg, "mail_from");
	reg->mail_cc = reg_cfg(reg, "mail_cc");
	reg->mail_reply_to = reg_cfg(reg, "mail_reply_to");
	reg->channel = reg_cfg(reg, "channel");
	reg->sync_interval_ms =
	    api->config_duration_ms(reg->self, NULL, "sync_interval");
	reg->sync_start_delay_ms =
	    api->config_duration_ms(reg->self, NULL, "sync_start_delay");
	reg->http_timeout_ms =
	    api->config_duration_ms(reg->self, NULL, "http_timeout");
	reg->backoff_base_ms =
	    api->config_duration_ms(reg->self, NULL, "backoff_base");
	reg->backoff_max_ms =
	    api->config_duration_ms(reg->self, NULL, "backoff_max");
	reg->trello_429_ms =
	    api->config_duration_ms(reg->self, NULL, "trello_429_backoff");
	reg->lease_ttl_ms =
	    api->config_duration_ms(reg->self, NULL, "lease_ttl");
	reg->confirm_ms =
	    api->config_duration_ms(reg->self, NULL, "resend_confirm_time");
	reg->concurrency = (int)api->config_int(reg->self, NULL, "concurrency");
	reg->max_attempts =
	    (int)api->config_int(reg->self, NULL, "max_attempts");
	if (reg->concurrency < 1)
		reg->concurrency = 1;
	if (reg->max_attempts < 1)
		reg->max_attempts = 1;
	if (reg->lease_ttl_ms < 3000)
		reg->lease_ttl_ms = 3000;

	/* the values --check-config cannot judge: it runs no plugin code */
	for (const char *const *k =
		 (const char *const[]){"sheets_url", "trello_url",
				       "mailgun_url", NULL};
	     *k; k++)
		if (reg_check_url(reg, *k, err) < 0)
			return -1;
	for (const char *const *k =
		 (const char *const[]){"status_column", "email_column",
				       "name_column", "status_value",
				       "trello_list", "card_title", NULL};
	     *k; k++) {
		if (!reg_cfg(reg, *k)) {
			sdk_buf_addf(err,
				     REG_SECTION "%s: empty; remove the line "
						 "for the default",
				     *k);
			return -1;
		}
	}
	if (reg->backoff_base_ms > reg->backoff_max_ms) {
		sdk_buf_adds(err, REG_SECTION "backoff_base: longer than "
					      "backoff_max");
		return -1;
	}
	region = reg_cfg(reg, "mailgun_region");
	url = reg_cfg(reg, "mailgun_url");
	if (region && strcmp(region, "us") != 0 && strcmp(region, "eu") != 0) {
		sdk_buf_addf(err,
			     REG_SECTION "mailgun_region: \"%s\" is neither "
					 "us nor eu",
			     region);
		return -1;
	}
	if (url)
		reg->mailgun_base = sdk_xstrdup(url);
	else if (region && strcmp(region, "eu") == 0)
		reg->mailgun_base =
		    sdk_xstrdup("https://api.eu.mailgun.net/v3");
	else
		reg->mailgun_base = sdk_xstrdup("https://api.mailgun.net/v3");
	/* trailing slashes would double in URLs */
	for (size_t l = strlen(reg->mailgun_base);
	     l && reg->mailgun_base[l - 1] == '/'; l--)
		reg->mailgun_base[l - 1] = '\0';

	for (int i = 0; i < reg->nsheets; i++)
		if (reg->sheets[i].role == REG_STUDENT)
			has_student = 1;
	if (!reg->google_key && !reg->google_api_key) {
		sdk_buf_adds(err,
			     REG_SECTION "google_key: no google "
					 "credentials; set google_key_file "
					 "(service account) or "
					 "google_api_key (public sheets, "
					 "read only)");
		return -1;
	}
	if (reg->google_key && reg->google_api_key)
		api->log(reg->self, OPSBOT_LOG_WARN,
			 "config: google_api_key is not used while google_key "
			 "is set");
	if (has_student) {
		const char *missing = !reg->trello_key	   ? "trello_key"
				      : !reg->trello_token ? "trello_token"
				      : !reg->trello_board ? "trello_board"
							   : NULL;

		if (missing) {
			sdk_buf_addf(err,
				     REG_SECTION "%s: student sheets need "
						 "trello_key, trello_token and "
						 "trello_board",
				     missing);
			return -1;
		}
	}
	if (!reg->mailgun_domain || !reg->mailgun_key || !reg->mail_from) {
		sdk_buf_addf(err,
			     REG_SECTION
			     "%s: empty; mails need mailgun_domain, "
			     "mailgun_key and mail_from",
			     !reg->mailgun_domain ? "mailgun_domain"
			     : !reg->mailgun_key  ? "mailgun_key"
						  : "mail_from");
		return -1;
	}
	if (reg_check_template("card_title", reg->card_title, err) < 0)
		return -1;
	if (reg_load_template(reg, REG_STUDENT, "student_template",
			      "student_template_html", err) < 0 ||
	    reg_load_template(reg, REG_MENTOR, "mentor_template",
			      "mentor_template_html", err) < 0)
		return -1;
	for (int i = 0; i < reg->nsheets; i++) {
		int role = reg->sheets[i].role;
		const char *r = role == REG_MENTOR ? "mentor" : "student";

		if (!reg->tpl_text[role]) {
			sdk_buf_addf(err,
				     REG_SECTION "%s_template: %s sheets need "
						 "a mail template file",
				     r, r);
			return -1;
		}
	}
	reg_client_init(reg);
	reg_rate_limit(reg, REG_SVC_TRELLO, "trello_rate_limit", 10);
	reg_rate_limit(reg, REG_SVC_MAILGUN, "mailgun_rate_limit", 10);
	reg_rate_limit(reg, REG_SVC_GOOGLE, "sheets_rate_limit", 60);
	reg_rate_limit(reg, REG_SVC_GERRIT, "gerrit_rate_limit", 60);
	if (reg_google_setup(reg, err) < 0 || reg_guide_setup(reg, err) < 0)
		return -1;
	/* {GuideURL} is a column only while the guide is on: said now,
	   not at the first mail */
	for (int role = 0; role < 2 && !reg->guide_url; role++) {
		const char *key = role == REG_MENTOR ? "mentor" : "student";

		if ((reg->tpl_text[role] &&
		     strstr(reg->tpl_text[role], "{GuideURL}")) ||
		    (reg->tpl_html[role] &&
		     strstr(reg->tpl_html[role], "{GuideURL}")) ||
		    (reg->tpl_subject[role] &&
		     strstr(reg->tpl_subject[role], "{GuideURL}"))) {
			sdk_buf_addf(err,
				     REG_SECTION "%s_template: uses {GuideURL} "
						 "but the guide is off; set "
						 "guide_url",
				     key);
			return -1;
		}
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Commands */

static struct sqlite3 *reg_store(struct reg *reg)
{
	return reg->api->store(reg->self);
}

/* How the asker types a command: "!reg" in chat, the CLI's words there. */
static const char *reg_word(const struct opsbot_request *req)
{
	return req->origin == OPSBOT_ORIGIN_CLI ? "opsbot run registrar"
						: "!reg";
}

/* Resolves <who> to exactly one registrant, or explains why not. */
static int reg_resolve(struct reg *reg, struct opsbot_request *req,
		       const char *who, int64_t *id)
{
	int64_t ids[REG_MAX_MATCHES];
	int n = reg_ledger_find(reg_store(reg), who, ids, REG_MAX_MATCHES);
	struct sdk_buf names = SDK_BUF_INIT;

	if (n < 0) {
		reg->api->reply_error(req,
				      "ledger: lookup failed; see the log");
		return -1;
	}
	if (n == 0) {
		/* an address typed in a channel is not repeated there */
		reg->api->reply_error(req,
				      "no registrant matches \"%s\"; try part "
				      "of the name, the e-mail or %s list",
				      strchr(who, '@') ? "<e-mail>" : who,
				      reg_word(req));
		return -1;
	}
	if (n == 1) {
		*id = ids[0];
		return 0;
	}
	/* the numbers tell apart two people of the same name, or one
	   person on both sheets */
	for (int i = 0; i < n && i < REG_MAX_MATCHES; i++) {
		struct reg_registrant r;

		if (reg_ledger_load(reg_store(reg), ids[i], &r) < 0)
			continue;
		sdk_buf_addf(&names, "%s%s (%s, #%lld)", names.len ? ", " : "",
			     r.name, r.role, (long long)r.id);
		reg_registrant_free(&r);
	}
	reg->api->reply_error(
	    req,
	    "%d registrants match: %s%s; give the number "
	    "instead of the name (#%lld)%s",
	    n, sdk_buf_str(&names), n > REG_MAX_MATCHES ? ", ..." : "",
	    (long long)ids[0],
	    n > REG_MAX_MATCHES ? " or more of the name" : "");
	sdk_buf_release(&names);
	return -1;
}

/*
 * A random number below bound from the kernel (getrandom(2)): a resend
 * code must not be guessable from the time and the pid.  Rejection keeps
 * every value equally likely.  0 and *out, or -1.
 */
static int reg_random_below(uint32_t bound, uint32_t *out)
{
	uint32_t limit = UINT32_MAX - UINT32_MAX % bound, x;

	do {
		ssize_t n;

		do
			n = getrandom(&x, sizeof(x), 0);
		while (n < 0 && errno == EINTR);
		if (n != (ssize_t)sizeof(x))
			return -1;
	} while (x >= limit);
	*out = x % bound;
	return 0;
}

static const char *reg_mail_text(const struct reg_registrant *r)
{
	if (strcmp(r->mail_state, "sent") == 0)
		return "mail sent";
	if (strcmp(r->mail_state, "unknown") == 0)
		return "mail UNKNOWN (may have gone out)";
	if (strcmp(r->mail_state, "skipped") == 0)
		return "mail not sent by the bot";
	return strcmp(r->mail_state, "failed") == 0 ? "mail failed"
						    : "mail pending";
}

static int reg_cmd_status(struct opsbot_plugin *self,
			  struct opsbot_request *req, void *data)
{
	struct reg *reg = data;
	const struct opsbot_api *api = reg->api;
	struct reg_registrant r;
	struct reg_record rec;
	int64_t id;

	if (reg_resolve(reg, req, req->args, &id) < 0)
		return OPSBOT_ERR;
	if (reg_ledger_load(reg_store(reg), id, &r) < 0) {
		api->reply_error(req, "ledger: lookup failed; see the log");
		return OPSBOT_ERR;
	}
	/* the channel line: no e-mail, no form fields, no error text */
	api->reply(req, "%s (#%lld): %s, status %s, %s, card %s, %s%s%s",
		   r.name, (long long)r.id, r.role, r.status, r.progress,
		   strcmp(r.card_state, "done") == 0	  ? "created"
		   : strcmp(r.card_state, "skipped") == 0 ? "none"
							  : r.card_state,
		   reg_mail_text(&r), r.last_error ? ", has an error" : "",
		   req->origin == OPSBOT_ORIGIN_CHANNEL
		       ? "; details sent privately"
		       : "");
	api->reply_private(req, "%s <%s>: card %s, mail %s%s%s", r.name,
			   r.email, r.card_url ? r.card_url : "(none)",
			   r.mail_state, r.mail_id ? " " : "",
			   r.mail_id ? r.mail_id : "");
	if (r.last_error)
		api->reply_private(req, "last error: %s", r.last_error);
	if (reg_record_from_json(r.fields, &rec) == 0) {
		for (int i = 0; i < rec.ncols; i++)
			if (rec.values[i][0]) {
				/* a paragraph answer is one line in chat */
				char *v = reg_clean_line(rec.values[i], 0);

				api->reply_private(req, "  %s: %s",
						   rec.headers[i], v);
				free(v);
			}
		reg_record_free(&rec);
	}
	reg_registrant_free(&r);
	return OPSBOT_OK;
}

struct reg_list_ctx {
	struct sdk_buf line;
	int n, shown, max;
};

static void reg_list_one(const char *name, const char *role,
			 const char *progress, void *data)
{
	struct reg_list_ctx *ctx = data;

	ctx->n++;
	if (ctx->max && ctx->shown >= ctx->max)
		return;
	sdk_buf_addf(&ctx->line, "%s%s (%s, %s)", ctx->shown ? ", " : "", name,
		     role, progress);
	ctx->shown++;
}

static const char *const reg_progress_names[] = {
    "new", "carded", "mailed", "done", "failed", "unknown", "withdrawn", NULL};

static int reg_one_of(const char *const *list, const char *word)
{
	for (int i = 0; list[i]; i++)
		if (strcmp(list[i], word) == 0)
			return 1;
	return 0;
}

/*
 * A channel sees the first REG_LIST_CHANNEL names (a long list is noise
 * there) and is told how to get the rest; a private reply holds
 * REG_LIST_PRIVATE; the shell gets all.
 */
static int reg_cmd_list(struct opsbot_plugin *self, struct opsbot_request *req,
			void *data)
{
	struct reg *reg = data;
	struct reg_list_ctx ctx = {SDK_BUF_INIT, 0, 0, 0};
	const char *state = req->argc ? req->argv[0] : NULL;

	if (state && !reg_one_of(reg_progress_names, state)) {
		reg->api->reply_error(
		    req,
		    "unknown progress \"%s\"; use new, "
		    "carded, mailed, done, failed, unknown or "
		    "withdrawn",
		    state);
		return OPSBOT_EUSAGE;
	}
	if (req->origin == OPSBOT_ORIGIN_CHANNEL)
		ctx.max = REG_LIST_CHANNEL;
	else if (req->origin == OPSBOT_ORIGIN_PRIVATE)
		ctx.max = REG_LIST_PRIVATE;
	if (reg_ledger_list(reg_store(reg), state, reg_list_one, &ctx) < 0) {
		reg->api->reply_error(req,
				      "ledger: listing failed; see the log");
		sdk_buf_release(&ctx.line);
		return OPSBOT_ERR;
	}
	if (!ctx.n)
		reg->api->reply(req, "no registrants%s%s", state ? " in " : "",
				state ? state : "");
	else if (ctx.n == ctx.shown)
		reg->api->reply(req, "%d registrant(s)%s%s: %s", ctx.n,
				state ? " " : "", state ? state : "",
				sdk_buf_str(&ctx.line));
	else
		reg->api->reply(req, "%d registrant(s)%s%s: %s, and %d more%s",
				ctx.n, state ? " " : "", state ? state : "",
				sdk_buf_str(&ctx.line), ctx.n - ctx.shown,
				req->origin == OPSBOT_ORIGIN_CHANNEL
				    ? " (ask me in private for more)"
				    : " (opsbot run registrar list has all)");
	sdk_buf_release(&ctx.line);
	return OPSBOT_OK;
}

static void reg_stats_one(const char *progress, const char *role,
			  const char *count, void *data)
{
	struct sdk_buf *b = data;

	sdk_buf_addf(b, "%s%s %s %s", b->len ? ", " : "", count, role,
		     progress);
}

static int reg_cmd_stats(struct opsbot_plugin *self, struct opsbot_request *req,
			 void *data)
{
	struct reg *reg = data;
	struct sdk_buf b = SDK_BUF_INIT;

	if (reg_ledger_stats(reg_store(reg), reg_stats_one, &b) < 0) {
		reg->api->reply_error(req, "ledger: stats failed; see the log");
		sdk_buf_release(&b);
		return OPSBOT_ERR;
	}
	reg->api->reply(req, "registrants: %s%s", b.len ? "" : "none",
			sdk_buf_str(&b));
	sdk_buf_release(&b);
	return OPSBOT_OK;
}

struct reg_open_count {
	long known, open;
};

static void reg_count_open(const char *progress, const char *role,
			   const char *count, void *data)
{
	struct reg_open_count *c = data;
	long n = strtol(count, NULL, 10);

	(void)role;
	c->known += n;
	if (strcmp(progress, "done") != 0 && strcmp(progress, "withdrawn") != 0)
		c->open += n;
}

/*
 * A sync from chat takes seconds, minutes under a rate limit: it is
 * acknowledged at once with what the ledger knows, the summary follows.
 */
static void reg_sync_acknowledge(struct reg *reg, struct opsbot_request *req)
{
	struct reg_open_count c = {0, 0};

	if (reg_ledger_stats(reg_store(reg), reg_count_open, &c) < 0 ||
	    !c.known)
		reg->api->reply(req, "sync started; reading the sheets");
	else
		reg->api->reply(req,
				"sync started; %ld registrant(s) known, %ld "
				"with steps left, and the sheets' new rows",
				c.known, c.open);
}

/*
 * Starts a sync on behalf of a command, or says who is syncing.  A !reg
 * sync waits for its sync and fails if another one runs; a change
 * (retry, resend) is picked up by whichever sync runs next, and from the
 * shell the command waits for its sync, since the process ends with it.
 */
static int reg_sync_for(struct reg *reg, struct opsbot_request *req,
			int explicit)
{
	int wait = explicit || reg->api->mode() == OPSBOT_MODE_CLI;
	char *why = NULL, label[96];
	int rc;

	snprintf(label, sizeof(label), "a sync asked for by %s",
		 req->nick ? req->nick : "someone");
	rc = reg_sync_start(reg, wait ? req : NULL, label, &why);
	if (rc == 0 && explicit && reg->sync)
		reg_sync_acknowledge(reg, req);
	if (rc == 0)
		return wait ? OPSBOT_PENDING : OPSBOT_OK;
	/* a change (retry, resend) waiting for a sync that runs here: sync
	   again after it; an explicit !reg sync is told to try again */
	if (rc > 0 && reg->sync && !explicit)
		reg->sync_again = 1;
	if (explicit || rc < 0) {
		reg->api->reply_error(req, "%s; try again when it ends", why);
		free(why);
		return OPSBOT_ERR;
	}
	reg->api->reply(req, "%s; the change is picked up by the next sync",
			why);
	free(why);
	return OPSBOT_OK;
}

static int reg_cmd_sync(struct opsbot_plugin *self, struct opsbot_request *req,
			void *data)
{
	return reg_sync_for(data, req, 1);
}

/* Loads the one registrant <who> names, or explains why not. */
static int reg_resolve_load(struct reg *reg, struct opsbot_request *req,
			    const char *who, struct reg_registrant *r)
{
	int64_t id;

	if (reg_resolve(reg, req, who, &id) < 0)
		return -1;
	if (reg_ledger_load(reg_store(reg), id, r) < 0) {
		reg->api->reply_error(req,
				      "ledger: lookup failed; see the log");
		return -1;
	}
	return 0;
}

/* <who> of "set <who> <status>" and "resend <who> [code]". */
static char *reg_join_args(const struct opsbot_request *req, int n)
{
	struct sdk_buf who = SDK_BUF_INIT;

	for (int i = 0; i < n; i++)
		sdk_buf_addf(&who, "%s%s", i ? " " : "", req->argv[i]);
	return sdk_buf_detach(&who);
}

static int reg_cmd_retry(struct opsbot_plugin *self, struct opsbot_request *req,
			 void *data)
{
	struct reg *reg = data;
	struct reg_registrant r;
	int failed, rc;

	if (reg_resolve_load(reg, req, req->args, &r) < 0)
		return OPSBOT_ERR;
	failed = strcmp(r.card_state, "failed") == 0 ||
		 strcmp(r.mail_state, "failed") == 0 ||
		 strcmp(r.mark_state, "failed") == 0;
	if (strcmp(r.status, "withdrawn") == 0) {
		reg->api->reply_error(req,
				      "%s is withdrawn; %s set #%lld active "
				      "first",
				      r.name, reg_word(req), (long long)r.id);
		rc = OPSBOT_ERR;
	} else if (!failed && strcmp(r.mail_state, "unknown") == 0) {
		reg->api->reply_error(req,
				      "nothing to retry: %s's mail may have "
				      "gone out (unknown); check the mailgun "
				      "log, then %s resend #%lld",
				      r.name, reg_word(req), (long long)r.id);
		rc = OPSBOT_ERR;
	} else if (!failed && strcmp(r.progress, "done") == 0) {
		reg->api->reply(req, "nothing to retry: %s is done", r.name);
		rc = OPSBOT_OK;
	} else if (!failed) {
		/* pending steps (waiting for a fixed configuration, say):
		   the sync that runs them is what was asked for */
		reg->api->reply(req,
				"%s has no failed step; syncing for its "
				"pending ones",
				r.name);
		rc = reg_sync_for(reg, req, 0);
	} else if (reg_ledger_retry(reg_store(reg), r.id) < 0) {
		reg->api->reply_error(req, "ledger: retry failed; see the log");
		rc = OPSBOT_ERR;
	} else {
		reg->api->reply(req, "%s: failed steps reset; syncing", r.name);
		rc = reg_sync_for(reg, req, 0);
	}
	reg_registrant_free(&r);
	return rc;
}

static const char *const reg_statuses[] = {"new",	"active",   "waitlist",
					   "withdrawn", "complete", NULL};

static int reg_cmd_set(struct opsbot_plugin *self, struct opsbot_request *req,
		       void *data)
{
	struct reg *reg = data;
	const char *status = req->argv[req->argc - 1];
	struct reg_registrant r;
	char *who;
	int rc = OPSBOT_OK;

	if (!reg_one_of(reg_statuses, status)) {
		reg->api->reply_error(req,
				      "unknown status \"%s\"; use new, "
				      "active, waitlist, withdrawn or complete",
				      status);
		return OPSBOT_EUSAGE;
	}
	who = reg_join_args(req, req->argc - 1);
	if (reg_resolve_load(reg, req, who, &r) < 0) {
		free(who);
		return OPSBOT_ERR;
	}
	free(who);
	if (reg_ledger_set_status(reg_store(reg), r.id, status) < 0) {
		reg->api->reply_error(req, "ledger: cannot set the status; see "
					   "the log");
		rc = OPSBOT_ERR;
	} else if (strcmp(r.status, status) == 0) {
		reg->api->reply(req, "%s: status was already %s", r.name,
				status);
	} else {
		reg->api->reply(req, "%s: status set to %s (was %s)%s", r.name,
				status, r.status,
				strcmp(status, "withdrawn") == 0
				    ? "; the bot does nothing more for them"
				    : "");
	}
	reg_registrant_free(&r);
	return rc;
}

/*
 * Who asked, for confirmations: the services account when the host knows
 * it, else the nick; the shell is its own identity.
 */
static char *reg_asker(const struct opsbot_request *req)
{
	if (req->origin == OPSBOT_ORIGIN_CLI)
		return sdk_xasprintf("cli:%s", req->nick ? req->nick : "");
	if (req->account && *req->account)
		return sdk_xasprintf("account:%s", req->account);
	return sdk_xasprintf("nick:%s", req->nick ? req->nick : "");
}

/* IRC nicks compare without case (rfc1459 maps []\~ to {}|^ as well). */
static void reg_asker_fold(char *asker)
{
	if (strncmp(asker, "nick:", 5) != 0)
		return;
	for (char *p = asker + 5; *p; p++) {
		if (*p == '[' || *p == ']' || *p == '\\' || *p == '~')
			*p = *p == '['	 ? '{'
			     : *p == ']' ? '}'
			     : *p == '~' ? '^'
					 : '|';
		else
			*p = (char)tolower((unsigned char)*p);
	}
}

/*
 * !reg resend <who>            asks for confirmation with a code
 * !reg resend <who> <code>     sends the welcome mail again
 *
 * Only the asker can confirm, within resend_confirm_time; a wrong code
 * cancels the request.
 */
static int reg_cmd_resend(struct opsbot_plugin *self,
			  struct opsbot_request *req, void *data)
{
	struct reg *reg = data;
	struct reg_registrant r;
	const char *last = req->argv[req->argc - 1];
	int has_code = req->argc > 1 && strlen(last) == 6 &&
		       strspn(last, "0123456789") == 6;
	char *who, *asker, code[8];
	long long mins = (reg->confirm_ms + 59999) / 60000;
	int rc = OPSBOT_ERR;

	who = reg_join_args(req, req->argc - (has_code ? 1 : 0));
	if (reg_resolve_load(reg, req, who, &r) < 0) {
		free(who);
		return OPSBOT_ERR;
	}
	free(who);
	asker = reg_asker(req);
	reg_asker_fold(asker);
	if (strcmp(r.status, "withdrawn") == 0) {
		reg->api->reply_error(req,
				      "%s is withdrawn; %s set #%lld active "
				      "first",
				      r.name, reg_word(req), (long long)r.id);
	} else if (strcmp(r.mail_state, "pending") == 0 ||
		   strcmp(r.mail_state, "failed") == 0) {
		int failed = strcmp(r.mail_state, "failed") == 0;

		reg->api->reply_error(
		    req,
		    "%s's welcome mail has not gone out yet "
		    "(%s); %s%s%s",
		    r.name, r.mail_state, failed ? "fix the cause, then " : "",
		    failed ? reg_word(req) : "",
		    failed ? " retry" : "the next sync sends it");
	} else if (strcmp(r.mail_state, "sending") == 0) {
		reg->api->reply_error(req,
				      "%s's mail is being sent right now; "
				      "try again after the sync",
				      r.name);
	} else if (!has_code) {
		uint32_t n;

		if (reg_random_below(1000000u, &n) < 0) {
			reg->api->reply_error(req, "no random numbers from "
						   "the kernel; try again");
			return OPSBOT_ERR;
		}
		snprintf(code, sizeof(code), "%06u", (unsigned)n);
		if (reg_ledger_confirm_put(reg_store(reg), r.id, asker, code,
					   reg_wall_ms() + reg->confirm_ms) <
		    0) {
			reg->api->reply_error(req, "ledger: cannot record the "
						   "confirmation; see the log");
		} else {
			reg->api->reply(req,
					"%s: %s.  this sends the welcome mail "
					"again; confirm within %lld minute%s "
					"with: %s resend #%lld %s",
					r.name, reg_mail_text(&r), mins,
					mins == 1 ? "" : "s", reg_word(req),
					(long long)r.id, code);
			rc = OPSBOT_OK;
		}
	} else {
		switch (reg_ledger_confirm_take(reg_store(reg), r.id, asker,
						last, reg_wall_ms())) {
		case REG_CONFIRM_OK:
			if (reg_ledger_resend(reg_store(reg), r.id) < 0) {
				reg->api->reply_error(
				    req,
				    "%s's mail is being sent right now; "
				    "try again after the sync",
				    r.name);
				break;
			}
			reg->api->reply(req, "resending the welcome mail to %s",
					r.name);
			rc = reg_sync_for(reg, req, 0);
			break;
		case REG_CONFIRM_NONE:
			reg->api->reply_error(req,
					      "no resend of %s waits for a "
					      "code; run %s resend #%lld first",
					      r.name, reg_word(req),
					      (long long)r.id);
			break;
		case REG_CONFIRM_EXPIRED:
			reg->api->reply_error(req,
					      "the code expired (%lld "
					      "minute%s); run %s resend #%lld "
					      "again",
					      mins, mins == 1 ? "" : "s",
					      reg_word(req), (long long)r.id);
			break;
		case REG_CONFIRM_WRONG:
			reg->api->reply_error(req,
					      "wrong code, the resend is "
					      "cancelled; run %s resend #%lld "
					      "again",
					      reg_word(req), (long long)r.id);
			break;
		case REG_CONFIRM_OTHER:
			reg->api->reply_error(req,
					      "someone else asked for this "
					      "resend; only they can confirm "
					      "it (or run %s resend #%lld "
					      "yourself)",
					      reg_word(req), (long long)r.id);
			break;
		default:
			reg->api->reply_error(req, "ledger: cannot check the "
						   "code; see the log");
		}
	}
	free(asker);
	reg_registrant_free(&r);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* The guide's commands */

static int reg_guide_off(struct reg *reg, struct opsbot_request *req)
{
	if (reg->guide_url)
		return 0;
	reg->api->reply_error(req, "the guide is off; set guide_url in "
				   "[plugin.registrar] (and [http] listen)");
	return 1;
}

/* !reg guide: a mentor's signed link to the class page, in private. */
static int reg_cmd_guide(struct opsbot_plugin *self, struct opsbot_request *req,
			 void *data)
{
	struct reg *reg = data;
	char *who, *url;
	long long hours = (reg->link_ttl_ms + 3599999) / 3600000;

	(void)self;
	if (reg_guide_off(reg, req))
		return OPSBOT_ERR;
	who = reg_asker(req);
	url = reg_guide_mentor_url(reg, who,
				   (reg_wall_ms() + reg->link_ttl_ms) / 1000);
	reg->api->reply_private(req,
				"the class, for you only (valid %lld hour%s): "
				"%s",
				hours, hours == 1 ? "" : "s", url);
	free(url);
	free(who);
	return OPSBOT_OK;
}

/* The steps of a registrant on one line: "cla done, git-review to do". */
static int reg_progress_line(struct reg *reg, const struct reg_registrant *r,
			     struct sdk_buf *b)
{
	int done[REG_GUIDE_MAX_STEPS], n = 0;
	int64_t last;

	if (reg_guide_done_steps(reg, r->id, done, NULL, &last) < 0)
		return -1;
	for (int i = 0; i < reg->nsteps; i++)
		n += done[i];
	sdk_buf_addf(b, "%s (#%lld): %d/%d steps;", r->name, (long long)r->id,
		     n, reg->nsteps);
	for (int i = 0; i < reg->nsteps; i++)
		sdk_buf_addf(b, "%s %s %s", i ? "," : "", reg->steps[i].id,
			     done[i] ? "done" : "to do");
	if (!last)
		last = r->created_at;
	sdk_buf_addf(b, "; last progress %lld day(s) ago",
		     (long long)((reg_wall_ms() - last) / (24LL * 3600000)));
	return 0;
}

static int reg_cmd_progress(struct opsbot_plugin *self,
			    struct opsbot_request *req, void *data)
{
	struct reg *reg = data;
	struct reg_registrant r;
	struct sdk_buf b = SDK_BUF_INIT;
	int rc = OPSBOT_OK;

	(void)self;
	if (reg_resolve_load(reg, req, req->args, &r) < 0)
		return OPSBOT_ERR;
	if (strcmp(r.role, "student") != 0) {
		reg->api->reply_error(req,
				      "%s is a mentor; only students "
				      "have a path",
				      r.name);
		rc = OPSBOT_ERR;
	} else if (reg_progress_line(reg, &r, &b) < 0) {
		reg->api->reply_error(req,
				      "ledger: lookup failed; see the log");
		rc = OPSBOT_ERR;
	} else
		reg->api->reply(req, "%s", sdk_buf_str(&b));
	sdk_buf_release(&b);
	reg_registrant_free(&r);
	return rc;
}

static void reg_step_ids(const struct reg *reg, struct sdk_buf *b)
{
	for (int i = 0; i < reg->nsteps; i++)
		sdk_buf_addf(b, "%s%s", i ? ", " : "", reg->steps[i].id);
}

/*
 * Ticking and un-ticking a step for someone else needs registrar.mentor
 * on top of the command's registrar.view; registrar.admin, admin and
 * registrar.* grant it too.  Capabilities imply nothing else (docs/
 * registrar.md): a mentor's grant names registrar.view and
 * registrar.mentor.  0, or -1 with the one-line refusal sent.
 */
static int reg_need_mentor(struct reg *reg, struct opsbot_request *req)
{
	if (reg->api->has_capability(req, "registrar.mentor") ||
	    reg->api->has_capability(req, "registrar.admin"))
		return 0;
	reg->api->reply_error(req,
			      "permission denied: %s %s needs capability "
			      "registrar.mentor (or registrar.admin); "
			      "!whoami shows what you have",
			      reg_word(req), req->command);
	return -1;
}

/* The step (last argument) and the student (the others) of done/undo:
 * the step's index, or -1 with the error sent. */
static int reg_step_and_student(struct reg *reg, struct opsbot_request *req,
				struct reg_registrant *r)
{
	const char *step = req->argv[req->argc - 1];
	char *who;
	int i;

	i = reg_guide_step_index(reg, step);
	if (i < 0) {
		struct sdk_buf ids = SDK_BUF_INIT;

		reg_step_ids(reg, &ids);
		reg->api->reply_error(req, "no step \"%s\"; the steps are %s",
				      step, sdk_buf_str(&ids));
		sdk_buf_release(&ids);
		return -1;
	}
	who = reg_join_args(req, req->argc - 1);
	if (reg_resolve_load(reg, req, who, r) < 0) {
		free(who);
		return -1;
	}
	free(who);
	if (strcmp(r->role, "student") != 0) {
		reg->api->reply_error(req,
				      "%s is a mentor; only students "
				      "have a path",
				      r->name);
		reg_registrant_free(r);
		return -1;
	}
	return i;
}

/* !reg done / !reg undo <who> <step>: a mentor ticks or un-ticks a step
 * (any step: one that Gerrit verifies may be ticked again by its next
 * check). */
static int reg_mentor_step(struct reg *reg, struct opsbot_request *req,
			   int undo)
{
	struct reg_registrant r;
	const struct reg_guide_step *step;
	char *who, *by;
	int i, rc;

	if (reg_need_mentor(reg, req) < 0 ||
	    (i = reg_step_and_student(reg, req, &r)) < 0)
		return OPSBOT_ERR;
	step = &reg->steps[i];
	who = reg_asker(req);
	by = sdk_xasprintf("mentor %s", who);
	rc = undo ? reg_guide_unmark(reg, r.id, step->id, by, 0)
		  : reg_guide_mark(reg, r.id, step->id, by, NULL);
	if (rc < 0)
		reg->api->reply_error(req, "ledger: cannot record the step; "
					   "see the log");
	else if (rc == 0)
		reg->api->reply(req, "%s: %s was %s", r.name, step->id,
				undo ? "not done" : "already done");
	else if (!undo) {
		reg->api->reply(req, "%s: %s done", r.name, step->id);
		if (step->verify == REG_VERIFY_GERRIT_MERGED)
			reg_guide_milestone(reg, r.id, NULL);
	} else
		reg->api->reply(
		    req, "%s: %s is to do again%s", r.name, step->id,
		    step->verify >= REG_VERIFY_GERRIT_ACCOUNT
			? " (Gerrit's next check ticks it again if it "
			  "still holds)"
			: "");
	free(by);
	free(who);
	reg_registrant_free(&r);
	return rc < 0 ? OPSBOT_ERR : OPSBOT_OK;
}

static int reg_cmd_done(struct opsbot_plugin *self, struct opsbot_request *req,
			void *data)
{
	(void)self;
	return reg_mentor_step(data, req, 0);
}

static int reg_cmd_undo(struct opsbot_plugin *self, struct opsbot_request *req,
			void *data)
{
	(void)self;
	return reg_mentor_step(data, req, 1);
}

/* !reg stuck: students without progress for stuck_days. */
static int reg_cmd_stuck(struct opsbot_plugin *self, struct opsbot_request *req,
			 void *data)
{
	struct reg *reg = data;
	struct reg_class_row *rows = NULL;
	struct sdk_buf b = SDK_BUF_INIT;
	int n, nstuck = 0, max, shown = 0;

	(void)self;
	n = reg_guide_class(reg, &rows);
	if (n < 0) {
		reg->api->reply_error(req,
				      "ledger: lookup failed; see the log");
		return OPSBOT_ERR;
	}
	max = req->origin == OPSBOT_ORIGIN_CHANNEL   ? REG_LIST_CHANNEL
	      : req->origin == OPSBOT_ORIGIN_PRIVATE ? REG_LIST_PRIVATE
						     : n;
	/* the longest without progress first */
	reg_guide_class_sort(rows, n, "idle");
	for (int i = 0; i < n; i++) {
		if (!rows[i].stuck)
			continue;
		nstuck++;
		if (shown >= max)
			continue;
		sdk_buf_addf(&b, "%s%s (%d/%d)", shown ? ", " : "",
			     rows[i].name, rows[i].done, reg->nsteps);
		shown++;
	}
	if (!nstuck)
		reg->api->reply(req,
				"nobody is stuck (no progress for %d days)",
				reg->stuck_days);
	else
		reg->api->reply(req,
				"%d stuck (no progress for %d days or more): "
				"%s%s",
				nstuck, reg->stuck_days, sdk_buf_str(&b),
				shown < nstuck ? ", and more (ask in private)"
					       : "");
	sdk_buf_release(&b);
	reg_guide_class_free(rows, n);
	return OPSBOT_OK;
}

/* !reg link <who>: a new private link for a student (the old one ends). */
static int reg_cmd_link(struct opsbot_plugin *self, struct opsbot_request *req,
			void *data)
{
	struct reg *reg = data;
	struct reg_registrant r;
	char *token, *url;

	(void)self;
	if (reg_guide_off(reg, req) ||
	    reg_resolve_load(reg, req, req->args, &r) < 0)
		return OPSBOT_ERR;
	if (strcmp(r.role, "student") != 0) {
		reg->api->reply_error(req,
				      "%s is a mentor; mentors use %s "
				      "guide",
				      r.name, reg_word(req));
		reg_registrant_free(&r);
		return OPSBOT_ERR;
	}
	token = reg_guide_issue(reg, r.id);
	if (!token) {
		reg->api->reply_error(req, "ledger: cannot record the link; "
					   "see the log");
		reg_registrant_free(&r);
		return OPSBOT_ERR;
	}
	url = reg_guide_url_for(reg, token);
	reg->api->reply_private(req,
				"%s's page (their earlier link no longer "
				"works): %s",
				r.name, url);
	free(url);
	free(token);
	reg_registrant_free(&r);
	return OPSBOT_OK;
}

static int reg_cmd_revoke(struct opsbot_plugin *self,
			  struct opsbot_request *req, void *data)
{
	struct reg *reg = data;
	struct reg_registrant r;
	int rc;

	(void)self;
	if (reg_resolve_load(reg, req, req->args, &r) < 0)
		return OPSBOT_ERR;
	rc = reg_guide_revoke(reg, r.id);
	if (rc < 0)
		reg->api->reply_error(req,
				      "ledger: cannot revoke; see the log");
	else if (rc == 0)
		reg->api->reply(req, "%s has no page link", r.name);
	else
		reg->api->reply(req,
				"%s's page link is revoked; %s link #%lld "
				"makes a new one",
				r.name, reg_word(req), (long long)r.id);
	reg_registrant_free(&r);
	return rc < 0 ? OPSBOT_ERR : OPSBOT_OK;
}

static const struct opsbot_command reg_commands[] = {
    OPSBOT_COMMAND("sync", "",
		   "read the sheets and register new rows now; answers with a "
		   "summary",
		   "registrar.admin", 0, 0, reg_cmd_sync, NULL),
    OPSBOT_COMMAND(
	"status", "<name|e-mail|#number>",
	"role, status, progress, card and mail of one registrant (e-mail, card "
	"link and form fields in private)",
	"registrar.view", 1, -1, reg_cmd_status, NULL),
    OPSBOT_COMMAND(
	"list", "[new|carded|mailed|done|failed|unknown|withdrawn]",
	"registrants by progress (unknown: the mail may have gone out)",
	"registrar.view", 0, 1, reg_cmd_list, NULL),
    OPSBOT_COMMAND("stats", "", "counts per progress and role",
		   "registrar.view", 0, 0, reg_cmd_stats, NULL),
    OPSBOT_COMMAND("retry", "<name|e-mail|#number>",
		   "make a registrant's failed steps pending again, and sync",
		   "registrar.admin", 1, -1, reg_cmd_retry, NULL),
    OPSBOT_COMMAND(
	"set", "<name|e-mail|#number> <new|active|waitlist|withdrawn|complete>",
	"set the organisers' status (withdrawn: the bot does nothing more)",
	"registrar.admin", 2, -1, reg_cmd_set, NULL),
    OPSBOT_COMMAND(
	"resend", "<name|e-mail|#number> [code]",
	"send the welcome mail again: without a code, asks for confirmation "
	"and gives one",
	"registrar.admin", 1, -1, reg_cmd_resend, NULL),
    OPSBOT_COMMAND("guide", "",
		   "a signed link to the class page, valid guide_link_ttl "
		   "(12 h), sent privately",
		   "registrar.view", 0, 0, reg_cmd_guide, NULL,
		   OPSBOT_COMMAND_PRIVATE),
    OPSBOT_COMMAND("progress", "<name|e-mail|#number>",
		   "a student's steps on the path", "registrar.view", 1, -1,
		   reg_cmd_progress, NULL),
    OPSBOT_COMMAND("done", "<name|e-mail|#number> <step>",
		   "tick a student's step (needs registrar.mentor too)",
		   "registrar.view", 2, -1, reg_cmd_done, NULL),
    OPSBOT_COMMAND("undo", "<name|e-mail|#number> <step>",
		   "un-tick a student's step (needs registrar.mentor too)",
		   "registrar.view", 2, -1, reg_cmd_undo, NULL),
    OPSBOT_COMMAND("stuck", "",
		   "students without progress for stuck_days (7) days",
		   "registrar.view", 0, 0, reg_cmd_stuck, NULL),
    OPSBOT_COMMAND("link", "<name|e-mail|#number>",
		   "a new private page link for a student, sent privately "
		   "(the old one stops working)",
		   "registrar.admin", 1, -1, reg_cmd_link, NULL,
		   OPSBOT_COMMAND_PRIVATE),
    OPSBOT_COMMAND("revoke", "<name|e-mail|#number>",
		   "revoke a student's page link", "registrar.admin", 1, -1,
		   reg_cmd_revoke, NULL, OPSBOT_COMMAND_CONFIRM,
		   "their page link"),
};

/* ------------------------------------------------------------------------ */

static void reg_free(struct reg *reg)
{
	for (int i = 0; i < reg->nsheets; i++) {
		free(reg->sheets[i].id);
		free(reg->sheets[i].tab);
		free(reg->sheets[i].name);
	}
	free(reg->sheets);
	for (int i = 0; i < 2; i++) {
		free(reg->tpl_subject[i]);
		free(reg->tpl_text[i]);
		free(reg->tpl_html[i]);
	}
	free(reg->mailgun_base);
	free(reg->last_sync_error);
	reg_guide_free(reg);
	reg_google_free(reg);
	free(reg);
}

static int reg_init(struct opsbot_plugin *self, const struct opsbot_api *api)
{
	struct reg *reg = sdk_xcalloc(1, sizeof(*reg));
	struct sdk_buf err = SDK_BUF_INIT;
	uint32_t token;

	reg->self = self;
	reg->api = api;
	if (gethostname(reg->host, sizeof(reg->host) - 1) < 0)
		snprintf(reg->host, sizeof(reg->host), "localhost");
	if (reg_configure(reg, &err) < 0) {
		api->log(self, OPSBOT_LOG_ERROR, "%s", sdk_buf_str(&err));
		sdk_buf_release(&err);
		reg_free(reg);
		return OPSBOT_ERR;
	}
	if (reg_random_below(UINT32_MAX, &token) < 0)
		token = sdk_random_seed();
	snprintf(reg->owner, sizeof(reg->owner), "%s:%ld:%08x", reg->host,
		 (long)getpid(), (unsigned)token);
	if (api->store_migrate(self, reg_ledger_schema,
			       reg_ledger_schema_count) != OPSBOT_OK) {
		reg_free(reg);
		return OPSBOT_ERR;
	}
	if (reg_guide_start(reg) < 0) {
		reg_free(reg);
		return OPSBOT_ERR;
	}
	for (size_t i = 0; i < sizeof(reg_commands) / sizeof(reg_commands[0]);
	     i++) {
		struct opsbot_command cmd = reg_commands[i];

		cmd.data = reg;
		if (api->command_add(self, &cmd) != OPSBOT_OK) {
			api->log(self, OPSBOT_LOG_ERROR,
				 "cannot register !reg %s", cmd.name);
			reg_free(reg);
			return OPSBOT_ERR;
		}
	}
	reg_instance = reg;
	/* one command from the shell: no background syncs */
	if (api->mode() == OPSBOT_MODE_DAEMON)
		reg_sync_periodic_start(reg);
	return OPSBOT_OK;
}

static void reg_fini(struct opsbot_plugin *self)
{
	struct reg *reg = reg_instance;

	if (!reg)
		return;
	reg->closing = 1;
	reg_client_cancel_all(reg);
	reg_ledger_close(reg->api->store(self));
	reg_instance = NULL;
	reg_free(reg);
}

OPSBOT_EXPORT const struct opsbot_plugin_descriptor opsbot_plugin = {
    .abi_major = OPSBOT_ABI_MAJOR,
    .abi_minor = OPSBOT_ABI_MINOR,
    .size = sizeof(struct opsbot_plugin_descriptor),
    .name = "registrar",
    .version = "1.0.0",
    .description = "Google Sheets form answers to Trello cards and "
		   "welcome mails, exactly once",
    .command = "reg",
    .config = reg_config,
    .init = reg_init,
    .fini = reg_fini,
};

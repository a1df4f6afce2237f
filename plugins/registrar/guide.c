/*
 * guide.c - the registrar's guide: a private page per student (their path
 * to a first merged change, with its steps' state and help), a page per
 * mentor link for the whole class, the steps file, the capability tokens
 * and signed links, the Gerrit checks, and the chat commands that keep
 * chat and pages in step (guide, progress, done, stuck, link, revoke).
 *
 * Security, in one place:
 *  - a student's page is reached with a capability token: 24 bytes from
 *    getrandom(2) (192 bits), base64url; only its SHA-256 is stored, so
 *    the store leaks no working link; a new token (link, a new welcome
 *    mail) replaces the old one, revoke deletes it;
 *  - the token travels in the query string, which the host never logs
 *    (its log lines name the path only);
 *  - a wrong, revoked or malformed token gets the host's plain 404;
 *  - ticking a step, and un-ticking one the registrant ticked, is a POST
 *    with a per-page token (HMAC of the capability's hash under the
 *    plugin's key) and, when the browser sends them, an Origin that is
 *    guide_url's and a Sec-Fetch-Site that is not cross-site; a step
 *    Gerrit verifies or a mentor ticked is not un-ticked there;
 *  - mentor links are HMAC-signed (who, expiry) with a 32-byte key kept in
 *    the plugin's state; an expired one is refused; who is the asker's
 *    services account, and [plugin.registrar] mentor maps it to a
 *    mentor's name: the class page shows their students by default;
 *  - every datum on a page is HTML-escaped; a strict CSP (no script, the
 *    one inline style by its hash, forms to this origin only), no
 *    external assets, no referrer to other sites, noindex, no caching.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <jansson.h>
#include <sqlite3.h>

#include "registrar.h"

#define GUIDE_TOKEN_BYTES 24 /* 192 bits */
#define GUIDE_TOKEN_LEN 32   /* base64url of 24 bytes */
#define GUIDE_KEY_STATE "guide_key"
#define GUIDE_PATH "/hooks/registrar/guide"
#define GUIDE_CLASS_PATH "/hooks/registrar/class"
#define DAY_MS (24LL * 3600 * 1000)

/* ------------------------------------------------------------------------ */
/* The steps */

static const char reg_guide_default_steps[] =
    "# The OpenStack path: from registration to a first merged change.\n"
    "[foundation-account]\n"
    "title = OpenInfra Foundation account\n"
    "verify = self\n"
    "help = Join the Open Infrastructure Foundation as an individual "
    "member (free of charge), with the e-mail address you registered "
    "with.\n"
    "link = https://openinfra.dev/a/join Join the foundation\n"
    "[cla]\n"
    "title = Contributor licence agreement signed\n"
    "verify = self\n"
    "help = Log in to review.opendev.org, open Settings, Agreements, and "
    "sign the OpenStack Individual Contributor License Agreement.\n"
    "link = "
    "https://docs.openstack.org/contributors/common/"
    "setup-gerrit.html#individual-contributor-license-agreement The "
    "agreement, step by step\n"
    "[gerrit-account]\n"
    "title = Gerrit account with an SSH key\n"
    "verify = gerrit-account\n"
    "help = Log in to review.opendev.org once (with the e-mail address "
    "you registered with) and add your SSH public key under Settings, "
    "SSH Keys. This step turns green by itself.\n"
    "link = https://docs.openstack.org/contributors/common/"
    "setup-gerrit.html Setting up your Gerrit account\n"
    "[git-review]\n"
    "title = git-review set up\n"
    "verify = self\n"
    "help = Install git-review, set git's user.name and user.email, clone "
    "a project and run git review -s in it.\n"
    "link = https://docs.opendev.org/opendev/git-review/latest/"
    "installation.html Installing git-review\n"
    "[first-change]\n"
    "title = First change uploaded\n"
    "verify = gerrit-change-uploaded\n"
    "help = Fix a small bug or a typo, commit it with a good message and "
    "send it for review with git review. This step turns green by "
    "itself.\n"
    "link = https://docs.openstack.org/contributors/code-and-documentation/"
    "using-gerrit.html Using Gerrit\n"
    "[first-merge]\n"
    "title = First change merged\n"
    "verify = gerrit-change-merged\n"
    "help = Answer the reviewers with new patch sets until two core "
    "reviewers approve it and Zuul merges it. This step turns green by "
    "itself.\n"
    "link = https://docs.openstack.org/contributors/code-and-documentation/"
    "patch-best-practices.html Patch best practices\n";

static const char *const reg_verify_names[] = {
    [REG_VERIFY_SELF] = "self",
    [REG_VERIFY_MENTOR] = "mentor",
    [REG_VERIFY_GERRIT_ACCOUNT] = "gerrit-account",
    [REG_VERIFY_GERRIT_UPLOADED] = "gerrit-change-uploaded",
    [REG_VERIFY_GERRIT_MERGED] = "gerrit-change-merged",
};

void reg_guide_steps_free(struct reg_guide_step *steps, int n)
{
	for (int i = 0; i < n; i++) {
		free(steps[i].id);
		free(steps[i].title);
		free(steps[i].help);
		for (int k = 0; k < steps[i].nlinks; k++) {
			free(steps[i].links[k].url);
			free(steps[i].links[k].text);
		}
	}
	free(steps);
}

static char *reg_trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

int reg_guide_steps_parse(const char *text, const char *where,
			  struct reg_guide_step **out, int *nout,
			  struct sdk_buf *err)
{
	struct reg_guide_step *steps = NULL, *cur = NULL;
	char *copy = sdk_xstrdup(text), *line, *save = NULL;
	int n = 0, lineno = 0;

	for (line = strtok_r(copy, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *p = reg_trim(line), *eq, *key, *value;

		lineno++;
		if (!*p || *p == '#' || *p == ';')
			continue;
		if (*p == '[') {
			size_t l = strlen(p);

			if (p[l - 1] != ']' || l < 3 || l > 34 ||
			    strspn(p + 1, "abcdefghijklmnopqrstuvwxyz"
					  "0123456789-") != l - 2) {
				sdk_buf_addf(err,
					     "%s: line %d: a step starts with "
					     "[id], id of a-z, 0-9 and - (at "
					     "most 32)",
					     where, lineno);
				goto fail;
			}
			if (n == REG_GUIDE_MAX_STEPS) {
				sdk_buf_addf(err, "%s: more than %d steps",
					     where, REG_GUIDE_MAX_STEPS);
				goto fail;
			}
			p[l - 1] = '\0';
			for (int i = 0; i < n; i++)
				if (strcmp(steps[i].id, p + 1) == 0) {
					sdk_buf_addf(err,
						     "%s: line %d: step \"%s\" "
						     "twice",
						     where, lineno, p + 1);
					goto fail;
				}
			steps = sdk_xrealloc(steps,
					     (size_t)(n + 1) * sizeof(*steps));
			cur = &steps[n++];
			memset(cur, 0, sizeof(*cur));
			cur->id = sdk_xstrdup(p + 1);
			cur->verify = -1;
			continue;
		}
		eq = strchr(p, '=');
		if (!eq || !cur) {
			sdk_buf_addf(err,
				     "%s: line %d: expected key = value "
				     "inside a [step]",
				     where, lineno);
			goto fail;
		}
		*eq = '\0';
		key = reg_trim(p);
		value = reg_trim(eq + 1);
		if (strcmp(key, "title") == 0) {
			free(cur->title);
			cur->title = reg_clean_line(value, 200);
		} else if (strcmp(key, "help") == 0) {
			char *clean = reg_clean_line(value, 2000);

			if (cur->help) {
				char *joined =
				    sdk_xasprintf("%s\n%s", cur->help, clean);

				free(cur->help);
				free(clean);
				cur->help = joined;
			} else
				cur->help = clean;
		} else if (strcmp(key, "verify") == 0) {
			cur->verify = -1;
			for (int v = 0; v < REG_VERIFY_COUNT; v++)
				if (strcmp(value, reg_verify_names[v]) == 0)
					cur->verify = v;
			if (cur->verify < 0) {
				sdk_buf_addf(err,
					     "%s: line %d: verify \"%s\": use "
					     "self, mentor, gerrit-account, "
					     "gerrit-change-uploaded or "
					     "gerrit-change-merged",
					     where, lineno, value);
				goto fail;
			}
		} else if (strcmp(key, "link") == 0) {
			size_t ul = strcspn(value, " \t");
			struct reg_guide_link *l;

			if ((strncmp(value, "https://", 8) != 0 &&
			     strncmp(value, "http://", 7) != 0) ||
			    cur->nlinks == REG_GUIDE_MAX_LINKS) {
				sdk_buf_addf(err,
					     "%s: line %d: a link is an "
					     "http(s) URL, then its text; at "
					     "most %d per step",
					     where, lineno,
					     REG_GUIDE_MAX_LINKS);
				goto fail;
			}
			l = &cur->links[cur->nlinks++];
			l->url = sdk_xstrndup(value, ul);
			l->text = reg_clean_line(*reg_trim(value + ul)
						     ? reg_trim(value + ul)
						     : l->url,
						 200);
		} else {
			sdk_buf_addf(err,
				     "%s: line %d: unknown key \"%s\" (title, "
				     "help, link, verify)",
				     where, lineno, key);
			goto fail;
		}
	}
	for (int i = 0; i < n; i++) {
		if (!steps[i].title || !*steps[i].title ||
		    steps[i].verify < 0) {
			sdk_buf_addf(err,
				     "%s: step \"%s\" needs a title and "
				     "verify",
				     where, steps[i].id);
			goto fail;
		}
	}
	if (!n) {
		sdk_buf_addf(err, "%s: no steps", where);
		goto fail;
	}
	free(copy);
	*out = steps;
	*nout = n;
	return 0;
fail:
	free(copy);
	reg_guide_steps_free(steps, n);
	return -1;
}

/* ------------------------------------------------------------------------ */
/* Keys, tokens and signatures */

static int reg_random(void *buf, size_t n)
{
	unsigned char *p = buf;

	while (n) {
		ssize_t got = getrandom(p, n, 0);

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return -1;
		p += got;
		n -= (size_t)got;
	}
	return 0;
}

/* The plugin's 32-byte key, made once and kept in its state. */
static int reg_guide_key_load(struct reg *reg)
{
	char *value = NULL;
	size_t len = 0;

	if (reg->api->state_get(reg->self, GUIDE_KEY_STATE, &value, &len) ==
		OPSBOT_OK &&
	    len == sizeof(reg->guide_key)) {
		memcpy(reg->guide_key, value, len);
		memset(value, 0, len);
		free(value);
		return 0;
	}
	free(value);
	if (reg_random(reg->guide_key, sizeof(reg->guide_key)) < 0)
		return -1;
	return reg->api->state_set(reg->self, GUIDE_KEY_STATE, reg->guide_key,
				   sizeof(reg->guide_key)) == OPSBOT_OK
		   ? 0
		   : -1;
}

/* Hex SHA-256 of a token: what the store keeps. */
static void reg_token_hash(const char *token, char hex[65])
{
	unsigned char md[SDK_SHA256_LEN];

	sdk_sha256(token, strlen(token), md);
	sdk_hex(md, sizeof(md), hex);
}

/* HMAC under the plugin's key of the parts, separated by NUL. */
static void reg_guide_sign(const struct reg *reg, const char *const *parts,
			   char hex[65])
{
	struct sdk_buf b = SDK_BUF_INIT;
	unsigned char md[SDK_SHA256_LEN];

	for (int i = 0; parts[i]; i++)
		sdk_buf_add(&b, parts[i], strlen(parts[i]) + 1);
	sdk_hmac_sha256(reg->guide_key, sizeof(reg->guide_key), b.buf, b.len,
			md);
	sdk_hex(md, sizeof(md), hex);
	sdk_buf_release(&b);
}

/* The per-page token of a form: bound to the capability's hash. */
static void reg_csrf_for(const struct reg *reg, const char *token_hash,
			 char hex[65])
{
	reg_guide_sign(reg, (const char *const[]){"csrf", token_hash, NULL},
		       hex);
}

char *reg_guide_issue(struct reg *reg, int64_t id)
{
	unsigned char raw[GUIDE_TOKEN_BYTES];
	struct sdk_buf token = SDK_BUF_INIT;
	char hash[65];
	sqlite3_stmt *st;
	int rc;

	if (reg_random(raw, sizeof(raw)) < 0)
		return NULL;
	reg_base64url(&token, raw, sizeof(raw));
	memset(raw, 0, sizeof(raw));
	reg_token_hash(sdk_buf_str(&token), hash);
	if (sqlite3_prepare_v2(reg->api->store(reg->self),
			       "INSERT INTO registrar_guide_token (registrant,"
			       " hash, created_at) VALUES (?, ?, ?)"
			       " ON CONFLICT (registrant) DO UPDATE SET"
			       " hash = excluded.hash,"
			       " created_at = excluded.created_at",
			       -1, &st, NULL) != SQLITE_OK) {
		sdk_buf_release(&token);
		return NULL;
	}
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, hash, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 3, reg_wall_ms());
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		sdk_buf_release(&token);
		return NULL;
	}
	return sdk_buf_detach(&token);
}

char *reg_guide_url_for(const struct reg *reg, const char *token)
{
	return sdk_xasprintf("%s" GUIDE_PATH "?t=%s", reg->guide_url, token);
}

int reg_guide_revoke(struct reg *reg, int64_t id)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(reg->api->store(reg->self),
			       "DELETE FROM registrar_guide_token WHERE "
			       "registrant = ?",
			       -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return -1;
	return sqlite3_changes(reg->api->store(reg->self)) > 0 ? 1 : 0;
}

/* The registrant a token opens, or 0. */
static int64_t reg_token_lookup(struct reg *reg, const char *token,
				char hash[65])
{
	sqlite3_stmt *st;
	int64_t id = 0;

	if (strlen(token) != GUIDE_TOKEN_LEN ||
	    strspn(token, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			  "0123456789-_") != GUIDE_TOKEN_LEN)
		return 0;
	reg_token_hash(token, hash);
	if (sqlite3_prepare_v2(reg->api->store(reg->self),
			       "SELECT t.registrant FROM registrar_guide_token"
			       " t JOIN registrar_registrant r ON r.id ="
			       " t.registrant WHERE t.hash = ? AND r.status"
			       " != 'withdrawn'",
			       -1, &st, NULL) != SQLITE_OK)
		return 0;
	sqlite3_bind_text(st, 1, hash, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) == SQLITE_ROW)
		id = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return id;
}

char *reg_guide_mentor_url(const struct reg *reg, const char *who,
			   int64_t expires_s)
{
	char exp[24], sig[65];
	struct sdk_buf b = SDK_BUF_INIT;

	snprintf(exp, sizeof(exp), "%lld", (long long)expires_s);
	reg_guide_sign(reg, (const char *const[]){"class", who, exp, NULL},
		       sig);
	sdk_buf_addf(&b, "%s" GUIDE_CLASS_PATH "?m=", reg->guide_url);
	sdk_url_encode(&b, reg->api, who);
	sdk_buf_addf(&b, "&e=%s&s=%s", exp, sig);
	return sdk_buf_detach(&b);
}

/* ------------------------------------------------------------------------ */
/* Progress in the store */

int reg_guide_step_index(const struct reg *reg, const char *id)
{
	for (int i = 0; i < reg->nsteps; i++)
		if (strcmp(reg->steps[i].id, id) == 0)
			return i;
	return -1;
}

/* done[i] = 1 for each step of reg->steps a registrant has done; by_self
 * (if not NULL) the same for the steps they ticked themselves. */
int reg_guide_done_steps(struct reg *reg, int64_t id, int *done, int *by_self,
			 int64_t *last_ms)
{
	sqlite3_stmt *st;
	int rc;

	memset(done, 0, sizeof(int) * (size_t)reg->nsteps);
	if (by_self)
		memset(by_self, 0, sizeof(int) * (size_t)reg->nsteps);
	if (last_ms)
		*last_ms = 0;
	if (sqlite3_prepare_v2(reg->api->store(reg->self),
			       "SELECT step, done_at, by = 'self' FROM "
			       "registrar_guide_step WHERE registrant = ?",
			       -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int i = reg_guide_step_index(
		    reg, (const char *)sqlite3_column_text(st, 0));

		if (i >= 0)
			done[i] = 1;
		if (i >= 0 && by_self)
			by_self[i] = sqlite3_column_int(st, 2);
		if (last_ms && sqlite3_column_int64(st, 1) > *last_ms)
			*last_ms = sqlite3_column_int64(st, 1);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* Appends a tick or an un-tick to registrar_guide_step_log. */
static int reg_step_log(struct reg *reg, int64_t id, const char *step,
			const char *action, const char *by)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(reg->api->store(reg->self),
			       "INSERT INTO registrar_guide_step_log "
			       "(registrant, step, action, at, by) VALUES "
			       "(?, ?, ?, ?, ?)",
			       -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, step, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, action, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, reg_wall_ms());
	sqlite3_bind_text(st, 5, by, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* The step and its log line in one transaction: 1, 0 or -1. */
static int reg_step_change(struct reg *reg, sqlite3_stmt *st, int64_t id,
			   const char *step, const char *action, const char *by)
{
	sqlite3 *db = reg->api->store(reg->self);
	int rc, changed;

	if (sqlite3_exec(db, "SAVEPOINT reg_step", NULL, NULL, NULL) !=
	    SQLITE_OK) {
		sqlite3_finalize(st);
		return -1;
	}
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	changed = rc == SQLITE_DONE && sqlite3_changes(db) > 0;
	if (rc != SQLITE_DONE ||
	    (changed && reg_step_log(reg, id, step, action, by) < 0)) {
		sqlite3_exec(db, "ROLLBACK TO reg_step; RELEASE reg_step", NULL,
			     NULL, NULL);
		return -1;
	}
	if (sqlite3_exec(db, "RELEASE reg_step", NULL, NULL, NULL) != SQLITE_OK)
		return -1;
	return changed;
}

int reg_guide_mark(struct reg *reg, int64_t id, const char *step,
		   const char *by, const char *detail)
{
	sqlite3_stmt *st;

	if (sqlite3_prepare_v2(reg->api->store(reg->self),
			       "INSERT OR IGNORE INTO registrar_guide_step "
			       "(registrant, step, done_at, by, detail) VALUES "
			       "(?, ?, ?, ?, ?)",
			       -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, step, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 3, reg_wall_ms());
	sqlite3_bind_text(st, 4, by, -1, SQLITE_TRANSIENT);
	if (detail)
		sqlite3_bind_text(st, 5, detail, -1, SQLITE_TRANSIENT);
	return reg_step_change(reg, st, id, step, "done", by);
}

int reg_guide_unmark(struct reg *reg, int64_t id, const char *step,
		     const char *by, int only_self)
{
	sqlite3_stmt *st;

	if (sqlite3_prepare_v2(reg->api->store(reg->self),
			       "DELETE FROM registrar_guide_step WHERE "
			       "registrant = ? AND step = ? AND (? = 0 OR "
			       "by = 'self')",
			       -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, step, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, 3, only_self);
	return reg_step_change(reg, st, id, step, "undone", by);
}

/* An item's account matches "account:NAME"; an item "nick:NICK" matches
 * the asker by nick, on networks without services (the mapping only
 * chooses what the page shows first: the link itself is the access). */
const char *reg_guide_mentor_name(const struct reg *reg, const char *who)
{
	for (int i = 0; who && i < reg->nmentors; i++) {
		const char *a = reg->mentors[i].account;

		if (strncmp(a, "nick:", 5) == 0
			? strncmp(who, "nick:", 5) == 0 &&
			      strcasecmp(a + 5, who + 5) == 0
			: strncmp(who, "account:", 8) == 0 &&
			      strcasecmp(a, who + 8) == 0)
			return reg->mentors[i].name;
	}
	return NULL;
}

/*
 * The milestone (a first change merged) is announced once per registrant,
 * across restarts: the flag is set in the store before the line goes out.
 */
void reg_guide_milestone(struct reg *reg, int64_t id, const char *project)
{
	sqlite3 *db = reg->api->store(reg->self);
	struct reg_registrant r;
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(db,
			       "INSERT INTO registrar_guide_gerrit (registrant,"
			       " milestone_announced) VALUES (?, 1) ON CONFLICT"
			       " (registrant) DO UPDATE SET milestone_announced"
			       " = 1 WHERE milestone_announced = 0",
			       -1, &st, NULL) != SQLITE_OK)
		return;
	sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE || sqlite3_changes(db) == 0)
		return;
	/* from the shell, say() prints the line: it is not lost */
	if (!reg->guide_channel || reg_ledger_load(db, id, &r) < 0)
		return;
	if (project && *project)
		reg->api->say(reg->self, reg->guide_channel,
			      "milestone: %s's first change in %s is merged. "
			      "Congratulations!",
			      r.name, project);
	else
		reg->api->say(reg->self, reg->guide_channel,
			      "milestone: %s's first change is merged. "
			      "Congratulations!",
			      r.name);
	reg_registrant_free(&r);
}

/* ------------------------------------------------------------------------ */
/* Query strings and forms */

static int reg_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * The first parameter name in "a=1&b=2" (a query or a form body),
 * percent-decoded with '+' as a space, into out: 0, or -1 (absent, badly
 * encoded, a NUL, or longer than size - 1).
 */
int reg_form_param(const char *q, const char *name, char *out, size_t size)
{
	size_t nl = strlen(name);

	while (q && *q) {
		const char *end = strchr(q, '&');
		size_t len = end ? (size_t)(end - q) : strlen(q);

		if (len > nl && strncmp(q, name, nl) == 0 && q[nl] == '=') {
			size_t o = 0;

			for (size_t i = nl + 1; i < len; i++) {
				int c = q[i];

				if (c == '+')
					c = ' ';
				else if (c == '%') {
					int hi, lo;

					if (i + 2 >= len ||
					    (hi = reg_hexval(q[i + 1])) < 0 ||
					    (lo = reg_hexval(q[i + 2])) < 0)
						return -1;
					c = hi * 16 + lo;
					i += 2;
				}
				if (c == 0 || o + 1 >= size)
					return -1;
				out[o++] = (char)c;
			}
			out[o] = '\0';
			return 0;
		}
		q = end ? end + 1 : NULL;
	}
	return -1;
}

/* ------------------------------------------------------------------------ */
/* Pages */

static const char reg_guide_css[] =
    "body{font:16px/1.5 system-ui,sans-serif;margin:0 auto;max-width:46rem;"
    "padding:1rem;color:#1f2328;background:#fff}"
    "h1{font-size:1.5rem;margin:.2rem 0}h2{font-size:1.1rem;margin:0}"
    "ol{padding-left:1.4rem}li{margin:0 0 1.2rem}"
    ".state{font-weight:bold;color:#9a6700}"
    ".done .state,.done h2{color:#1a7f37}.meta{color:#59636e}"
    "button{font-size:1rem;padding:.4rem .9rem}"
    "table{border-collapse:collapse;width:100%}"
    "th,td{padding:.35rem;border-bottom:1px solid #d1d9e0;text-align:left}"
    ".stuck{color:#cf222e;font-weight:bold}"
    ".wide{overflow-x:auto}";

void reg_guide_css_policy(struct reg *reg)
{
	unsigned char md[SDK_SHA256_LEN];
	struct sdk_buf b = SDK_BUF_INIT;

	sdk_sha256(reg_guide_css, strlen(reg_guide_css), md);
	reg_base64url(&b, md, sizeof(md));
	/* CSP hashes are standard base64, padded */
	for (size_t i = 0; i < b.len; i++)
		b.buf[i] = b.buf[i] == '-'   ? '+'
			   : b.buf[i] == '_' ? '/'
					     : b.buf[i];
	while (b.len % 4)
		sdk_buf_adds(&b, "=");
	snprintf(reg->guide_csp, sizeof(reg->guide_csp),
		 "default-src 'none'; style-src 'sha256-%s'; img-src 'none'; "
		 "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
		 sdk_buf_str(&b));
	sdk_buf_release(&b);
}

static void reg_page_headers(struct reg *reg, const struct opsbot_webhook *hook)
{
	const struct opsbot_api *api = reg->api;

	if (!api->webhook_respond_header)
		return;
	api->webhook_respond_header(hook, "Content-Security-Policy",
				    reg->guide_csp);
	api->webhook_respond_header(hook, "X-Content-Type-Options", "nosniff");
	/* same-origin, not no-referrer: with no-referrer a browser sends
	   "Origin: null" with the page's own form; other sites (the docs
	   the steps link to) get no referrer, so never the token */
	api->webhook_respond_header(hook, "Referrer-Policy", "same-origin");
	api->webhook_respond_header(hook, "X-Frame-Options", "DENY");
	api->webhook_respond_header(hook, "Cache-Control", "no-store");
	api->webhook_respond_header(hook, "X-Robots-Tag", "noindex, nofollow");
}

static void reg_page_start(struct sdk_buf *b, const char *title)
{
	sdk_buf_adds(b, "<!DOCTYPE html>\n<html lang=\"en\"><head>"
			"<meta charset=\"utf-8\">"
			"<meta name=\"viewport\" content=\"width=device-width,"
			"initial-scale=1\">"
			"<meta name=\"robots\" content=\"noindex,nofollow\">"
			"<meta name=\"referrer\" content=\"same-origin\">"
			"<title>");
	reg_html_escape(b, title);
	sdk_buf_addf(b, "</title><style>%s</style></head><body>\n",
		     reg_guide_css);
}

/* The values of the class and mentor columns of a form's fields (one
 * parse for both), cleaned to one line; "" where absent. */
static void reg_class_fields(const struct reg *reg, const char *fields,
			     char **klass, char **mentor)
{
	struct reg_record rec;
	const char *k = NULL, *m = NULL;
	int parsed = fields && reg_record_from_json(fields, &rec) == 0;

	if (parsed) {
		if (reg->class_column)
			k = reg_record_get(&rec, reg->class_column);
		if (reg->mentor_column)
			m = reg_record_get(&rec, reg->mentor_column);
	}
	*klass = k ? reg_clean_line(k, 200) : sdk_xstrdup("");
	*mentor = m ? reg_clean_line(m, 200) : sdk_xstrdup("");
	if (parsed)
		reg_record_free(&rec);
}

static const char *reg_verify_note(int verify)
{
	switch (verify) {
	case REG_VERIFY_SELF:
		return "tick it here when it is done";
	case REG_VERIFY_MENTOR:
		return "your mentor ticks it";
	default:
		return "checked against Gerrit; it turns green by itself";
	}
}

/* The hidden fields of a step's form (t, step, csrf). */
static void reg_step_form(struct sdk_buf *b, const char *token,
			  const char *step, const char *csrf)
{
	sdk_buf_adds(b, "<form method=\"post\" action=\"guide\">"
			"<input type=\"hidden\" name=\"t\" value=\"");
	reg_html_escape(b, token);
	sdk_buf_adds(b, "\"><input type=\"hidden\" name=\"step\" value=\"");
	reg_html_escape(b, step);
	sdk_buf_addf(b, "\"><input type=\"hidden\" name=\"csrf\" value=\"%s\">",
		     csrf);
}

/* Why a done step has no un-tick form on the registrant's page. */
static const char *reg_untick_note(int verify, int by_self)
{
	if (verify >= REG_VERIFY_GERRIT_ACCOUNT)
		return "verified by Gerrit: it cannot be un-ticked here";
	if (!by_self)
		return "ticked by your mentor: ask them to un-tick it";
	return NULL;
}

/* A student's page; token_hash NULL: a mentor's read-only view.  self[i]:
   the registrant ticked step i (may be NULL in the mentor's view). */
static void reg_render_student(struct reg *reg, struct sdk_buf *b,
			       const struct reg_registrant *r, const int *done,
			       const int *self, const char *token,
			       const char *token_hash, const char *back)
{
	char *klass, *mentor;
	char csrf[65];
	int ndone = 0;

	reg_class_fields(reg, r->fields, &klass, &mentor);
	for (int i = 0; i < reg->nsteps; i++)
		ndone += done[i];
	if (token_hash)
		reg_csrf_for(reg, token_hash, csrf);
	reg_page_start(b, "Your path to a first merged change");
	if (back) {
		sdk_buf_adds(b, "<p><a href=\"");
		reg_html_escape(b, back);
		sdk_buf_adds(b, "\">&larr; the class</a></p>");
	}
	sdk_buf_adds(b, "<h1>");
	reg_html_escape(b, r->name);
	sdk_buf_adds(b, "</h1><p class=\"meta\">");
	if (*klass) {
		sdk_buf_adds(b, "Class: ");
		reg_html_escape(b, klass);
		sdk_buf_adds(b, ". ");
	}
	if (*mentor) {
		sdk_buf_adds(b, "Mentor: ");
		reg_html_escape(b, mentor);
		sdk_buf_adds(b, ". ");
	}
	sdk_buf_addf(b, "%d of %d steps done.</p>\n<ol>\n", ndone, reg->nsteps);
	for (int i = 0; i < reg->nsteps; i++) {
		const struct reg_guide_step *s = &reg->steps[i];

		sdk_buf_addf(b, "<li class=\"%s\" id=\"step-",
			     done[i] ? "done" : "todo");
		reg_html_escape(b, s->id);
		sdk_buf_adds(b, "\"><h2>");
		reg_html_escape(b, s->title);
		sdk_buf_addf(b,
			     "</h2><p><span class=\"state\">%s</span> "
			     "<span class=\"meta\">(",
			     done[i] ? "&#10003; done" : "to do");
		reg_html_escape(b, reg_verify_note(s->verify));
		sdk_buf_adds(b, ")</span></p>");
		if (s->help) {
			sdk_buf_adds(b, "<p>");
			for (const char *p = s->help; *p;) {
				size_t n = strcspn(p, "\n");
				char *line = sdk_xstrndup(p, n);

				reg_html_escape(b, line);
				free(line);
				p += n;
				if (*p) {
					sdk_buf_adds(b, "</p><p>");
					p++;
				}
			}
			sdk_buf_adds(b, "</p>");
		}
		for (int k = 0; k < s->nlinks; k++) {
			sdk_buf_adds(b, "<p><a rel=\"noreferrer noopener\" "
					"href=\"");
			reg_html_escape(b, s->links[k].url);
			sdk_buf_adds(b, "\">");
			reg_html_escape(b, s->links[k].text);
			sdk_buf_adds(b, "</a></p>");
		}
		if (!done[i] && token_hash && s->verify == REG_VERIFY_SELF) {
			reg_step_form(b, token, s->id, csrf);
			sdk_buf_adds(b, "<button type=\"submit\" name=\"tick\" "
					"value=\"1\">Mark as done</button>"
					"</form>");
		} else if (done[i] && token_hash && self &&
			   s->verify == REG_VERIFY_SELF && self[i]) {
			reg_step_form(b, token, s->id, csrf);
			sdk_buf_adds(b, "<button type=\"submit\" "
					"name=\"untick\" value=\"1\">Not done "
					"yet: un-tick</button></form>");
		} else if (done[i] && token_hash) {
			const char *why =
			    reg_untick_note(s->verify, self ? self[i] : 0);

			if (why) {
				sdk_buf_adds(b, "<p class=\"meta nountick\">");
				reg_html_escape(b, why);
				sdk_buf_adds(b, "</p>");
			}
		}
		sdk_buf_adds(b, "</li>\n");
	}
	sdk_buf_adds(b, "</ol>\n<p class=\"meta\">This page is yours alone: "
			"do not share its address. Questions? Ask your mentor "
			"or in the class channel.</p></body></html>\n");
	free(klass);
	free(mentor);
}

static int reg_respond_page(struct reg *reg, const struct opsbot_webhook *hook,
			    struct sdk_buf *b, int code)
{
	reg_page_headers(reg, hook);
	reg->api->webhook_respond(hook, "text/html", sdk_buf_str(b), b->len);
	sdk_buf_release(b);
	return code;
}

/* A refusal with no data: the text only. */
static int reg_refuse(struct reg *reg, const struct opsbot_webhook *hook,
		      int code, const char *text)
{
	reg_page_headers(reg, hook);
	if (text)
		reg->api->webhook_respond(hook, "text/plain", text,
					  strlen(text));
	return code;
}

static int reg_on_guide_get(struct opsbot_plugin *self,
			    const struct opsbot_webhook *hook, void *data)
{
	struct reg *reg = data;
	char token[64], hash[65];
	int done[REG_GUIDE_MAX_STEPS], by_self[REG_GUIDE_MAX_STEPS];
	struct reg_registrant r;
	struct sdk_buf b = SDK_BUF_INIT;
	int64_t id;

	(void)self;
	if (reg_form_param(hook->query, "t", token, sizeof(token)) < 0 ||
	    !(id = reg_token_lookup(reg, token, hash)))
		return reg_refuse(reg, hook, 404, NULL);
	if (reg_ledger_load(reg->api->store(reg->self), id, &r) < 0)
		return reg_refuse(reg, hook, 500, NULL);
	if (reg_guide_done_steps(reg, id, done, by_self, NULL) < 0) {
		reg_registrant_free(&r);
		return reg_refuse(reg, hook, 500, NULL);
	}
	reg_render_student(reg, &b, &r, done, by_self, token, hash, NULL);
	reg_registrant_free(&r);
	return reg_respond_page(reg, hook, &b, 200);
}

/* scheme://host[:port] of guide_url, the Origin a browser sends. */
static int reg_origin_ok(const struct reg *reg, const char *origin)
{
	const char *u = reg->guide_url, *p = strstr(u, "://");
	size_t n;

	if (!p)
		return 0;
	n = (size_t)(p + 3 - u) + strcspn(p + 3, "/?#");
	return strlen(origin) == n && strncasecmp(origin, u, n) == 0;
}

static int reg_on_guide_post(struct opsbot_plugin *self,
			     const struct opsbot_webhook *hook, void *data)
{
	struct reg *reg = data;
	const char *origin = reg->api->webhook_header(hook, "Origin");
	const char *site = reg->api->webhook_header(hook, "Sec-Fetch-Site");
	char token[64], hash[65], step[64], csrf[80], want[65], flag[8], *loc;
	int64_t id;
	int i, untick, rc;

	(void)self;
	if (reg_form_param(hook->body, "t", token, sizeof(token)) < 0 ||
	    !(id = reg_token_lookup(reg, token, hash)))
		return reg_refuse(reg, hook, 404, NULL);
	/* cross-site requests: the browser says where a form came from */
	if ((origin && !reg_origin_ok(reg, origin)) ||
	    (site && strcmp(site, "same-origin") != 0 &&
	     strcmp(site, "none") != 0)) {
		reg->api->log(reg->self, OPSBOT_LOG_INFO,
			      "guide: a step refused: the form came from "
			      "another site");
		return reg_refuse(reg, hook, 403,
				  "Forbidden: this form came from another "
				  "site.\n");
	}
	reg_csrf_for(reg, hash, want);
	if (reg_form_param(hook->body, "csrf", csrf, sizeof(csrf)) < 0 ||
	    strlen(csrf) != 64 || !sdk_mem_equal(csrf, want, 64))
		return reg_refuse(reg, hook, 403,
				  "Forbidden: the form is stale; reload the "
				  "page and try again.\n");
	untick =
	    reg_form_param(hook->body, "untick", flag, sizeof(flag)) == 0 &&
	    strcmp(flag, "1") == 0;
	if (reg_form_param(hook->body, "step", step, sizeof(step)) < 0 ||
	    (i = reg_guide_step_index(reg, step)) < 0 ||
	    reg->steps[i].verify != REG_VERIFY_SELF)
		return reg_refuse(reg, hook, 400,
				  untick ? "Bad Request: this step cannot be "
					   "un-ticked here.\n"
					 : "Bad Request: no such step to "
					   "tick.\n");
	if (untick) {
		int done[REG_GUIDE_MAX_STEPS];

		/* only a step the registrant ticked: not a mentor's tick
		   (a step not done at all: sent twice, nothing to do) */
		rc = reg_guide_unmark(reg, id, reg->steps[i].id, "self", 1);
		if (rc == 0 &&
		    (reg_guide_done_steps(reg, id, done, NULL, NULL) < 0 ||
		     done[i]))
			return reg_refuse(reg, hook, 400,
					  "Bad Request: this step was not "
					  "ticked by you; ask your mentor.\n");
	} else
		rc = reg_guide_mark(reg, id, reg->steps[i].id, "self", NULL);
	if (rc < 0)
		return reg_refuse(reg, hook, 500, NULL);
	/* post/redirect/get: a reload does not post again */
	loc = sdk_xasprintf("guide?t=%s#step-%s", token, reg->steps[i].id);
	if (reg->api->webhook_respond_header)
		reg->api->webhook_respond_header(hook, "Location", loc);
	free(loc);
	return reg_refuse(reg, hook, 303, "See Other\n");
}

static const char *reg_sort_key;

static int reg_class_cmp(const void *a, const void *b)
{
	const struct reg_class_row *x = a, *y = b;
	int c = 0;

	if (strcmp(reg_sort_key, "done") == 0)
		c = y->done - x->done;
	else if (strcmp(reg_sort_key, "idle") == 0)
		c = x->last_ms < y->last_ms ? -1 : x->last_ms > y->last_ms;
	else if (strcmp(reg_sort_key, "stuck") == 0)
		c = y->stuck - x->stuck;
	else if (strcmp(reg_sort_key, "class") == 0)
		c = strcmp(x->klass, y->klass);
	else if (strcmp(reg_sort_key, "mentor") == 0)
		c = strcmp(x->mentor, y->mentor);
	if (!c)
		c = strcasecmp(x->name, y->name);
	return c ? c : (x->id < y->id ? -1 : x->id > y->id);
}

void reg_guide_class_sort(struct reg_class_row *rows, int n, const char *key)
{
	reg_sort_key = key;
	qsort(rows, (size_t)n, sizeof(*rows), reg_class_cmp);
}

/*
 * The class: every student not withdrawn with steps done, the time of
 * their last progress (a step, else their registration) and whether they
 * are stuck.  *rows malloc'd; returns the count or -1.
 */
int reg_guide_class(struct reg *reg, struct reg_class_row **rows)
{
	sqlite3_stmt *st;
	struct reg_class_row *out = NULL;
	int n = 0, cap = 0, rc;
	int64_t now = reg_wall_ms();

	if (sqlite3_prepare_v2(
		reg->api->store(reg->self),
		"SELECT r.id, r.name, r.created_at,"
		" group_concat(s.step, char(31)), max(s.done_at),"
		/* the class and mentor columns, found as reg_header_find
		   does (blanks and case aside), by SQLite's JSON functions:
		   a third of the page's time went to parsing every form */
		" (SELECT value ->> 1 FROM json_each(r.fields) WHERE"
		"  trim(value ->> 0) = trim(?1) COLLATE NOCASE"
		"  ORDER BY (value ->> 0) = ?1 DESC LIMIT 1),"
		" (SELECT value ->> 1 FROM json_each(r.fields) WHERE"
		"  trim(value ->> 0) = trim(?2) COLLATE NOCASE"
		"  ORDER BY (value ->> 0) = ?2 DESC LIMIT 1)"
		" FROM registrar_registrant r LEFT JOIN registrar_guide_step s"
		" ON s.registrant = r.id WHERE r.role = 'student' AND"
		" r.status != 'withdrawn' GROUP BY r.id",
		-1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(st, 1, reg->class_column ? reg->class_column : "", -1,
			  SQLITE_STATIC);
	sqlite3_bind_text(st, 2, reg->mentor_column ? reg->mentor_column : "",
			  -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct reg_class_row *row;
		const char *steps = (const char *)sqlite3_column_text(st, 3);
		const char *k = (const char *)sqlite3_column_text(st, 5);
		const char *m = (const char *)sqlite3_column_text(st, 6);

		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			out = sdk_xrealloc(out, (size_t)cap * sizeof(*out));
		}
		row = &out[n++];
		row->id = sqlite3_column_int64(st, 0);
		row->name =
		    sdk_xstrdup((const char *)sqlite3_column_text(st, 1));
		row->klass = reg_clean_line(k ? k : "", 200);
		row->mentor = reg_clean_line(m ? m : "", 200);
		row->done = 0;
		for (const char *p = steps; p && *p;) {
			size_t l = strcspn(p, "\x1f");
			char *one = sdk_xstrndup(p, l);

			row->done += reg_guide_step_index(reg, one) >= 0;
			free(one);
			p += l;
			if (*p)
				p++;
		}
		row->last_ms = sqlite3_column_type(st, 4) == SQLITE_NULL
				   ? sqlite3_column_int64(st, 2)
				   : sqlite3_column_int64(st, 4);
		row->stuck = row->done < reg->nsteps &&
			     now - row->last_ms >= reg->stuck_days * DAY_MS;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		reg_guide_class_free(out, n);
		return -1;
	}
	*rows = out;
	return n;
}

void reg_guide_class_free(struct reg_class_row *rows, int n)
{
	for (int i = 0; i < n; i++) {
		free(rows[i].name);
		free(rows[i].klass);
		free(rows[i].mentor);
	}
	free(rows);
}

/* Checks a mentor link; 0 ok, 404 forged, 403 expired. */
static int reg_mentor_check(struct reg *reg, const char *query, char *who,
			    size_t who_size, char *exp, size_t exp_size)
{
	char sig[80], want[65];
	char *end;
	long long e;

	if (reg_form_param(query, "m", who, who_size) < 0 ||
	    reg_form_param(query, "e", exp, exp_size) < 0 ||
	    reg_form_param(query, "s", sig, sizeof(sig)) < 0 ||
	    strlen(sig) != 64)
		return 404;
	reg_guide_sign(reg, (const char *const[]){"class", who, exp, NULL},
		       want);
	if (!sdk_mem_equal(sig, want, 64))
		return 404;
	errno = 0;
	e = strtoll(exp, &end, 10);
	if (errno || *end || end == exp)
		return 404;
	if ((long long)time(NULL) >= e)
		return 403;
	return 0;
}

/* "class?m=..&e=..&s=..", the signed part of every link on the page. */
static void reg_class_base(struct reg *reg, struct sdk_buf *b, const char *who,
			   const char *exp)
{
	char sig[65];

	reg_guide_sign(reg, (const char *const[]){"class", who, exp, NULL},
		       sig);
	sdk_buf_adds(b, "class?m=");
	sdk_url_encode(b, reg->api, who);
	sdk_buf_addf(b, "&e=%s&s=%s", exp, sig);
}

/* Is row one of mentor's students (the sheet's spelling, any case)? */
static int reg_row_of(const struct reg_class_row *row, const char *mentor)
{
	return !mentor || strcasecmp(row->mentor, mentor) == 0;
}

void reg_guide_render_class_for(struct reg *reg, struct sdk_buf *b,
				struct reg_class_row *rows, int n,
				const char *sort, const char *base,
				const char *mentor, int all)
{
	static const char *const cols[][2] = {
	    {"name", "Name"},
	    {"class", "Class"},
	    {"mentor", "Mentor"},
	    {"done", "Steps done"},
	    {"idle", "Days since progress"},
	    {"stuck", "Stuck"},
	};
	const char *only = mentor && !all ? mentor : NULL;
	int64_t now = reg_wall_ms();
	int nstuck = 0, shown = 0;

	reg_guide_class_sort(rows, n, sort);
	for (int i = 0; i < n; i++)
		if (reg_row_of(&rows[i], only)) {
			shown++;
			nstuck += rows[i].stuck;
		}
	reg_page_start(b, only ? "Your students" : "The class");
	if (only) {
		sdk_buf_adds(b, "<h1>Your students</h1><p class=\"filter\">"
				"Mentor: <strong>");
		reg_html_escape(b, only);
		sdk_buf_addf(b,
			     "</strong>; %d of the class's %d student%s. "
			     "<a id=\"whole-class\" href=\"",
			     shown, n, n == 1 ? "" : "s");
		reg_html_escape(b, base);
		sdk_buf_adds(b, "&amp;all=1\">The whole class</a></p>");
	} else if (mentor) {
		sdk_buf_adds(b, "<h1>The class</h1><p class=\"filter\">"
				"The whole class. <a id=\"mine\" href=\"");
		reg_html_escape(b, base);
		sdk_buf_adds(b, "\">Only your students (");
		reg_html_escape(b, mentor);
		sdk_buf_adds(b, ")</a></p>");
	} else
		sdk_buf_adds(b, "<h1>The class</h1><p class=\"filter\">"
				"The whole class (your account is not "
				"mapped to a mentor's name).</p>");
	sdk_buf_addf(b,
		     "<p class=\"meta\">%d student%s, %d "
		     "stuck (no progress for %d days or more). Sort by a "
		     "column's title.</p>\n<div class=\"wide\"><table><thead>"
		     "<tr>",
		     shown, shown == 1 ? "" : "s", nstuck, reg->stuck_days);
	for (size_t c = 0; c < sizeof(cols) / sizeof(cols[0]); c++) {
		sdk_buf_adds(b, "<th><a href=\"");
		reg_html_escape(b, base);
		sdk_buf_addf(b, "%s&amp;sort=%s\">%s%s</a></th>",
			     mentor && all ? "&amp;all=1" : "", cols[c][0],
			     cols[c][1],
			     strcmp(sort, cols[c][0]) == 0 ? " &#9660;" : "");
	}
	sdk_buf_adds(b, "</tr></thead><tbody>\n");
	for (int i = 0; i < n; i++) {
		const struct reg_class_row *row = &rows[i];

		if (!reg_row_of(row, only))
			continue;
		sdk_buf_adds(b, "<tr><td><a href=\"");
		reg_html_escape(b, base);
		sdk_buf_addf(b, "&amp;r=%lld\">", (long long)row->id);
		reg_html_escape(b, row->name);
		sdk_buf_adds(b, "</a></td><td>");
		reg_html_escape(b, row->klass);
		sdk_buf_adds(b, "</td><td>");
		reg_html_escape(b, row->mentor);
		sdk_buf_addf(b,
			     "</td><td>%d/%d</td><td>%lld</td><td%s>%s</td>"
			     "</tr>\n",
			     row->done, reg->nsteps,
			     (long long)((now - row->last_ms) / DAY_MS),
			     row->stuck ? " class=\"stuck\"" : "",
			     row->stuck ? "stuck" : "");
	}
	sdk_buf_adds(b, "</tbody></table></div>\n<p class=\"meta\">This link "
			"is yours and expires; ask for a new one with !reg "
			"guide.</p></body></html>\n");
}

void reg_guide_render_class(struct reg *reg, struct sdk_buf *b,
			    struct reg_class_row *rows, int n, const char *sort,
			    const char *base)
{
	reg_guide_render_class_for(reg, b, rows, n, sort, base, NULL, 0);
}

static int reg_on_class(struct opsbot_plugin *self,
			const struct opsbot_webhook *hook, void *data)
{
	struct reg *reg = data;
	char who[200], exp[32], sort[16], rid[24];
	struct sdk_buf b = SDK_BUF_INIT, base = SDK_BUF_INIT;
	int code;

	(void)self;
	code = reg_mentor_check(reg, hook->query, who, sizeof(who), exp,
				sizeof(exp));
	if (code == 404)
		return reg_refuse(reg, hook, 404, NULL);
	if (code == 403)
		return reg_refuse(reg, hook, 403,
				  "Forbidden: this link has expired; ask for "
				  "a new one in chat with !reg guide.\n");
	reg_class_base(reg, &base, who, exp);
	if (reg_form_param(hook->query, "r", rid, sizeof(rid)) == 0) {
		int done[REG_GUIDE_MAX_STEPS];
		struct reg_registrant r;
		char *end;
		long long id = strtoll(rid, &end, 10);

		if (*end || id <= 0 ||
		    reg_ledger_load(reg->api->store(reg->self), id, &r) < 0) {
			sdk_buf_release(&base);
			return reg_refuse(reg, hook, 404, NULL);
		}
		if (strcmp(r.role, "student") != 0 ||
		    reg_guide_done_steps(reg, id, done, NULL, NULL) < 0) {
			reg_registrant_free(&r);
			sdk_buf_release(&base);
			return reg_refuse(reg, hook, 404, NULL);
		}
		reg_render_student(reg, &b, &r, done, NULL, NULL, NULL,
				   sdk_buf_str(&base));
		reg_registrant_free(&r);
	} else {
		struct reg_class_row *rows = NULL;
		int n = reg_guide_class(reg, &rows);
		char all[8];

		if (reg_form_param(hook->query, "sort", sort, sizeof(sort)) < 0)
			snprintf(sort, sizeof(sort), "name");
		if (reg_form_param(hook->query, "all", all, sizeof(all)) < 0)
			all[0] = '\0';
		if (n < 0) {
			sdk_buf_release(&base);
			return reg_refuse(reg, hook, 500, NULL);
		}
		reg_guide_render_class_for(
		    reg, &b, rows, n, sort, sdk_buf_str(&base),
		    reg_guide_mentor_name(reg, who), strcmp(all, "1") == 0);
		reg_guide_class_free(rows, n);
	}
	sdk_buf_release(&base);
	return reg_respond_page(reg, hook, &b, 200);
}

/* ------------------------------------------------------------------------ */
/* Set-up */

static void reg_mentors_free(struct reg *reg)
{
	for (int i = 0; i < reg->nmentors; i++) {
		free(reg->mentors[i].account);
		free(reg->mentors[i].name);
	}
	free(reg->mentors);
	reg->mentors = NULL;
	reg->nmentors = 0;
}

/* [plugin.registrar] mentor: "ACCOUNT Mentor Name" items; 0 or -1. */
static int reg_mentors_parse(struct reg *reg, struct sdk_buf *err)
{
	const struct opsbot_api *api = reg->api;
	int n = api->config_list_count(reg->self, NULL, "mentor");

	reg_mentors_free(reg);
	if (n <= 0)
		return 0;
	reg->mentors = sdk_xcalloc((size_t)n, sizeof(*reg->mentors));
	for (int i = 0; i < n; i++) {
		const char *item =
		    api->config_list_item(reg->self, NULL, "mentor", i);
		const char *sp = item ? strchr(item, ' ') : NULL;
		char *account, *name;

		if (!sp || sp == item) {
			sdk_buf_addf(err,
				     "[plugin.registrar] mentor: \"%s\" is not "
				     "ACCOUNT MENTOR NAME (a services account, "
				     "then the name as the sheet's %s column "
				     "spells it)",
				     item ? item : "",
				     reg->mentor_column ? reg->mentor_column
							: "mentor");
			return -1;
		}
		account = sdk_xstrndup(item, (size_t)(sp - item));
		name = reg_clean_line(sp + 1, 200);
		for (int k = 0; k < reg->nmentors; k++)
			if (strcasecmp(reg->mentors[k].account, account) == 0) {
				sdk_buf_addf(err,
					     "[plugin.registrar] mentor: the "
					     "account \"%s\" is mapped twice",
					     account);
				free(account);
				free(name);
				return -1;
			}
		if (!*name) {
			sdk_buf_addf(err,
				     "[plugin.registrar] mentor: \"%s\" has no "
				     "mentor name",
				     item);
			free(account);
			free(name);
			return -1;
		}
		reg->mentors[reg->nmentors].account = account;
		reg->mentors[reg->nmentors].name = name;
		reg->nmentors++;
	}
	return 0;
}

int reg_guide_setup(struct reg *reg, struct sdk_buf *err)
{
	const struct opsbot_api *api = reg->api;
	const char *path = api->config_string(reg->self, NULL, "guide_steps");
	char *text = NULL;
	int rc;

	reg->guide_url = api->config_string(reg->self, NULL, "guide_url");
	if (reg->guide_url && !*reg->guide_url)
		reg->guide_url = NULL;
	reg->class_column = api->config_string(reg->self, NULL, "class_column");
	reg->mentor_column =
	    api->config_string(reg->self, NULL, "mentor_column");
	reg->guide_channel =
	    api->config_string(reg->self, NULL, "guide_channel");
	if (!reg->guide_channel || !*reg->guide_channel)
		reg->guide_channel = reg->channel;
	if (reg_mentors_parse(reg, err) < 0)
		return -1;
	reg->stuck_days = (int)api->config_int(reg->self, NULL, "stuck_days");
	reg->link_ttl_ms =
	    api->config_duration_ms(reg->self, NULL, "guide_link_ttl");
	if (reg->guide_url) {
		size_t l = strlen(reg->guide_url);

		if ((strncmp(reg->guide_url, "https://", 8) != 0 &&
		     strncmp(reg->guide_url, "http://", 7) != 0) ||
		    strpbrk(reg->guide_url, "?#\"'<> ") ||
		    reg->guide_url[l - 1] == '/') {
			sdk_buf_addf(err,
				     "[plugin.registrar] guide_url: \"%s\" is "
				     "not an http(s) base URL without a "
				     "trailing slash",
				     reg->guide_url);
			return -1;
		}
	}
	if (path && *path) {
		struct sdk_buf why = SDK_BUF_INIT;

		if (reg_read_text_file("guide_steps", path, &text, err) < 0)
			return -1;
		rc = reg_guide_steps_parse(text, path, &reg->steps,
					   &reg->nsteps, &why);
		free(text);
		if (rc < 0) {
			sdk_buf_addf(err, "[plugin.registrar] guide_steps: %s",
				     sdk_buf_str(&why));
			sdk_buf_release(&why);
			return -1;
		}
	} else if (reg_guide_steps_parse(reg_guide_default_steps,
					 "the default steps", &reg->steps,
					 &reg->nsteps, err) < 0)
		return -1;
	reg_guide_css_policy(reg);
	return reg_gerrit_setup(reg, err);
}

int reg_guide_start(struct reg *reg)
{
	const struct opsbot_api *api = reg->api;
	const struct opsbot_webhook_route routes[] = {
	    {sizeof(struct opsbot_webhook_route), "GET", GUIDE_PATH,
	     reg_on_guide_get, reg, 0, 0, 0},
	    {sizeof(struct opsbot_webhook_route), "POST", GUIDE_PATH,
	     reg_on_guide_post, reg, 4096, 0, 0},
	    {sizeof(struct opsbot_webhook_route), "GET", GUIDE_CLASS_PATH,
	     reg_on_class, reg, 0, 0, 0},
	};

	if (reg_guide_key_load(reg) < 0) {
		api->log(reg->self, OPSBOT_LOG_ERROR,
			 "guide: cannot make or keep the signing key");
		return -1;
	}
	if (!reg->guide_url || api->mode() != OPSBOT_MODE_DAEMON)
		return 0;
	if (api->abi_minor < 1 || !api->webhook_respond_header) {
		api->log(reg->self, OPSBOT_LOG_ERROR,
			 "guide: this opsbot is too old to serve the guide's "
			 "pages (it needs ABI 2.1)");
		return -1;
	}
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		if (api->webhook_add(reg->self, &routes[i]) != OPSBOT_OK) {
			api->log(reg->self, OPSBOT_LOG_ERROR,
				 "guide: cannot add the route %s",
				 routes[i].path);
			return -1;
		}
	reg_gerrit_start(reg);
	return 0;
}

void reg_guide_free(struct reg *reg)
{
	reg_mentors_free(reg);
	reg_guide_steps_free(reg->steps, reg->nsteps);
	reg->steps = NULL;
	reg->nsteps = 0;
	memset(reg->guide_key, 0, sizeof(reg->guide_key));
}

/*
 * watch.c - the ci plugin's Jenkins watching: polling each server with
 * one tree= listing per cycle, Notification-plugin webhooks (token, body
 * cap, de-duplication of (url, number, phase), phases out of order), the
 * transitions they make (broken, fixed, still failing, aborted, started)
 * and the last handled build per job, persisted so a restart neither
 * repeats nor misses an announcement.
 *
 * State keys: "j/<server>/<job>" = "number last prev failing_told
 * started matrix".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "ci.h"

#define HOOK_DEDUP_MS (7L * 24 * 3600 * 1000)

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------------------ */
/* The job table                                                             */

static size_t hash(const char *s)
{
	size_t h = 1469598103934665603ULL;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
	return h;
}

struct ci_job *ci_job_find(struct ci_jserver *s, const char *name)
{
	struct ci_job *j;

	if (!s->nbuckets)
		return NULL;
	for (j = s->table[hash(name) % s->nbuckets]; j; j = j->next)
		if (!strcmp(j->name, name))
			return j;
	return NULL;
}

static void table_grow(struct ci_jserver *s)
{
	size_t n = s->nbuckets ? s->nbuckets * 2 : 256;
	struct ci_job **t = sdk_xcalloc(n, sizeof(*t));

	for (size_t i = 0; i < s->nbuckets; i++) {
		struct ci_job *j, *next;

		for (j = s->table[i]; j; j = next) {
			size_t b = hash(j->name) % n;

			next = j->next;
			j->next = t[b];
			t[b] = j;
		}
	}
	free(s->table);
	s->table = t;
	s->nbuckets = n;
}

static struct ci_job *job_add(struct ci_jserver *s, const char *name)
{
	struct ci_job *j = sdk_xcalloc(1, sizeof(*j));
	struct ci *ci = s->ci;
	size_t b;

	if (s->njobs >= s->nbuckets)
		table_grow(s);
	j->name = sdk_xstrdup(name);
	sdk_bucket_init(&j->flap, (double)ci->flap_per_hour / 3600.0,
			(double)ci->flap_burst, ci->api->now_ms());
	b = hash(name) % s->nbuckets;
	j->next = s->table[b];
	s->table[b] = j;
	s->njobs++;
	return j;
}

static void job_remove(struct ci_jserver *s, struct ci_job *dead)
{
	struct ci_job **at = &s->table[hash(dead->name) % s->nbuckets];

	for (; *at; at = &(*at)->next)
		if (*at == dead) {
			*at = dead->next;
			break;
		}
	free(dead->name);
	free(dead);
	s->njobs--;
}

static void state_key(struct sdk_buf *k, const struct ci_jserver *s,
		      const char *job)
{
	sdk_buf_addf(k, "j/%s/%s", s->name, job);
}

static void job_save(struct ci_jserver *s, struct ci_job *j)
{
	struct sdk_buf k = SDK_BUF_INIT, v = SDK_BUF_INIT;

	state_key(&k, s, j->name);
	sdk_buf_addf(&v, "%ld %d %d %lld %ld %d", j->number, (int)j->last,
		     (int)j->prev, (long long)j->failing_told, j->started,
		     j->matrix);
	if (k.len <= 256 && s->ci->api->state_set(s->ci->self, k.buf, v.buf,
						  v.len) != OPSBOT_OK)
		s->ci->api->log(s->ci->self, OPSBOT_LOG_WARN,
				"jenkins %s: cannot record job state", s->name);
	sdk_buf_release(&k);
	sdk_buf_release(&v);
}

static void job_forget(struct ci_jserver *s, struct ci_job *j)
{
	struct sdk_buf k = SDK_BUF_INIT;

	state_key(&k, s, j->name);
	if (k.len <= 256)
		s->ci->api->state_delete(s->ci->self, k.buf);
	sdk_buf_release(&k);
	job_remove(s, j);
}

static int load_one(const char *key, const void *value, size_t len, void *data)
{
	struct ci_jserver *s = data;
	const char *name = key + 3 + strlen(s->name);
	char buf[160];
	long number = 0, started = 0;
	int last = 0, prev = 0, matrix = 0;
	long long told = 0;
	struct ci_job *j;

	if (len >= sizeof(buf))
		return 0;
	memcpy(buf, value, len);
	buf[len] = '\0';
	if (sscanf(buf, "%ld %d %d %lld %ld %d", &number, &last, &prev, &told,
		   &started, &matrix) < 3)
		return 0;
	j = ci_job_find(s, name);
	if (!j)
		j = job_add(s, name);
	j->number = number;
	j->last = (enum sdk_jenkins_result)last;
	j->prev = (enum sdk_jenkins_result)prev;
	j->failing_told = told;
	j->started = started;
	j->matrix = matrix;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Transitions                                                               */

static void say_build(struct ci_jserver *s, struct ci_job *j, enum ci_event ev,
		      const struct sdk_jenkins_build *b)
{
	struct ci *ci = s->ci;
	struct sdk_buf line = SDK_BUF_INIT, item = SDK_BUF_INIT;

	/* a flapping job does not flood: a bucket per job */
	if (ev != CI_EV_STARTED &&
	    sdk_bucket_take(&j->flap, ci->api->now_ms()) > 0) {
		if (!j->flap_told) {
			j->flap_told = 1;
			sdk_buf_adds(&line, "");
			ci_clean(&line, j->name, 120);
			sdk_buf_adds(&line, " keeps changing; its next results "
					    "are not announced for a while");
			ci_announce(ci, ev, s->name, j->name, NULL,
				    sdk_buf_str(&line), sdk_buf_str(&line));
		}
		sdk_buf_release(&line);
		return;
	}
	if (ev != CI_EV_STARTED)
		j->flap_told = 0;
	ci_format_build(&line, &item, ev, j->name, b);
	ci_announce(ci, ev, s->name, j->name, NULL, sdk_buf_str(&item),
		    sdk_buf_str(&line));
	sdk_buf_release(&line);
	sdk_buf_release(&item);
}

void ci_build_seen(struct ci_jserver *s, const char *job, int matrix,
		   const struct sdk_jenkins_build *b, int started)
{
	struct ci *ci = s->ci;
	struct ci_job *j = ci_job_find(s, job);
	enum ci_event ev;

	if (!j)
		j = job_add(s, job);
	if (matrix)
		j->matrix = 1;
	if (started) {
		/* a STARTED after its COMPLETED, or a repeat: nothing */
		if (b->number <= j->started || b->number <= j->number ||
		    b->number <= j->pending)
			return;
		j->started = b->number;
		job_save(s, j);
		say_build(s, j, CI_EV_STARTED, b);
		return;
	}
	if (b->number <= j->number || b->result == SDK_JENKINS_NONE)
		return; /* known already, or not finished */
	ev = ci_transition(j->prev, b->result);
	j->number = b->number;
	j->last = b->result;
	j->duration_ms = b->duration_ms;
	if (b->result != SDK_JENKINS_ABORTED &&
	    b->result != SDK_JENKINS_NOT_BUILT &&
	    b->result != SDK_JENKINS_OTHER)
		j->prev = b->result;
	if (ev == CI_EV_FAILING) {
		int64_t now = wall_ms();

		if (j->failing_told &&
		    now - j->failing_told < ci->failing_every_ms)
			ev = CI_EV_NONE;
		else
			j->failing_told = now;
	} else if (ev == CI_EV_BROKEN) {
		j->failing_told = wall_ms();
	}
	/* recorded before it is said: a crash loses a line, never repeats */
	job_save(s, j);
	if (ev != CI_EV_NONE)
		say_build(s, j, ev, b);
}

/* ------------------------------------------------------------------------ */
/* Details of a build before it is announced (culprits, matrix axes)        */

struct detail {
	struct ci_jserver *s;
	char *job;
	int matrix;
	struct sdk_jenkins_build summary; /* used if the details fail */
};

static void detail_fn(const char *error, const struct sdk_jenkins_build *b,
		      void *data)
{
	struct detail *d = data;

	if (!d->s->ci->closing) {
		if (!error && b && b->number == d->summary.number) {
			struct sdk_jenkins_build merged = *b;

			/* the webhook's result is final; the API may lag */
			if (merged.result == SDK_JENKINS_NONE)
				merged.result = d->summary.result;
			if (!merged.url)
				merged.url = d->summary.url;
			if (!merged.nculprits) {
				merged.culprits = d->summary.culprits;
				merged.nculprits = d->summary.nculprits;
			}
			ci_build_seen(d->s, d->job, d->matrix, &merged, 0);
		} else {
			ci_build_seen(d->s, d->job, d->matrix, &d->summary, 0);
		}
	}
	free(d->job);
	sdk_jenkins_build_clear(&d->summary);
	free(d);
}

static void copy_build(struct sdk_jenkins_build *to,
		       const struct sdk_jenkins_build *from)
{
	memset(to, 0, sizeof(*to));
	to->number = from->number;
	to->result = from->result;
	to->duration_ms = from->duration_ms;
	to->timestamp_ms = from->timestamp_ms;
	to->url = sdk_xstrdup_or_null(from->url);
	if (from->nculprits) {
		to->culprits =
		    sdk_xcalloc((size_t)from->nculprits, sizeof(char *));
		for (int i = 0; i < from->nculprits; i++)
			to->culprits[i] = sdk_xstrdup(from->culprits[i]);
		to->nculprits = from->nculprits;
	}
}

/* A completed build: with details first if it failed or is a matrix. */
static void completed(struct ci_jserver *s, const char *job, int matrix,
		      const struct sdk_jenkins_build *b)
{
	struct ci_job *j = ci_job_find(s, job);
	enum sdk_jenkins_result prev = j ? j->prev : SDK_JENKINS_NONE;
	enum ci_event ev = ci_transition(prev, b->result);
	struct detail *d;

	if (j && (b->number <= j->number || b->number <= j->pending))
		return; /* known, or its details are on the way */
	if (!s->configured || !(ev == CI_EV_BROKEN || ev == CI_EV_FAILING ||
				(matrix && ev != CI_EV_NONE))) {
		ci_build_seen(s, job, matrix, b, 0);
		return;
	}
	if (!j)
		j = job_add(s, job);
	j->pending = b->number;
	d = sdk_xcalloc(1, sizeof(*d));
	d->s = s;
	d->job = sdk_xstrdup(job);
	d->matrix = matrix;
	copy_build(&d->summary, b);
	sdk_jenkins_build(&s->jk, job, b->number, detail_fn, d);
}

/* ------------------------------------------------------------------------ */
/* Polling                                                                   */

/*
 * Several builds ended since the last one handled (a restart, a slow
 * poll): each of them, in order, so no transition is missed.  The last
 * gets its details as usual; the ones before are said as listed.
 */
struct gap_req {
	struct ci_jserver *s;
	char *job;
	int matrix;
	struct sdk_jenkins_build last; /* from the listing: the fallback */
};

static int by_number(const void *a, const void *b)
{
	const struct sdk_jenkins_build *x = a, *y = b;

	return (x->number > y->number) - (x->number < y->number);
}

static void gap_fn(const char *error, long code, json_t *json, void *data)
{
	struct gap_req *g = data;
	struct ci_jserver *s = g->s;
	struct ci_job *j;
	json_t *builds = json ? json_object_get(json, "builds") : NULL, *o;
	struct sdk_jenkins_build *list = NULL;
	size_t i, n = 0;

	(void)code;
	if (s->ci->closing || (error && !strcmp(error, "cancelled")))
		goto out;
	j = ci_job_find(s, g->job);
	if (j)
		j->pending = 0;
	if (!error && json_is_array(builds) && json_array_size(builds)) {
		list = sdk_xcalloc(json_array_size(builds), sizeof(*list));
		json_array_foreach(builds, i, o)
		{
			sdk_jenkins_build_parse(&list[n], o);
			if (list[n].building ||
			    list[n].number > g->last.number ||
			    list[n].result == SDK_JENKINS_NONE ||
			    (j && list[n].number <= j->number)) {
				sdk_jenkins_build_clear(&list[n]);
				continue;
			}
			n++;
		}
		qsort(list, n, sizeof(*list), by_number);
	}
	for (i = 0; i + 1 < n; i++)
		ci_build_seen(s, g->job, g->matrix, &list[i], 0);
	if (n && list[n - 1].number == g->last.number)
		completed(s, g->job, g->matrix, &list[n - 1]);
	else
		completed(s, g->job, g->matrix, &g->last);
	for (i = 0; i < n; i++)
		sdk_jenkins_build_clear(&list[i]);
	free(list);
out:
	sdk_jenkins_build_clear(&g->last);
	free(g->job);
	free(g);
}

static void gap(struct ci_jserver *s, const char *job, int matrix,
		const struct sdk_jenkins_build *last)
{
	struct gap_req *g = sdk_xcalloc(1, sizeof(*g));
	struct ci_job *j = ci_job_find(s, job);
	struct sdk_buf p = SDK_BUF_INIT;

	g->s = s;
	g->job = sdk_xstrdup(job);
	g->matrix = matrix;
	copy_build(&g->last, last);
	if (j)
		j->pending = last->number; /* asked once; webhooks wait */
	sdk_jenkins_job_path(&p, s->ci->api, job);
	sdk_buf_adds(&p, "api/json?tree=builds%5Bnumber,result,building,"
			 "duration,url%5D%7B0,50%7D");
	sdk_jenkins_get(&s->jk, sdk_buf_str(&p), gap_fn, g);
	sdk_buf_release(&p);
}

static void poll_start(struct ci_jserver *s, long delay);

static void listed(const char *error, const struct sdk_jenkins_job_list *l,
		   void *data)
{
	struct ci_jserver *s = data;
	struct ci *ci = s->ci;
	int gen, first;

	if (ci->closing)
		return;
	s->polls++;
	if (error) {
		ci_outage_failed(ci, &s->out, "jenkins", s->name, error);
		poll_start(s, ci_next_poll(ci, &s->out, ci->poll_ms));
		return;
	}
	ci_outage_ok(ci, &s->out, "jenkins", s->name);
	s->last_ok = ci->api->now_ms();
	gen = ++s->generation;
	first = !s->polled_once;
	s->polled_once = 1;
	for (int i = 0; i < l->njobs; i++) {
		const struct sdk_jenkins_job *lj = &l->jobs[i];
		struct ci_job *j;
		int matrix = lj->kind == SDK_JENKINS_MATRIX;

		if (lj->kind == SDK_JENKINS_FOLDER ||
		    !ci_match_any(s->patterns, lj->full_name))
			continue;
		j = ci_job_find(s, lj->full_name);
		if (!j) {
			/* new to the plugin: its present is the baseline */
			j = job_add(s, lj->full_name);
			j->number = lj->last_completed.number;
			j->last = j->prev = lj->last_completed.result;
			j->started = lj->building ? lj->last_number : 0;
			j->duration_ms = lj->last_completed.duration_ms;
			j->matrix = matrix;
			j->generation = gen;
			job_save(s, j);
			if (!first)
				ci->api->log(ci->self, OPSBOT_LOG_INFO,
					     "jenkins %s: now watching %s",
					     s->name, lj->full_name);
			continue;
		}
		j->generation = gen;
		j->matrix = matrix;
		j->building = lj->building;
		if (lj->building && lj->last_number > j->started &&
		    lj->last_number > j->number) {
			struct sdk_jenkins_build b = {0};
			char *url = NULL;

			b.number = lj->last_number;
			if (lj->url)
				url = sdk_xasprintf("%s%ld/", lj->url,
						    lj->last_number);
			b.url = url;
			ci_build_seen(s, lj->full_name, matrix, &b, 1);
			free(url);
		}
		if (lj->last_completed.number > j->number + 1 &&
		    j->number > 0 && lj->last_completed.number > j->pending)
			gap(s, lj->full_name, matrix, &lj->last_completed);
		else if (lj->last_completed.number > j->number)
			completed(s, lj->full_name, matrix,
				  &lj->last_completed);
	}
	/* gone from the listing: deleted or renamed */
	for (size_t b = 0; b < s->nbuckets; b++) {
		struct ci_job *j, *next;

		for (j = s->table[b]; j; j = next) {
			next = j->next;
			if (j->generation != gen) {
				ci->api->log(ci->self, OPSBOT_LOG_INFO,
					     "jenkins %s: %s is gone (deleted "
					     "or renamed); forgotten",
					     s->name, j->name);
				job_forget(s, j);
			}
		}
	}
	poll_start(s, ci->poll_ms);
}

static long poll_timer_fn(struct opsbot_plugin *self, int status, void *data)
{
	struct ci_jserver *s = data;

	(void)self;
	s->timer = 0;
	if (status != OPSBOT_OK || s->ci->closing)
		return OPSBOT_TIMER_STOP;
	s->requests++;
	sdk_jenkins_list(&s->jk, s->folder, s->depth, listed, s);
	return OPSBOT_TIMER_STOP;
}

static void poll_start(struct ci_jserver *s, long delay)
{
	int64_t id;

	if (!s->poll || !s->configured || s->ci->closing)
		return;
	id = s->ci->api->timer_start(s->ci->self, delay, poll_timer_fn, s);
	s->timer = id > 0 ? id : 0;
}

int ci_jenkins_start(struct ci *ci)
{
	for (int i = 0; i < ci->njs; i++) {
		struct ci_jserver *s = &ci->js[i];
		char prefix[48];

		snprintf(prefix, sizeof(prefix), "j/%s/", s->name);
		ci->api->state_each(ci->self, prefix, load_one, s);
		/* first poll soon, spread a little between servers */
		if (ci->api->mode() == OPSBOT_MODE_DAEMON)
			poll_start(s, 1000 + 500 * i);
	}
	return 0;
}

void ci_jenkins_free(struct ci *ci)
{
	for (int i = 0; i < ci->njs; i++) {
		struct ci_jserver *s = &ci->js[i];

		for (size_t b = 0; b < s->nbuckets; b++) {
			struct ci_job *j, *next;

			for (j = s->table[b]; j; j = next) {
				next = j->next;
				free(j->name);
				free(j);
			}
		}
		free(s->table);
		s->table = NULL;
		s->nbuckets = s->njobs = 0;
		if (s->configured)
			sdk_jenkins_free(&s->jk);
		ci_strv_free(s->patterns);
		free(s->folder);
		free(s->hook_token);
		free(s->out.error);
	}
}

struct ci_jserver *ci_jserver_find(struct ci *ci, const char *name)
{
	for (int i = 0; i < ci->njs; i++)
		if (!name || !strcmp(ci->js[i].name, name))
			return &ci->js[i];
	return NULL;
}

/* ------------------------------------------------------------------------ */
/* Webhooks                                                                  */

static int respond(const struct ci *ci, const struct opsbot_webhook *hook,
		   int code, const char *text)
{
	ci->api->webhook_respond(hook, "text/plain", text, strlen(text));
	return code;
}

/* "job/a/job/b%20c/" -> "a/b c"; NULL if it is not a job URL path. */
static char *job_from_url(const char *url, int *config_run)
{
	struct sdk_buf b = SDK_BUF_INIT;
	const char *p = url;

	*config_run = 0;
	/* a full URL: from the first "job/" on */
	if (strncmp(p, "job/", 4)) {
		p = strstr(p, "/job/");
		if (!p)
			return NULL;
		p++;
	}
	while (!strncmp(p, "job/", 4)) {
		size_t n;

		p += 4;
		n = strcspn(p, "/");
		if (!n)
			break;
		if (b.len)
			sdk_buf_adds(&b, "/");
		for (size_t i = 0; i < n; i++) {
			if (p[i] == '%' && i + 2 < n + 1 &&
			    strchr("0123456789abcdefABCDEF", p[i + 1]) &&
			    strchr("0123456789abcdefABCDEF", p[i + 2]) &&
			    p[i + 1] && p[i + 2]) {
				char hex[3] = {p[i + 1], p[i + 2], 0};
				char c = (char)strtol(hex, NULL, 16);

				if (c == '/' || c == '\0')
					c = '_';
				sdk_buf_add(&b, &c, 1);
				i += 2;
			} else {
				sdk_buf_add(&b, &p[i], 1);
			}
		}
		p += n;
		if (*p == '/')
			p++;
	}
	/* "job/k/database=pg/12/": a run of one matrix configuration */
	if (*p && strchr(p, '=') && strcspn(p, "/") > 0 &&
	    memchr(p, '=', strcspn(p, "/")))
		*config_run = 1;
	if (!b.len) {
		sdk_buf_release(&b);
		return NULL;
	}
	return sdk_buf_detach(&b);
}

/* Constant time over the expected length. */
static int same_secret(const char *got, size_t n, const char *want)
{
	size_t m = strlen(want);
	unsigned char diff = n != m;

	for (size_t i = 0; i < m; i++)
		diff |= (unsigned char)(want[i] ^ (i < n ? got[i] : 0));
	return !diff;
}

/*
 * The Notification plugin's own way: "http://user:TOKEN@bot/..." in the
 * endpoint becomes "Authorization: Basic base64(user:TOKEN)"; the
 * password is the token (the user is not looked at).
 */
static int basic_auth_ok(const struct ci *ci, const struct opsbot_webhook *hook,
			 const char *want)
{
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const char *h = ci->api->webhook_header(hook, "Authorization");
	char out[512];
	size_t n = 0;
	unsigned acc = 0;
	int bits = 0, ok;
	const char *colon;

	if (!want || !*want || !h || strncasecmp(h, "Basic ", 6))
		return 0;
	for (h += 6; *h && *h != '='; h++) {
		const char *p = strchr(b64, *h);

		if (!p || !*h)
			return 0;
		acc = (acc << 6) | (unsigned)(p - b64);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n + 1 >= sizeof(out))
				return 0;
			out[n++] = (char)((acc >> bits) & 0xff);
		}
	}
	out[n] = '\0';
	colon = memchr(out, ':', n);
	if (!colon)
		return 0;
	ok = same_secret(colon + 1, n - (size_t)(colon + 1 - out), want);
	memset(out, 0, sizeof(out));
	return ok;
}

int ci_jenkins_webhook(struct opsbot_plugin *self,
		       const struct opsbot_webhook *hook, void *data)
{
	struct ci_jserver *s = data;
	struct ci *ci = s->ci;
	json_t *root, *build;
	const char *phase, *url;
	char *job, *key;
	int config_run, dup;
	long number;
	struct sdk_jenkins_build b = {0};

	(void)self;
	if (ci->api->webhook_verify_token(hook, "X-Opsbot-Token", "token",
					  s->hook_token) != OPSBOT_OK &&
	    !basic_auth_ok(ci, hook, s->hook_token))
		return respond(ci, hook, 403, "bad or missing token");
	root = json_loadb(hook->body, hook->body_len, 0, NULL);
	build = json_object_get(root, "build");
	phase = sdk_json_string(build, "phase", NULL);
	number = (long)sdk_json_int(build, "number", 0);
	url = sdk_json_string(root, "url", NULL);
	if (!url)
		url = sdk_json_string(build, "full_url", NULL);
	if (!json_is_object(build) || !phase || number <= 0 || !url) {
		json_decref(root);
		return respond(ci, hook, 400,
			       "not a Notification plugin build (JSON with "
			       "url, build.number, build.phase)");
	}
	job = job_from_url(url, &config_run);
	if (!job) {
		json_decref(root);
		return respond(ci, hook, 400, "url is not a job path");
	}
	ci->hooks++;
	if (config_run || !ci_match_any(s->patterns, job) ||
	    !strcmp(phase, "QUEUED")) {
		free(job);
		json_decref(root);
		return respond(ci, hook, 200, "ignored");
	}
	key = sdk_xasprintf("%s %s %ld %s", s->name, job, number, phase);
	if (strlen(key) > 256)
		key[256] = '\0';
	dup = ci->api->seen_before(ci->self, key, HOOK_DEDUP_MS);
	free(key);
	if (dup == 1) {
		ci->hook_dupes++;
		free(job);
		json_decref(root);
		return respond(ci, hook, 200, "duplicate");
	}
	b.number = number;
	b.duration_ms = sdk_json_int(build, "duration", 0);
	b.timestamp_ms = sdk_json_int(build, "timestamp", 0);
	{
		const char *full = sdk_json_string(build, "full_url", NULL);
		const char *burl = sdk_json_string(build, "url", NULL);

		if (full)
			b.url = sdk_xstrdup(full);
		else if (s->configured && burl)
			b.url = sdk_xasprintf("%s%s", s->jk.root, burl);
	}
	if (!strcmp(phase, "STARTED")) {
		struct ci_job *j = ci_job_find(s, job);

		ci_build_seen(s, job, j ? j->matrix : 0, &b, 1);
	} else if (!strcmp(phase, "COMPLETED") || !strcmp(phase, "FINISHED") ||
		   !strcmp(phase, "FINALIZED")) {
		json_t *culprits = sdk_json_get(build, "scm.culprits");
		struct ci_job *j = ci_job_find(s, job);
		size_t i;
		json_t *c;

		b.result = sdk_jenkins_result_parse(
		    sdk_json_string(build, "status", NULL));
		if (json_is_array(culprits) && json_array_size(culprits)) {
			b.culprits = sdk_xcalloc(json_array_size(culprits),
						 sizeof(char *));
			json_array_foreach(culprits, i, c)
			{
				const char *name =
				    json_is_string(c)
					? json_string_value(c)
					: sdk_json_string(c, "fullName", NULL);

				if (name)
					b.culprits[b.nculprits++] =
					    sdk_xstrdup(name);
			}
		}
		if (b.result != SDK_JENKINS_NONE)
			completed(s, job, j ? j->matrix : 0, &b);
	}
	sdk_jenkins_build_clear(&b);
	free(job);
	json_decref(root);
	return respond(ci, hook, 200, "ok");
}

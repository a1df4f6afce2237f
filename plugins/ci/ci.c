/*
 * ci.c - the ci plugin: Jenkins and Zuul results announced in channels,
 * and build status on demand.  This file owns the descriptor, the
 * configuration (servers, routes), init/fini and the chat commands:
 *
 *   !ci status [job]              servers, or one job as last seen
 *   !ci last <job>                the last completed build, from Jenkins
 *   !ci watch <job> [#channel]    announce a job in a channel (ci.admin)
 *   !ci unwatch <job> [#channel]  (ci.admin)
 *   !ci build <job> [k=v ...]     queue a build and follow it (ci.build)
 *   !zuul status <change|project>, !zuul builds <project> [n] (also as
 *   !ci zuul ...)
 *
 * A job may be written "server:job" when several Jenkins are configured.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ci.h"

static struct ci *ci_instance;

static const struct opsbot_config_key ci_config[] = {
    OPSBOT_CONFIG_KEY("poll_interval", OPSBOT_CONFIG_DURATION, "30s", 0, 1000,
		      86400000, "how often each Jenkins is polled"),
    OPSBOT_CONFIG_KEY("zuul_poll_interval", OPSBOT_CONFIG_DURATION, "30s", 0,
		      1000, 86400000, "how often each Zuul status is read"),
    OPSBOT_CONFIG_KEY("backoff_max", OPSBOT_CONFIG_DURATION, "10m", 0, 1000,
		      86400000,
		      "longest wait between polls of a server "
		      "that is down"),
    OPSBOT_CONFIG_KEY("still_failing_every", OPSBOT_CONFIG_DURATION, "1h", 0, 0,
		      0, "at most one \"still failing\" per job this often"),
    OPSBOT_CONFIG_KEY("channel_burst", OPSBOT_CONFIG_INT, "4", 0, 1, 1000,
		      "lines a channel gets at once before merging"),
    OPSBOT_CONFIG_KEY("channel_per_minute", OPSBOT_CONFIG_INT, "6", 0, 1, 6000,
		      "lines a channel gets per minute after the burst"),
    OPSBOT_CONFIG_KEY("flap_burst", OPSBOT_CONFIG_INT, "6", 0, 1, 1000,
		      "announcements of one job at once"),
    OPSBOT_CONFIG_KEY("flap_per_hour", OPSBOT_CONFIG_INT, "4", 0, 1, 3600,
		      "announcements of one job per hour after that"),
    OPSBOT_CONFIG_KEY("notice_channel", OPSBOT_CONFIG_STRING, NULL, 0, 0, 0,
		      "where outage notices go (default: the routes' "
		      "channels that take 'notice')"),
    OPSBOT_CONFIG_KEY("max_body", OPSBOT_CONFIG_INT, "262144", 0, 1024, 1048576,
		      "largest webhook body in bytes"),
    OPSBOT_CONFIG_KEY("concurrency", OPSBOT_CONFIG_INT, "4", 0, 1, 32,
		      "HTTP requests in flight"),
    OPSBOT_CONFIG_KEY("http_timeout", OPSBOT_CONFIG_DURATION, "20s", 0, 1000,
		      600000, "time limit of one HTTP request"),
    OPSBOT_CONFIG_END,
};

static const struct opsbot_config_key jenkins_keys[] = {
    OPSBOT_CONFIG_KEY("url", OPSBOT_CONFIG_STRING, NULL, 0, 0, 0,
		      "root URL (with its context path); none: webhooks only"),
    OPSBOT_CONFIG_KEY("user", OPSBOT_CONFIG_STRING, NULL, 0, 0, 0,
		      "user for Basic auth"),
    OPSBOT_CONFIG_KEY("token", OPSBOT_CONFIG_SECRET, NULL, 0, 0, 0,
		      "the user's API token (no crumbs needed)"),
    OPSBOT_CONFIG_KEY("password", OPSBOT_CONFIG_SECRET, NULL, 0, 0, 0,
		      "a password instead (POSTs fetch a crumb)"),
    OPSBOT_CONFIG_KEY("jobs", OPSBOT_CONFIG_LIST, "*", 0, 0, 0,
		      "job full-name patterns watched (\"team/*\")"),
    OPSBOT_CONFIG_KEY("folder", OPSBOT_CONFIG_STRING, NULL, 0, 0, 0,
		      "list only under this folder"),
    OPSBOT_CONFIG_KEY("depth", OPSBOT_CONFIG_INT, "2", 0, 0, 8,
		      "levels of sub-folders listed"),
    OPSBOT_CONFIG_KEY("poll", OPSBOT_CONFIG_BOOL, "true", 0, 0, 0,
		      "poll (false: webhooks only)"),
    OPSBOT_CONFIG_KEY("webhook_token", OPSBOT_CONFIG_SECRET, NULL, 0, 0, 0,
		      "token of /hooks/ci/jenkins/<name>?token=...; none: "
		      "no webhook route"),
    OPSBOT_CONFIG_END,
};

static const struct opsbot_config_key zuul_keys[] = {
    OPSBOT_CONFIG_KEY("url", OPSBOT_CONFIG_STRING, NULL, OPSBOT_CONFIG_REQUIRED,
		      0, 0, "web root, e.g. https://zuul.example.org/"),
    OPSBOT_CONFIG_KEY("tenant", OPSBOT_CONFIG_STRING, NULL, 0, 0, 0,
		      "tenant; none: a Zuul v2 status.json at the url"),
    OPSBOT_CONFIG_KEY("projects", OPSBOT_CONFIG_LIST, "*", 0, 0, 0,
		      "project patterns watched"),
    OPSBOT_CONFIG_KEY("pipelines", OPSBOT_CONFIG_LIST, "*", 0, 0, 0,
		      "pipeline patterns watched"),
    OPSBOT_CONFIG_END,
};

static const struct opsbot_config_key route_keys[] = {
    OPSBOT_CONFIG_KEY("channel", OPSBOT_CONFIG_STRING, NULL,
		      OPSBOT_CONFIG_REQUIRED, 0, 0, "where the lines go"),
    OPSBOT_CONFIG_KEY("servers", OPSBOT_CONFIG_LIST, "*", 0, 0, 0,
		      "server name patterns (jenkins and zuul sections)"),
    OPSBOT_CONFIG_KEY("jobs", OPSBOT_CONFIG_LIST, "*", 0, 0, 0,
		      "job or project patterns"),
    OPSBOT_CONFIG_KEY("pipelines", OPSBOT_CONFIG_LIST, "*", 0, 0, 0,
		      "Zuul pipeline patterns"),
    OPSBOT_CONFIG_KEY("events", OPSBOT_CONFIG_STRING,
		      "broken fixed failing aborted zuul-failed notice", 0, 0,
		      0,
		      "broken fixed failing aborted started zuul-failed "
		      "zuul-passed zuul-dequeued notice, or all"),
    OPSBOT_CONFIG_END,
};

static const struct opsbot_config_section ci_sections[] = {
    {.size = sizeof(struct opsbot_config_section),
     .kind = "jenkins",
     .help = "a Jenkins server",
     .keys = jenkins_keys,
     .max_count = 4},
    {.size = sizeof(struct opsbot_config_section),
     .kind = "zuul",
     .help = "a Zuul tenant (or v2 status.json)",
     .keys = zuul_keys,
     .max_count = 2},
    {.size = sizeof(struct opsbot_config_section),
     .kind = "route",
     .help = "which announcements go to a channel",
     .keys = route_keys},
    {0},
};

/* ------------------------------------------------------------------------ */
/* Configuration                                                             */

static char *section_name(const char *kind, const char *name)
{
	return sdk_xasprintf("%s.%s", kind, name);
}

static int conf_jenkins(struct ci *ci, int i, int service, struct sdk_buf *err)
{
	const struct opsbot_api *api = ci->api;
	const char *name = api->config_section_name(ci->self, "jenkins", i);
	char *sec = section_name("jenkins", name);
	struct ci_jserver *s = &ci->js[ci->njs++];
	const char *url = api->config_string(ci->self, sec, "url");
	const char *tok = api->config_secret(ci->self, sec, "webhook_token");
	int rc = 0;

	snprintf(s->name, sizeof(s->name), "%s", name);
	s->ci = ci;
	s->poll = api->config_bool(ci->self, sec, "poll");
	s->depth = (int)api->config_int(ci->self, sec, "depth");
	s->patterns = ci_strv_from_list(api, ci->self, sec, "jobs");
	s->folder =
	    sdk_xstrdup_or_null(api->config_string(ci->self, sec, "folder"));
	s->hook_token = tok && *tok ? sdk_xstrdup(tok) : NULL;
	snprintf(s->hook_path, sizeof(s->hook_path), "/hooks/ci/jenkins/%s",
		 name);
	if (url && *url) {
		struct sdk_jenkins_config c = {
		    .name = name,
		    .url = url,
		    .user = api->config_string(ci->self, sec, "user"),
		    .token = api->config_secret(ci->self, sec, "token"),
		    .password = api->config_secret(ci->self, sec, "password"),
		    .service = service,
		};

		if (sdk_jenkins_init(&s->jk, &ci->q, &c, err) < 0)
			rc = -1;
		else
			s->configured = 1;
	} else if (!s->hook_token) {
		sdk_buf_addf(err,
			     "[plugin.ci.jenkins.%s]: set url (to poll), "
			     "webhook_token (to receive webhooks), or both",
			     name);
		rc = -1;
	}
	free(sec);
	return rc;
}

static int conf_zuul(struct ci *ci, int i, int service, struct sdk_buf *err)
{
	const struct opsbot_api *api = ci->api;
	const char *name = api->config_section_name(ci->self, "zuul", i);
	char *sec = section_name("zuul", name);
	struct ci_zserver *z = &ci->zs[ci->nzs++];
	const char *url = api->config_string(ci->self, sec, "url");
	const char *tenant = api->config_string(ci->self, sec, "tenant");
	size_t n = url ? strlen(url) : 0;
	struct sdk_buf b = SDK_BUF_INIT;

	snprintf(z->name, sizeof(z->name), "%s", name);
	z->ci = ci;
	z->service = service;
	z->projects = ci_strv_from_list(api, ci->self, sec, "projects");
	z->pipelines = ci_strv_from_list(api, ci->self, sec, "pipelines");
	free(sec);
	if (!url ||
	    (strncmp(url, "http://", 7) && strncmp(url, "https://", 8))) {
		sdk_buf_addf(err, "[plugin.ci.zuul.%s]: url must be http(s)://",
			     name);
		return -1;
	}
	if (n > 11 && !strncmp(url + n - 11, "status.json", 11)) {
		/* a v2 (or early v3) status.json given whole */
		z->legacy = 1;
		z->status_url = sdk_xstrndup(url, n);
		z->url = sdk_xstrndup(url, n - 11);
	} else {
		z->url =
		    sdk_xasprintf("%s%s", url, url[n - 1] == '/' ? "" : "/");
		if (tenant && *tenant) {
			z->tenant = sdk_xstrdup(tenant);
			sdk_buf_addf(&b, "%sapi/tenant/", z->url);
			sdk_url_encode(&b, api, tenant);
			sdk_buf_adds(&b, "/status");
			z->status_url = sdk_buf_detach(&b);
		} else {
			z->legacy = 1;
			z->status_url = sdk_xasprintf("%sstatus.json", z->url);
		}
	}
	return 0;
}

static void route_add(struct ci *ci, const struct ci_route *r)
{
	ci->routes = sdk_xreallocarray(ci->routes, (size_t)ci->nroutes + 1,
				       sizeof(*ci->routes));
	ci->routes[ci->nroutes++] = *r;
}

static void route_clear(struct ci_route *r)
{
	free(r->channel);
	ci_strv_free(r->servers);
	ci_strv_free(r->jobs);
	ci_strv_free(r->pipelines);
}

static int valid_channel(const char *c)
{
	if (!c || (c[0] != '#' && c[0] != '&') || strlen(c) > 64)
		return 0;
	return !strpbrk(c, " ,\a\r\n\t:") && strspn(c + 1, "\x7f") == 0;
}

static int conf_route(struct ci *ci, int i, struct sdk_buf *err)
{
	const struct opsbot_api *api = ci->api;
	const char *name = api->config_section_name(ci->self, "route", i);
	char *sec = section_name("route", name);
	struct ci_route r = {0};
	const char *channel = api->config_string(ci->self, sec, "channel");
	long mask;
	struct sdk_buf why = SDK_BUF_INIT;

	mask = ci_event_mask(api->config_string(ci->self, sec, "events"), &why);
	if (mask < 0 || !valid_channel(channel)) {
		sdk_buf_addf(err, "[plugin.ci.route.%s]: %s", name,
			     mask < 0 ? sdk_buf_str(&why)
				      : "channel must be a #channel name");
		sdk_buf_release(&why);
		free(sec);
		return -1;
	}
	r.channel = sdk_xstrdup(channel);
	r.servers = ci_strv_from_list(api, ci->self, sec, "servers");
	r.jobs = ci_strv_from_list(api, ci->self, sec, "jobs");
	r.pipelines = ci_strv_from_list(api, ci->self, sec, "pipelines");
	r.events = (unsigned)mask;
	route_add(ci, &r);
	free(sec);
	return 0;
}

static int ci_configure(struct ci *ci, struct sdk_buf *err)
{
	const struct opsbot_api *api = ci->api;
	struct opsbot_plugin *self = ci->self;
	struct sdk_http_options opts = {0};
	int nj = api->config_section_count(self, "jenkins");
	int nz = api->config_section_count(self, "zuul");
	int nr = api->config_section_count(self, "route");

	ci->poll_ms =
	    (long)api->config_duration_ms(self, NULL, "poll_interval");
	ci->zuul_poll_ms =
	    (long)api->config_duration_ms(self, NULL, "zuul_poll_interval");
	ci->backoff_max_ms =
	    (long)api->config_duration_ms(self, NULL, "backoff_max");
	ci->failing_every_ms =
	    (long)api->config_duration_ms(self, NULL, "still_failing_every");
	ci->budget_burst = (long)api->config_int(self, NULL, "channel_burst");
	ci->budget_per_minute =
	    (long)api->config_int(self, NULL, "channel_per_minute");
	ci->flap_burst = (long)api->config_int(self, NULL, "flap_burst");
	ci->flap_per_hour = (long)api->config_int(self, NULL, "flap_per_hour");
	ci->max_body = (long)api->config_int(self, NULL, "max_body");
	ci->notice_channel = sdk_xstrdup_or_null(
	    api->config_string(self, NULL, "notice_channel"));
	if (ci->poll_ms <= 0)
		ci->poll_ms = 30000;
	if (ci->zuul_poll_ms <= 0)
		ci->zuul_poll_ms = 30000;
	if (ci->backoff_max_ms <= 0)
		ci->backoff_max_ms = 600000;
	if (ci->budget_burst <= 0)
		ci->budget_burst = 4;
	if (ci->budget_per_minute <= 0)
		ci->budget_per_minute = 6;
	if (ci->flap_burst <= 0)
		ci->flap_burst = 6;
	if (ci->flap_per_hour <= 0)
		ci->flap_per_hour = 4;
	if (ci->max_body <= 0)
		ci->max_body = 262144;
	if (ci->notice_channel && *ci->notice_channel &&
	    !valid_channel(ci->notice_channel)) {
		sdk_buf_adds(err, "notice_channel must be a #channel name");
		return -1;
	}
	if (nj + nz > CI_MAX_SERVERS) {
		sdk_buf_addf(err, "at most %d jenkins and zuul sections",
			     CI_MAX_SERVERS);
		return -1;
	}
	opts.concurrency = (int)api->config_int(self, NULL, "concurrency");
	opts.max_attempts = 3;
	opts.backoff_base_ms = 500;
	opts.backoff_max_ms = 5000;
	opts.timeout_ms =
	    (long)api->config_duration_ms(self, NULL, "http_timeout");
	sdk_http_queue_init(&ci->q, self, api, &opts);
	for (int i = 0; i < nj; i++) {
		struct sdk_http_service svc = {0};
		int id;

		svc.name = api->config_section_name(self, "jenkins", i);
		id = sdk_http_service_add(&ci->q, &svc);
		if (conf_jenkins(ci, i, id, err) < 0)
			return -1;
	}
	for (int i = 0; i < nz; i++) {
		struct sdk_http_service svc = {0};
		int id;

		svc.name = api->config_section_name(self, "zuul", i);
		id = sdk_http_service_add(&ci->q, &svc);
		if (conf_zuul(ci, i, id, err) < 0)
			return -1;
	}
	for (int i = 0; i < nr; i++)
		if (conf_route(ci, i, err) < 0)
			return -1;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Watches made in chat: "w/<channel>\t<job>"                               */

static void watch_route(struct ci *ci, const char *channel, const char *job)
{
	struct ci_route r = {0};
	char *one[2] = {(char *)job, NULL};

	r.channel = sdk_xstrdup(channel);
	r.servers = ci_strv_split("*");
	r.jobs = ci_strv_split(one[0]);
	r.pipelines = NULL;
	r.events = CI_EV_DEFAULT | (1u << CI_EV_ZUUL_FAILED);
	r.dynamic = 1;
	route_add(ci, &r);
}

static int load_watch(const char *key, const void *value, size_t len,
		      void *data)
{
	struct ci *ci = data;
	const char *tab = strchr(key + 2, '\t');
	char *channel;

	(void)value;
	(void)len;
	if (!tab)
		return 0;
	channel = sdk_xstrndup(key + 2, (size_t)(tab - key - 2));
	watch_route(ci, channel, tab + 1);
	free(channel);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Commands                                                                  */

/* A job name typed by someone: text, no control characters. */
static int valid_job(const char *s)
{
	size_t n = strlen(s);

	if (!n || n > 200)
		return 0;
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

/* "server:job" or "job" -> the server (NULL after an error reply). */
static struct ci_jserver *pick_server(struct ci *ci, struct opsbot_request *req,
				      const char *arg, const char **job)
{
	const char *colon = strchr(arg, ':');
	struct ci_jserver *s = NULL;

	*job = arg;
	if (colon) {
		char name[40];

		snprintf(name, sizeof(name), "%.*s",
			 (int)(colon - arg < 39 ? colon - arg : 39), arg);
		s = ci_jserver_find(ci, name);
		if (s)
			*job = colon + 1;
	}
	if (!s) {
		/* the server whose table knows the job, else the first */
		for (int i = 0; i < ci->njs && !s; i++)
			if (ci_job_find(&ci->js[i], arg))
				s = &ci->js[i];
		if (!s)
			s = ci_jserver_find(ci, NULL);
	}
	if (!s) {
		ci->api->reply_error(req, "ci: no [plugin.ci.jenkins.*] server "
					  "is configured");
		return NULL;
	}
	if (!valid_job(*job)) {
		ci->api->reply_error(req, "ci: a job name is 1 to 200 "
					  "characters of text");
		return NULL;
	}
	return s;
}

static const char *result_word(enum sdk_jenkins_result r)
{
	switch (r) {
	case SDK_JENKINS_SUCCESS:
		return "success";
	case SDK_JENKINS_FAILURE:
		return "failure";
	case SDK_JENKINS_UNSTABLE:
		return "unstable";
	case SDK_JENKINS_ABORTED:
		return "aborted";
	case SDK_JENKINS_NOT_BUILT:
		return "not built";
	case SDK_JENKINS_NONE:
		return "none yet";
	default:
		return "unknown";
	}
}

/*
 * From a shell (no polling there): one listing per server, read only -
 * nothing is recorded, so the daemon still announces what changed.
 */
struct cli_status {
	struct ci *ci;
	struct opsbot_request *req;
	int waiting, failed;
};

static void cli_status_end(struct cli_status *cs)
{
	if (--cs->waiting == 0) {
		cs->ci->api->done(cs->req, cs->failed ? OPSBOT_ERR : OPSBOT_OK);
		free(cs);
	}
}

struct cli_server {
	struct cli_status *cs;
	struct ci_jserver *s;
};

static void cli_listed(const char *error, const struct sdk_jenkins_job_list *l,
		       void *data)
{
	struct cli_server *c = data;
	struct ci *ci = c->cs->ci;
	struct sdk_buf line = SDK_BUF_INIT;
	int n = 0, failing = 0;

	if (error && !strcmp(error, "cancelled")) {
		/* the host ends the request itself: only our memory goes */
		if (--c->cs->waiting == 0)
			free(c->cs);
		free(c);
		return;
	}
	if (error) {
		ci->api->reply_error(c->cs->req, "%s", error);
		c->cs->failed = 1;
	} else {
		for (int i = 0; i < l->njobs; i++) {
			const struct sdk_jenkins_job *j = &l->jobs[i];
			enum sdk_jenkins_result r = j->last_completed.result;

			if (j->kind == SDK_JENKINS_FOLDER ||
			    !ci_match_any(c->s->patterns, j->full_name))
				continue;
			n++;
			if (r != SDK_JENKINS_FAILURE &&
			    r != SDK_JENKINS_UNSTABLE)
				continue;
			sdk_buf_adds(&line, failing++ ? ", " : ": ");
			if (failing <= 10)
				ci_clean(&line, j->full_name, 60);
		}
		ci->api->reply(c->cs->req, "jenkins %s: %d jobs, %d failing%s",
			       c->s->name, n, failing, sdk_buf_str(&line));
	}
	sdk_buf_release(&line);
	cli_status_end(c->cs);
	free(c);
}

static int cli_status(struct ci *ci, struct opsbot_request *req)
{
	struct cli_status *cs = sdk_xcalloc(1, sizeof(*cs));

	cs->ci = ci;
	cs->req = req;
	cs->waiting = 1;
	for (int i = 0; i < ci->njs; i++) {
		struct ci_jserver *s = &ci->js[i];
		struct cli_server *c;

		if (!s->configured) {
			ci->api->reply(req, "jenkins %s: webhooks only",
				       s->name);
			continue;
		}
		c = sdk_xcalloc(1, sizeof(*c));
		c->cs = cs;
		c->s = s;
		cs->waiting++;
		sdk_jenkins_list(&s->jk, s->folder, s->depth, cli_listed, c);
	}
	cli_status_end(cs);
	return OPSBOT_PENDING;
}

static int cmd_status(struct opsbot_plugin *self, struct opsbot_request *req,
		      void *data)
{
	struct ci *ci = data;

	(void)self;
	if (req->argc == 1) {
		const char *job;
		struct ci_jserver *s = pick_server(ci, req, req->argv[0], &job);
		struct ci_job *j = s ? ci_job_find(s, job) : NULL;
		struct sdk_buf line = SDK_BUF_INIT;

		if (!s)
			return OPSBOT_ERR;
		if (!j) {
			ci->api->reply_error(req,
					     "ci: %s is not watched on jenkins "
					     "%s (see its jobs patterns; try "
					     "!ci last for any job)",
					     job, s->name);
			return OPSBOT_ERR;
		}
		ci_clean(&line, j->name, 120);
		if (j->number)
			sdk_buf_addf(&line, ": last #%ld %s", j->number,
				     result_word(j->last));
		else
			sdk_buf_adds(&line, ": no completed build seen");
		if (j->duration_ms > 0) {
			sdk_buf_adds(&line, " in ");
			ci_duration(&line, j->duration_ms);
		}
		if (j->last == SDK_JENKINS_ABORTED && j->prev)
			sdk_buf_addf(&line, " (before: %s)",
				     result_word(j->prev));
		if (j->building)
			sdk_buf_adds(&line, "; building now");
		sdk_buf_addf(&line, " (jenkins %s)", s->name);
		ci->api->reply(req, "%s", sdk_buf_str(&line));
		sdk_buf_release(&line);
		return OPSBOT_OK;
	}
	if (!ci->njs && !ci->nzs) {
		ci->api->reply(req, "ci: no server configured");
		return OPSBOT_OK;
	}
	if (ci->api->mode() == OPSBOT_MODE_CLI && ci->njs)
		return cli_status(ci, req);
	for (int i = 0; i < ci->njs; i++) {
		struct ci_jserver *s = &ci->js[i];
		struct sdk_buf line = SDK_BUF_INIT;
		int failing = 0, shown = 0;

		sdk_buf_addf(&line, "jenkins %s: %zu jobs", s->name, s->njobs);
		for (size_t b = 0; b < s->nbuckets; b++)
			for (struct ci_job *j = s->table[b]; j; j = j->next)
				if (j->prev == SDK_JENKINS_FAILURE ||
				    j->prev == SDK_JENKINS_UNSTABLE)
					failing++;
		sdk_buf_addf(&line, ", %d failing", failing);
		for (size_t b = 0; b < s->nbuckets && shown < 5; b++)
			for (struct ci_job *j = s->table[b]; j && shown < 5;
			     j = j->next)
				if (j->prev == SDK_JENKINS_FAILURE ||
				    j->prev == SDK_JENKINS_UNSTABLE) {
					sdk_buf_adds(&line,
						     shown++ ? ", " : ": ");
					ci_clean(&line, j->name, 60);
				}
		if (s->out.down)
			sdk_buf_adds(&line, "; unreachable now");
		else if (!s->configured)
			sdk_buf_adds(&line, "; webhooks only");
		else if (!s->polled_once)
			sdk_buf_adds(&line, "; not polled yet");
		ci->api->reply(req, "%s", sdk_buf_str(&line));
		sdk_buf_release(&line);
	}
	for (int i = 0; i < ci->nzs; i++) {
		struct ci_zserver *z = &ci->zs[i];
		int n = 0;

		for (struct ci_zitem *it = z->items; it; it = it->next)
			if (it->generation >= 0)
				n++;
		ci->api->reply(req, "zuul %s: %d items in pipelines%s", z->name,
			       n,
			       z->out.down	 ? "; unreachable now"
			       : !z->polled_once ? "; not polled yet"
						 : "");
	}
	return OPSBOT_OK;
}

struct last_req {
	struct ci *ci;
	struct opsbot_request *req;
	char *job;
};

static void last_fn(const char *error, const struct sdk_jenkins_build *b,
		    void *data)
{
	struct last_req *l = data;
	struct ci *ci = l->ci;

	if (error && !strcmp(error, "cancelled")) {
		/* the host ends the request itself */
	} else if (error) {
		ci->api->reply_error(l->req, "%s", error);
		ci->api->done(l->req, OPSBOT_ERR);
	} else {
		struct sdk_buf line = SDK_BUF_INIT, item = SDK_BUF_INIT;
		enum ci_event ev = b->result == SDK_JENKINS_SUCCESS ? CI_EV_NONE
				   : b->result == SDK_JENKINS_ABORTED
				       ? CI_EV_ABORTED
				       : CI_EV_BROKEN;

		ci_format_build(&line, &item, ev, l->job, b);
		/* "broken" is a transition; here it is only the result */
		ci->api->reply(l->req, "%s (%s)", sdk_buf_str(&line),
			       result_word(b->result));
		ci->api->done(l->req, OPSBOT_OK);
		sdk_buf_release(&line);
		sdk_buf_release(&item);
	}
	free(l->job);
	free(l);
}

static int cmd_last(struct opsbot_plugin *self, struct opsbot_request *req,
		    void *data)
{
	struct ci *ci = data;
	const char *job;
	struct ci_jserver *s = pick_server(ci, req, req->argv[0], &job);
	struct last_req *l;

	(void)self;
	if (!s)
		return OPSBOT_ERR;
	if (!s->configured) {
		ci->api->reply_error(req,
				     "ci: jenkins %s has no url (webhooks "
				     "only)",
				     s->name);
		return OPSBOT_ERR;
	}
	l = sdk_xcalloc(1, sizeof(*l));
	l->ci = ci;
	l->req = req;
	l->job = sdk_xstrdup(job);
	sdk_jenkins_build(&s->jk, job, SDK_JENKINS_LAST_COMPLETED, last_fn, l);
	return OPSBOT_PENDING;
}

static int cmd_watch(struct opsbot_plugin *self, struct opsbot_request *req,
		     void *data)
{
	struct ci *ci = data;
	int unwatch = !strcmp(req->command, "unwatch");
	const char *job = req->argv[0];
	const char *channel = req->argc > 1 ? req->argv[1] : req->channel;
	struct sdk_buf key = SDK_BUF_INIT;

	(void)self;
	if (!valid_job(job) || strchr(job, '\t')) {
		ci->api->reply_error(req, "ci: a job name is 1 to 200 "
					  "characters of text");
		return OPSBOT_ERR;
	}
	if (!valid_channel(channel)) {
		ci->api->reply_error(req,
				     "ci: name a #channel (%s <job> "
				     "#channel)",
				     req->command);
		return OPSBOT_ERR;
	}
	sdk_buf_addf(&key, "w/%s\t%s", channel, job);
	if (unwatch) {
		int found = 0;

		for (int i = 0; i < ci->nroutes; i++) {
			struct ci_route *r = &ci->routes[i];

			if (r->dynamic && !strcmp(r->channel, channel) &&
			    r->jobs[0] && !strcmp(r->jobs[0], job)) {
				route_clear(r);
				memmove(r, r + 1,
					(size_t)(ci->nroutes - i - 1) *
					    sizeof(*r));
				ci->nroutes--;
				found = 1;
				break;
			}
		}
		if (!found) {
			sdk_buf_release(&key);
			ci->api->reply_error(req,
					     "ci: %s is not watched in %s "
					     "(only what !ci watch added "
					     "can be unwatched)",
					     job, channel);
			return OPSBOT_ERR;
		}
		ci->api->state_delete(ci->self, key.buf);
		ci->api->reply(req, "no longer announcing %s in %s", job,
			       channel);
	} else {
		for (int i = 0; i < ci->nroutes; i++) {
			struct ci_route *r = &ci->routes[i];

			if (r->dynamic && !strcmp(r->channel, channel) &&
			    r->jobs[0] && !strcmp(r->jobs[0], job)) {
				sdk_buf_release(&key);
				ci->api->reply(req,
					       "%s is already announced "
					       "in %s",
					       job, channel);
				return OPSBOT_OK;
			}
		}
		if (key.len > 256 || ci->api->state_set(ci->self, key.buf, "1",
							1) != OPSBOT_OK) {
			sdk_buf_release(&key);
			ci->api->reply_error(req, "ci: could not record the "
						  "watch; nothing changed");
			return OPSBOT_ERR;
		}
		watch_route(ci, channel, job);
		ci->api->reply(req,
			       "announcing %s in %s (broken, fixed, still "
			       "failing, aborted)",
			       job, channel);
	}
	sdk_buf_release(&key);
	return OPSBOT_OK;
}

struct build_req {
	struct ci *ci;
	struct ci_jserver *s;
	struct opsbot_request *req;
	char *job;
	struct sdk_jenkins_follow *follow;
};

static void build_follow_fn(const struct sdk_jenkins_follow_update *u,
			    void *data)
{
	struct build_req *br = data;
	struct ci *ci = br->ci;
	struct sdk_buf url = SDK_BUF_INIT;

	if (u->url)
		ci_clean(&url, u->url, 200);
	switch (u->event) {
	case SDK_JENKINS_FOLLOW_QUEUED:
		if (u->why) {
			struct sdk_buf why = SDK_BUF_INIT;

			ci_clean(&why, u->why, 120);
			ci->api->reply(br->req, "queue item %ld waits: %s",
				       u->queue_id, sdk_buf_str(&why));
			sdk_buf_release(&why);
		}
		break;
	case SDK_JENKINS_FOLLOW_STARTED:
		ci->api->reply(br->req, "%s #%ld started: %s", br->job,
			       u->number, sdk_buf_str(&url));
		break;
	case SDK_JENKINS_FOLLOW_FINISHED: {
		struct sdk_buf d = SDK_BUF_INIT;

		ci_duration(&d, u->build->duration_ms);
		ci->api->reply(br->req, "%s #%ld finished: %s in %s: %s",
			       br->job, u->number,
			       result_word(u->build->result), sdk_buf_str(&d),
			       sdk_buf_str(&url));
		sdk_buf_release(&d);
		ci->api->done(br->req, u->build->result == SDK_JENKINS_SUCCESS
					   ? OPSBOT_OK
					   : OPSBOT_ERR);
		break;
	}
	case SDK_JENKINS_FOLLOW_CANCELLED:
		ci->api->reply_error(br->req,
				     "%s: queue item %ld was cancelled",
				     br->job, u->queue_id);
		ci->api->done(br->req, OPSBOT_ERR);
		break;
	case SDK_JENKINS_FOLLOW_ERROR:
		if (strcmp(u->error, "cancelled")) {
			ci->api->reply_error(br->req, "%s", u->error);
			ci->api->done(br->req, OPSBOT_ERR);
		}
		break;
	}
	sdk_buf_release(&url);
	if (u->event >= SDK_JENKINS_FOLLOW_FINISHED) {
		free(br->job);
		free(br);
	}
}

static void build_queued_fn(const char *error, long code,
			    const struct sdk_jenkins_queued *q, void *data)
{
	struct build_req *br = data;
	struct ci *ci = br->ci;
	const struct sdk_jenkins_follow_options o = {.poll_ms = 5000};

	(void)code;
	if (error) {
		if (strcmp(error, "cancelled")) {
			ci->api->reply_error(br->req, "%s", error);
			ci->api->done(br->req, OPSBOT_ERR);
		}
		free(br->job);
		free(br);
		return;
	}
	if (!q->queue_id) {
		ci->api->reply(br->req,
			       "%s queued (Jenkins gave no queue "
			       "item to follow)",
			       br->job);
		ci->api->done(br->req, OPSBOT_OK);
		free(br->job);
		free(br);
		return;
	}
	ci->api->reply(br->req, "%s queued as item %ld%s", br->job, q->queue_id,
		       q->existing ? " (the same build was already queued)"
				   : "");
	br->follow = sdk_jenkins_follow_start(&br->s->jk, br->job, q->queue_id,
					      0, &o, build_follow_fn, br);
}

static int cmd_build(struct opsbot_plugin *self, struct opsbot_request *req,
		     void *data)
{
	struct ci *ci = data;
	const char *job;
	struct ci_jserver *s = pick_server(ci, req, req->argv[0], &job);
	const char **params;
	int np = 0;
	struct build_req *br;

	(void)self;
	if (!s)
		return OPSBOT_ERR;
	if (!s->configured) {
		ci->api->reply_error(req,
				     "ci: jenkins %s has no url (webhooks "
				     "only)",
				     s->name);
		return OPSBOT_ERR;
	}
	params = sdk_xcalloc((size_t)req->argc * 2 + 2, sizeof(char *));
	for (int i = 1; i < req->argc; i++) {
		const char *a = req->argv[i];
		const char *eq = strchr(a, '=');
		size_t n = eq ? (size_t)(eq - a) : 0;

		if (!eq || !n ||
		    strspn(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghij"
			      "klmnopqrstuvwxyz0123456789_.-") != n) {
			for (int k = 0; k < np; k++)
				free((char *)params[2 * k]);
			free(params);
			ci->api->reply_error(req, "ci: parameters are "
						  "name=value (name: letters, "
						  "digits, _ . -)");
			return OPSBOT_ERR;
		}
		params[2 * np] = sdk_xstrndup(a, n);
		params[2 * np + 1] = eq + 1;
		np++;
	}
	br = sdk_xcalloc(1, sizeof(*br));
	br->ci = ci;
	br->s = s;
	br->req = req;
	br->job = sdk_xstrdup(job);
	sdk_jenkins_trigger(&s->jk, job, params, np, build_queued_fn, br);
	for (int k = 0; k < np; k++)
		free((char *)params[2 * k]);
	free(params);
	return OPSBOT_PENDING;
}

static int cmd_zuul(struct opsbot_plugin *self, struct opsbot_request *req,
		    void *data)
{
	(void)self;
	return ci_zuul_cmd(data, req);
}

static const struct opsbot_command ci_commands[] = {
    OPSBOT_COMMAND("status", "[job]",
		   "servers and failing jobs, or one job as last seen", NULL, 0,
		   1, cmd_status, NULL),
    OPSBOT_COMMAND("last", "<job>",
		   "the last completed build of a job, asked from Jenkins",
		   NULL, 1, 1, cmd_last, NULL),
    OPSBOT_COMMAND("watch", "<job pattern> [#channel]",
		   "announce a job's results in a channel (kept)", "ci.admin",
		   1, 2, cmd_watch, NULL),
    OPSBOT_COMMAND("unwatch", "<job pattern> [#channel]",
		   "stop what watch started", "ci.admin", 1, 2, cmd_watch,
		   NULL),
    OPSBOT_COMMAND("build", "<job> [name=value ...]",
		   "queue a build, then say when it starts and ends",
		   "ci.build", 1, 20, cmd_build, NULL),
    OPSBOT_COMMAND("zuul", "status <change|project> | builds <project> [n]",
		   "where a change stands in Zuul, or a project's last builds",
		   NULL, 2, 3, cmd_zuul, NULL),
};

/* ------------------------------------------------------------------------ */

static void ci_free(struct ci *ci)
{
	ci_jenkins_free(ci);
	ci_zuul_free(ci);
	for (int i = 0; i < ci->nroutes; i++)
		route_clear(&ci->routes[i]);
	free(ci->routes);
	ci_chans_free(ci);
	free(ci->notice_channel);
	free(ci);
}

static int ci_init(struct opsbot_plugin *self, const struct opsbot_api *api)
{
	struct ci *ci = sdk_xcalloc(1, sizeof(*ci));
	struct sdk_buf err = SDK_BUF_INIT;

	ci->self = self;
	ci->api = api;
	if (ci_configure(ci, &err) < 0) {
		api->log(self, OPSBOT_LOG_ERROR, "%s", sdk_buf_str(&err));
		sdk_buf_release(&err);
		ci_free(ci);
		return OPSBOT_ERR;
	}
	if (api->mode() == OPSBOT_MODE_CHECK) {
		ci_free(ci);
		return OPSBOT_OK;
	}
	for (size_t i = 0; i < sizeof(ci_commands) / sizeof(ci_commands[0]);
	     i++) {
		struct opsbot_command cmd = ci_commands[i];

		cmd.data = ci;
		if (api->command_add(self, &cmd) != OPSBOT_OK) {
			api->log(self, OPSBOT_LOG_ERROR,
				 "cannot register !ci %s", cmd.name);
			ci_free(ci);
			return OPSBOT_ERR;
		}
	}
	if (api->mode() == OPSBOT_MODE_DAEMON)
		for (int i = 0; i < ci->njs; i++) {
			struct ci_jserver *s = &ci->js[i];
			struct opsbot_webhook_route r = {
			    .size = sizeof(r),
			    .method = "POST",
			    .path = s->hook_path,
			    .fn = ci_jenkins_webhook,
			    .data = s,
			    .max_body_bytes = (size_t)ci->max_body,
			    .rate_per_minute = 6000,
			    .burst = 500,
			};

			if (!s->hook_token)
				continue;
			if (api->webhook_add(self, &r) != OPSBOT_OK) {
				api->log(self, OPSBOT_LOG_ERROR,
					 "cannot add the webhook route %s",
					 s->hook_path);
				ci_free(ci);
				return OPSBOT_ERR;
			}
		}
	api->state_each(self, "w/", load_watch, ci);
	ci_jenkins_start(ci);
	ci_zuul_start(ci);
	ci_instance = ci;
	return OPSBOT_OK;
}

static void ci_fini(struct opsbot_plugin *self)
{
	struct ci *ci = ci_instance;

	(void)self;
	if (!ci)
		return;
	ci->closing = 1;
	sdk_http_queue_cancel_all(&ci->q);
	ci_instance = NULL;
	ci_free(ci);
}

/* "!zuul status x" is "!ci zuul status x". */
static const char *const ci_extra_words[] = {"zuul", NULL};

OPSBOT_EXPORT const struct opsbot_plugin_descriptor opsbot_plugin = {
    .abi_major = OPSBOT_ABI_MAJOR,
    .abi_minor = OPSBOT_ABI_MINOR,
    .size = sizeof(struct opsbot_plugin_descriptor),
    .name = "ci",
    .version = "1.0.0",
    .description = "Jenkins and Zuul results announced in channels, and "
		   "build status on demand",
    .command = "ci",
    .config = ci_config,
    .sections = ci_sections,
    .init = ci_init,
    .fini = ci_fini,
    .extra_words = ci_extra_words,
};

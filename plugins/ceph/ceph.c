/*
 * ceph.c - the ceph plugin's loop side: tiny Ceph dev clusters on libvirt.
 * Configuration, the chat commands (also `opsbot run ceph ...`), the
 * SQLite ledger of every domain and volume made (recorded before each is
 * created, so nothing is ever left unrecorded), quotas, ownership, TTL
 * expiry, cloud-init seeds (cloud-localds from argv), the Ansible
 * inventory and the provision command.  Every libvirt call is in virt.c,
 * on host jobs.
 *
 *   !ceph templates                      !ceph list / show <cluster>
 *   !ceph create <cluster> [nodes=3] [osds=2] [osd-size=10G]
 *         [template=<name>] [ttl=48h] [start=yes] [host=<name>]
 *   !ceph disk add <node> [size] / disk rm <node> <target>
 *   !ceph start|stop <cluster>          !ceph destroy <cluster> (--yes)
 *   !ceph reprovision <cluster> (--yes) !ceph extend <cluster> <ttl>
 *   !ceph inventory <cluster>
 */
#include "ceph.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "sdk_parse.h"
#include "sdk_text.h"

const struct opsbot_api *ceph_bot;
struct opsbot_plugin *ceph_self;
#define bot ceph_bot
#define self ceph_self

static struct ceph_cfg *cfg;
static struct ceph_op *active; /* ops running, for the busy check */

/* Clusters whose stop or destroy ended lately: the STOPPED event of their
 * own doing may reach the loop just after the command's end. */
struct recent {
	char cluster[64];
	int64_t at;
	struct recent *next;
};
static struct recent *recent;
#define RECENT_MS 10000
static int64_t ttl_timer;

/* ---- small helpers ---- */

int ceph_name_ok(const char *s, size_t max)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > max || s[0] < 'a' || s[0] > 'z' || s[n - 1] == '-')
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return 0;
	return 1;
}

void ceph_fmt_size(char *out, size_t n, unsigned long long b)
{
	static const char u[] = "BKMGTP";
	double v = (double)b;
	int i = 0;

	while (v >= 1024 && i < 5) {
		v /= 1024;
		i++;
	}
	if (i == 0)
		snprintf(out, n, "%lluB", b);
	else if (v == (double)(long long)v)
		snprintf(out, n, "%lld%c", (long long)v, u[i]);
	else
		snprintf(out, n, "%.1f%c", v, u[i]);
}

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void fmt_dur(char *out, size_t n, long long ms)
{
	long long s = ms / 1000;

	if (s < 0)
		s = 0;
	if (s >= 86400)
		snprintf(out, n, "%lldd%lldh", s / 86400, s % 86400 / 3600);
	else if (s >= 3600)
		snprintf(out, n, "%lldh%02lldm", s / 3600, s % 3600 / 60);
	else if (s >= 60)
		snprintf(out, n, "%lldm", s / 60);
	else
		snprintf(out, n, "%llds", s);
}

static const char *asker(const struct opsbot_request *req)
{
	return req->account ? req->account : req->nick;
}

static sqlite3 *db(void)
{
	return bot->store(self);
}

/* ---- configuration ---- */

static void cfg_free(struct ceph_cfg *c)
{
	int i;

	while (c) {
		struct ceph_cfg *o = c->older;

		for (i = 0; i < c->nconn; i++) {
			free(c->conn[i].name);
			free(c->conn[i].uri);
			free(c->conn[i].pool);
		}
		free(c->conn);
		for (i = 0; i < c->ntpl; i++)
			free(c->tpl[i]);
		free(c->tpl);
		for (i = 0; i < c->nkeys; i++)
			free(c->ssh_keys[i]);
		free(c->ssh_keys);
		free(c);
		c = o;
	}
}

static struct ceph_cfg *cfg_load(char **err)
{
	struct ceph_cfg *c = sdk_xcalloc(1, sizeof(*c));
	const char *clone = bot->config_string(self, NULL, "clone");
	int i, n = bot->config_section_count(self, "host");

	if (clone && strcmp(clone, "full") && strcmp(clone, "overlay")) {
		*err = sdk_xasprintf("[plugin.ceph] clone must be full or "
				     "overlay, not '%s'",
				     clone);
		free(c);
		return NULL;
	}
	c->overlay = clone && !strcmp(clone, "overlay");
	if (n > 0) {
		c->nconn = n;
		c->conn = sdk_xcalloc((size_t)n, sizeof(*c->conn));
		for (i = 0; i < n; i++) {
			const char *name =
			    bot->config_section_name(self, "host", i);
			char sec[64];

			snprintf(sec, sizeof(sec), "host.%s", name);
			c->conn[i].name = sdk_xstrdup(name);
			c->conn[i].uri =
			    sdk_xstrdup(bot->config_string(self, sec, "uri"));
			c->conn[i].pool =
			    sdk_xstrdup(bot->config_string(self, sec, "pool"));
		}
	} else {
		c->nconn = 1;
		c->conn = sdk_xcalloc(1, sizeof(*c->conn));
		c->conn[0].name = sdk_xstrdup("local");
		c->conn[0].uri =
		    sdk_xstrdup(bot->config_string(self, NULL, "uri"));
		c->conn[0].pool =
		    sdk_xstrdup(bot->config_string(self, NULL, "pool"));
	}
	for (i = 0; i < c->nconn; i++)
		if (!c->conn[i].uri || !*c->conn[i].uri || !c->conn[i].pool ||
		    !ceph_name_ok(c->conn[i].pool, 100) ||
		    strchr(c->conn[i].pool, '/')) {
			*err = sdk_xasprintf("host %s: uri and a pool name "
					     "([a-z0-9-]) are needed",
					     c->conn[i].name);
			cfg_free(c);
			return NULL;
		}
	c->ntpl = bot->config_list_count(self, NULL, "template");
	c->tpl = sdk_xcalloc((size_t)c->ntpl + 1, sizeof(char *));
	for (i = 0; i < c->ntpl; i++) {
		const char *t =
		    bot->config_list_item(self, NULL, "template", i);

		c->tpl[i] = sdk_xstrdup(t);
		if (!ceph_name_ok(t, 63)) {
			*err =
			    sdk_xasprintf("[plugin.ceph] template '%s' is not "
					  "a valid domain name ([a-z0-9-])",
					  t);
			cfg_free(c);
			return NULL;
		}
	}
	c->nkeys = bot->config_list_count(self, NULL, "ssh_key");
	c->ssh_keys = sdk_xcalloc((size_t)c->nkeys + 1, sizeof(char *));
	for (i = 0; i < c->nkeys; i++)
		c->ssh_keys[i] = sdk_xstrdup(
		    bot->config_list_item(self, NULL, "ssh_key", i));
	c->stop_timeout_ms =
	    bot->config_duration_ms(self, NULL, "stop_timeout");
	c->detach_wait_ms = bot->config_duration_ms(self, NULL, "detach_wait");
	{
		uint64_t q;
		struct sdk_buf e = SDK_BUF_INIT;
		const char *qd = bot->config_string(self, NULL, "quota_disk");

		if (qd && sdk_size_parse(qd, &q, &e) < 0) {
			*err = sdk_xasprintf("[plugin.ceph] quota_disk: %s",
					     sdk_buf_str(&e));
			sdk_buf_release(&e);
			cfg_free(c);
			return NULL;
		}
		sdk_buf_release(&e);
	}
	return c;
}

static unsigned long long quota_disk(void)
{
	uint64_t q = 0;
	struct sdk_buf e = SDK_BUF_INIT;
	const char *qd = bot->config_string(self, NULL, "quota_disk");

	if (qd)
		sdk_size_parse(qd, &q, &e);
	sdk_buf_release(&e);
	return q;
}

/* ---- the store ---- */

static const char *const schema[] = {
    "CREATE TABLE ceph_clusters ("
    " name TEXT PRIMARY KEY, owner TEXT NOT NULL, channel TEXT,"
    " template TEXT NOT NULL, nodes INTEGER NOT NULL, osds INTEGER NOT NULL,"
    " osd_size INTEGER NOT NULL, pin TEXT, start INTEGER NOT NULL,"
    " created_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL,"
    " warned INTEGER NOT NULL DEFAULT 0, state TEXT NOT NULL, error TEXT);"
    "CREATE TABLE ceph_resources ("
    " cluster TEXT NOT NULL, kind TEXT NOT NULL, uri TEXT NOT NULL,"
    " pool TEXT NOT NULL, name TEXT NOT NULL, node TEXT NOT NULL,"
    " role TEXT NOT NULL, size INTEGER NOT NULL DEFAULT 0,"
    " PRIMARY KEY (kind, uri, pool, name));"
    "CREATE INDEX ceph_resources_cluster ON ceph_resources(cluster);",
    /* Which process is creating or destroying it: a `opsbot run` killed
     * mid-create leaves a row whose process is gone (partial). */
    "ALTER TABLE ceph_clusters ADD COLUMN pid INTEGER NOT NULL DEFAULT 0;",
    /* And when that process started ("<boot id>/<start ticks>"): a pid
     * reused by an unrelated process does not look like it. */
    "ALTER TABLE ceph_clusters ADD COLUMN pid_start TEXT NOT NULL DEFAULT "
    "'';",
};

static int exec_sql(const char *sql, const char *fmt, ...)
{
	/* fmt: one letter per parameter, s (string) or i (int64). */
	sqlite3_stmt *st;
	va_list ap;
	int i, rc;

	if (sqlite3_prepare_v2(db(), sql, -1, &st, NULL) != SQLITE_OK) {
		bot->log(self, OPSBOT_LOG_ERROR, "sql: %s",
			 sqlite3_errmsg(db()));
		return -1;
	}
	va_start(ap, fmt);
	for (i = 0; fmt[i]; i++) {
		if (fmt[i] == 's')
			sqlite3_bind_text(st, i + 1, va_arg(ap, const char *),
					  -1, SQLITE_TRANSIENT);
		else
			sqlite3_bind_int64(st, i + 1, va_arg(ap, long long));
	}
	va_end(ap);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		bot->log(self, OPSBOT_LOG_ERROR, "sql: %s",
			 sqlite3_errmsg(db()));
		return -1;
	}
	return 0;
}

struct cluster {
	char name[64], owner[128], channel[128], tpl[64], pin[64], state[16];
	char error[300];
	int nodes, osds, start, warned;
	long long osd_size, created_ms, expires_ms, pid;
	char pid_start[80];
};

static int busy(const char *cluster);

/*
 * When process pid started: "<boot id>/<start time in clock ticks since
 * boot>" (field 22 of /proc/<pid>/stat), or "" if it cannot be read.
 * With the pid, it names one process: a reused pid has another start.
 */
int ceph_proc_start(long long pid, char *out, size_t n)
{
	char path[64], buf[1024], boot[64] = "", *p;
	unsigned long long start = 0;
	ssize_t len;
	int fd, i;

	out[0] = 0;
	snprintf(path, sizeof(path), "/proc/%lld/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	len = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (len <= 0)
		return -1;
	buf[len] = 0;
	/* The name (field 2) may hold spaces and ')': after the last ')'
	 * come fields 3, 4, ...; the start time is field 22. */
	p = strrchr(buf, ')');
	if (!p)
		return -1;
	for (i = 3; i <= 22 && p; i++)
		p = strchr(p + 1, ' ');
	if (!p || sscanf(p + 1, "%llu", &start) != 1)
		return -1;
	fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		len = read(fd, boot, sizeof(boot) - 1);
		close(fd);
		boot[len > 0 ? len : 0] = 0;
		boot[strcspn(boot, "\n")] = 0;
	}
	snprintf(out, n, "%s/%llu", boot, start);
	return 0;
}

/* This process's start, for the rows it marks creating or destroying. */
static const char *my_start(void)
{
	static char s[80];

	if (!s[0])
		ceph_proc_start((long long)getpid(), s, sizeof(s));
	return s;
}

/* A create or destroy running in another live process (an `opsbot run`
 * next to the daemon)?  Its pid alive is not enough: the pid may have
 * been reused since, so the start time must match too (rows written
 * before it was recorded have none: the pid alone counts). */
static int other_process(const struct cluster *c)
{
	char now[80];

	if ((strcmp(c->state, "creating") && strcmp(c->state, "destroying")) ||
	    c->pid <= 0 || c->pid == (long long)getpid())
		return 0;
	if (kill((pid_t)c->pid, 0) < 0 && errno != EPERM)
		return 0;
	if (!c->pid_start[0])
		return 1;
	return ceph_proc_start(c->pid, now, sizeof(now)) == 0 &&
	       !strcmp(now, c->pid_start);
}

/* The state to show: "creating" or "destroying" whose process is gone
 * (killed) is partial. */
static const char *state_of(const struct cluster *c)
{
	if ((!strcmp(c->state, "creating") ||
	     !strcmp(c->state, "destroying")) &&
	    !other_process(c) && !busy(c->name))
		return "partial";
	return c->state;
}

static void col(char *out, size_t n, sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	snprintf(out, n, "%s", t ? (const char *)t : "");
}

#define CLUSTER_COLS                                                           \
	"name, owner, channel, template, pin, state, error, nodes, osds,"      \
	" start, warned, osd_size, created_ms, expires_ms, pid, pid_start"

static void cluster_row(sqlite3_stmt *st, struct cluster *c)
{
	col(c->name, sizeof(c->name), st, 0);
	col(c->owner, sizeof(c->owner), st, 1);
	col(c->channel, sizeof(c->channel), st, 2);
	col(c->tpl, sizeof(c->tpl), st, 3);
	col(c->pin, sizeof(c->pin), st, 4);
	col(c->state, sizeof(c->state), st, 5);
	col(c->error, sizeof(c->error), st, 6);
	c->nodes = sqlite3_column_int(st, 7);
	c->osds = sqlite3_column_int(st, 8);
	c->start = sqlite3_column_int(st, 9);
	c->warned = sqlite3_column_int(st, 10);
	c->osd_size = sqlite3_column_int64(st, 11);
	c->created_ms = sqlite3_column_int64(st, 12);
	c->expires_ms = sqlite3_column_int64(st, 13);
	c->pid = sqlite3_column_int64(st, 14);
	col(c->pid_start, sizeof(c->pid_start), st, 15);
}

/* 1 found, 0 not, -1 error. */
static int cluster_get(const char *name, struct cluster *c)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(db(),
			       "SELECT " CLUSTER_COLS
			       " FROM ceph_clusters WHERE name = ?",
			       -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		cluster_row(st, c);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

/* Loads the resources of cluster (and only node's if node): domains
 * first. */
static int res_load(struct ceph_op *op, const char *cluster, const char *node)
{
	sqlite3_stmt *st;
	int n = 0;

	if (sqlite3_prepare_v2(
		db(),
		"SELECT kind, uri, pool, name, node, role, size FROM "
		"ceph_resources WHERE cluster = ?1 AND (?2 IS NULL OR node = "
		"?2) "
		"ORDER BY kind = 'dom' DESC, node, rowid",
		-1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(st, 1, cluster, -1, SQLITE_TRANSIENT);
	if (node)
		sqlite3_bind_text(st, 2, node, -1, SQLITE_TRANSIENT);
	while (sqlite3_step(st) == SQLITE_ROW) {
		struct ceph_res *r;

		op->res = sdk_xreallocarray(op->res, (size_t)n + 1, sizeof(*r));
		r = &op->res[n++];
		memset(r, 0, sizeof(*r));
		col(r->kind, sizeof(r->kind), st, 0);
		col(r->uri, sizeof(r->uri), st, 1);
		col(r->pool, sizeof(r->pool), st, 2);
		col(r->name, sizeof(r->name), st, 3);
		col(r->node, sizeof(r->node), st, 4);
		col(r->role, sizeof(r->role), st, 5);
		r->size = (unsigned long long)sqlite3_column_int64(st, 6);
	}
	sqlite3_finalize(st);
	op->nres = n;
	return n;
}

static long long count_sql(const char *sql, const char *arg)
{
	sqlite3_stmt *st;
	long long v = 0;

	if (sqlite3_prepare_v2(db(), sql, -1, &st, NULL) != SQLITE_OK)
		return 0;
	if (arg)
		sqlite3_bind_text(st, 1, arg, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* ---- ops ---- */

static struct ceph_op *op_new(enum ceph_op_kind kind,
			      struct opsbot_request *req, const char *cluster)
{
	struct ceph_op *op = sdk_xcalloc(1, sizeof(*op));

	op->kind = kind;
	op->req = req;
	op->cfg = cfg;
	op->t0 = bot->now_ms();
	snprintf(op->cluster, sizeof(op->cluster), "%s",
		 cluster ? cluster : "");
	if (req) {
		snprintf(op->owner, sizeof(op->owner), "%s", asker(req));
		if (req->channel)
			snprintf(op->channel, sizeof(op->channel), "%s",
				 req->channel);
	}
	return op;
}

static void recent_mark(const char *cluster)
{
	struct recent **p, *r;
	int64_t now = bot->now_ms();

	for (p = &recent; (r = *p);)
		if (now - r->at > RECENT_MS || !strcmp(r->cluster, cluster)) {
			*p = r->next;
			free(r);
		} else
			p = &r->next;
	r = sdk_xcalloc(1, sizeof(*r));
	snprintf(r->cluster, sizeof(r->cluster), "%s", cluster);
	r->at = now;
	r->next = recent;
	recent = r;
}

static int recent_within(const char *cluster)
{
	struct recent *r;

	for (r = recent; r; r = r->next)
		if (!strcmp(r->cluster, cluster))
			return bot->now_ms() - r->at <= RECENT_MS;
	return 0;
}

static void op_free(struct ceph_op *op)
{
	struct ceph_op **p;

	/* The ops that stop nodes: their STOPPED events are not news. */
	if (op->cluster[0] && (op->kind == OP_STOP || op->kind == OP_DESTROY))
		recent_mark(op->cluster);
	for (p = &active; *p; p = &(*p)->next)
		if (*p == op) {
			*p = op->next;
			break;
		}
	free(op->nv);
	free(op->res);
	free(op->err);
	sdk_buf_release(&op->out);
	free(op);
}

/* Puts op on the active list (once). */
static void op_track(struct ceph_op *op)
{
	struct ceph_op *o;

	for (o = active; o; o = o->next)
		if (o == op)
			return;
	op->next = active;
	active = op;
}

static int busy(const char *cluster)
{
	struct ceph_op *o;

	for (o = active; o; o = o->next)
		if (o->cluster[0] && !strcmp(o->cluster, cluster))
			return 1;
	return 0;
}

/* Says a line where the op's answers go. */
static void op_say(struct ceph_op *op, int error, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void op_say(struct ceph_op *op, int error, const char *fmt, ...)
{
	struct sdk_buf b = SDK_BUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	sdk_buf_vaddf(&b, fmt, ap);
	va_end(ap);
	if (op->req && error)
		bot->reply_error(op->req, "%s", sdk_buf_str(&b));
	else if (op->req)
		bot->reply(op->req, "%s", sdk_buf_str(&b));
	else if (op->channel[0])
		bot->say(self, op->channel, "%s", sdk_buf_str(&b));
	else
		bot->log(self, error ? OPSBOT_LOG_WARN : OPSBOT_LOG_INFO, "%s",
			 sdk_buf_str(&b));
	sdk_buf_release(&b);
}

/* Replies each line of op->out. */
static void op_say_out(struct ceph_op *op)
{
	char *s = sdk_xstrdup(sdk_buf_str(&op->out)), *save = NULL, *l;

	for (l = strtok_r(s, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
		op_say(op, 0, "%s", l);
	free(s);
}

static void op_end(struct ceph_op *op, int status)
{
	if (op->req)
		bot->done(op->req, status);
	op_free(op);
}

static void on_job_message(struct opsbot_plugin *pl, const void *msg,
			   size_t len, void *data)
{
	struct ceph_op *op = data;
	const struct ceph_msg *m = msg;
	const struct ceph_res *r = &m->res;

	if (len != sizeof(*m))
		return;
	switch (m->type) {
	case MSG_REC:
		if (exec_sql("INSERT OR REPLACE INTO ceph_resources (cluster, "
			     "kind, uri, pool, name, node, role, size) VALUES "
			     "(?, ?, ?, ?, ?, ?, ?, ?)",
			     "sssssssi", op->cluster, r->kind, r->uri, r->pool,
			     r->name, r->node, r->role, (long long)r->size) < 0)
			bot->log(self, OPSBOT_LOG_ERROR,
				 "could not record %s %s", r->kind, r->name);
		break;
	case MSG_UNREC:
		exec_sql(
		    "DELETE FROM ceph_resources WHERE kind = ? AND uri = ? "
		    "AND pool = ? AND name = ?",
		    "ssss", r->kind, r->uri, r->pool, r->name);
		break;
	case MSG_PROGRESS:
		if (op->channel[0])
			bot->say_progress(self, op->channel, op->cluster, 0,
					  "%s", m->text);
		break;
	}
}

static void on_job_done(struct opsbot_plugin *pl, int status, void *data);

static int op_start(struct ceph_op *op, const char *name)
{
	struct opsbot_job_options jo = {
	    .size = sizeof(jo),
	    .work = cv_work,
	    .done = on_job_done,
	    .message = on_job_message,
	    .name = name,
	    .unload_policy = (op->kind == OP_SHOW || op->kind == OP_TEMPLATES)
				 ? OPSBOT_UNLOAD_CANCEL
				 : OPSBOT_UNLOAD_DRAIN,
	};

	op->job = bot->job_start(self, &jo, op);
	if (op->job < 0) {
		op_say(op, 1, "ceph: cannot start a job (%d)", (int)op->job);
		return -1;
	}
	op_track(op);
	return 0;
}

/* ---- data dir: seeds and the inventory ---- */

static char *cluster_dir(const char *cluster)
{
	return sdk_xasprintf(
	    "%s/%s", bot->config_string(self, NULL, "data_dir"), cluster);
}

static int mkdirs(const char *path)
{
	char *p = sdk_xstrdup(path), *s;

	for (s = p + 1; *s; s++)
		if (*s == '/') {
			*s = 0;
			if (mkdir(p, 0700) < 0 && errno != EEXIST) {
				free(p);
				return -1;
			}
			*s = '/';
		}
	free(p);
	return mkdir(path, 0700) < 0 && errno != EEXIST ? -1 : 0;
}

/* Removes the cluster's dir: its files only (names are ours). */
static void cluster_dir_remove(const char *cluster)
{
	char *d = cluster_dir(cluster);
	DIR *dir = opendir(d);
	struct dirent *e;

	while (dir && (e = readdir(dir))) {
		char *p;

		if (e->d_name[0] == '.')
			continue;
		p = sdk_xasprintf("%s/%s", d, e->d_name);
		unlink(p);
		free(p);
	}
	if (dir)
		closedir(dir);
	rmdir(d);
	free(d);
}

static int write_file(const char *path, const char *text)
{
	char *tmp = sdk_xasprintf("%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	size_t n = strlen(text);
	int rc = -1;

	if (fd >= 0) {
		if (write(fd, text, n) == (ssize_t)n && fsync(fd) == 0)
			rc = 0;
		close(fd);
		if (rc == 0 && rename(tmp, path) < 0)
			rc = -1;
	}
	if (rc < 0)
		unlink(tmp);
	free(tmp);
	return rc;
}

static void yaml_quoted(struct sdk_buf *b, const char *s)
{
	sdk_buf_adds(b, "\"");
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			sdk_buf_adds(b, "\\");
		if ((unsigned char)*s >= 0x20)
			sdk_buf_add(b, s, 1);
	}
	sdk_buf_adds(b, "\"");
}

/* Writes user-data and meta-data for a node; 0 or -1. */
static int seed_inputs(const char *dir, const char *node, int64_t stamp)
{
	struct sdk_buf u = SDK_BUF_INIT, m = SDK_BUF_INIT;
	char *pu = sdk_xasprintf("%s/%s-user-data", dir, node);
	char *pm = sdk_xasprintf("%s/%s-meta-data", dir, node);
	int i, rc;

	sdk_buf_addf(&u,
		     "#cloud-config\nhostname: %s\nfqdn: %s\n"
		     "manage_etc_hosts: true\n",
		     node, node);
	if (cfg->nkeys) {
		sdk_buf_adds(&u, "ssh_authorized_keys:\n");
		for (i = 0; i < cfg->nkeys; i++) {
			sdk_buf_adds(&u, "  - ");
			yaml_quoted(&u, cfg->ssh_keys[i]);
			sdk_buf_adds(&u, "\n");
		}
	}
	sdk_buf_addf(&m, "instance-id: %s-%lld\nlocal-hostname: %s\n", node,
		     (long long)stamp, node);
	rc = write_file(pu, sdk_buf_str(&u)) | write_file(pm, sdk_buf_str(&m));
	sdk_buf_release(&u);
	sdk_buf_release(&m);
	free(pu);
	free(pm);
	return rc;
}

static void write_inventory(struct ceph_op *op)
{
	struct sdk_buf b = SDK_BUF_INIT;
	char *d = cluster_dir(op->cluster), *p;
	int i;

	sdk_buf_addf(&b,
		     "# Ceph cluster %s (owner %s, template %s), written by "
		     "opsbot\n[all]\n",
		     op->cluster, op->owner, op->tpl);
	for (i = 0; i < op->nodes; i++) {
		const struct ceph_node *n = &op->nv[i];
		char devs[300], *s;

		if (!n->made)
			continue;
		snprintf(devs, sizeof(devs), "%s", n->osd_devs);
		for (s = devs; *s; s++)
			if (*s == ',')
				*s = ' ';
		sdk_buf_addf(&b, "%s", n->name);
		if (n->addrs[0]) {
			char a[64], *c;

			snprintf(a, sizeof(a), "%.63s", n->addrs);
			if ((c = strchr(a, ',')))
				*c = 0;
			sdk_buf_addf(&b, " ansible_host=%s", a);
		}
		sdk_buf_addf(&b, " hypervisor=%s osd_devices=\"%s\"\n",
			     op->cfg->conn[n->conn].name, devs);
	}
	sdk_buf_adds(&b, "\n[mons]\n");
	for (i = 0; i < op->nodes && i < 3; i++)
		if (op->nv[i].made)
			sdk_buf_addf(&b, "%s\n", op->nv[i].name);
	sdk_buf_adds(&b, "\n[osds]\n");
	for (i = 0; i < op->nodes; i++)
		if (op->nv[i].made)
			sdk_buf_addf(&b, "%s\n", op->nv[i].name);
	p = sdk_xasprintf("%s/inventory.ini", d);
	if (mkdirs(d) < 0 || write_file(p, sdk_buf_str(&b)) < 0)
		op_say(op, 1, "ceph: %s: could not write the inventory %s",
		       op->cluster, p);
	free(p);
	free(d);
	sdk_buf_release(&b);
}

/* ---- create ---- */

static void create_begin_job(struct ceph_op *op);

static void create_fail_early(struct ceph_op *op, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void create_fail_early(struct ceph_op *op, const char *fmt, ...)
{
	struct sdk_buf b = SDK_BUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	sdk_buf_vaddf(&b, fmt, ap);
	va_end(ap);
	/* Nothing was made: the cluster row goes. */
	exec_sql("DELETE FROM ceph_clusters WHERE name = ?", "s", op->cluster);
	cluster_dir_remove(op->cluster);
	op_say(op, 1, "ceph: create %s: %s", op->cluster, sdk_buf_str(&b));
	sdk_buf_release(&b);
	op_end(op, OPSBOT_ERR);
}

static void seed_next(struct ceph_op *op, int i);

static void on_seed_exit(struct opsbot_plugin *pl,
			 const struct opsbot_process_event *ev, void *data)
{
	struct ceph_op *op = data;
	int i = op->seed_i;

	if (ev->kind != OPSBOT_PROCESS_EXIT)
		return;
	if (ev->status != OPSBOT_OK || ev->exit_code != 0) {
		create_fail_early(op,
				  "cloud-localds failed for %s (exit %d); "
				  "nothing was created",
				  i < op->nodes ? op->nv[i].name : "?",
				  ev->exit_code);
		return;
	}
	seed_next(op, i + 1);
}

/* Builds the seed of node i, then i + 1, then starts the job. */
static void seed_next(struct ceph_op *op, int i)
{
	char *d, *ud, *md;
	int64_t id;

	if (i >= op->nodes) {
		create_begin_job(op);
		return;
	}
	d = cluster_dir(op->cluster);
	ud = sdk_xasprintf("%s/%s-user-data", d, op->nv[i].name);
	md = sdk_xasprintf("%s/%s-meta-data", d, op->nv[i].name);
	snprintf(op->nv[i].seed_path, sizeof(op->nv[i].seed_path),
		 "%s/%s-seed.iso", d, op->nv[i].name);
	{
		const char *argv[] = {"cloud-localds", op->nv[i].seed_path, ud,
				      md, NULL};
		struct opsbot_process_options po = {
		    .size = sizeof(po),
		    .argv = argv,
		    .timeout_ms = 60000,
		    .name = "cloud-localds",
		    .unload_policy = OPSBOT_UNLOAD_CANCEL,
		};

		if (seed_inputs(d, op->nv[i].name, wall_ms()) < 0) {
			free(d);
			free(ud);
			free(md);
			create_fail_early(op, "cannot write the cloud-init "
					      "seed inputs in data_dir");
			return;
		}
		op->seed_i = i;
		id = bot->process_start(self, &po, on_seed_exit, op);
	}
	free(d);
	free(ud);
	free(md);
	if (id == OPSBOT_ENOENT)
		create_fail_early(op, "cloud-localds not found (install "
				      "cloud-image-utils, or set cloud_init = "
				      "no); nothing was created");
	else if (id < 0)
		create_fail_early(op, "cannot run cloud-localds (%d)", (int)id);
}

static void create_begin_job(struct ceph_op *op)
{
	char nm[96];

	op->kind = OP_CREATE;
	snprintf(nm, sizeof(nm), "create %s", op->cluster);
	if (op_start(op, nm) < 0) {
		exec_sql(
		    "UPDATE ceph_clusters SET state = 'partial' WHERE name "
		    "= ?",
		    "s", op->cluster);
		op_end(op, OPSBOT_ERR);
		return;
	}
	op_say(op, 0, "ceph: creating %s: %d node%s x %d OSD%s from %s%s",
	       op->cluster, op->nodes, op->nodes == 1 ? "" : "s", op->osds,
	       op->osds == 1 ? "" : "s", op->tpl,
	       op->cfg->overlay ? " (overlay clones)" : "");
}

static int create_prepare(struct ceph_op *op, int64_t ttl_ms)
{
	int i;
	int64_t now = wall_ms();

	if (exec_sql(
		"INSERT INTO ceph_clusters (name, owner, channel, template,"
		" nodes, osds, osd_size, pin, start, created_ms, "
		"expires_ms, state, pid, pid_start) VALUES (?, ?, ?, ?, ?, ?, "
		"?, ?, ?, ?, ?, 'creating', ?, ?)",
		"ssssiiisiiiis", op->cluster, op->owner, op->channel, op->tpl,
		(long long)op->nodes, (long long)op->osds,
		(long long)op->osd_size, op->pin, (long long)op->start,
		(long long)now, (long long)(now + ttl_ms), (long long)getpid(),
		my_start()) < 0) {
		op_say(op, 1, "ceph: create %s: could not record the cluster",
		       op->cluster);
		return -1;
	}
	op->nv = sdk_xcalloc((size_t)op->nodes, sizeof(*op->nv));
	for (i = 0; i < op->nodes; i++)
		snprintf(op->nv[i].name, sizeof(op->nv[i].name), "%.40s-%02d",
			 op->cluster, i + 1);
	return 0;
}

static void create_go(struct ceph_op *op)
{
	char *d;

	if (!bot->config_bool(self, NULL, "cloud_init")) {
		create_begin_job(op);
		return;
	}
	d = cluster_dir(op->cluster);
	if (mkdirs(d) < 0) {
		free(d);
		create_fail_early(op, "cannot create %s/%s (data_dir)",
				  bot->config_string(self, NULL, "data_dir"),
				  op->cluster);
		return;
	}
	free(d);
	seed_next(op, 0);
}

static int parse_kv(struct opsbot_request *req, const char *arg,
		    const char *key, const char **val)
{
	size_t n = strlen(key);

	if (strncmp(arg, key, n) || arg[n] != '=')
		return 0;
	*val = arg + n + 1;
	return 1;
}

/* Checks the asker's quotas for a new cluster (or disk); 0 or -1 with
 * the reply sent. */
static int quota_ok(struct opsbot_request *req, const char *owner,
		    int new_clusters, int new_nodes,
		    unsigned long long new_disk)
{
	long long qc = bot->config_int(self, NULL, "quota_clusters");
	long long qn = bot->config_int(self, NULL, "quota_nodes");
	unsigned long long qd = quota_disk();
	long long c = count_sql("SELECT count(*) FROM ceph_clusters WHERE "
				"owner = ?",
				owner);
	long long n = count_sql("SELECT coalesce(sum(nodes), 0) FROM "
				"ceph_clusters WHERE owner = ?",
				owner);
	unsigned long long d = (unsigned long long)count_sql(
	    "SELECT coalesce(sum(r.size), 0) FROM ceph_resources r JOIN "
	    "ceph_clusters c ON c.name = r.cluster WHERE c.owner = ?",
	    owner);
	char a[32], b[32];

	if (qc > 0 && c + new_clusters > qc) {
		bot->reply_error(req,
				 "ceph: quota exceeded: %s has %lld of %lld "
				 "clusters; destroy one first",
				 owner, c, qc);
		return -1;
	}
	if (qn > 0 && n + new_nodes > qn) {
		bot->reply_error(req,
				 "ceph: quota exceeded: %s has %lld of %lld "
				 "nodes, %d more asked",
				 owner, n, qn, new_nodes);
		return -1;
	}
	if (qd > 0 && d + new_disk > qd) {
		ceph_fmt_size(a, sizeof(a), d + new_disk);
		ceph_fmt_size(b, sizeof(b), qd);
		bot->reply_error(
		    req,
		    "ceph: quota exceeded: %s would have %s of OSD "
		    "disk, the quota is %s",
		    owner, a, b);
		return -1;
	}
	return 0;
}

static int cmd_create(struct opsbot_plugin *pl, struct opsbot_request *req,
		      void *data)
{
	struct ceph_op *op;
	const char *v, *name = req->argv[0];
	long long ttl = bot->config_duration_ms(self, NULL, "default_ttl");
	long long max_ttl = bot->config_duration_ms(self, NULL, "max_ttl");
	struct sdk_buf e = SDK_BUF_INIT;
	uint64_t sz;
	struct cluster c;
	int i, t;

	if (!ceph_name_ok(name, 24)) {
		bot->reply_error(req,
				 "ceph: bad cluster name '%.40s': 1-24 of "
				 "a-z, 0-9 and '-', starting with a letter",
				 name);
		return OPSBOT_ERR;
	}
	op = op_new(OP_CREATE, req, name);
	op->nodes = 3;
	op->osds = 2;
	op->osd_size = 10ULL << 30;
	op->start = 1;
	if (cfg->ntpl)
		snprintf(
		    op->tpl, sizeof(op->tpl), "%s",
		    bot->config_string(self, NULL, "default_template")
			? bot->config_string(self, NULL, "default_template")
			: cfg->tpl[0]);
	for (i = 1; i < req->argc; i++) {
		const char *a = req->argv[i];
		char *end;

		if (parse_kv(req, a, "nodes", &v) ||
		    parse_kv(req, a, "osds", &v)) {
			long n = strtol(v, &end, 10);
			int is_nodes = a[0] == 'n';
			long max = bot->config_int(
			    self, NULL, is_nodes ? "max_nodes" : "max_osds");

			if (!*v || *end || n < (is_nodes ? 1 : 0) || n > max) {
				bot->reply_error(req,
						 "ceph: %s must be %d..%ld",
						 is_nodes ? "nodes" : "osds",
						 is_nodes ? 1 : 0, max);
				goto bad;
			}
			if (is_nodes)
				op->nodes = (int)n;
			else
				op->osds = (int)n;
		} else if (parse_kv(req, a, "osd-size", &v)) {
			sdk_buf_reset(&e);
			if (sdk_size_parse(v, &sz, &e) < 0 ||
			    sz < (1ULL << 20)) {
				bot->reply_error(req, "ceph: osd-size: %s",
						 e.len ? sdk_buf_str(&e)
						       : "at least 1M");
				goto bad;
			}
			op->osd_size = sz;
		} else if (parse_kv(req, a, "template", &v)) {
			snprintf(op->tpl, sizeof(op->tpl), "%.63s", v);
		} else if (parse_kv(req, a, "ttl", &v)) {
			sdk_buf_reset(&e);
			if (sdk_duration_parse(v, &ttl, &e) < 0 || ttl <= 0) {
				bot->reply_error(req, "ceph: ttl: %s",
						 e.len ? sdk_buf_str(&e)
						       : "must be positive");
				goto bad;
			}
		} else if (parse_kv(req, a, "start", &v)) {
			if (!strcmp(v, "yes") || !strcmp(v, "true"))
				op->start = 1;
			else if (!strcmp(v, "no") || !strcmp(v, "false"))
				op->start = 0;
			else {
				bot->reply_error(req, "ceph: start=yes or no");
				goto bad;
			}
		} else if (parse_kv(req, a, "host", &v)) {
			for (t = 0; t < cfg->nconn; t++)
				if (!strcmp(cfg->conn[t].name, v))
					break;
			if (t == cfg->nconn) {
				bot->reply_error(
				    req, "ceph: unknown host '%.40s'", v);
				goto bad;
			}
			snprintf(op->pin, sizeof(op->pin), "%s", v);
		} else {
			bot->reply_error(
			    req,
			    "ceph: unknown option '%.40s' (nodes=, "
			    "osds=, osd-size=, template=, ttl=, "
			    "start=, host=)",
			    a);
			goto bad;
		}
	}
	sdk_buf_release(&e);
	if (max_ttl > 0 && ttl > max_ttl) {
		char m[32];

		fmt_dur(m, sizeof(m), max_ttl);
		bot->reply_error(req, "ceph: ttl is at most %s (max_ttl)", m);
		op_free(op);
		return OPSBOT_ERR;
	}
	for (t = 0; t < cfg->ntpl; t++)
		if (!strcmp(cfg->tpl[t], op->tpl))
			break;
	if (!op->tpl[0] || t == cfg->ntpl) {
		bot->reply_error(req,
				 "ceph: unknown template '%s'; see !ceph "
				 "templates",
				 op->tpl);
		op_free(op);
		return OPSBOT_ERR;
	}
	if (busy(name) || cluster_get(name, &c) != 0) {
		bot->reply_error(req,
				 "ceph: name taken: cluster %s exists; pick "
				 "another name or destroy it",
				 name);
		op_free(op);
		return OPSBOT_ERR;
	}
	if (quota_ok(req, op->owner, 1, op->nodes,
		     (unsigned long long)op->nodes * (unsigned)op->osds *
			 op->osd_size) < 0) {
		op_free(op);
		return OPSBOT_ERR;
	}
	if (create_prepare(op, ttl) < 0) {
		op_free(op);
		return OPSBOT_ERR;
	}
	/* Busy from now on, also while the seeds are built. */
	op_track(op);
	create_go(op);
	return OPSBOT_PENDING;
bad:
	sdk_buf_release(&e);
	op_free(op);
	return OPSBOT_ERR;
}

/* ---- provision ---- */

static void on_provision(struct opsbot_plugin *pl,
			 const struct opsbot_process_event *ev, void *data)
{
	struct ceph_op *op = data;

	if (ev->kind != OPSBOT_PROCESS_EXIT) {
		char *l = sdk_text_clean_str(ev->line, SDK_TEXT_SQUEEZE, 400);

		if (op->req && !op->channel[0])
			bot->reply(op->req, "provision %s: %s", op->cluster, l);
		else if (op->channel[0])
			bot->say_grouped(self, op->channel, "provision",
					 "provision %s: %s", op->cluster, l);
		free(l);
		return;
	}
	if (ev->status == OPSBOT_OK && ev->exit_code == 0) {
		op_say(op, 0, "ceph: %s provisioned", op->cluster);
		op_end(op, OPSBOT_OK);
	} else {
		op_say(op, 1,
		       "ceph: %s: provision_command failed (%s %d); the "
		       "nodes are up, run it again by hand with the "
		       "inventory",
		       op->cluster,
		       ev->status == OPSBOT_ETIMEDOUT ? "timed out, exit"
						      : "exit",
		       ev->exit_code);
		op_end(op, OPSBOT_ERR);
	}
}

/* Runs provision_command with the inventory path; 1 if started. */
static int provision(struct ceph_op *op)
{
	const char *cmd = bot->config_string(self, NULL, "provision_command");
	char *copy, *save = NULL, *w, *inv, *d;
	const char *argv[34];
	int n = 0;
	int64_t id;
	struct opsbot_process_options po = {
	    .size = sizeof(po),
	    .argv = argv,
	    .name = "provision_command",
	    .unload_policy = OPSBOT_UNLOAD_CANCEL,
	};

	if (!cmd || !*cmd)
		return 0;
	po.timeout_ms =
	    (long)bot->config_duration_ms(self, NULL, "provision_timeout");
	copy = sdk_xstrdup(cmd);
	for (w = strtok_r(copy, " \t", &save); w && n < 32;
	     w = strtok_r(NULL, " \t", &save))
		argv[n++] = w;
	d = cluster_dir(op->cluster);
	inv = sdk_xasprintf("%s/inventory.ini", d);
	argv[n++] = inv;
	argv[n] = NULL;
	po.cwd = d;
	id = bot->process_start(self, &po, on_provision, op);
	free(copy);
	free(inv);
	free(d);
	if (id < 0) {
		op_say(op, 1, "ceph: %s: cannot run provision_command (%s)",
		       op->cluster,
		       id == OPSBOT_ENOENT ? "no such program" : "error");
		return -1;
	}
	op_say(op, 0, "ceph: %s: running provision_command", op->cluster);
	return 1;
}

/* ---- job ends ---- */

static void create_done(struct ceph_op *op, int status)
{
	int i, made = 0;
	char secs[32];

	for (i = 0; i < op->nodes; i++)
		made += op->nv[i].made;
	snprintf(secs, sizeof(secs), "%.1f s",
		 (double)(bot->now_ms() - op->t0) / 1000.0);
	if (op->channel[0])
		bot->progress_end(self, op->channel, op->cluster);
	if (status != OPSBOT_OK && !op->err)
		op->err = sdk_xstrdup("cancelled (the bot is stopping)");
	if (op->err) {
		exec_sql(
		    "UPDATE ceph_clusters SET state = 'partial', error = ? "
		    "WHERE name = ?",
		    "ss", op->err, op->cluster);
		op_say(op, 1,
		       "ceph: create %s failed after %s (%d of %d nodes made): "
		       "%s; `destroy %s` removes what was made",
		       op->cluster, secs, made, op->nodes, op->err,
		       op->cluster);
		op_end(op, OPSBOT_ERR);
		return;
	}
	exec_sql("UPDATE ceph_clusters SET state = 'ready', error = NULL WHERE "
		 "name = ?",
		 "s", op->cluster);
	write_inventory(op);
	{
		struct sdk_buf hosts = SDK_BUF_INIT;
		int j;

		for (j = 0; j < op->cfg->nconn; j++) {
			int cnt = 0;

			for (i = 0; i < op->nodes; i++)
				cnt += op->nv[i].conn == j;
			if (cnt)
				sdk_buf_addf(&hosts, "%s%s x%d",
					     hosts.len ? ", " : "",
					     op->cfg->conn[j].name, cnt);
		}
		op_say(op, 0,
		       "ceph: %s ready in %s: %d node%s (%s), %d OSD%s each%s",
		       op->cluster, secs, op->nodes, op->nodes == 1 ? "" : "s",
		       sdk_buf_str(&hosts), op->osds, op->osds == 1 ? "" : "s",
		       op->start ? ", started" : ", not started");
		sdk_buf_release(&hosts);
	}
	/* Busy ends with the create; provisioning holds the request only. */
	if (provision(op) == 1) {
		struct ceph_op **p;

		for (p = &active; *p; p = &(*p)->next)
			if (*p == op) {
				*p = op->next;
				break;
			}
		op->next = NULL;
		return;
	}
	op_end(op, OPSBOT_OK);
}

static void create_from_row(struct ceph_op *op, const struct cluster *c);

static void destroy_done(struct ceph_op *op, int status)
{
	long long left = count_sql("SELECT count(*) FROM ceph_resources WHERE "
				   "cluster = ?",
				   op->cluster);

	if (status != OPSBOT_OK && !op->err)
		op->err = sdk_xstrdup("cancelled (the bot is stopping)");
	if (op->err || left) {
		exec_sql(
		    "UPDATE ceph_clusters SET state = 'partial', error = ? "
		    "WHERE name = ?",
		    "ss", op->err ? op->err : "resources left", op->cluster);
		op_say(op, 1,
		       "ceph: destroy %s incomplete (%lld resource%s left): "
		       "%s; run destroy again",
		       op->cluster, left, left == 1 ? "" : "s",
		       op->err ? op->err : "unknown");
		op_end(op, OPSBOT_ERR);
		return;
	}
	{
		struct cluster c;
		int have = cluster_get(op->cluster, &c) == 1;

		exec_sql("DELETE FROM ceph_clusters WHERE name = ?", "s",
			 op->cluster);
		cluster_dir_remove(op->cluster);
		int i, nd = 0;

		for (i = 0; i < op->nres; i++)
			nd += !strcmp(op->res[i].kind, "dom");
		op_say(op, 0, "ceph: %s destroyed (%d domain%s, %d volume%s)",
		       op->cluster, nd, nd == 1 ? "" : "s", op->nres - nd,
		       op->nres - nd == 1 ? "" : "s");
		if (op->then_create && have) {
			struct ceph_op *nop =
			    op_new(OP_CREATE, op->req, c.name);

			op->req = NULL;
			op_free(op);
			create_from_row(nop, &c);
			return;
		}
	}
	op_end(op, OPSBOT_OK);
}

static void on_job_done(struct opsbot_plugin *pl, int status, void *data)
{
	struct ceph_op *op = data;

	if (status != OPSBOT_OK && !op->err)
		op->err = sdk_xstrdup(status == OPSBOT_ETIMEDOUT
					  ? "timed out"
					  : "cancelled (the bot is stopping)");
	switch (op->kind) {
	case OP_CREATE:
		create_done(op, status);
		return;
	case OP_DESTROY:
		destroy_done(op, status);
		return;
	default:
		break;
	}
	if (op->out.len)
		op_say_out(op);
	if (op->err)
		op_say(op, 1, "ceph: %s", op->err);
	op_end(op, op->err ? OPSBOT_ERR : OPSBOT_OK);
}

/* ---- commands ---- */

static int cmd_templates(struct opsbot_plugin *pl, struct opsbot_request *req,
			 void *data)
{
	struct ceph_op *op = op_new(OP_TEMPLATES, req, NULL);

	if (op_start(op, "templates") < 0) {
		op_free(op);
		return OPSBOT_ERR;
	}
	return OPSBOT_PENDING;
}

static int cmd_list(struct opsbot_plugin *pl, struct opsbot_request *req,
		    void *data)
{
	sqlite3_stmt *st;
	int n = 0;
	int64_t now = wall_ms();

	if (sqlite3_prepare_v2(db(),
			       "SELECT " CLUSTER_COLS
			       " FROM ceph_clusters ORDER BY name",
			       -1, &st, NULL) != SQLITE_OK) {
		bot->reply_error(req, "ceph: the store cannot be read");
		return OPSBOT_ERR;
	}
	while (sqlite3_step(st) == SQLITE_ROW) {
		struct cluster c;
		char left[32], sz[32];
		long long doms;

		cluster_row(st, &c);
		fmt_dur(left, sizeof(left), c.expires_ms - now);
		ceph_fmt_size(sz, sizeof(sz), (unsigned long long)c.osd_size);
		doms = count_sql("SELECT count(*) FROM ceph_resources WHERE "
				 "kind = 'dom' AND cluster = ?",
				 c.name);
		bot->reply(req,
			   "%s: %s%s, %lld/%d nodes x %d OSD%s of %s, template "
			   "%s, owner %s, expires in %s",
			   c.name, busy(c.name) ? "busy, " : "", state_of(&c),
			   doms, c.nodes, c.osds, c.osds == 1 ? "" : "s", sz,
			   c.tpl, c.owner, left);
		n++;
	}
	sqlite3_finalize(st);
	if (!n)
		bot->reply(req, "no ceph clusters");
	return OPSBOT_OK;
}

/* Looks a cluster up for a command; 0, or -1 with the reply sent.
 * own: the asker must own it or hold ceph.admin. */
static int cluster_for(struct opsbot_request *req, const char *name,
		       struct cluster *c, int own)
{
	int r;

	if (!ceph_name_ok(name, 24)) {
		bot->reply_error(req, "ceph: bad cluster name '%.40s'", name);
		return -1;
	}
	r = cluster_get(name, c);
	if (r <= 0) {
		bot->reply_error(req, "ceph: no cluster %s (see !ceph list)",
				 name);
		return -1;
	}
	if (own && strcmp(c->owner, asker(req)) &&
	    !bot->has_capability(req, "ceph.admin")) {
		bot->reply_error(
		    req,
		    "ceph: %s belongs to %s; only they or ceph.admin "
		    "may change it",
		    name, c->owner);
		return -1;
	}
	if (own && (busy(name) || other_process(c))) {
		bot->reply_error(req,
				 "ceph: %s is busy with another command; try "
				 "again when it ends",
				 name);
		return -1;
	}
	return 0;
}

static int cmd_show(struct opsbot_plugin *pl, struct opsbot_request *req,
		    void *data)
{
	struct cluster c;
	struct ceph_op *op;
	char left[32];

	if (cluster_for(req, req->argv[0], &c, 0) < 0)
		return OPSBOT_ERR;
	fmt_dur(left, sizeof(left), c.expires_ms - wall_ms());
	bot->reply(req, "%s: %s, owner %s, template %s, expires in %s%s%s",
		   c.name, state_of(&c), c.owner, c.tpl, left,
		   c.error[0] ? "; last error: " : "", c.error);
	op = op_new(OP_SHOW, req, NULL);
	snprintf(op->cluster, sizeof(op->cluster), "%s", c.name);
	res_load(op, c.name, NULL);
	/* show is read-only: not counted as busy. */
	op->cluster[0] = 0;
	if (op_start(op, "show") < 0) {
		op_free(op);
		return OPSBOT_ERR;
	}
	return OPSBOT_PENDING;
}

static int cmd_inventory(struct opsbot_plugin *pl, struct opsbot_request *req,
			 void *data)
{
	struct cluster c;
	char *d, *p, buf[4096];
	FILE *f;

	if (cluster_for(req, req->argv[0], &c, 0) < 0)
		return OPSBOT_ERR;
	d = cluster_dir(c.name);
	p = sdk_xasprintf("%s/inventory.ini", d);
	free(d);
	f = fopen(p, "re");
	if (!f) {
		bot->reply_error(req, "ceph: %s has no inventory yet (%s)",
				 c.name, c.state);
		free(p);
		return OPSBOT_ERR;
	}
	bot->reply_private(req, "inventory of %s: %s", c.name, p);
	while (fgets(buf, sizeof(buf), f)) {
		buf[strcspn(buf, "\n")] = 0;
		if (buf[0])
			bot->reply_private(req, "%s", buf);
	}
	fclose(f);
	free(p);
	return OPSBOT_OK;
}

static int simple_op(struct opsbot_request *req, enum ceph_op_kind kind,
		     const char *name)
{
	struct cluster c;
	struct ceph_op *op;
	char nm[96];

	if (cluster_for(req, name, &c, 1) < 0)
		return OPSBOT_ERR;
	op = op_new(kind, req, c.name);
	res_load(op, c.name, NULL);
	snprintf(nm, sizeof(nm), "%s %s",
		 kind == OP_START  ? "start"
		 : kind == OP_STOP ? "stop"
				   : "destroy",
		 c.name);
	if (kind == OP_DESTROY)
		exec_sql(
		    "UPDATE ceph_clusters SET state = 'destroying', pid = ?, "
		    "pid_start = ? WHERE name = ?",
		    "iss", (long long)getpid(), my_start(), c.name);
	if (op_start(op, nm) < 0) {
		op_free(op);
		return OPSBOT_ERR;
	}
	return OPSBOT_PENDING;
}

static int cmd_start(struct opsbot_plugin *pl, struct opsbot_request *req,
		     void *data)
{
	return simple_op(req, OP_START, req->argv[0]);
}

static int cmd_stop(struct opsbot_plugin *pl, struct opsbot_request *req,
		    void *data)
{
	return simple_op(req, OP_STOP, req->argv[0]);
}

static int cmd_destroy(struct opsbot_plugin *pl, struct opsbot_request *req,
		       void *data)
{
	return simple_op(req, OP_DESTROY, req->argv[0]);
}

static void create_from_row(struct ceph_op *op, const struct cluster *c)
{
	snprintf(op->tpl, sizeof(op->tpl), "%s", c->tpl);
	snprintf(op->pin, sizeof(op->pin), "%s", c->pin);
	snprintf(op->owner, sizeof(op->owner), "%s", c->owner);
	if (c->channel[0])
		snprintf(op->channel, sizeof(op->channel), "%s", c->channel);
	op->nodes = c->nodes;
	op->osds = c->osds;
	op->osd_size = (uint64_t)c->osd_size;
	op->start = c->start;
	if (create_prepare(op, c->expires_ms - wall_ms() > 0
				   ? c->expires_ms - wall_ms()
				   : 3600000) < 0) {
		op_end(op, OPSBOT_ERR);
		return;
	}
	op_track(op);
	create_go(op);
}

static int cmd_reprovision(struct opsbot_plugin *pl, struct opsbot_request *req,
			   void *data)
{
	struct cluster c;
	struct ceph_op *op;

	if (cluster_for(req, req->argv[0], &c, 1) < 0)
		return OPSBOT_ERR;
	op = op_new(OP_DESTROY, req, c.name);
	op->then_create = 1;
	res_load(op, c.name, NULL);
	exec_sql("UPDATE ceph_clusters SET state = 'destroying', pid = ?, "
		 "pid_start = ? WHERE name = ?",
		 "iss", (long long)getpid(), my_start(), c.name);
	if (op_start(op, "reprovision") < 0) {
		op_free(op);
		return OPSBOT_ERR;
	}
	bot->reply(req, "ceph: reprovisioning %s: destroy, then create %d x %d",
		   c.name, c.nodes, c.osds);
	return OPSBOT_PENDING;
}

static int cmd_extend(struct opsbot_plugin *pl, struct opsbot_request *req,
		      void *data)
{
	struct cluster c;
	struct sdk_buf e = SDK_BUF_INIT;
	long long ttl, max_ttl = bot->config_duration_ms(self, NULL, "max_ttl");
	char left[32];

	if (cluster_for(req, req->argv[0], &c, 1) < 0)
		return OPSBOT_ERR;
	if (sdk_duration_parse(req->argv[1], &ttl, &e) < 0 || ttl <= 0) {
		bot->reply_error(req, "ceph: ttl: %s",
				 e.len ? sdk_buf_str(&e) : "must be positive");
		sdk_buf_release(&e);
		return OPSBOT_ERR;
	}
	sdk_buf_release(&e);
	if (max_ttl > 0 && ttl > max_ttl) {
		fmt_dur(left, sizeof(left), max_ttl);
		bot->reply_error(req, "ceph: ttl is at most %s (max_ttl)",
				 left);
		return OPSBOT_ERR;
	}
	if (exec_sql(
		"UPDATE ceph_clusters SET expires_ms = ?, warned = 0 WHERE "
		"name = ?",
		"is", (long long)(wall_ms() + ttl), c.name) < 0) {
		bot->reply_error(req, "ceph: could not save the new expiry");
		return OPSBOT_ERR;
	}
	fmt_dur(left, sizeof(left), ttl);
	bot->reply(req, "ceph: %s now expires in %s", c.name, left);
	return OPSBOT_OK;
}

static int cmd_disk(struct opsbot_plugin *pl, struct opsbot_request *req,
		    void *data)
{
	const char *sub = req->argv[0], *node = req->argv[1];
	struct cluster c;
	struct ceph_op *op;
	char cl[64];
	sqlite3_stmt *st;
	int i, rm;

	if (strcmp(sub, "add") && strcmp(sub, "rm"))
		return OPSBOT_EUSAGE;
	rm = !strcmp(sub, "rm");
	if (rm && req->argc != 3)
		return OPSBOT_EUSAGE;
	if (!ceph_name_ok(node, 40)) {
		bot->reply_error(req, "ceph: bad node name '%.40s'", node);
		return OPSBOT_ERR;
	}
	cl[0] = 0;
	if (sqlite3_prepare_v2(
		db(),
		"SELECT cluster FROM ceph_resources WHERE kind = "
		"'dom' AND name = ?",
		-1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, node, -1, SQLITE_TRANSIENT);
		if (sqlite3_step(st) == SQLITE_ROW)
			col(cl, sizeof(cl), st, 0);
		sqlite3_finalize(st);
	}
	if (!cl[0]) {
		bot->reply_error(
		    req,
		    "ceph: no node %s among the bot's clusters (it "
		    "never touches other domains)",
		    node);
		return OPSBOT_ERR;
	}
	if (cluster_for(req, cl, &c, 1) < 0)
		return OPSBOT_ERR;
	op = op_new(rm ? OP_DISK_RM : OP_DISK_ADD, req, c.name);
	snprintf(op->node, sizeof(op->node), "%s", node);
	res_load(op, c.name, node);
	if (op->nres == 0 || strcmp(op->res[0].kind, "dom")) {
		bot->reply_error(req, "ceph: node %s has no domain record",
				 node);
		op_free(op);
		return OPSBOT_ERR;
	}
	if (rm) {
		const char *t = req->argv[2];

		if (strlen(t) < 3 || strlen(t) > 8 || strncmp(t, "sd", 2) ||
		    strspn(t + 2, "abcdefghijklmnopqrstuvwxyz") !=
			strlen(t) - 2) {
			bot->reply_error(req,
					 "ceph: bad target '%.20s' (sdb, sdc, "
					 "...; see !ceph show)",
					 t);
			op_free(op);
			return OPSBOT_ERR;
		}
		snprintf(op->target, sizeof(op->target), "%s", t);
	} else {
		op->osd_size = (uint64_t)c.osd_size;
		if (req->argc == 3) {
			struct sdk_buf e = SDK_BUF_INIT;
			uint64_t sz;

			if (sdk_size_parse(req->argv[2], &sz, &e) < 0 ||
			    sz < (1ULL << 20)) {
				bot->reply_error(req, "ceph: size: %s",
						 e.len ? sdk_buf_str(&e)
						       : "at least 1M");
				sdk_buf_release(&e);
				op_free(op);
				return OPSBOT_ERR;
			}
			sdk_buf_release(&e);
			op->osd_size = sz;
		}
		if (quota_ok(req, c.owner, 0, 0, op->osd_size) < 0) {
			op_free(op);
			return OPSBOT_ERR;
		}
		op->next_osd = 1;
		for (i = 0; i < op->nres; i++) {
			const char *p = strstr(op->res[i].name, "-osd");
			int k;

			if (p && sscanf(p, "-osd%d", &k) == 1 &&
			    k >= op->next_osd)
				op->next_osd = k + 1;
		}
	}
	if (op_start(op, rm ? "disk rm" : "disk add") < 0) {
		op_free(op);
		return OPSBOT_ERR;
	}
	return OPSBOT_PENDING;
}

/* ---- domain events ---- */

void ceph_node_event(const char *uri, const char *name, const char *what,
		     int unexpected)
{
	sqlite3_stmt *st;
	char cl[64] = "";
	struct cluster c;
	const char *chan;

	if (sqlite3_prepare_v2(
		db(),
		"SELECT cluster FROM ceph_resources WHERE kind = "
		"'dom' AND uri = ? AND name = ?",
		-1, &st, NULL) != SQLITE_OK)
		return;
	sqlite3_bind_text(st, 1, uri, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) == SQLITE_ROW)
		col(cl, sizeof(cl), st, 0);
	sqlite3_finalize(st);
	if (!cl[0])
		return; /* not one of ours */
	bot->log(self, OPSBOT_LOG_INFO, "event: node %s of %s %s", name, cl,
		 what);
	/* The bot's own start, stop and destroy are busy, or ended within
	 * RECENT_MS: said already.  Only the daemon announces (an `opsbot run`
	 * next to it sees the same event). */
	if (!unexpected || bot->mode() != OPSBOT_MODE_DAEMON || busy(cl) ||
	    recent_within(cl) || cluster_get(cl, &c) != 1 || other_process(&c))
		return;
	chan = c.channel[0] ? c.channel
			    : bot->config_string(self, NULL, "channel");
	if (chan)
		bot->say(self, chan, "ceph: node %s of %s (owner %s) %s", name,
			 cl, c.owner, what);
}

/* ---- TTL ---- */

static long on_ttl(struct opsbot_plugin *pl, int status, void *data)
{
	sqlite3_stmt *st;
	int64_t now = wall_ms();
	long long warn = bot->config_duration_ms(self, NULL, "ttl_warn");
	struct cluster *due = NULL;
	int n = 0, i;

	if (status != OPSBOT_OK)
		return OPSBOT_TIMER_STOP;
	if (sqlite3_prepare_v2(db(),
			       "SELECT " CLUSTER_COLS " FROM ceph_clusters", -1,
			       &st, NULL) == SQLITE_OK) {
		while (sqlite3_step(st) == SQLITE_ROW) {
			due =
			    sdk_xreallocarray(due, (size_t)n + 1, sizeof(*due));
			cluster_row(st, &due[n++]);
		}
		sqlite3_finalize(st);
	}
	for (i = 0; i < n; i++) {
		struct cluster *c = &due[i];
		const char *chan =
		    c->channel[0] ? c->channel
				  : bot->config_string(self, NULL, "channel");
		char left[32];

		if (busy(c->name) || other_process(c))
			continue;
		if (now >= c->expires_ms) {
			struct ceph_op *op = op_new(OP_DESTROY, NULL, c->name);

			if (chan)
				snprintf(op->channel, sizeof(op->channel), "%s",
					 chan);
			snprintf(op->owner, sizeof(op->owner), "%s", c->owner);
			op_say(op, 0, "ceph: %s of %s expired; destroying it",
			       c->name, c->owner);
			res_load(op, c->name, NULL);
			exec_sql(
			    "UPDATE ceph_clusters SET state = 'destroying', "
			    "pid = ?, pid_start = ? WHERE name = ?",
			    "iss", (long long)getpid(), my_start(), c->name);
			if (op_start(op, "expire") < 0)
				op_free(op);
		} else if (!c->warned && now >= c->expires_ms - warn) {
			fmt_dur(left, sizeof(left), c->expires_ms - now);
			if (chan)
				bot->say(self, chan,
					 "%s: ceph cluster %s expires in %s; "
					 "extend it with: extend %s <ttl>",
					 c->owner, c->name, left, c->name);
			exec_sql(
			    "UPDATE ceph_clusters SET warned = 1 WHERE name "
			    "= ?",
			    "s", c->name);
		}
	}
	free(due);
	return (long)bot->config_duration_ms(self, NULL, "ttl_check");
}

static void mark_interrupted(void)
{
	sqlite3_stmt *st;
	char(*names)[64] = NULL;
	int n = 0, i;

	if (sqlite3_prepare_v2(db(),
			       "SELECT " CLUSTER_COLS
			       " FROM ceph_clusters WHERE "
			       "state IN ('creating', 'destroying')",
			       -1, &st, NULL) != SQLITE_OK)
		return;
	while (sqlite3_step(st) == SQLITE_ROW) {
		struct cluster c;

		cluster_row(st, &c);
		if (other_process(&c))
			continue;
		names = sdk_xreallocarray(names, (size_t)n + 1, sizeof(*names));
		snprintf(names[n++], sizeof(names[0]), "%s", c.name);
	}
	sqlite3_finalize(st);
	for (i = 0; i < n; i++)
		exec_sql("UPDATE ceph_clusters SET state = 'partial', error = "
			 "'interrupted (the bot stopped during the command)' "
			 "WHERE name = ?",
			 "s", names[i]);
	free(names);
}

/* ---- plugin ---- */

static const struct opsbot_command commands[] = {
    OPSBOT_COMMAND("templates", "", "templates the bot may clone", NULL, 0, 0,
		   cmd_templates, NULL),
    OPSBOT_COMMAND("create",
		   "<cluster> [nodes=3] [osds=2] [osd-size=10G] "
		   "[template=<name>] [ttl=48h] [start=yes] [host=<name>]",
		   "creates a Ceph dev cluster", "ceph", 1, 9, cmd_create,
		   NULL),
    OPSBOT_COMMAND("list", "", "every cluster", NULL, 0, 0, cmd_list, NULL),
    OPSBOT_COMMAND("show", "<cluster>", "nodes, state, addresses, disks", NULL,
		   1, 1, cmd_show, NULL),
    OPSBOT_COMMAND("inventory", "<cluster>",
		   "the cluster's Ansible inventory (privately)", "ceph", 1, 1,
		   cmd_inventory, NULL, .flags = OPSBOT_COMMAND_PRIVATE),
    OPSBOT_COMMAND("disk", "add <node> [size] | rm <node> <target>",
		   "adds or removes an OSD disk (live on a running node)",
		   "ceph", 2, 3, cmd_disk, NULL),
    OPSBOT_COMMAND("start", "<cluster>", "starts its nodes", "ceph", 1, 1,
		   cmd_start, NULL),
    OPSBOT_COMMAND("stop", "<cluster>",
		   "ACPI shutdown, power off after stop_timeout", "ceph", 1, 1,
		   cmd_stop, NULL),
    OPSBOT_COMMAND("destroy", "<cluster>", "removes its domains and volumes",
		   "ceph", 1, 1, cmd_destroy, NULL,
		   .flags = OPSBOT_COMMAND_CONFIRM,
		   .confirm = "the cluster's domains and volumes"),
    OPSBOT_COMMAND("reprovision", "<cluster>",
		   "destroys and creates it again with the same shape", "ceph",
		   1, 1, cmd_reprovision, NULL, .flags = OPSBOT_COMMAND_CONFIRM,
		   .confirm = "the cluster's domains and volumes"),
    OPSBOT_COMMAND("extend", "<cluster> <ttl>", "sets its expiry to now + ttl",
		   "ceph", 2, 2, cmd_extend, NULL),
};

static int ceph_init(struct opsbot_plugin *p, const struct opsbot_api *api)
{
	char *err = NULL;
	size_t i;

	bot = api;
	self = p;
	active = NULL;
	ttl_timer = 0;
	cv_init();
	cfg = cfg_load(&err);
	if (!cfg) {
		bot->log(self, OPSBOT_LOG_ERROR, "%s", err);
		free(err);
		return OPSBOT_ERR;
	}
	if (bot->mode() == OPSBOT_MODE_CHECK)
		return OPSBOT_OK;
	/* libvirt's event loop on ours, before any connection is opened
	 * (without it: no keepalives, close callbacks or domain events). */
	ce_evloop_start();
	cv_configure(bot->config_duration_ms(self, NULL, "keepalive_interval"),
		     bot->config_int(self, NULL, "keepalive_count"));
	if (bot->store_migrate(self, schema, 3) != OPSBOT_OK)
		return OPSBOT_ERR;
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (bot->command_add(self, &commands[i]) != OPSBOT_OK)
			return OPSBOT_ERR;
	if (bot->mode() == OPSBOT_MODE_DAEMON) {
		/* A create or destroy the last run did not finish (killed):
		 * partial, for destroy to clean; one of an `opsbot run` still
		 * alive is left alone. */
		mark_interrupted();
		ttl_timer = bot->timer_start(self, 1000, on_ttl, NULL);
		/* Connected from the start: a drop or a node that stops by
		 * itself is seen without a command. */
		cv_connect_all(cfg);
	}
	return OPSBOT_OK;
}

static int ceph_reconfigure(struct opsbot_plugin *p)
{
	char *err = NULL;
	struct ceph_cfg *n = cfg_load(&err);

	if (!n) {
		bot->log(self, OPSBOT_LOG_ERROR, "%s", err);
		free(err);
		return OPSBOT_ERR;
	}
	n->older = cfg;
	cfg = n;
	cv_configure(bot->config_duration_ms(self, NULL, "keepalive_interval"),
		     bot->config_int(self, NULL, "keepalive_count"));
	return OPSBOT_OK;
}

static void ceph_fini(struct opsbot_plugin *p)
{
	while (active)
		op_free(active);
	while (recent) {
		struct recent *r = recent;

		recent = r->next;
		free(r);
	}
	cfg_free(cfg);
	cfg = NULL;
	/* Every connection closed first, then the event loop's records of
	 * them freed: libvirt keeps nothing that points at them. */
	cv_fini();
	if (bot->mode() != OPSBOT_MODE_CHECK)
		ce_evloop_stop();
}

static const struct opsbot_config_key config_keys[] = {
    OPSBOT_CONFIG_KEY("uri", OPSBOT_CONFIG_STRING, "qemu:///system", 0, 0, 0,
		      "libvirt URI when no [plugin.ceph.host.<name>] is set"),
    OPSBOT_CONFIG_KEY("pool", OPSBOT_CONFIG_STRING, "default", 0, 0, 0,
		      "storage pool for clones and OSDs (with uri)"),
    OPSBOT_CONFIG_KEY("template", OPSBOT_CONFIG_LIST, NULL, 0, 0, 0,
		      "a template domain the bot may clone (repeat the key)"),
    OPSBOT_CONFIG_KEY("default_template", OPSBOT_CONFIG_STRING, NULL, 0, 0, 0,
		      "template when create names none (default: the first)"),
    OPSBOT_CONFIG_KEY("clone", OPSBOT_CONFIG_STRING, "full", 0, 0, 0,
		      "full (a copy of the template disk) or overlay (qcow2 "
		      "on the template's disk: seconds, not a copy)"),
    OPSBOT_CONFIG_KEY("ssh_key", OPSBOT_CONFIG_LIST, NULL, 0, 0, 0,
		      "an SSH public key for the nodes' cloud-init seed"),
    OPSBOT_CONFIG_KEY("cloud_init", OPSBOT_CONFIG_BOOL, "true", 0, 0, 0,
		      "attach a NoCloud seed ISO (cloud-localds) to each node"),
    OPSBOT_CONFIG_KEY("data_dir", OPSBOT_CONFIG_STRING, "/var/lib/opsbot/ceph",
		      0, 0, 0, "seeds and inventories, one folder per cluster"),
    OPSBOT_CONFIG_KEY("provision_command", OPSBOT_CONFIG_STRING, NULL, 0, 0, 0,
		      "program and arguments run after create (no shell), "
		      "the inventory path appended"),
    OPSBOT_CONFIG_KEY("provision_timeout", OPSBOT_CONFIG_DURATION, "2h", 0, 0,
		      0, "time limit of provision_command"),
    OPSBOT_CONFIG_KEY("channel", OPSBOT_CONFIG_STRING, NULL, 0, 0, 0,
		      "where expiry warnings go for clusters made from the "
		      "shell"),
    OPSBOT_CONFIG_KEY("default_ttl", OPSBOT_CONFIG_DURATION, "48h", 0, 1000, 0,
		      "lifetime of a cluster when create names none"),
    OPSBOT_CONFIG_KEY("max_ttl", OPSBOT_CONFIG_DURATION, "30d", 0, 0, 0,
		      "the longest ttl= or extend allowed (0: no limit)"),
    OPSBOT_CONFIG_KEY("ttl_warn", OPSBOT_CONFIG_DURATION, "1h", 0, 0, 0,
		      "warn the owner this long before expiry"),
    OPSBOT_CONFIG_KEY("ttl_check", OPSBOT_CONFIG_DURATION, "60s", 0, 100,
		      3600000, "how often expiry is checked"),
    OPSBOT_CONFIG_KEY("quota_clusters", OPSBOT_CONFIG_INT, "3", 0, 0, 1000,
		      "clusters per account (0: no limit)"),
    OPSBOT_CONFIG_KEY("quota_nodes", OPSBOT_CONFIG_INT, "12", 0, 0, 10000,
		      "nodes per account (0: no limit)"),
    OPSBOT_CONFIG_KEY("quota_disk", OPSBOT_CONFIG_STRING, "1T", 0, 0, 0,
		      "OSD disk per account, e.g. 500G (0: no limit)"),
    OPSBOT_CONFIG_KEY("max_nodes", OPSBOT_CONFIG_INT, "9", 0, 1, 99,
		      "nodes per cluster at most"),
    OPSBOT_CONFIG_KEY("max_osds", OPSBOT_CONFIG_INT, "8", 0, 0, 20,
		      "OSDs per node at create at most"),
    OPSBOT_CONFIG_KEY("stop_timeout", OPSBOT_CONFIG_DURATION, "60s", 0, 0, 0,
		      "stop: wait this long after ACPI shutdown, then power "
		      "off"),
    OPSBOT_CONFIG_KEY("detach_wait", OPSBOT_CONFIG_DURATION, "10s", 0, 0, 0,
		      "disk rm: how long a live unplug may take"),
    OPSBOT_CONFIG_KEY("keepalive_interval", OPSBOT_CONFIG_DURATION, "5s", 0,
		      1000, 600000,
		      "libvirt keepalive: a ping after this long without "
		      "traffic (whole seconds)"),
    OPSBOT_CONFIG_KEY("keepalive_count", OPSBOT_CONFIG_INT, "3", 0, 1, 100,
		      "libvirt keepalive: unanswered pings before the "
		      "connection counts as dropped"),
    OPSBOT_CONFIG_END,
};

static const struct opsbot_config_key host_keys[] = {
    OPSBOT_CONFIG_KEY("uri", OPSBOT_CONFIG_STRING, NULL, OPSBOT_CONFIG_REQUIRED,
		      0, 0,
		      "libvirt URI: qemu:///system, qemu+ssh://host/system"),
    OPSBOT_CONFIG_KEY("pool", OPSBOT_CONFIG_STRING, "default", 0, 0, 0,
		      "its storage pool for clones and OSDs"),
    OPSBOT_CONFIG_END,
};

static const struct opsbot_config_section config_sections[] = {
    {.size = sizeof(struct opsbot_config_section),
     .kind = "host",
     .help = "a hypervisor connection; create spreads nodes across them",
     .keys = host_keys},
    {0},
};

OPSBOT_EXPORT const struct opsbot_plugin_descriptor opsbot_plugin = {
    .abi_major = OPSBOT_ABI_MAJOR,
    .abi_minor = OPSBOT_ABI_MINOR,
    .size = sizeof(struct opsbot_plugin_descriptor),
    .name = "ceph",
    .version = "1.0.0",
    .description = "tiny Ceph dev clusters on libvirt",
    .command = "ceph",
    .config = config_keys,
    .sections = config_sections,
    .init = ceph_init,
    .fini = ceph_fini,
    .reconfigure = ceph_reconfigure,
    .unload_policy = OPSBOT_UNLOAD_DRAIN,
};

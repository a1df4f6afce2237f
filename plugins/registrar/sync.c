/*
 * sync.c - one sync: take the lease, read every sheet, record each row in
 * the ledger, then for every registrant with work left run its steps in
 * order (card for students, then mail), at most `concurrency` at a time,
 * and finally mark the rows in the status column.
 *
 * Exactly once, step by step:
 *  - card: the ledger says 'sending' and holds the marker before the POST;
 *    a 'sending' card found at the start (we were killed) or an unknown
 *    outcome (timeout, cut, 5xx, unreadable answer) is looked up in the
 *    list by its marker before any new POST;
 *  - mail: 'sending' before the POST; a mail still 'sending' after a crash,
 *    or whose answer was lost, becomes 'unknown' and is never resent
 *    without a confirmed !reg resend;
 *  - mark: idempotent (the same value into the same cell), derived from the
 *    ledger each sync, so a moved column or a cleared cell heals itself.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "registrar.h"

#define REG_MARK_BATCH 100
#define REG_RECHECK_ROUNDS 3
#define REG_MAIL_UNKNOWN_VALUE "mail unknown"

enum reg_phase {
	PH_READ,
	PH_LIST,
	PH_RESOLVE,
	PH_WORK,
	PH_RECHECK,
	PH_MARK,
	PH_DONE,
};

struct reg_item {
	int64_t id;
	int sheet;
	int *rows; /* sheet rows of this registrant whose cell needs a mark */
	int nrows;
	int queued;
};

struct reg_mark {
	int sheet, row;
	int64_t id; /* registrant */
	const char *value;
};

struct reg_sync {
	struct reg *reg;
	struct opsbot_request *req;
	char label[96]; /* "the periodic sync", "a sync asked for by bob" */
	enum reg_phase phase;
	int64_t started;
	int64_t lease_timer;
	int waiting; /* a sync-level request is in flight */
	int advancing, again, cancelled;

	int sheet_next;
	struct reg_table *tables;
	int *status_col;

	struct reg_item *items;
	int nitems, items_alloc;
	int *queue;
	int nqueue, qnext, queue_alloc;
	int active;

	int need_list;
	char *list_id;
	/* a configuration problem: the service (or a role's template) is
	   not used again in this sync; steps stay pending with it */
	char *trello_error, *mailgun_error, *template_error[2];
	int *recheck;
	int nrecheck, recheck_alloc, recheck_rounds;

	struct reg_mark *marks;
	int nmarks, marks_alloc;
	int marks_inflight;

	int rows, new_regs, cards, mails, unknown, failed, marked;
	char **errors; /* distinct, in the order they came */
	int nerrors;
	struct sdk_buf notes; /* worth saying, not failures */
};

static void reg_sync_advance(struct reg_sync *s);

static struct sqlite3 *reg_db(const struct reg_sync *s)
{
	return s->reg->api->store(s->reg->self);
}

/*
 * Logs an error (every one, in full) and keeps it once for the summary,
 * which shows the newest first (reg_summary_line).
 */
static void reg_sync_error(struct reg_sync *s, const char *error)
{
	s->reg->api->log(s->reg->self, OPSBOT_LOG_WARN, "%s", error);
	/* a recurring error keeps its place: a newer cause is not hidden
	   behind it */
	for (int i = 0; i < s->nerrors; i++)
		if (strcmp(s->errors[i], error) == 0)
			return;
	s->errors =
	    sdk_xrealloc(s->errors, (size_t)(s->nerrors + 1) * sizeof(char *));
	s->errors[s->nerrors++] = sdk_xstrdup(error);
}

void reg_marker_for(const char *sheet, const char *email, char out[40])
{
	uint64_t h = reg_fnv1a(email, reg_fnv1a("\n", reg_fnv1a(sheet, 0)));

	snprintf(out, 40, "r%016llx", (unsigned long long)h);
}

int reg_card_text(const struct reg *reg, const struct reg_record *rec,
		  const char *marker, struct sdk_buf *title,
		  struct sdk_buf *desc, struct sdk_buf *err)
{
	struct sdk_buf tail = SDK_BUF_INIT;

	if (reg_template_render(reg->card_title, rec, REG_TPL_LINE, title,
				err) < 0)
		return -1;
	for (int i = 0; i < rec->ncols; i++) {
		/* the status column is our bookkeeping, not the form's */
		if (reg_header_find(&rec->headers[i], 1, reg->status_column) ==
		    0)
			continue;
		if (desc->len)
			sdk_buf_adds(desc, "\n\n");
		sdk_buf_addf(desc, "%s: %s", rec->headers[i], rec->values[i]);
	}
	sdk_buf_addf(&tail, "\n\n%s%s", REG_MARKER_PREFIX, marker);
	/* Trello takes 16384 characters; the marker must survive. */
	if (desc->len + tail.len > 16384) {
		desc->len =
		    sdk_utf8_cut(desc->buf, desc->len, 16384 - tail.len - 4);
		desc->buf[desc->len] = '\0';
		sdk_buf_adds(desc, "\n...");
	}
	sdk_buf_adds(desc, sdk_buf_str(&tail));
	sdk_buf_release(&tail);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Lease */

/*
 * Renews the lease while a sync runs.  Its data is the plugin, not the
 * sync: the sync cancels the timer when it ends and is freed before the
 * cancelled call arrives.
 */
static long reg_lease_timer_fn(struct opsbot_plugin *self, int status,
			       void *data)
{
	struct reg *reg = data;

	if (status != OPSBOT_OK || !reg->sync)
		return OPSBOT_TIMER_STOP;
	if (reg_ledger_lease_renew(reg->api->store(reg->self), reg->owner,
				   reg_wall_ms(), reg->lease_ttl_ms) < 0) {
		/*
		 * Another process took the lease (ours expired: this one
		 * stalled for lease_ttl): two syncs must not run, so this
		 * one starts nothing more.  What is in flight is recorded.
		 */
		reg_sync_error(reg->sync, "sync lease lost to another process; "
					  "this sync stopped, the next one "
					  "goes on");
		reg->sync->cancelled = 1;
		return OPSBOT_TIMER_STOP;
	}
	return (long)(reg->lease_ttl_ms / 3);
}

/* ------------------------------------------------------------------------ */
/* Finishing */

/*
 * New registrations, by name (cut to REG_ANNOUNCE_NAME_MAX) and role, in
 * lines of up to REG_ANNOUNCE_NAMES that the host never has to split; a
 * big batch (a sheet imported at once) gets REG_ANNOUNCE_LINES lines and
 * a count, not a flood.
 */
#define REG_ANNOUNCE_NAMES 15
#define REG_ANNOUNCE_LINES 3

/* a name longer than this is cut, with "…" */
#define REG_ANNOUNCE_NAME_MAX 40
#define REG_ANNOUNCE_PREFIX "new registrations: "

struct reg_announce {
	char **items; /* "Name (role)" */
	int n, alloc;
};

static void reg_announce_one(const char *name, const char *role,
			     const char *progress, void *data)
{
	struct reg_announce *a = data;
	char *short_name = reg_clean_line(name, REG_ANNOUNCE_NAME_MAX);

	(void)progress;
	if (a->n == a->alloc) {
		a->alloc = a->alloc ? a->alloc * 2 : 32;
		a->items =
		    sdk_xrealloc(a->items, (size_t)a->alloc * sizeof(char *));
	}
	a->items[a->n++] = sdk_xasprintf("%s (%s)", short_name, role);
	free(short_name);
}

/*
 * Only the daemon announces: a sync from the shell has no channel (its
 * say() prints to stdout), so it leaves them for the daemon's next sync.
 */
static void reg_announce(struct reg *reg)
{
	struct reg_announce a = {NULL, 0, 0};
	char *lines[REG_ANNOUNCE_LINES];
	int nlines, more;

	if (!reg->channel || reg->api->mode() != OPSBOT_MODE_DAEMON)
		return;
	reg_ledger_take_unannounced(reg->api->store(reg->self),
				    reg_announce_one, &a);
	more = reg_pack_lines(
	    a.items, a.n, REG_ANNOUNCE_NAMES, REG_ANNOUNCE_LINES,
	    REG_CHAT_LINE_MAX - strlen(REG_ANNOUNCE_PREFIX), lines, &nlines);
	for (int i = 0; i < nlines; i++) {
		reg->api->say(reg->self, reg->channel, REG_ANNOUNCE_PREFIX "%s",
			      lines[i]);
		free(lines[i]);
	}
	if (more)
		reg->api->say(reg->self, reg->channel,
			      "and %d more new registrations (!reg list)",
			      more);
	for (int i = 0; i < a.n; i++)
		free(a.items[i]);
	free(a.items);
}

static void reg_sync_free(struct reg_sync *s)
{
	for (int i = 0; i < s->reg->nsheets; i++)
		reg_table_free(&s->tables[i]);
	free(s->tables);
	free(s->status_col);
	for (int i = 0; i < s->nitems; i++)
		free(s->items[i].rows);
	free(s->items);
	free(s->queue);
	free(s->recheck);
	free(s->marks);
	free(s->list_id);
	free(s->trello_error);
	free(s->mailgun_error);
	free(s->template_error[0]);
	free(s->template_error[1]);
	for (int i = 0; i < s->nerrors; i++)
		free(s->errors[i]);
	free(s->errors);
	sdk_buf_release(&s->notes);
	free(s);
}

static long reg_sync_again_fn(struct opsbot_plugin *self, int status,
			      void *data)
{
	struct reg *reg = data;

	if (status == OPSBOT_OK && !reg->closing && !reg->sync)
		reg_sync_start(reg, NULL, "a follow-up sync", NULL);
	return OPSBOT_TIMER_STOP;
}

static void reg_sync_finish(struct reg_sync *s)
{
	struct reg *reg = s->reg;
	double secs = (double)(reg->api->now_ms() - s->started) / 1000.0;
	char *head, *summary, *scrubbed, *errors;
	struct sdk_buf all = SDK_BUF_INIT;

	if (s->lease_timer)
		reg->api->cancel(reg->self, s->lease_timer);
	reg_ledger_lease_release(reg_db(s), reg->owner);
	if (!s->cancelled)
		reg_announce(reg);
	head = sdk_xasprintf("sync %s in %.1f s: %d rows, %d new, %d cards, "
			     "%d mails, %d marked, %d unknown, %d failed",
			     s->cancelled ? "cancelled" : "done", secs, s->rows,
			     s->new_regs, s->cards, s->mails, s->marked,
			     s->unknown, s->failed);
	/* one line however many errors: each is in the log already */
	summary = reg_summary_line(head, s->errors, s->nerrors,
				   sdk_buf_str(&s->notes), REG_CHAT_LINE_MAX);
	for (int i = 0; i < s->nerrors; i++)
		sdk_buf_addf(&all, "%s%s", i ? "; " : "", s->errors[i]);
	errors = s->nerrors ? sdk_buf_detach(&all) : NULL;
	sdk_buf_release(&all);
	/* the summary may reach a channel: no addresses in it */
	scrubbed = reg_scrub_emails(summary);
	reg->api->log(reg->self, OPSBOT_LOG_INFO, "%s", scrubbed);
	if (s->req) {
		if (errors)
			reg->api->reply_error(s->req, "%s", scrubbed);
		else
			reg->api->reply(s->req, "%s", scrubbed);
		reg->api->done(s->req,
			       errors || s->cancelled ? OPSBOT_ERR : OPSBOT_OK);
	} else if (errors && reg->channel && *reg->channel &&
		   (!reg->last_sync_error ||
		    strcmp(reg->last_sync_error, errors))) {
		/* periodic sync: report a problem once, not every period */
		reg->api->say(reg->self, reg->channel, "registrar: %s",
			      scrubbed);
	}
	free(reg->last_sync_error);
	reg->last_sync_error = errors;
	free(head);
	free(summary);
	free(scrubbed);
	reg->sync = NULL;
	reg_sync_free(s);
	if (reg->sync_again && !reg->closing) {
		reg->sync_again = 0;
		reg->api->timer_start(reg->self, 0, reg_sync_again_fn, reg);
	}
}

/* ------------------------------------------------------------------------ */
/* Marks */

static void reg_mark_add(struct reg_sync *s, int sheet, int row, int64_t id,
			 const char *value)
{
	if (s->nmarks == s->marks_alloc) {
		s->marks_alloc = s->marks_alloc ? s->marks_alloc * 2 : 64;
		s->marks = sdk_xrealloc(s->marks, (size_t)s->marks_alloc *
						      sizeof(*s->marks));
	}
	s->marks[s->nmarks++] = (struct reg_mark){sheet, row, id, value};
}

struct reg_mark_batch {
	struct reg_sync *sync;
	struct reg_mark *marks;
	int n;
};

static void reg_marks_written(struct reg *reg, const char *error, void *data)
{
	struct reg_mark_batch *b = data;
	struct reg_sync *s = b->sync;

	s->marks_inflight--;
	if (error && strcmp(error, "cancelled") == 0) {
		s->cancelled = 1;
	} else if (error) {
		reg_sync_error(s, error);
		for (int i = 0; i < b->n; i++)
			reg_ledger_mark_set(reg_db(s), b->marks[i].id,
					    "pending", NULL, error);
	} else {
		for (int i = 0; i < b->n; i++) {
			int final =
			    strcmp(b->marks[i].value, reg->status_value) == 0;

			reg_ledger_mark_set(reg_db(s), b->marks[i].id,
					    final ? "done" : "pending",
					    b->marks[i].value, NULL);
			s->marked++;
		}
	}
	free(b->marks);
	free(b);
	reg_sync_advance(s);
}

/* Sends the pending marks of one sheet, up to a batch. */
static void reg_marks_flush(struct reg_sync *s)
{
	struct reg *reg = s->reg;
	struct reg_mark_batch *b;
	struct reg_cell_write *cells;
	int sheet, n = 0, keep = 0;

	if (!s->nmarks)
		return;
	sheet = s->marks[0].sheet;
	b = sdk_xcalloc(1, sizeof(*b));
	b->sync = s;
	b->marks = sdk_xcalloc((size_t)REG_MARK_BATCH, sizeof(*b->marks));
	for (int i = 0; i < s->nmarks; i++) {
		if (s->marks[i].sheet == sheet && n < REG_MARK_BATCH)
			b->marks[n++] = s->marks[i];
		else
			s->marks[keep++] = s->marks[i];
	}
	s->nmarks = keep;
	b->n = n;
	if (s->status_col[sheet] < 0) {
		char *error = sdk_xasprintf(
		    "sheets: no column \"%s\" in row 1 of %s; add it to "
		    "mark rows",
		    reg->status_column, reg->sheets[sheet].name);

		s->marks_inflight++;
		reg_marks_written(reg, error, b);
		free(error);
		return;
	}
	cells = sdk_xcalloc((size_t)n, sizeof(*cells));
	for (int i = 0; i < n; i++)
		cells[i] = (struct reg_cell_write){
		    b->marks[i].row, s->status_col[sheet], b->marks[i].value};
	s->marks_inflight++;
	reg_sheets_write(reg, &reg->sheets[sheet], cells, n, reg_marks_written,
			 b);
	free(cells);
}

/* ------------------------------------------------------------------------ */
/* One registrant's steps */

static void reg_item_step(struct reg_sync *s, struct reg_item *it);

static void reg_item_done(struct reg_sync *s, struct reg_item *it)
{
	(void)it;
	s->active--;
	reg_sync_advance(s);
}

static void reg_queue_push(struct reg_sync *s, int index)
{
	if (s->nqueue == s->queue_alloc) {
		s->queue_alloc = s->queue_alloc ? s->queue_alloc * 2 : 64;
		s->queue = sdk_xrealloc(s->queue,
					(size_t)s->queue_alloc * sizeof(int));
	}
	s->queue[s->nqueue++] = index;
}

struct reg_step_ctx {
	struct reg_sync *sync;
	struct reg_item *item;
};

/* Stops using a service (or a template) for the rest of the sync. */
static void reg_sync_stop(char **slot, const char *error)
{
	if (!*slot)
		*slot = sdk_xstrdup(error);
}

/*
 * A card or mail step failed: the registrant's own fault marks it
 * failed; anything else leaves it pending for a later sync, and a
 * configuration fault stops that service for the rest of this sync.
 */
static void reg_step_failed(struct reg_sync *s, struct reg_item *it,
			    int (*set)(struct sqlite3 *, int64_t, const char *,
				       const char *),
			    char **service_error, enum reg_failure why,
			    const char *error)
{
	set(reg_db(s), it->id, why == REG_FAIL_ROW ? "failed" : "pending",
	    error);
	reg_sync_error(s, error);
	if (why == REG_FAIL_ROW)
		s->failed++;
	else if (why == REG_FAIL_CONFIG)
		reg_sync_stop(service_error, error);
}

static void reg_card_created(struct reg *reg, enum reg_outcome outcome,
			     enum reg_failure why,
			     const struct reg_trello_card *card,
			     const char *error, void *data)
{
	struct reg_step_ctx *ctx = data;
	struct reg_sync *s = ctx->sync;
	struct reg_item *it = ctx->item;
	sqlite3 *db = reg_db(s);

	free(ctx);
	switch (outcome) {
	case REG_OK:
		reg_ledger_card_done(db, it->id, card->id, card->url);
		s->cards++;
		reg_item_step(s, it);
		return;
	case REG_UNKNOWN:
		/* stays 'sending': looked up by marker before a new POST */
		reg_ledger_set_error(db, it->id, error);
		if (s->nrecheck == s->recheck_alloc) {
			s->recheck_alloc =
			    s->recheck_alloc ? s->recheck_alloc * 2 : 16;
			s->recheck = sdk_xrealloc(
			    s->recheck, (size_t)s->recheck_alloc * sizeof(int));
		}
		s->recheck[s->nrecheck++] = (int)(it - s->items);
		break;
	case REG_FAILED:
		reg_step_failed(s, it, reg_ledger_card_set, &s->trello_error,
				why, error);
		break;
	case REG_CANCELLED:
		/* the POST may be out: keep 'sending' for the lookup */
		s->cancelled = 1;
		break;
	case REG_SKIPPED:
		break;
	}
	reg_item_done(s, it);
}

static void reg_mail_sent(struct reg *reg, enum reg_outcome outcome,
			  enum reg_failure why, const char *mail_id,
			  const char *error, void *data)
{
	struct reg_step_ctx *ctx = data;
	struct reg_sync *s = ctx->sync;
	struct reg_item *it = ctx->item;
	sqlite3 *db = reg_db(s);

	free(ctx);
	switch (outcome) {
	case REG_OK:
		reg_ledger_mail_sent(db, it->id, mail_id);
		s->mails++;
		reg_item_step(s, it);
		return;
	case REG_UNKNOWN:
		reg_ledger_mail_set(db, it->id, "unknown", error);
		reg_sync_error(s, error);
		s->unknown++;
		reg_item_step(s, it);
		return;
	case REG_FAILED:
		reg_step_failed(s, it, reg_ledger_mail_set, &s->mailgun_error,
				why, error);
		break;
	case REG_CANCELLED:
		/* still 'sending': the next start makes it 'unknown' */
		s->cancelled = 1;
		break;
	case REG_SKIPPED:
		/* never sent; the ledger is left as it is */
		reg_sync_error(s, error);
		break;
	}
	reg_item_done(s, it);
}

/* 'sending' exactly while the request is out (see reg_call()). */
static int reg_mail_sending(int sending, void *data)
{
	struct reg_step_ctx *ctx = data;
	sqlite3 *db = reg_db(ctx->sync);

	if (sending)
		return reg_ledger_mail_begin(db, ctx->item->id);
	return reg_ledger_mail_set(db, ctx->item->id, "pending", NULL);
}

static void reg_item_card(struct reg_sync *s, struct reg_item *it,
			  struct reg_registrant *r, struct reg_record *rec)
{
	struct reg *reg = s->reg;
	struct sdk_buf title = SDK_BUF_INIT, desc = SDK_BUF_INIT;
	struct sdk_buf err = SDK_BUF_INIT;
	struct reg_step_ctx *ctx;
	char marker[40];
	int rc;

	reg_marker_for(r->sheet, r->email, marker);
	if (reg_card_text(reg, rec, marker, &title, &desc, &err) < 0) {
		/* card_title is configuration: the same for every card */
		char *msg = sdk_xasprintf("card_title: %s", sdk_buf_str(&err));

		reg_ledger_set_error(reg_db(s), it->id, msg);
		reg_sync_error(s, msg);
		reg_sync_stop(&s->trello_error, msg);
		free(msg);
		reg_item_done(s, it);
		goto out;
	}
	rc = reg_ledger_card_begin(reg_db(s), it->id, marker);
	if (rc != 0) {
		/* never POST a card whose step is not ours to take */
		reg_sync_error(s, rc < 0
				      ? "ledger: cannot record the card step; "
					"check the store"
				      : "ledger: a card step changed under "
					"this sync; left alone");
		reg_item_done(s, it);
		goto out;
	}
	ctx = sdk_xcalloc(1, sizeof(*ctx));
	ctx->sync = s;
	ctx->item = it;
	reg_trello_create_card(reg, s->list_id, sdk_buf_str(&title),
			       sdk_buf_str(&desc), reg_card_created, ctx);
out:
	sdk_buf_release(&title);
	sdk_buf_release(&desc);
	sdk_buf_release(&err);
}

static void reg_item_mail(struct reg_sync *s, struct reg_item *it,
			  struct reg_registrant *r, struct reg_record *rec)
{
	struct reg *reg = s->reg;
	int role = strcmp(r->role, "mentor") == 0 ? REG_MENTOR : REG_STUDENT;
	struct sdk_buf subject = SDK_BUF_INIT, text = SDK_BUF_INIT;
	struct sdk_buf html = SDK_BUF_INIT, err = SDK_BUF_INIT;
	struct reg_step_ctx *ctx;
	char marker[40];
	struct reg_mail mail;
	const char *key = NULL;
	struct reg_record with_guide;
	char *guide_url = NULL;

	/* {GuideURL}: a student's private page, with a new token (only
	   its hash is kept, so each mail carries a fresh one); "" for
	   mentors, who ask for theirs in chat */
	if (reg->guide_url) {
		char *token =
		    role == REG_STUDENT ? reg_guide_issue(reg, it->id) : NULL;

		guide_url =
		    token ? reg_guide_url_for(reg, token) : sdk_xstrdup("");
		free(token);
		with_guide.ncols = rec->ncols + 1;
		with_guide.headers =
		    sdk_xcalloc((size_t)with_guide.ncols, sizeof(char *));
		with_guide.values =
		    sdk_xcalloc((size_t)with_guide.ncols, sizeof(char *));
		with_guide.headers[0] = "GuideURL";
		with_guide.values[0] = guide_url;
		memcpy(with_guide.headers + 1, rec->headers,
		       (size_t)rec->ncols * sizeof(char *));
		memcpy(with_guide.values + 1, rec->values,
		       (size_t)rec->ncols * sizeof(char *));
		rec = &with_guide;
	}
	if (!reg->tpl_text[role])
		sdk_buf_addf(&err, "mail: no %s template; set %s_template",
			     r->role, r->role);
	else if (reg_template_render(reg->tpl_subject[role], rec, REG_TPL_LINE,
				     &subject, &err) < 0 ||
		 reg_template_render(reg->tpl_text[role], rec, REG_TPL_TEXT,
				     &text, &err) < 0)
		key = "template";
	else if (reg->tpl_html[role] &&
		 reg_template_render(reg->tpl_html[role], rec, REG_TPL_HTML,
				     &html, &err) < 0)
		key = "template_html";
	if (err.len) {
		char *msg = key ? sdk_xasprintf("%s_%s: %s", r->role, key,
						sdk_buf_str(&err))
				: sdk_xstrdup(sdk_buf_str(&err));

		/* a template is configuration: the same for the whole role */
		reg_ledger_set_error(reg_db(s), it->id, msg);
		reg_sync_error(s, msg);
		reg_sync_stop(&s->template_error[role], msg);
		free(msg);
		reg_item_done(s, it);
		goto out;
	}
	reg_marker_for(r->sheet, r->email, marker);
	ctx = sdk_xcalloc(1, sizeof(*ctx));
	ctx->sync = s;
	ctx->item = it;
	mail = (struct reg_mail){
	    .to = r->email,
	    .subject = sdk_buf_str(&subject),
	    .text = sdk_buf_str(&text),
	    .html = html.len ? sdk_buf_str(&html) : NULL,
	    .role = r->role,
	    .marker = marker,
	    .on_send = reg_mail_sending,
	    .send_data = ctx,
	};
	reg_mailgun_send(reg, &mail, reg_mail_sent, ctx);
out:
	if (guide_url) {
		free(with_guide.headers);
		free(with_guide.values);
		free(guide_url);
	}
	sdk_buf_release(&subject);
	sdk_buf_release(&text);
	sdk_buf_release(&html);
	sdk_buf_release(&err);
}

/*
 * A mark found already in the sheet is a mark written: the write landed
 * but its answer was lost (killed in flight, connection cut after Google
 * applied it).  Recorded like a write that answered, or the registrant
 * would wait at "mailed" for ever: no later sync writes a cell that
 * already holds its value.
 */
static void reg_mark_found(struct reg_sync *s, const struct reg_registrant *r,
			   const char *mark)
{
	int final = strcmp(mark, s->reg->status_value) == 0;

	if (final ? strcmp(r->mark_state, "done") == 0
		  : r->mark_value && strcmp(r->mark_value, mark) == 0)
		return;
	reg_ledger_mark_set(reg_db(s), r->id, final ? "done" : "pending", mark,
			    r->last_error);
}

/* The mark a registrant's rows should carry now, or NULL. */
static const char *reg_wanted_mark(const struct reg *reg,
				   const struct reg_registrant *r)
{
	int card_ok = strcmp(r->card_state, "done") == 0 ||
		      strcmp(r->card_state, "skipped") == 0;

	if (r->imported || strcmp(r->status, "withdrawn") == 0 || !card_ok)
		return NULL;
	if (strcmp(r->mail_state, "sent") == 0)
		return reg->status_value;
	if (strcmp(r->mail_state, "unknown") == 0)
		return REG_MAIL_UNKNOWN_VALUE;
	return NULL;
}

static void reg_item_step(struct reg_sync *s, struct reg_item *it)
{
	struct reg *reg = s->reg;
	struct reg_registrant r;
	struct reg_record rec;
	const char *mark;

	if (reg_ledger_load(reg_db(s), it->id, &r) < 0) {
		reg_sync_error(s, "ledger: registrant vanished");
		reg_item_done(s, it);
		return;
	}
	if (reg_record_from_json(r.fields, &rec) < 0)
		rec = (struct reg_record){0, NULL, NULL};
	if (s->cancelled || strcmp(r.status, "withdrawn") == 0) {
		reg_item_done(s, it);
	} else if (strcmp(r.card_state, "pending") == 0) {
		if (s->trello_error || !s->list_id) {
			reg_ledger_set_error(reg_db(s), it->id,
					     s->trello_error
						 ? s->trello_error
						 : "trello: no list");
			reg_item_done(s, it);
		} else {
			reg_item_card(s, it, &r, &rec);
		}
	} else if (strcmp(r.card_state, "done") != 0 &&
		   strcmp(r.card_state, "skipped") != 0) {
		/* 'sending' unresolved, or 'failed': no mail before a card */
		reg_item_done(s, it);
	} else if (strcmp(r.mail_state, "pending") == 0) {
		const char *stop = s->mailgun_error;

		if (!stop)
			stop = s->template_error[strcmp(r.role, "mentor") == 0
						     ? REG_MENTOR
						     : REG_STUDENT];
		if (stop) {
			reg_ledger_set_error(reg_db(s), it->id, stop);
			reg_item_done(s, it);
		} else {
			reg_item_mail(s, it, &r, &rec);
		}
	} else {
		mark = reg_wanted_mark(reg, &r);
		for (int i = 0; mark && i < it->nrows; i++)
			reg_mark_add(s, it->sheet, it->rows[i], it->id, mark);
		/* every row already holds it (an earlier write landed) */
		if (mark && !it->nrows)
			reg_mark_found(s, &r, mark);
		reg_item_done(s, it);
	}
	reg_record_free(&rec);
	reg_registrant_free(&r);
}

/* ------------------------------------------------------------------------ */
/* Reading the sheets and building the work */

static struct reg_item *reg_item_for(struct reg_sync *s, int64_t id, int sheet)
{
	for (int i = s->nitems - 1; i >= 0 && i >= s->nitems - 64; i--)
		if (s->items[i].id == id)
			return &s->items[i];
	/* duplicates are rare and usually adjacent; fall back to a scan */
	for (int i = 0; i < s->nitems; i++)
		if (s->items[i].id == id)
			return &s->items[i];
	if (s->nitems == s->items_alloc) {
		s->items_alloc = s->items_alloc ? s->items_alloc * 2 : 64;
		s->items = sdk_xrealloc(s->items, (size_t)s->items_alloc *
						      sizeof(*s->items));
	}
	s->items[s->nitems] = (struct reg_item){id, sheet, NULL, 0, 0};
	return &s->items[s->nitems++];
}

static void reg_item_add_row(struct reg_item *it, int row)
{
	it->rows =
	    sdk_xrealloc(it->rows, (size_t)(it->nrows + 1) * sizeof(int));
	it->rows[it->nrows++] = row;
}

struct reg_seen {
	char *email; /* normalised */
	int row;
};

static int reg_seen_cmp(const void *a, const void *b)
{
	const struct reg_seen *x = a, *y = b;
	int c = strcmp(x->email, y->email);

	return c ? c : (x->row > y->row) - (x->row < y->row);
}

/*
 * Rows repeating an e-mail (a form sent twice, or an address differing
 * only in case or blanks) are one registrant, whose answers are the
 * last row's.  Not an error, but worth a note in the summary.
 */
static void reg_note_repeats(struct reg_sync *s,
			     const struct reg_sheet_cfg *sheet,
			     struct reg_seen *seen, int n)
{
	int repeats = 0, first = 0, of = 0;

	qsort(seen, (size_t)n, sizeof(*seen), reg_seen_cmp);
	for (int i = 1; i < n; i++) {
		if (strcmp(seen[i].email, seen[i - 1].email) != 0)
			continue;
		if (!repeats++ || seen[i].row < first) {
			first = seen[i].row;
			for (int k = i - 1;
			     k >= 0 &&
			     strcmp(seen[k].email, seen[i].email) == 0;
			     k--)
				of = seen[k].row;
		}
	}
	if (!repeats)
		return;
	if (s->notes.len)
		sdk_buf_adds(&s->notes, "; ");
	sdk_buf_addf(&s->notes,
		     "%d row(s) of %s repeat an e-mail (row %d repeats row "
		     "%d); the later row's answers are used",
		     repeats, sheet->name, first, of);
}

/* Records one sheet's rows in the ledger and collects the work. */
static void reg_sheet_ingest(struct reg_sync *s, int sheet_index)
{
	struct reg *reg = s->reg;
	const struct reg_sheet_cfg *sheet = &reg->sheets[sheet_index];
	struct reg_table *t = &s->tables[sheet_index];
	sqlite3 *db = reg_db(s);
	int email_col, name_col, status_col;
	char key[512];
	int bad_rows = 0, first_bad = 0, nseen = 0;
	struct reg_seen *seen =
	    sdk_xcalloc((size_t)t->nrows + 1, sizeof(*seen));

	email_col = reg_header_find(t->headers, t->ncols, reg->email_column);
	name_col = reg_header_find(t->headers, t->ncols, reg->name_column);
	status_col = reg_header_find(t->headers, t->ncols, reg->status_column);
	s->status_col[sheet_index] = status_col;
	if (t->ncols == 0) {
		char *e = sdk_xasprintf("sheets: %s is empty; row 1 must hold "
					"the headers",
					sheet->name);

		reg_sync_error(s, e);
		free(e);
		return;
	}
	if (email_col < 0 || name_col < 0) {
		/* rows without a name would be announced and carded as
		   "(no name)": the sheet waits for its header instead */
		char *e = sdk_xasprintf(
		    "sheets: no column \"%s\" in row 1 of %s; add it or set "
		    "%s",
		    email_col < 0 ? reg->email_column : reg->name_column,
		    sheet->name,
		    email_col < 0 ? "email_column" : "name_column");

		reg_sync_error(s, e);
		free(e);
		return;
	}
	snprintf(key, sizeof(key), "%s:%s", sheet->id,
		 sheet->role == REG_MENTOR ? "mentor" : "student");
	reg_ledger_exec(db, "BEGIN");
	for (int i = 0; i < t->nrows; i++) {
		char **cells = t->cells[i];
		char email[256];
		const char *status = status_col >= 0 ? cells[status_col] : "";
		struct reg_record rec = {t->ncols, t->headers, cells};
		struct reg_registrant r;
		char *fields, *name;
		int64_t id;
		int is_new, empty = 1, rc;
		const char *mark;

		for (int c = 0; c < t->ncols && empty; c++)
			if (c != status_col && cells[c][0])
				empty = 0;
		if (empty)
			continue; /* a blank line inside the sheet */
		s->rows++;
		if (reg_email_normalise(cells[email_col], email,
					sizeof(email)) < 0) {
			if (!bad_rows++)
				first_bad = t->row_numbers[i];
			continue;
		}
		seen[nseen++] =
		    (struct reg_seen){sdk_xstrdup(email), t->row_numbers[i]};
		fields = reg_record_to_json(&rec);
		/* the name goes to chat and lists: one line, bounded */
		name = reg_clean_line(cells[name_col], REG_NAME_MAX);
		rc = reg_ledger_upsert(
		    db, key, email,
		    sheet->role == REG_MENTOR ? "mentor" : "student",
		    name[0] ? name : "(no name)", fields, t->row_numbers[i],
		    status[0] != 0, &id, &is_new);
		free(name);
		if (rc < 0) {
			free(fields);
			reg_sync_error(s, "ledger: cannot record a row; check "
					  "the store");
			continue;
		}
		free(fields);
		if (is_new && !status[0])
			s->new_regs++;
		if (reg_ledger_load(db, id, &r) < 0)
			continue;
		mark = reg_wanted_mark(reg, &r);
		if (strcmp(r.status, "withdrawn") == 0 || r.imported) {
			/* nothing to do */
		} else if (mark) {
			if (strcmp(status, mark) != 0)
				reg_mark_add(s, sheet_index, t->row_numbers[i],
					     id, mark);
			else
				reg_mark_found(s, &r, mark);
		} else if (strcmp(r.card_state, "failed") != 0 &&
			   strcmp(r.mail_state, "failed") != 0) {
			struct reg_item *it = reg_item_for(s, id, sheet_index);

			if (strcmp(status, reg->status_value) != 0)
				reg_item_add_row(it, t->row_numbers[i]);
			if (strcmp(r.card_state, "pending") == 0 ||
			    strcmp(r.card_state, "sending") == 0)
				s->need_list = 1;
		}
		reg_registrant_free(&r);
	}
	if (reg_ledger_exec(db, "COMMIT") < 0) {
		reg_ledger_exec(db, "ROLLBACK");
		reg_sync_error(s, "ledger: cannot commit the rows read");
	}
	if (bad_rows) {
		char *e = sdk_xasprintf(
		    "sheets: %d row(s) of %s without a valid "
		    "e-mail, first row %d; fix the %s column",
		    bad_rows, sheet->name, first_bad, reg->email_column);

		reg_sync_error(s, e);
		free(e);
	}
	reg_note_repeats(s, sheet, seen, nseen);
	for (int i = 0; i < nseen; i++)
		free(seen[i].email);
	free(seen);
}

static void reg_sheet_read_done(struct reg *reg, struct reg_table *t,
				const char *error, void *data)
{
	struct reg_sync *s = data;
	int index = s->sheet_next - 1;

	s->waiting = 0;
	if (error) {
		if (strcmp(error, "cancelled") == 0)
			s->cancelled = 1;
		else
			reg_sync_error(s, error);
	} else {
		s->tables[index] = *t;
		reg_sheet_ingest(s, index);
	}
	reg_sync_advance(s);
}

/* ------------------------------------------------------------------------ */
/* Trello list and card lookups */

static void reg_list_found(struct reg *reg, const char *list_id,
			   const char *error, void *data)
{
	struct reg_sync *s = data;

	s->waiting = 0;
	if (error) {
		if (strcmp(error, "cancelled") == 0) {
			s->cancelled = 1;
		} else {
			s->trello_error = sdk_xstrdup(error);
			reg_sync_error(s, error);
		}
	} else {
		s->list_id = sdk_xstrdup(list_id);
	}
	s->phase = PH_RESOLVE;
	reg_sync_advance(s);
}

/*
 * Resolves cards in 'sending' against the list's cards: found by marker
 * means created (recorded now); not found means the POST never landed,
 * so the card step is pending again.
 */
static void reg_cards_listed(struct reg *reg, struct reg_trello_card *cards,
			     int n, const char *error, void *data)
{
	struct reg_sync *s = data;
	sqlite3 *db = reg_db(s);

	s->waiting = 0;
	if (error) {
		if (strcmp(error, "cancelled") == 0) {
			s->cancelled = 1;
		} else {
			reg_sync_error(s, error);
			/* without the lookup no card may be created again */
			free(s->trello_error);
			s->trello_error = sdk_xasprintf(
			    "%s; cards in doubt are left for the next sync",
			    error);
		}
		s->phase = PH_WORK;
		reg_sync_advance(s);
		return;
	}
	for (int i = 0; i < s->nitems; i++) {
		struct reg_registrant r;
		int found = -1;

		if (s->phase == PH_RECHECK) {
			int listed = 0;

			for (int k = 0; k < s->nrecheck; k++)
				if (s->recheck[k] == i)
					listed = 1;
			if (!listed)
				continue;
		}
		if (reg_ledger_load(db, s->items[i].id, &r) < 0)
			continue;
		if (strcmp(r.card_state, "sending") == 0) {
			for (int k = 0; k < n && found < 0; k++)
				if (cards[k].marker && r.marker &&
				    strcmp(cards[k].marker, r.marker) == 0)
					found = k;
			if (found >= 0) {
				reg_ledger_card_done(db, r.id, cards[found].id,
						     cards[found].url);
				s->cards++;
			} else {
				reg_ledger_card_set(db, r.id, "pending",
						    r.last_error);
			}
			if (s->phase == PH_RECHECK)
				reg_queue_push(s, i);
		}
		reg_registrant_free(&r);
	}
	if (s->phase == PH_RECHECK)
		s->nrecheck = 0;
	s->phase = PH_WORK;
	reg_sync_advance(s);
}

/* ------------------------------------------------------------------------ */
/* The driver */

/* Does one thing that can be done now; returns 1 when the sync ended. */
static int reg_sync_step(struct reg_sync *s)
{
	struct reg *reg = s->reg;

	if (s->waiting)
		return 0;
	switch (s->phase) {
	case PH_READ:
		if (!s->cancelled && s->sheet_next < reg->nsheets) {
			s->waiting = 1;
			s->sheet_next++;
			reg_sheets_read(reg, &reg->sheets[s->sheet_next - 1],
					reg_sheet_read_done, s);
			return 0;
		}
		for (int i = 0; i < s->nitems; i++)
			reg_queue_push(s, i);
		s->phase = PH_LIST;
		s->again = 1;
		return 0;
	case PH_LIST:
		if (s->need_list && !s->cancelled) {
			s->waiting = 1;
			reg_trello_find_list(reg, reg_list_found, s);
			return 0;
		}
		s->phase = PH_WORK;
		s->again = 1;
		return 0;
	case PH_RESOLVE: {
		int doubt = 0;

		for (int i = 0; i < s->nitems && !doubt && s->list_id; i++) {
			struct reg_registrant r;

			if (reg_ledger_load(reg_db(s), s->items[i].id, &r) < 0)
				continue;
			doubt = strcmp(r.card_state, "sending") == 0;
			reg_registrant_free(&r);
		}
		if (doubt && !s->cancelled) {
			s->waiting = 1;
			reg_trello_list_cards(reg, s->list_id, reg_cards_listed,
					      s);
			return 0;
		}
		s->phase = PH_WORK;
		s->again = 1;
		return 0;
	}
	case PH_WORK:
		if (s->nmarks >= REG_MARK_BATCH && !s->marks_inflight)
			reg_marks_flush(s);
		while (!s->cancelled && s->qnext < s->nqueue &&
		       s->active < reg->concurrency) {
			struct reg_item *it = &s->items[s->queue[s->qnext++]];

			s->active++;
			reg_item_step(s, it);
		}
		if (s->active || (s->qnext < s->nqueue && !s->cancelled))
			return 0;
		if (s->nrecheck && !s->cancelled && s->list_id &&
		    s->recheck_rounds < REG_RECHECK_ROUNDS) {
			s->recheck_rounds++;
			s->phase = PH_RECHECK;
			s->waiting = 1;
			reg_trello_list_cards(reg, s->list_id, reg_cards_listed,
					      s);
			return 0;
		}
		s->phase = PH_MARK;
		s->again = 1;
		return 0;
	case PH_RECHECK:
		return 0;
	case PH_MARK:
		if (s->marks_inflight)
			return 0;
		if (s->nmarks && !s->cancelled) {
			reg_marks_flush(s);
			s->again = 1;
			return 0;
		}
		s->phase = PH_DONE;
		reg_sync_finish(s);
		return 1;
	case PH_DONE:
		return 1;
	}
	return 0;
}

static void reg_sync_advance(struct reg_sync *s)
{
	if (s->advancing) {
		s->again = 1;
		return;
	}
	s->advancing = 1;
	do {
		s->again = 0;
		if (reg_sync_step(s))
			return; /* freed */
	} while (s->again);
	s->advancing = 0;
}

/* ------------------------------------------------------------------------ */

int reg_sync_start(struct reg *reg, struct opsbot_request *req,
		   const char *label, char **why)
{
	struct reg_sync *s;
	char *holder = NULL;
	int rc;

	if (why)
		*why = NULL;
	if (reg->sync) {
		if (why)
			*why = sdk_xasprintf(
			    "%s is already running (started %lld s ago)",
			    reg->sync->label,
			    (long long)((reg->api->now_ms() -
					 reg->sync->started) /
					1000));
		return 1;
	}
	rc = reg_ledger_lease_acquire(reg->api->store(reg->self), reg->owner,
				      (long)getpid(), reg->host, reg_wall_ms(),
				      reg->lease_ttl_ms, &holder);
	if (rc != 0) {
		if (why)
			*why = rc > 0
				   ? sdk_xasprintf("a sync is already "
						   "running (%s)",
						   holder)
				   : sdk_xstrdup("ledger: cannot take the "
						 "sync lease; check the store");
		free(holder);
		return rc > 0 ? 1 : -1;
	}
	s = sdk_xcalloc(1, sizeof(*s));
	s->reg = reg;
	s->req = req;
	snprintf(s->label, sizeof(s->label), "%s", label);
	s->started = reg->api->now_ms();
	s->tables = sdk_xcalloc((size_t)reg->nsheets, sizeof(*s->tables));
	s->status_col = sdk_xcalloc((size_t)reg->nsheets, sizeof(int));
	reg->sync = s;
	rc = reg_ledger_recover(reg->api->store(reg->self));
	if (rc > 0)
		reg->api->log(reg->self, OPSBOT_LOG_WARN,
			      "%d mail(s) were being sent when the bot "
			      "stopped; marked unknown",
			      rc);
	s->lease_timer = reg->api->timer_start(
	    reg->self, (long)(reg->lease_ttl_ms / 3), reg_lease_timer_fn, reg);
	if (s->lease_timer < 0)
		s->lease_timer = 0;
	reg_sync_advance(s);
	return 0;
}

static long reg_periodic_fn(struct opsbot_plugin *self, int status, void *data)
{
	struct reg *reg = data;
	char *why = NULL;

	if (status != OPSBOT_OK) {
		reg->periodic_timer = 0;
		return OPSBOT_TIMER_STOP;
	}
	if (reg_sync_start(reg, NULL, "the periodic sync", &why) != 0)
		reg->api->log(reg->self, OPSBOT_LOG_INFO,
			      "periodic sync skipped: %s", why ? why : "");
	free(why);
	return reg->sync_interval_ms > 0 ? (long)reg->sync_interval_ms
					 : OPSBOT_TIMER_STOP;
}

void reg_sync_periodic_start(struct reg *reg)
{
	if (reg->sync_interval_ms <= 0)
		return;
	reg->periodic_timer = reg->api->timer_start(
	    reg->self, (long)reg->sync_start_delay_ms, reg_periodic_fn, reg);
	if (reg->periodic_timer < 0)
		reg->periodic_timer = 0;
}

/*
 * registrar.h - the registrar plugin's internal interface: text helpers
 * (text.c), the SQLite ledger (ledger.c), the HTTP call scheduler
 * (client.c), one file per service (google_auth.c, sheets.c, trello.c,
 * mailgun.c), the sync (sync.c) and the commands (registrar.c).
 *
 * Everything here is hidden in the .so (-fvisibility=hidden); the names
 * carry a reg_ prefix so unit tests can link these files next to the host.
 * What any plugin could use (buffers, backoff, the HTTP call queue, text
 * cleaning) is the SDK's: plugins/sdk/opsbot_sdk.h.
 */
#ifndef REGISTRAR_H
#define REGISTRAR_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "opsbot.h"
#include "opsbot_sdk.h"

struct sqlite3;

/* ------------------------------------------------------------------------ */
/* text.c: records, templates, e-mail addresses, encodings                   */

/* One sheet row (or registrant) as header/value pairs, in column order. */
struct reg_record {
	int ncols;
	char **headers; /* borrowed or owned, see reg_record_free() */
	char **values;
};

/* Frees headers, values and their strings. */
void reg_record_free(struct reg_record *rec);
/* JSON [[header, value], ...] <-> record (owned strings). */
char *reg_record_to_json(const struct reg_record *rec);
int reg_record_from_json(const char *json, struct reg_record *rec);
/* The value under a header (see reg_header_find), or NULL. */
const char *reg_record_get(const struct reg_record *rec, const char *header);

/*
 * The index of a header: exact match first, then without case and
 * surrounding blanks.  -1 if absent.
 */
int reg_header_find(char *const *headers, int n, const char *name);

/* Where a rendered template goes, which decides what values may hold. */
enum reg_tpl_mode {
	REG_TPL_TEXT, /* a mail body: values as cleaned, line breaks kept */
	REG_TPL_HTML, /* an HTML mail body: values HTML-escaped */
	REG_TPL_LINE, /* a subject, a card name: breaks become spaces */
};

/*
 * Fills "{Column}" placeholders from rec ("{{" and "}}" are literal
 * braces) as mode says.  Returns 0, or -1 with a message in err ("no
 * column \"Foo\" in the sheet; ..."), which the caller prefixes with the
 * configuration key of the template.
 */
int reg_template_render(const char *tpl, const struct reg_record *rec,
			enum reg_tpl_mode mode, struct sdk_buf *out,
			struct sdk_buf *err);

/* Appends s with & < > " ' as HTML entities. */
void reg_html_escape(struct sdk_buf *out, const char *s);

/* Checks a template's syntax only (braces); 0, or -1 with err. */
int reg_template_check(const char *tpl, struct sdk_buf *err);

/*
 * Normalises an e-mail address: trims blanks, takes the part inside
 * "Name <addr>", lowercases it.  Returns 0, or -1 if it does not look
 * like local@domain.
 */
int reg_email_normalise(const char *in, char *out, size_t size);

/*
 * A name folded for lookups: lower case, Latin letters without their
 * accents ("Émile" -> "emile", "Ł" -> "l", "ß" -> "ss"), Greek and
 * Cyrillic capitals to small letters, blanks collapsed and trimmed.
 * free() it.
 */
char *reg_fold(const char *s);

/* Replaces anything that looks like an e-mail address by "<e-mail>". */
char *reg_scrub_emails(const char *text);

/* base64url without padding. */
void reg_base64url(struct sdk_buf *b, const unsigned char *data, size_t n);

/* A1 column letters for a 0-based index: 0 -> "A", 26 -> "AA". */
void reg_a1_column(int index, char out[8]);
/* 'Tab name' quoted for A1 notation ('' doubles a quote). */
void reg_a1_tab(struct sdk_buf *b, const char *tab);

/* 64-bit FNV-1a of a string, for the card marker. */
uint64_t reg_fnv1a(const char *s, uint64_t h);

/*
 * Text from the sheet is cleaned once, where it is read (sdk_text_clean:
 * no control characters, IRC formatting or direction overrides, valid
 * UTF-8, bounded).  A cell keeps its line breaks (a form's paragraph
 * answers) for card descriptions and mail bodies; whatever goes to chat,
 * a mail header or a card name is one line (reg_clean_line, REG_TPL_LINE).
 * free() the results.
 */
#define REG_CELL_MAX 4000 /* bytes of a cell */
#define REG_NAME_MAX 200  /* bytes of a registrant's name in the ledger */
char *reg_clean_cell(const char *s);
char *reg_clean_line(const char *s, size_t max);

/*
 * Chat lines are kept to REG_CHAT_LINE_MAX bytes so the host never splits
 * one (its limit is 512 bytes with the prefix and target; this leaves
 * room for a 100-byte prefix and a long channel name).
 */
#define REG_CHAT_LINE_MAX 380

/*
 * Joins items with ", " into at most max_lines lines of at most per_line
 * items and line_max bytes each (an item longer than line_max has a line
 * of its own: callers cap items first).  Fills lines (max_lines slots,
 * free() each) and *nlines; returns how many items were left out.
 */
int reg_pack_lines(char *const *items, int n, int per_line, int max_lines,
		   size_t line_max, char **lines, int *nlines);

/*
 * One line of at most line_max bytes: head, then errors (oldest first in
 * the array) newest first, each cut to a third of the line, a cause shared
 * with a newer error given once ("...: the same"), as many as fit; "N more in
 * the log" for the rest; then notes if they fit.  free() it.
 */
char *reg_summary_line(const char *head, char *const *errors, int n,
		       const char *notes, size_t line_max);

/* ------------------------------------------------------------------------ */
/* ledger.c: registrants, their steps, the sync lease                       */

extern const char *const reg_ledger_schema[];
extern const int reg_ledger_schema_count;

enum reg_role { REG_STUDENT, REG_MENTOR };

/* One registrant as stored (owned strings; reg_registrant_free). */
struct reg_registrant {
	int64_t id;
	char *sheet, *email, *role, *name, *fields;
	char *status;	  /* new active waitlist withdrawn complete */
	char *card_state; /* pending sending done failed skipped */
	char *card_id, *card_url, *marker;
	char *mail_state; /* pending sending sent failed unknown skipped */
	char *mail_id;
	char *mark_state; /* pending done failed */
	char *mark_value;
	char *last_error;
	char *progress; /* from the registrar_progress view */
	int imported;	/* found marked in the sheet before the ledger */
	int64_t row;
	int64_t created_at, updated_at;
};

void reg_registrant_free(struct reg_registrant *r);

/* Wall clock in ms (leases and timestamps are shared between processes). */
int64_t reg_wall_ms(void);

/* Finalizes the statements kept for db (NULL: all); before unloading. */
void reg_ledger_close(struct sqlite3 *db);

/* Runs one statement without results; returns 0 or -1. */
int reg_ledger_exec(struct sqlite3 *db, const char *sql);

/*
 * Inserts the registrant if (sheet, email) is new; otherwise refreshes
 * name, fields and row.  imported: the row was already marked in the
 * sheet, so it is recorded as done without card or mail.  Sets *id and
 * *is_new.  Returns 0 or -1.
 */
int reg_ledger_upsert(struct sqlite3 *db, const char *sheet, const char *email,
		      const char *role, const char *name, const char *fields,
		      int64_t row, int imported, int64_t *id, int *is_new);

int reg_ledger_load(struct sqlite3 *db, int64_t id, struct reg_registrant *r);

/*
 * Step transitions.  Each is one committed statement, so a kill between
 * any two leaves a state the next sync can continue from:
 *   card: pending -> sending (marker recorded) -> done | failed | pending
 *   mail: pending -> sending -> sent | failed | unknown | pending
 * error may be NULL (clears last_error).
 */
/* card_begin and mail_begin: 0, 1 if the step is no longer pending
   (another sync took it), or -1. */
int reg_ledger_card_begin(struct sqlite3 *db, int64_t id, const char *marker);
int reg_ledger_card_done(struct sqlite3 *db, int64_t id, const char *card_id,
			 const char *url);
int reg_ledger_card_set(struct sqlite3 *db, int64_t id, const char *state,
			const char *error);
int reg_ledger_mail_begin(struct sqlite3 *db, int64_t id);
int reg_ledger_mail_sent(struct sqlite3 *db, int64_t id, const char *mail_id);
int reg_ledger_mail_set(struct sqlite3 *db, int64_t id, const char *state,
			const char *error);
int reg_ledger_mark_set(struct sqlite3 *db, int64_t id, const char *state,
			const char *value, const char *error);
int reg_ledger_set_error(struct sqlite3 *db, int64_t id, const char *error);
int reg_ledger_set_status(struct sqlite3 *db, int64_t id, const char *status);

/*
 * After a crash: a mail left in 'sending' may have gone out, so it becomes
 * 'unknown' (shown to mentors, never resent without a confirmed resend).
 * Cards left in 'sending' stay: the sync looks for their marker first.
 * Returns the number of mails changed, or -1.
 */
int reg_ledger_recover(struct sqlite3 *db);

/*
 * Makes a registrant's failed steps pending again (retry) or its mail
 * pending again (resend).  Returns 0, or -1.
 */
int reg_ledger_retry(struct sqlite3 *db, int64_t id);
int reg_ledger_resend(struct sqlite3 *db, int64_t id);

/*
 * Finds registrants by "#<id>", by e-mail (exact, normalised) or by name
 * (equal after reg_fold, else containing it after reg_fold).  Fills up to
 * max ids; returns the number found (may exceed max), or -1.
 */
int reg_ledger_find(struct sqlite3 *db, const char *who, int64_t *ids, int max);

/* Calls fn for each registrant with the progress (NULL: all), by name. */
typedef void reg_ledger_row_fn(const char *name, const char *role,
			       const char *progress, void *data);
int reg_ledger_list(struct sqlite3 *db, const char *progress,
		    reg_ledger_row_fn *fn, void *data);
/* Calls fn(name=progress, role, progress=count as text) per group. */
int reg_ledger_stats(struct sqlite3 *db, reg_ledger_row_fn *fn, void *data);

/* Registrants not yet announced in the channel; marks them announced. */
int reg_ledger_take_unannounced(struct sqlite3 *db, reg_ledger_row_fn *fn,
				void *data);

/*
 * The sync lease: one row shared by every process using the store.
 * acquire returns 0 (ours now), 1 (held by a live owner; *holder says
 * who, free() it) or -1.  A lease is free when it expired, or when its
 * owner on this host is no longer running.
 */
int reg_ledger_lease_acquire(struct sqlite3 *db, const char *owner, long pid,
			     const char *host, int64_t now_ms, int64_t ttl_ms,
			     char **holder);
int reg_ledger_lease_renew(struct sqlite3 *db, const char *owner,
			   int64_t now_ms, int64_t ttl_ms);
int reg_ledger_lease_release(struct sqlite3 *db, const char *owner);

/*
 * Resend confirmations: a code for one registrant, valid until expires_ms,
 * that only the asker (an identity such as "account:alice") may use.
 * A new request replaces the registrant's pending one.
 */
int reg_ledger_confirm_put(struct sqlite3 *db, int64_t id, const char *asker,
			   const char *code, int64_t expires_ms);

enum reg_confirm {
	REG_CONFIRM_OK,	     /* the asker's code, in time: consumed */
	REG_CONFIRM_NONE,    /* nothing waits for confirmation */
	REG_CONFIRM_EXPIRED, /* too late: dropped */
	REG_CONFIRM_WRONG,   /* another code: dropped, no second guess */
	REG_CONFIRM_OTHER,   /* someone else asked: kept for them */
};

/* Checks a code; returns an enum reg_confirm, or -1. */
int reg_ledger_confirm_take(struct sqlite3 *db, int64_t id, const char *asker,
			    const char *code, int64_t now_ms);

/* ------------------------------------------------------------------------ */
/* Configuration and plugin state                                            */

struct reg_sheet_cfg {
	enum reg_role role;
	char *id;   /* spreadsheet id */
	char *tab;  /* sheet (tab) name */
	char *name; /* "students" style label for messages: role + index */
};

enum reg_service {
	REG_SVC_GOOGLE, /* token endpoint and Sheets */
	REG_SVC_TRELLO,
	REG_SVC_MAILGUN,
	REG_SVC_GERRIT,
	REG_SVC_COUNT,
};

struct reg_sync;
struct reg_google_auth;
struct reg_gerrit_round;

/* How a step of the guide is verified. */
enum reg_verify {
	REG_VERIFY_SELF,	    /* the registrant ticks it on the page */
	REG_VERIFY_MENTOR,	    /* a mentor ticks it (!reg done) */
	REG_VERIFY_GERRIT_ACCOUNT,  /* an account with their e-mail */
	REG_VERIFY_GERRIT_UPLOADED, /* a change they own */
	REG_VERIFY_GERRIT_MERGED,   /* a merged change they own */
	REG_VERIFY_COUNT,
};

#define REG_GUIDE_MAX_STEPS 32
#define REG_GUIDE_MAX_LINKS 4

struct reg_guide_link {
	char *url, *text;
};

/* A services account and the mentor's name as the sheet spells it. */
struct reg_mentor_map {
	char *account, *name;
};

/* A step of the path, from the steps file. */
struct reg_guide_step {
	char *id, *title, *help; /* help: lines separated by LF */
	int verify;		 /* enum reg_verify */
	struct reg_guide_link links[REG_GUIDE_MAX_LINKS];
	int nlinks;
};

struct reg {
	struct opsbot_plugin *self;
	const struct opsbot_api *api;

	struct reg_sheet_cfg *sheets;
	int nsheets;

	const char *sheets_url, *google_key, *google_api_key;
	const char *status_column, *status_value, *email_column, *name_column;
	const char *trello_url, *trello_key, *trello_token, *trello_board;
	const char *trello_list, *card_title;
	char *mailgun_base; /* .../v3 */
	const char *mailgun_domain, *mailgun_key;
	const char *mail_from, *mail_cc, *mail_reply_to;
	char *tpl_subject[2], *tpl_text[2], *tpl_html[2]; /* by role */
	const char *channel;
	long long sync_interval_ms, sync_start_delay_ms, http_timeout_ms;
	long long backoff_base_ms, backoff_max_ms, trello_429_ms, lease_ttl_ms;
	long long confirm_ms;
	int concurrency, max_attempts;

	struct reg_google_auth *google;

	/* client.c: the SDK's queue, one service per enum reg_service */
	struct sdk_http_queue http;

	/* sync.c */
	struct reg_sync *sync;
	int sync_again;
	int64_t periodic_timer;
	char owner[96]; /* lease owner token: host:pid:random */
	char host[64];
	char *last_sync_error;
	int closing;

	/* guide.c, gerrit.c */
	const char *guide_url; /* NULL: no pages */
	const char *class_column, *mentor_column, *guide_channel;
	int stuck_days;
	long long link_ttl_ms;
	struct reg_guide_step *steps;
	int nsteps;
	unsigned char guide_key[32];
	char guide_csp[256];
	struct reg_mentor_map *mentors; /* [plugin.registrar] mentor */
	int nmentors;
	const char *gerrit_url, *gerrit_user, *gerrit_password;
	long long gerrit_interval_ms;
	struct reg_gerrit_round *gerrit_round;
};

/* registrar.c: a UTF-8 text file into *out (free() it), or -1 with err. */
int reg_read_text_file(const char *key, const char *path, char **out,
		       struct sdk_buf *err);

/* ------------------------------------------------------------------------ */
/* client.c: the registrar's use of the SDK's HTTP call queue              */

/* What an HTTP call came to, as the steps see it. */
enum reg_outcome {
	REG_OK,	       /* a 2xx answer */
	REG_FAILED,    /* a definite failure: the request was not acted on,
			  or the service refused it */
	REG_UNKNOWN,   /* a non-idempotent request may or may not have been
			  acted on (timeout or cut after sending, 5xx) */
	REG_CANCELLED, /* the plugin is going away */
	REG_SKIPPED,   /* not sent: on_send refused (the step is no longer
			  pending, or the store failed) */
};

struct reg_result {
	enum reg_outcome outcome;
	long code;	  /* HTTP code, 0 if none */
	const char *body; /* "" if none */
	size_t body_len;
	const char *cause; /* one line: "429 too many requests", ... */
	int transient;	   /* FAILED after retries of a passing condition
			      (429, 5xx, connect errors): try next sync */
};

typedef void reg_call_fn(struct reg *reg, const struct reg_result *res,
			 void *data);

/* Why a card or mail step failed; it decides what becomes of the step. */
enum reg_failure {
	REG_FAIL_ROW,	  /* the registrant's data was refused: 'failed'
			     until !reg retry */
	REG_FAIL_PASSING, /* rate limit, 5xx, network: pending, tried again
			     at the next sync */
	REG_FAIL_CONFIG,  /* credentials, ids, addresses or templates from
			     the configuration: pending, and the service is
			     not used again in this sync; fixing the
			     configuration is enough, no !reg retry */
};

/*
 * Queues a call (call->service is an enum reg_service); fn runs exactly
 * once, possibly after retries.  The mail step's on_send records
 * 'sending' only while a request is really out, so a kill while a mail
 * waits out a 429 does not make it unknown.
 */
void reg_call(struct reg *reg, const struct sdk_http_call *call,
	      reg_call_fn *fn, void *data);
/* Drops queued calls (their callbacks run with REG_CANCELLED). */
void reg_client_cancel_all(struct reg *reg);
/* Sets the queue up from concurrency, max_attempts, backoff_*_ms,
   trello_429_ms and http_timeout_ms, without rate limits. */
void reg_client_init(struct reg *reg);

/* ------------------------------------------------------------------------ */
/* google_auth.c: service-account JWT and the access token cache            */

struct reg_google_key {
	char *client_email, *private_key, *token_uri, *key_id;
};

int reg_google_key_parse(const char *json, struct reg_google_key *key,
			 struct sdk_buf *err);
void reg_google_key_free(struct reg_google_key *key);
/* header.claims.signature, RS256; now in seconds since the epoch. */
int reg_jwt_build(const struct reg_google_key *key, const char *scope,
		  long long now, struct sdk_buf *jwt, struct sdk_buf *err);

/* Called with "Authorization: Bearer ..." (or NULL for an API key) or an
   error. */
typedef void reg_auth_fn(struct reg *reg, const char *auth_header,
			 const char *error, void *data);
int reg_google_setup(struct reg *reg, struct sdk_buf *err);
void reg_google_auth(struct reg *reg, reg_auth_fn *fn, void *data);
/*
 * When a token that lives expires_in_s seconds, fetched at now_ms, is
 * renewed: at 80 % of its life, at most 5 minutes before it expires (a
 * fixed margin would renew a short-lived token before every call).
 */
int64_t reg_token_refresh_at(int64_t now_ms, long long expires_in_s);
/* After a 401: forget the cached token. */
void reg_google_invalidate(struct reg *reg);
void reg_google_free(struct reg *reg);

/* ------------------------------------------------------------------------ */
/* sheets.c                                                                  */

struct reg_table {
	int ncols;
	char **headers;
	int nrows;
	char ***cells;	  /* nrows rows of ncols cells ("" where ragged) */
	int *row_numbers; /* 1-based sheet row of each */
};

void reg_table_free(struct reg_table *t);
/* Parses a ValueRange body. 0, or -1 with err. No "values": 0 rows. */
int reg_table_parse(const char *body, struct reg_table *t, struct sdk_buf *err);

typedef void reg_sheet_read_fn(struct reg *reg, struct reg_table *t,
			       const char *error, void *data);
void reg_sheets_read(struct reg *reg, const struct reg_sheet_cfg *sheet,
		     reg_sheet_read_fn *fn, void *data);

struct reg_cell_write {
	int row, col; /* 1-based row, 0-based column */
	const char *value;
};
typedef void reg_sheet_write_fn(struct reg *reg, const char *error, void *data);
/* values:batchUpdate with valueInputOption RAW. */
void reg_sheets_write(struct reg *reg, const struct reg_sheet_cfg *sheet,
		      const struct reg_cell_write *cells, int n,
		      reg_sheet_write_fn *fn, void *data);

/* ------------------------------------------------------------------------ */
/* trello.c                                                                  */

struct reg_trello_card {
	char *id, *url, *marker; /* marker: found in desc, or NULL */
};

typedef void reg_trello_list_fn(struct reg *reg, const char *list_id,
				const char *error, void *data);
void reg_trello_find_list(struct reg *reg, reg_trello_list_fn *fn, void *data);

typedef void reg_trello_cards_fn(struct reg *reg, struct reg_trello_card *cards,
				 int n, const char *error, void *data);
void reg_trello_list_cards(struct reg *reg, const char *list_id,
			   reg_trello_cards_fn *fn, void *data);

/* outcome REG_OK with card, or FAILED/UNKNOWN with error. */
typedef void reg_trello_card_fn(struct reg *reg, enum reg_outcome outcome,
				enum reg_failure why,
				const struct reg_trello_card *card,
				const char *error, void *data);
void reg_trello_create_card(struct reg *reg, const char *list_id,
			    const char *name, const char *desc,
			    reg_trello_card_fn *fn, void *data);
/* The marker line put in a card description and looked for later. */
#define REG_MARKER_PREFIX "opsbot-registrar-ref: "
/* Finds the marker in a description; returns it (owned) or NULL. */
char *reg_trello_marker_in(const char *desc);
void reg_trello_card_free(struct reg_trello_card *c);
/* What a failed card POST means (exposed for tests). */
enum reg_failure reg_trello_failure(const struct reg_result *res);

/* ------------------------------------------------------------------------ */
/* mailgun.c                                                                 */

struct reg_mail {
	const char *to, *subject, *text, *html, *role, *marker;
	sdk_http_send_fn *on_send; /* see reg_call() */
	void *send_data;
};

typedef void reg_mail_fn(struct reg *reg, enum reg_outcome outcome,
			 enum reg_failure why, const char *mail_id,
			 const char *error, void *data);
void reg_mailgun_send(struct reg *reg, const struct reg_mail *mail,
		      reg_mail_fn *fn, void *data);
/* What a failed send means, and the hint for it (exposed for tests). */
enum reg_failure reg_mailgun_failure(const struct reg_result *res,
				     const char **hint);
/* The form body of a message (exposed for tests). */
void reg_mailgun_form(const struct reg *reg, const struct reg_mail *mail,
		      struct sdk_buf *b);

/* ------------------------------------------------------------------------ */
/* sync.c                                                                    */

/*
 * Starts a sync unless one runs.  req (may be NULL) is ended with done()
 * when the sync ends; label says whose sync it is in a refusal ("the
 * periodic sync").  Returns 0 if started, 1 if one is already running
 * (here or in another process; *why is set, free() it), -1 on error.
 */
int reg_sync_start(struct reg *reg, struct opsbot_request *req,
		   const char *label, char **why);
void reg_sync_periodic_start(struct reg *reg);
/* The card title and description of a registrant (exposed for tests). */
int reg_card_text(const struct reg *reg, const struct reg_record *rec,
		  const char *marker, struct sdk_buf *title,
		  struct sdk_buf *desc, struct sdk_buf *err);
void reg_marker_for(const char *sheet, const char *email, char out[40]);

/* ------------------------------------------------------------------------ */
/* guide.c: the registrants' and mentors' pages                             */

/* Parses a steps file ([id], title, help, link, verify). */
int reg_guide_steps_parse(const char *text, const char *where,
			  struct reg_guide_step **out, int *nout,
			  struct sdk_buf *err);
void reg_guide_steps_free(struct reg_guide_step *steps, int n);
/* Reads the guide's keys and steps; 0, or -1 with err. */
int reg_guide_setup(struct reg *reg, struct sdk_buf *err);
/* Loads (or makes) the signing key; in the daemon adds the routes and
   starts the Gerrit polling.  0 or -1 (logged). */
int reg_guide_start(struct reg *reg);
void reg_guide_free(struct reg *reg);
/* A new capability token for a registrant (the old one stops working);
   the token (free() it) or NULL. */
char *reg_guide_issue(struct reg *reg, int64_t id);
/* The page's address for a token, and a mentor's signed class link. */
char *reg_guide_url_for(const struct reg *reg, const char *token);
char *reg_guide_mentor_url(const struct reg *reg, const char *who,
			   int64_t expires_s);
/* Deletes a registrant's token: 1, 0 if there was none, or -1. */
int reg_guide_revoke(struct reg *reg, int64_t id);
int reg_guide_step_index(const struct reg *reg, const char *id);
/* done[i] for each configured step, by_self[i] (or NULL) for those the
 * registrant ticked, and the last step's time (or NULL). */
int reg_guide_done_steps(struct reg *reg, int64_t id, int *done, int *by_self,
			 int64_t *last_ms);
/* Records a step done: 1, 0 if it was already, or -1.  Ticks and
   un-ticks are kept in registrar_guide_step_log (who, when). */
int reg_guide_mark(struct reg *reg, int64_t id, const char *step,
		   const char *by, const char *detail);
/* Un-ticks a step: 1, 0 if it was not done (or, only_self, not ticked by
   the registrant), or -1. */
int reg_guide_unmark(struct reg *reg, int64_t id, const char *step,
		     const char *by, int only_self);
/* The mentor's name an asker ("account:alice") maps to, or NULL. */
const char *reg_guide_mentor_name(const struct reg *reg, const char *who);
/* Announces a first merged change in the class channel, once ever. */
void reg_guide_milestone(struct reg *reg, int64_t id, const char *project);
/* A parameter of a query or form body, decoded; 0 or -1. */
int reg_form_param(const char *q, const char *name, char *out, size_t size);
/* One row of the class page. */
struct reg_class_row {
	int64_t id;
	char *name, *klass, *mentor;
	int done;
	int64_t last_ms; /* the last step done, else the registration */
	int stuck;
};
int reg_guide_class(struct reg *reg, struct reg_class_row **rows);
void reg_guide_class_free(struct reg_class_row *rows, int n);
void reg_guide_render_class(struct reg *reg, struct sdk_buf *b,
			    struct reg_class_row *rows, int n, const char *sort,
			    const char *base);
/* The same, for mentor (NULL: the whole class, with no filter to show):
   only mentor's students unless all; base has no "all". */
void reg_guide_render_class_for(struct reg *reg, struct sdk_buf *b,
				struct reg_class_row *rows, int n,
				const char *sort, const char *base,
				const char *mentor, int all);
/* Sorts by name, class, mentor, done (most first), idle (longest
   first) or stuck (first), then name. */
void reg_guide_class_sort(struct reg_class_row *rows, int n, const char *key);
void reg_guide_css_policy(struct reg *reg);

/* gerrit.c */
int reg_gerrit_setup(struct reg *reg, struct sdk_buf *err);
void reg_gerrit_start(struct reg *reg);
/* A Gerrit answer's JSON without its ")]}'" line (json_t *), or NULL. */
struct json_t;
struct json_t *reg_gerrit_json(const char *body);
/* Starts a round now: 0, 1 if one runs (or no Gerrit), -1. */
int reg_gerrit_poll(struct reg *reg);

#endif /* REGISTRAR_H */

/*
 * test_registrar_ledger.c - the registrar's ledger on an in-memory SQLite:
 * schema, upsert keyed by sheet and e-mail, the step state machine and
 * the progress view, crash recovery, lookups, the lease, confirmations.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "../../plugins/registrar/registrar.h"
#include "../lib/check_main.h"

static sqlite3 *db;

static void setup(void)
{
	ck_assert_int_eq(sqlite3_open(":memory:", &db), SQLITE_OK);
	for (int i = 0; i < reg_ledger_schema_count; i++)
		ck_assert_int_eq(
		    sqlite3_exec(db, reg_ledger_schema[i], NULL, NULL, NULL),
		    SQLITE_OK);
}

static void teardown(void)
{
	reg_ledger_close(db);
	ck_assert_int_eq(sqlite3_close(db), SQLITE_OK);
}

static int64_t add(const char *sheet, const char *email, const char *role,
		   const char *name, int64_t row, int imported, int *is_new)
{
	int64_t id = 0;

	ck_assert_int_eq(reg_ledger_upsert(db, sheet, email, role, name,
					   "[[\"Name\",\"x\"]]", row, imported,
					   &id, is_new),
			 0);
	return id;
}

static char *progress(int64_t id)
{
	struct reg_registrant r;
	char *p;

	ck_assert_int_eq(reg_ledger_load(db, id, &r), 0);
	p = strdup(r.progress);
	reg_registrant_free(&r);
	return p;
}

#define ck_progress(id, want)                                                  \
	do {                                                                   \
		char *p_ = progress(id);                                       \
		ck_assert_str_eq(p_, want);                                    \
		free(p_);                                                      \
	} while (0)

START_TEST(test_upsert_key_is_sheet_and_email)
{
	int is_new;
	int64_t a =
	    add("S:student", "ada@x.org", "student", "Ada", 2, 0, &is_new);
	int64_t b;

	ck_assert_int_eq(is_new, 1);
	/* the same person on another row (a column moved, rows sorted) */
	b = add("S:student", "ada@x.org", "student", "Ada L", 7, 0, &is_new);
	ck_assert_int_eq(is_new, 0);
	ck_assert_int_eq(a, b);
	/* the same e-mail on the mentor sheet is someone else's record */
	b = add("S:mentor", "ada@x.org", "mentor", "Ada", 2, 0, &is_new);
	ck_assert_int_eq(is_new, 1);
	ck_assert_int_ne(a, b);
	{
		struct reg_registrant r;

		ck_assert_int_eq(reg_ledger_load(db, a, &r), 0);
		ck_assert_str_eq(r.name, "Ada L");
		ck_assert_int_eq(r.row, 7);
		ck_assert_str_eq(r.card_state, "pending");
		reg_registrant_free(&r);
		ck_assert_int_eq(reg_ledger_load(db, b, &r), 0);
		ck_assert_str_eq(r.card_state, "skipped");
		reg_registrant_free(&r);
	}
}
END_TEST

START_TEST(test_student_steps_and_progress)
{
	int is_new;
	int64_t id =
	    add("S:student", "ada@x.org", "student", "Ada", 2, 0, &is_new);

	ck_progress(id, "new");
	ck_assert_int_eq(reg_ledger_card_begin(db, id, "r1"), 0);
	ck_progress(id, "new");
	/* a second begin (another sync) is refused: no second POST */
	ck_assert_int_eq(reg_ledger_card_begin(db, id, "r1"), 1);
	ck_assert_int_eq(reg_ledger_card_done(db, id, "c1", "https://t/c1"), 0);
	ck_progress(id, "carded");
	ck_assert_int_eq(reg_ledger_mail_begin(db, id), 0);
	/* a second begin is refused: the mail is not pending any more */
	ck_assert_int_eq(reg_ledger_mail_begin(db, id), 1);
	ck_assert_int_eq(reg_ledger_mail_sent(db, id, "<m1@x>"), 0);
	ck_progress(id, "mailed");
	ck_assert_int_eq(reg_ledger_mark_set(db, id, "done", "processed", NULL),
			 0);
	ck_progress(id, "done");
	ck_assert_int_eq(reg_ledger_set_status(db, id, "withdrawn"), 0);
	ck_progress(id, "withdrawn");
	ck_assert_int_eq(reg_ledger_set_status(db, id, "bogus"), -1);
}
END_TEST

START_TEST(test_recover_makes_sending_mail_unknown)
{
	int is_new;
	int64_t id = add("S:mentor", "m@x.org", "mentor", "Mo", 2, 0, &is_new);
	struct reg_registrant r;

	ck_assert_int_eq(reg_ledger_mail_begin(db, id), 0);
	/* killed here */
	ck_assert_int_eq(reg_ledger_recover(db), 1);
	ck_progress(id, "unknown");
	ck_assert_int_eq(reg_ledger_load(db, id, &r), 0);
	ck_assert_str_eq(r.mail_state, "unknown");
	ck_assert_ptr_nonnull(strstr(r.last_error, "may have gone out"));
	reg_registrant_free(&r);
	/* retry does not touch an unknown mail; resend does */
	ck_assert_int_eq(reg_ledger_retry(db, id), 0);
	ck_progress(id, "unknown");
	ck_assert_int_eq(reg_ledger_resend(db, id), 0);
	ck_progress(id, "new");
	ck_assert_int_eq(reg_ledger_recover(db), 0);
}
END_TEST

START_TEST(test_failed_and_retry)
{
	int is_new;
	int64_t id = add("S:student", "a@x.org", "student", "A", 2, 0, &is_new);
	struct reg_registrant r;

	ck_assert_int_eq(reg_ledger_card_set(db, id, "failed",
					     "trello: list \"Applicants\" not "
					     "found on board B"),
			 0);
	ck_progress(id, "failed");
	ck_assert_int_eq(reg_ledger_retry(db, id), 0);
	ck_assert_int_eq(reg_ledger_load(db, id, &r), 0);
	ck_assert_str_eq(r.card_state, "pending");
	ck_assert_ptr_null(r.last_error);
	reg_registrant_free(&r);
}
END_TEST

START_TEST(test_imported)
{
	int is_new;
	int64_t id =
	    add("S:student", "old@x.org", "student", "Old", 2, 1, &is_new);
	struct reg_registrant r;

	ck_progress(id, "done");
	ck_assert_int_eq(reg_ledger_load(db, id, &r), 0);
	ck_assert_int_eq(r.imported, 1);
	ck_assert_str_eq(r.mail_state, "skipped");
	reg_registrant_free(&r);
}
END_TEST

static void collect(const char *a, const char *b, const char *c, void *data)
{
	struct sdk_buf *buf = data;

	sdk_buf_addf(buf, "%s/%s/%s;", a, b, c);
}

START_TEST(test_find_list_stats_announce)
{
	int is_new;
	int64_t ids[4];
	int64_t a = add("S:student", "ada@x.org", "student", "Ada Lovelace", 2,
			0, &is_new);
	struct sdk_buf b = SDK_BUF_INIT;

	add("S:student", "alan@x.org", "student", "Alan Turing", 3, 0, &is_new);
	add("S:mentor", "grace@x.org", "mentor", "Grace Hopper", 2, 0, &is_new);
	ck_assert_int_eq(reg_ledger_find(db, "ADA@X.ORG", ids, 4), 1);
	ck_assert_int_eq(ids[0], a);
	ck_assert_int_eq(reg_ledger_find(db, "ada lovelace", ids, 4), 1);
	ck_assert_int_eq(reg_ledger_find(db, "a", ids, 4), 3);
	ck_assert_int_eq(reg_ledger_find(db, "turing", ids, 4), 1);
	ck_assert_int_eq(reg_ledger_find(db, "nobody", ids, 4), 0);
	ck_assert_int_eq(reg_ledger_find(db, "x@", ids, 4), 0);
	ck_assert_int_eq(reg_ledger_card_done(db, a, "c", "u"), 0);
	ck_assert_int_eq(reg_ledger_list(db, "carded", collect, &b), 0);
	ck_assert_str_eq(sdk_buf_str(&b), "Ada Lovelace/student/carded;");
	sdk_buf_reset(&b);
	ck_assert_int_eq(reg_ledger_stats(db, collect, &b), 0);
	ck_assert_str_eq(sdk_buf_str(&b),
			 "carded/student/1;new/mentor/1;new/student/1;");
	sdk_buf_reset(&b);
	ck_assert_int_eq(reg_ledger_take_unannounced(db, collect, &b), 0);
	ck_assert_ptr_nonnull(strstr(sdk_buf_str(&b), "Grace Hopper/mentor"));
	sdk_buf_reset(&b);
	ck_assert_int_eq(reg_ledger_take_unannounced(db, collect, &b), 0);
	ck_assert_str_eq(sdk_buf_str(&b), "");
	sdk_buf_release(&b);
}
END_TEST

/* Names are matched without case and accents; numbers tell apart
   registrants a name or an e-mail cannot. */
START_TEST(test_find_folded_and_by_number)
{
	int is_new;
	int64_t ids[4];
	int64_t emile = add("S:student", "emile@x.org", "student", "Émile Zola",
			    2, 0, &is_new);
	int64_t ann1 =
	    add("S:student", "ann@x.org", "student", "Ann", 3, 0, &is_new);
	int64_t ann2 =
	    add("S:student", "ann@y.org", "student", "Ann", 4, 0, &is_new);
	int64_t ann3 =
	    add("S:mentor", "ann@x.org", "mentor", "Ann", 2, 0, &is_new);
	char num[32];

	add("S:student", "annabel@x.org", "student", "Annabel", 5, 0, &is_new);
	ck_assert_int_eq(reg_ledger_find(db, "émile", ids, 4), 1);
	ck_assert_int_eq(ids[0], emile);
	ck_assert_int_eq(reg_ledger_find(db, "EMILE  ZOLA", ids, 4), 1);
	ck_assert_int_eq(reg_ledger_find(db, "zola", ids, 4), 1);
	/* equal names win over names containing the text */
	ck_assert_int_eq(reg_ledger_find(db, "ann", ids, 4), 3);
	ck_assert_int_eq(ids[0], ann1);
	ck_assert_int_eq(ids[1], ann2);
	ck_assert_int_eq(ids[2], ann3);
	ck_assert_int_eq(reg_ledger_find(db, "anna", ids, 4), 1);
	/* one address on both sheets */
	ck_assert_int_eq(reg_ledger_find(db, "Ann@X.org", ids, 4), 2);
	snprintf(num, sizeof(num), "#%lld", (long long)ann3);
	ck_assert_int_eq(reg_ledger_find(db, num, ids, 4), 1);
	ck_assert_int_eq(ids[0], ann3);
	ck_assert_int_eq(reg_ledger_find(db, "#999", ids, 4), 0);
	ck_assert_int_eq(reg_ledger_find(db, "#3x", ids, 4), 0);
	ck_assert_int_eq(reg_ledger_find(db, "   ", ids, 4), 0);
	/* more matches than room: counted, the first ones filled */
	ck_assert_int_eq(reg_ledger_find(db, "n", ids, 2), 4);
	ck_assert_int_eq(ids[0], ann1);
	ck_assert_int_eq(ids[1], ann2);
}
END_TEST

START_TEST(test_lease)
{
	char *holder = NULL;
	long me = (long)getpid();

	ck_assert_int_eq(
	    reg_ledger_lease_acquire(db, "h:1:a", me, "h", 1000, 500, &holder),
	    0);
	/* another live owner on this host: refused, and told who */
	ck_assert_int_eq(
	    reg_ledger_lease_acquire(db, "h:2:b", me, "h", 1100, 500, &holder),
	    1);
	ck_assert_ptr_nonnull(strstr(holder, "on h"));
	free(holder);
	/* the owner itself may take it again */
	ck_assert_int_eq(
	    reg_ledger_lease_acquire(db, "h:1:a", me, "h", 1100, 500, &holder),
	    0);
	ck_assert_int_eq(reg_ledger_lease_renew(db, "h:1:a", 1400, 500), 0);
	ck_assert_int_eq(
	    reg_ledger_lease_acquire(db, "h:2:b", me, "h", 1800, 500, &holder),
	    1);
	free(holder);
	/* expired */
	ck_assert_int_eq(
	    reg_ledger_lease_acquire(db, "h:2:b", me, "h", 1901, 500, &holder),
	    0);
	ck_assert_int_eq(reg_ledger_lease_renew(db, "h:1:a", 1950, 500), -1);
	ck_assert_int_eq(reg_ledger_lease_release(db, "h:2:b"), 0);
	/* a dead owner on this host (killed): free at once */
	ck_assert_int_eq(reg_ledger_lease_acquire(db, "h:3:c", 0x7ffffff0L, "h",
						  3000, 60000, &holder),
			 0);
	ck_assert_int_eq(reg_ledger_lease_acquire(db, "h:4:d", me, "h", 3001,
						  60000, &holder),
			 0);
	/* a live-looking owner on another host: wait for expiry */
	ck_assert_int_eq(reg_ledger_lease_acquire(db, "o:5:e", 1, "other", 3002,
						  60000, &holder),
			 1);
	free(holder);
}
END_TEST

START_TEST(test_confirm)
{
	int is_new;
	int64_t id = add("S:student", "a@x.org", "student", "A", 2, 0, &is_new);
	const char *alice = "account:alice", *bob = "account:bob";

	ck_assert_int_eq(reg_ledger_confirm_take(db, id, alice, "1", 0),
			 REG_CONFIRM_NONE);
	ck_assert_int_eq(reg_ledger_confirm_put(db, id, alice, "123456", 5000),
			 0);
	/* someone else's code: refused, and kept for its asker */
	ck_assert_int_eq(reg_ledger_confirm_take(db, id, bob, "123456", 1000),
			 REG_CONFIRM_OTHER);
	ck_assert_int_eq(reg_ledger_confirm_take(db, id, alice, "123456", 1000),
			 REG_CONFIRM_OK);
	/* used up */
	ck_assert_int_eq(reg_ledger_confirm_take(db, id, alice, "123456", 1000),
			 REG_CONFIRM_NONE);
	/* too late */
	ck_assert_int_eq(reg_ledger_confirm_put(db, id, alice, "123456", 5000),
			 0);
	ck_assert_int_eq(reg_ledger_confirm_take(db, id, alice, "123456", 5000),
			 REG_CONFIRM_EXPIRED);
	ck_assert_int_eq(reg_ledger_confirm_take(db, id, alice, "123456", 1000),
			 REG_CONFIRM_NONE);
	/* a wrong code cancels: no second guess */
	ck_assert_int_eq(reg_ledger_confirm_put(db, id, alice, "123456", 5000),
			 0);
	ck_assert_int_eq(reg_ledger_confirm_take(db, id, alice, "654321", 1000),
			 REG_CONFIRM_WRONG);
	ck_assert_int_eq(reg_ledger_confirm_take(db, id, alice, "123456", 1000),
			 REG_CONFIRM_NONE);
	/* a new request replaces the pending one, whoever made it */
	ck_assert_int_eq(reg_ledger_confirm_put(db, id, alice, "111111", 5000),
			 0);
	ck_assert_int_eq(reg_ledger_confirm_put(db, id, bob, "222222", 5000),
			 0);
	ck_assert_int_eq(reg_ledger_confirm_take(db, id, alice, "111111", 1000),
			 REG_CONFIRM_OTHER);
	ck_assert_int_eq(reg_ledger_confirm_take(db, id, bob, "222222", 1000),
			 REG_CONFIRM_OK);
}
END_TEST

static Suite *registrar_ledger_suite(void)
{
	Suite *s = suite_create("registrar_ledger");
	TCase *tc = tcase_create("ledger");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_upsert_key_is_sheet_and_email);
	tcase_add_test(tc, test_student_steps_and_progress);
	tcase_add_test(tc, test_recover_makes_sending_mail_unknown);
	tcase_add_test(tc, test_failed_and_retry);
	tcase_add_test(tc, test_imported);
	tcase_add_test(tc, test_find_list_stats_announce);
	tcase_add_test(tc, test_find_folded_and_by_number);
	tcase_add_test(tc, test_lease);
	tcase_add_test(tc, test_confirm);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(registrar_ledger_suite)

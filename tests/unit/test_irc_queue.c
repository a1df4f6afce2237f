/*
 * test_irc_queue.c - flood control: the token bucket never lets more than
 * burst + elapsed/interval lines out in any window, targets are served
 * fairly, bypassing lines count, and old lines expire.
 */
#include "check_main.h"
#include "irc_queue.h"
#include "util.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SENT 20000

static int64_t sent_at[MAX_SENT];
static char sent_text[MAX_SENT][32];
static int sent_count;
static int64_t now_ms;

static void record(const char *line, size_t len, void *data)
{
	if (sent_count < MAX_SENT) {
		sent_at[sent_count] = now_ms;
		snprintf(sent_text[sent_count], sizeof(sent_text[0]), "%.*s",
			 (int)len, line);
	}
	sent_count++;
}

static void reset(void)
{
	sent_count = 0;
	now_ms = 1000000;
}

/* Runs the clock forward, draining when the queue asks to be woken. */
static void run_until_empty(struct irc_queue *q, int64_t limit_ms)
{
	int64_t end = now_ms + limit_ms;

	while (now_ms < end) {
		long wait = irc_queue_drain(q, now_ms, record, NULL);

		if (wait < 0)
			return;
		now_ms += wait;
	}
}

START_TEST(bucket_holds_the_rate)
{
	struct irc_queue *q = irc_queue_new();
	int i, j, violations = 0;

	reset();
	irc_queue_configure(q, 0, 5, 2000, 0);
	for (i = 0; i < 500; i++) {
		char line[32];

		snprintf(line, sizeof(line), "PRIVMSG #a :%d", i);
		irc_queue_push(q, "#a", line, strlen(line), now_ms);
	}
	run_until_empty(q, 2000L * 600);
	ck_assert_int_eq(sent_count, 500);
	ck_assert_int_eq(irc_queue_length(q), 0);
	/* In every window [t, t + W], at most 5 + W / 2 s lines. */
	for (i = 0; i < sent_count; i++)
		for (j = i; j < sent_count; j++) {
			int64_t w = sent_at[j] - sent_at[i];
			int64_t allowed = 5 + w / 2000;

			if (j - i + 1 > allowed)
				violations++;
		}
	ck_assert_int_eq(violations, 0);
	/* The first five went at once, then one per 2 s. */
	ck_assert_int_eq(sent_at[4], sent_at[0]);
	ck_assert_int_ge(sent_at[5] - sent_at[0], 2000);
	ck_assert_int_le(sent_at[499] - sent_at[0], 2000L * 496 + 500);
	irc_queue_free(q);
}
END_TEST

START_TEST(targets_are_served_in_turn)
{
	struct irc_queue *q = irc_queue_new();
	int i, first_private = -1;

	reset();
	irc_queue_configure(q, 0, 1, 1000, 0);
	/* A busy channel queues 100 lines, then one private reply. */
	for (i = 0; i < 100; i++)
		irc_queue_push(q, "#busy", "PRIVMSG #busy :spam", 19, now_ms);
	irc_queue_push(q, "alice", "PRIVMSG alice :answer", 21, now_ms);
	run_until_empty(q, 1000L * 200);
	for (i = 0; i < sent_count; i++)
		if (!strcmp(sent_text[i], "PRIVMSG alice :answer"))
			first_private = i;
	/* It went out second, not after the 100 spam lines. */
	ck_assert_int_eq(first_private, 1);
	ck_assert_int_eq(sent_count, 101);
	irc_queue_free(q);
}
END_TEST

/* Progress lines: a newer text replaces the waiting older one, all of
 * its lines, and other keys and plain lines are untouched. */
START_TEST(keyed_lines_latest_wins)
{
	struct irc_queue *q = irc_queue_new();

	reset();
	irc_queue_configure(q, 0, 1, 1000, 0);
	irc_queue_push(q, "#ci", "plain", 5, now_ms);
	irc_queue_push_keyed(q, "#ci", "b1", 1, "b1 10%", 6, now_ms);
	irc_queue_push_keyed(q, "#ci", "b2", 1, "b2 10%", 6, now_ms);
	irc_queue_push_keyed(q, "#ci", "b1", 1, "b1 50% a", 8, now_ms);
	irc_queue_push_keyed(q, "#ci", "b1", 0, "b1 50% b", 8, now_ms);
	irc_queue_push_keyed(q, "#ci", "b1", 1, "b1 90%", 6, now_ms);
	ck_assert_int_eq(irc_queue_length(q), 3);
	run_until_empty(q, 10000);
	ck_assert_int_eq(sent_count, 3);
	ck_assert_str_eq(sent_text[0], "plain");
	ck_assert_str_eq(sent_text[1], "b2 10%");
	ck_assert_str_eq(sent_text[2], "b1 90%");
	irc_queue_free(q);
}
END_TEST

START_TEST(order_is_kept_per_target)
{
	struct irc_queue *q = irc_queue_new();
	int i, last = -1;

	reset();
	irc_queue_configure(q, 0, 3, 500, 0);
	for (i = 0; i < 50; i++) {
		char line[32];

		snprintf(line, sizeof(line), "%d", i);
		irc_queue_push(q, i % 2 ? "#odd" : "#even", line, strlen(line),
			       now_ms);
	}
	run_until_empty(q, 500L * 100);
	for (i = 0; i < sent_count; i++) {
		int v = (int)strtol(sent_text[i], NULL, 10);

		if (v % 2 == 0) {
			ck_assert_int_gt(v, last);
			last = v;
		}
	}
	ck_assert_int_eq(sent_count, 50);
	irc_queue_free(q);
}
END_TEST

START_TEST(bypassing_lines_still_count)
{
	struct irc_queue *q = irc_queue_new();
	int i;

	reset();
	irc_queue_configure(q, 0, 5, 2000, 0);
	/* Five PONGs use the burst... */
	for (i = 0; i < 5; i++)
		irc_queue_consume(q, now_ms);
	ck_assert(!irc_queue_can_send_now(q, now_ms));
	/* ...so the next ordinary line waits about one interval. */
	irc_queue_push(q, "#a", "x", 1, now_ms);
	ck_assert_int_gt(irc_queue_drain(q, now_ms, record, NULL), 1900);
	ck_assert_int_eq(sent_count, 0);
	now_ms += 2000;
	irc_queue_drain(q, now_ms, record, NULL);
	ck_assert_int_eq(sent_count, 1);
	irc_queue_free(q);
}
END_TEST

START_TEST(debt_is_not_forgotten)
{
	struct irc_queue *q = irc_queue_new();
	int i;

	reset();
	irc_queue_configure(q, 0, 5, 2000, 0);
	/* Twenty lines that could not wait (a long registration): the
	 * server counted them all, so the next line waits for the whole
	 * debt, 15 lines plus one, 32 s. */
	for (i = 0; i < 20; i++)
		irc_queue_consume(q, now_ms);
	irc_queue_push(q, "#a", "x", 1, now_ms);
	ck_assert_int_ge(irc_queue_drain(q, now_ms, record, NULL), 31900);
	/* A new connection starts over. */
	irc_queue_refill(q, now_ms);
	ck_assert_int_eq(irc_queue_drain(q, now_ms, record, NULL), -1);
	ck_assert_int_eq(sent_count, 1);
	irc_queue_free(q);
}
END_TEST

START_TEST(old_lines_expire)
{
	struct irc_queue *q = irc_queue_new();

	reset();
	irc_queue_configure(q, 0, 5, 2000, 60000);
	irc_queue_push(q, "#a", "old", 3, now_ms);
	now_ms += 30000;
	irc_queue_push(q, "#a", "new", 3, now_ms);
	now_ms += 40000; /* "old" is 70 s old, "new" 40 s */
	irc_queue_drain(q, now_ms, record, NULL);
	ck_assert_int_eq(sent_count, 1);
	ck_assert_str_eq(sent_text[0], "new");
	ck_assert_int_eq(irc_queue_take_expired(q), 1);
	ck_assert_int_eq(irc_queue_take_expired(q), 0);
	irc_queue_free(q);
}
END_TEST

START_TEST(unlimited_sends_everything_at_once)
{
	struct irc_queue *q = irc_queue_new();
	int i;

	reset();
	irc_queue_configure(q, 1, 5, 2000, 0);
	for (i = 0; i < 1000; i++)
		irc_queue_consume(q, now_ms);
	ck_assert(irc_queue_can_send_now(q, now_ms));
	for (i = 0; i < 1000; i++)
		irc_queue_push(q, "#a", "x", 1, now_ms);
	ck_assert_int_eq(irc_queue_drain(q, now_ms, record, NULL), -1);
	ck_assert_int_eq(sent_count, 1000);
	irc_queue_free(q);
}
END_TEST

static Suite *queue_suite(void)
{
	Suite *s = suite_create("irc_queue");
	TCase *tc = tcase_create("queue");

	tcase_add_test(tc, bucket_holds_the_rate);
	tcase_add_test(tc, targets_are_served_in_turn);
	tcase_add_test(tc, order_is_kept_per_target);
	tcase_add_test(tc, keyed_lines_latest_wins);
	tcase_add_test(tc, bypassing_lines_still_count);
	tcase_add_test(tc, old_lines_expire);
	tcase_add_test(tc, debt_is_not_forgotten);
	tcase_add_test(tc, unlimited_sends_everything_at_once);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(queue_suite)

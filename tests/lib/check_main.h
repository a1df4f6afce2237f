/*
 * check_main.h - the main() of every Check test binary.  A test file ends
 * with CHECK_MAIN(my_suite) and the Makefile builds it into its own binary;
 * CK_RUN_CASE and CK_RUN_SUITE pick parts of it as usual.
 */
#ifndef CHECK_MAIN_H
#define CHECK_MAIN_H

#include <check.h>
#include <stdlib.h>

#define CHECK_MAIN(suite_fn)                                                   \
	int main(void)                                                         \
	{                                                                      \
		SRunner *runner = srunner_create(suite_fn());                  \
		int failed;                                                    \
                                                                               \
		srunner_run_all(runner, CK_ENV);                               \
		failed = srunner_ntests_failed(runner);                        \
		srunner_free(runner);                                          \
		return failed ? EXIT_FAILURE : EXIT_SUCCESS;                   \
	}

#endif /* CHECK_MAIN_H */

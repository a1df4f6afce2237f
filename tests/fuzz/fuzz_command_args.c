// clang-format off
// fuzz-sources: host
// fuzz-libs: -luv -lsqlite3 -linih -ldl -lm -lpthread
// clang-format on
/*
 * fuzz_command_args.c - the command-line splitter (quotes, escapes) on
 * arbitrary text.  Checked: it never reads or writes outside the buffer,
 * returns -1 or at most the limit, every argument lies inside the
 * buffer and is NUL-terminated there, offsets point into the original
 * text in increasing order, and splitting is deterministic.
 */
#include "command.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *argv[COMMAND_ARGS_MAX + 1], *argv2[COMMAND_ARGS_MAX + 1];
	size_t starts[COMMAND_ARGS_MAX + 1];
	char *text, *again;
	char *err = NULL, *err2 = NULL;
	int argc, argc2, i;

	text = malloc(size + 1);
	again = malloc(size + 1);
	if (!text || !again)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	memcpy(again, text, size + 1);
	argc = command_split_args(text, argv, starts, COMMAND_ARGS_MAX, &err);
	argc2 = command_split_args(again, argv2, NULL, COMMAND_ARGS_MAX, &err2);
	if (argc != argc2)
		abort();
	if (argc < 0) {
		if (!err)
			abort();
	} else {
		/* Both copies were split in place; the input's own length
		 * (up to a NUL in it) bounds every argument. */
		size_t len = strnlen((const char *)data, size);

		if (argc > COMMAND_ARGS_MAX || argv[argc] != NULL)
			abort();
		for (i = 0; i < argc; i++) {
			if (argv[i] < text || argv[i] > text + len)
				abort();
			if (strcmp(argv[i], argv2[i]))
				abort();
			if (starts[i] > len ||
			    (i && starts[i] <= starts[i - 1]))
				abort();
		}
	}
	free(err);
	free(err2);
	free(text);
	free(again);
	return 0;
}

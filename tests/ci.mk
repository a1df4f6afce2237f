# Unit tests of the ci plugin (tests/unit/test_ci.c): the plugin's
# objects linked in, run on the fake host.
CI_OBJDIR = $(BUILD)/obj/plugins/ci
test_ci_LIBS = -ljansson
$(BUILD)/tests/test_ci: $(CI_OBJDIR)/ci.o $(CI_OBJDIR)/out.o \
	$(CI_OBJDIR)/watch.o $(CI_OBJDIR)/zuul.o

# The ci plugin's benchmark (watching cost, webhook latency): figures,
# not a test.  See docs/ci.md.
.PHONY: bench-ci
bench-ci: all
	BUILD=$(BUILD) /usr/bin/python3 tests/ci/bench.py

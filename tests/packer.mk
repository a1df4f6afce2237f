# Unit tests of the packer plugin: they link its pure objects directly
# (the machine-readable parser and templates); the benchmark of the parser
# is a program of its own (bench/packer/parse_bench.c, `make bench-packer`).
PACKER_OBJDIR = $(BUILD)/obj/plugins/packer

test_packer_parse_LIBS = -ljansson
$(BUILD)/tests/test_packer_parse: $(PACKER_OBJDIR)/pmr.o $(PACKER_OBJDIR)/tmpl.o

# The parser's benchmark: bench/packer/run (lines/s against `wc -l`).
$(BUILD)/bench/packer_parse: $(BUILD)/obj/bench/packer/parse_bench.o \
	$(PACKER_OBJDIR)/pmr.o $(SDK_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^

$(BUILD)/obj/bench/packer/parse_bench.o: EXTRA_CFLAGS = $(SDK_CFLAGS)

.PHONY: bench-packer
bench-packer: $(BUILD)/bench/packer_parse
	BUILD=$(BUILD) bench/packer/run

# The plugin on the fake host (virtual time, scripted packer processes).
test_packer_plugin_LIBS = -ljansson -lsqlite3
$(BUILD)/tests/test_packer_plugin: $(PACKER_OBJDIR)/packer.o \
	$(PACKER_OBJDIR)/jobs.o $(PACKER_OBJDIR)/pmr.o $(PACKER_OBJDIR)/tmpl.o

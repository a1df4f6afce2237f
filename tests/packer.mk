# Unit tests of the packer plugin: they link its pure objects directly
# (the machine-readable parser and templates); the benchmark of the parser
# is a program of its own (bench/packer_parse.c, `make bench-packer`).
PACKER_OBJDIR = $(BUILD)/obj/plugins/packer

test_packer_parse_LIBS = -ljansson
$(BUILD)/tests/test_packer_parse: $(PACKER_OBJDIR)/pmr.o $(PACKER_OBJDIR)/tmpl.o

# Unit tests of the ceph plugin: its objects linked in, run on the fake
# host against libvirt's test driver (no daemon).
CEPH_OBJDIR = $(BUILD)/obj/plugins/ceph
test_ceph_LIBS = $(shell pkg-config --libs libvirt libxml-2.0) -lsqlite3
$(BUILD)/tests/test_ceph: $(CEPH_OBJDIR)/ceph.o $(CEPH_OBJDIR)/virt.o \
	$(CEPH_OBJDIR)/evloop.o
# The event loop in the real host: ceph.so is loaded from $(BUILD)/plugins
# (not linked in: one libvirt event loop registration per process).
test_ceph_evloop_LIBS = $(shell pkg-config --libs libvirt)
$(BUILD)/tests/test_ceph_evloop: | $(BUILD)/plugins/ceph.so

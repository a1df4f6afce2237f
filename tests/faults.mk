# The fault-injection tests (tests/integration/test_faults*.c) share
# tests/integration/faults.c; test_faults reads the fake server's record
# with jansson.
test_faults_LIBS = -ljansson
$(BUILD)/tests/test_faults: $(BUILD)/obj/tests/integration/faults.o
$(BUILD)/tests/test_faults_ngircd: $(BUILD)/obj/tests/integration/faults.o

# The plugin SDK's unit tests (tests/unit/test_sdk.c) link the SDK's
# library, as every test does; its JSON and HTTP parts need jansson.
test_sdk_LIBS = -ljansson
# The SDK's Jenkins client (tests/unit/test_sdk_jenkins.c).
test_sdk_jenkins_LIBS = -ljansson

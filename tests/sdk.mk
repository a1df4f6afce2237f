# The plugin SDK's unit tests (tests/unit/test_sdk.c) link the SDK's
# library, as every test does; its JSON and HTTP parts need jansson;
# libcrypto checks the SDK's SHA-256 and HMAC against OpenSSL's.
test_sdk_LIBS = -ljansson -lcrypto
# The SDK's Jenkins client (tests/unit/test_sdk_jenkins.c).
test_sdk_jenkins_LIBS = -ljansson

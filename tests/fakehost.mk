# The fake host (tests/lib/fakehost*.c, linked into every test binary)
# checks webhook HMACs with OpenSSL's HMAC-SHA256, as the host's tls
# module does; the host binary itself never links OpenSSL.
$(UNIT_BIN) $(INTEG_BIN): CHECK_LIBS += -lcrypto

# tests/unit/test_irc_message.c reads the ircdocs YAML vectors with libyaml.
test_irc_message_LIBS = -lyaml

#!/bin/sh
# setup-opsbot.sh - writes the benchmark's opsbot.conf into the run
# directory (run-bot.sh --setup runs it there with HOST PORT CHANNEL NICK
# RUNDIR exported): flood control off, every plugin in the build loaded,
# the registrar configured but idle (no periodic sync), so the figures are
# the host's with all plugins resident.
set -eu
umask 077
BUILD_DIR=${OPSBOT_BUILD_DIR:?}
printf 'bench-key-0000000000\n' > trello.key
printf 'bench-token-000000000\n' > trello.token
printf 'bench-mailgun-00000000\n' > mailgun.key
printf 'Subject: welcome {Name}\n\nhello {Name}\n' > mail.txt
plugins=$(cd "$BUILD_DIR/plugins" && ls *.so | sed 's/\.so$//' | paste -sd, -)
# With bench/ngircd-tls as the server, the bot connects with TLS.
TLS_LINES=
if [ -s "$RUNDIR/tls.env" ]; then
    . "$RUNDIR/tls.env"
    PORT=$TLS_PORT
    HOST=localhost
    TLS_LINES="tls = true
tls_ca_file = $CA_FILE"
fi
cat > opsbot.conf <<EOC
[irc]
server = $HOST
port = $PORT
$TLS_LINES
nick = $NICK
channels = $CHANNEL
flood_control = false

[bot]
plugins = $plugins
plugin_dir = $BUILD_DIR/plugins
state = $RUNDIR/state.db

[access]
grant = mask *!*@127.0.0.1 admin

[plugin.registrar]
sheet = student bench-sheet-id
google_api_key = bench-api-key-0000
sheets_url = http://127.0.0.1:9/v4/spreadsheets
trello_url = http://127.0.0.1:9/1
trello_key_file = $RUNDIR/trello.key
trello_token_file = $RUNDIR/trello.token
trello_board = benchboard
mailgun_url = http://127.0.0.1:9/v3
mailgun_domain = bench.example
mailgun_key_file = $RUNDIR/mailgun.key
mail_from = bench@example.org
student_template = $RUNDIR/mail.txt
mentor_template = $RUNDIR/mail.txt
sync_interval = 0
EOC

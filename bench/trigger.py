#!/usr/bin/env python3
"""trigger.py PORT CHANNEL LINE... - joins CHANNEL as a separate client,
sends each LINE as a PRIVMSG, waits until the bot acknowledged each one
(a reply containing "sleeping" or nothing for fetch), then exits.  Used
to start blocking work in the bot before a measurement."""
import socket
import sys
import time

port, channel, lines = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
s = socket.create_connection(("127.0.0.1", port))
s.sendall(b"NICK trigger\r\nUSER trigger 0 * :t\r\n")
buf = b""
deadline = time.time() + 10
while b" 001 " not in buf and time.time() < deadline:
    buf += s.recv(4096)
s.sendall(("JOIN %s\r\n" % channel).encode())
for line in lines:
    s.sendall(("PRIVMSG %s :%s\r\n" % (channel, line)).encode())
# Wait for the job's acknowledgement; the request is checked by the slow
# server's hit count.  Both then stay busy for seconds.
deadline = time.time() + 5
while b"sleeping 5000 ms" not in buf and time.time() < deadline:
    buf += s.recv(4096)
if b"sleeping 5000 ms" not in buf:
    sys.exit("trigger: the bot did not start the job")
time.sleep(0.05)
s.sendall(b"QUIT\r\n")
s.close()

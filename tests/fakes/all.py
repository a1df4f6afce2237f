#!/usr/bin/env python3
"""Runs the Sheets, Trello, Mailgun and Gerrit fakes in one process, each on its
own loopback port.  Usage: all.py [PORTFILE]; prints SHEETS_PORT=,
TRELLO_PORT=, MAILGUN_PORT=, GERRIT_PORT= lines (sourceable) once all listen."""

import sys

import fakecommon
import gerrit
import mailgun
import sheets
import trello


def main():
    portfile = sys.argv[1] if len(sys.argv) > 1 else None
    fakecommon.serve([sheets.SheetsServer(), trello.TrelloServer(),
                      mailgun.MailgunServer(), gerrit.GerritServer()],
                     portfile)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Fake Trello REST API, after shared/reference/api-contracts.md section 2.

  GET  /1/boards/{id}/lists      lists of a board (open ones)
  GET  /1/lists/{id}/cards       cards of a list (?fields=...)
  GET  /1/cards/{id}             one card
  POST /1/cards                  create (params in query, form or JSON)

Auth: key and token query parameters on every request (401 text/plain
"invalid key" / "invalid token").  Errors are text/plain like Trello's
("invalid value for idList", "invalid id"), 429 is JSON.  An optional
per-token limit returns 429 API_TOKEN_LIMIT_EXCEEDED past N requests in a
10 s window.

Admin (besides fakecommon's):
  POST /_admin/setup {"key": ..., "token": ..., "boards": {BOARD: [LIST
                      NAME, ...]}, "token_limit": 0}
  POST /_admin/rename_list {"board": ..., "from": ..., "to": ...}
State: {"boards": ..., "cards": [card, ...], "created": n}
"""

import collections
import json
import secrets
import sys
import time
import urllib.parse

import fakecommon

MAX_DESC = 16384


def new_id():
    return secrets.token_hex(12)


class TrelloServer(fakecommon.FakeServer):
    def __init__(self, port=0):
        super().__init__("trello", TrelloHandler, port)
        self.key = None
        self.token = None
        self.token_limit = 0
        self.service_reset({})

    def service_reset(self, data):
        with self.state.lock:
            self.boards = {}
            self.lists = {}
            self.cards = []
            self.window = collections.deque()

    def service_state(self):
        return {"boards": self.boards, "lists": self.lists,
                "cards": self.cards, "created": len(self.cards)}

    def service_admin(self, what, data):
        with self.state.lock:
            if what == "setup":
                self.key = data.get("key")
                self.token = data.get("token")
                self.token_limit = data.get("token_limit", 0)
                for board, names in data.get("boards", {}).items():
                    ids = []
                    for pos, name in enumerate(names):
                        lid = new_id()
                        self.lists[lid] = {"id": lid, "name": name,
                                           "closed": False,
                                           "pos": (pos + 1) * 16384,
                                           "idBoard": board}
                        ids.append(lid)
                    self.boards[board] = ids
                return 200, {"ok": True}
            if what == "rename_list":
                for lid in self.boards.get(data["board"], []):
                    if self.lists[lid]["name"] == data["from"]:
                        self.lists[lid]["name"] = data["to"]
                return 200, {"ok": True}
        return 404, {"error": "admin: unknown endpoint " + what}

    def over_limit(self):
        if not self.token_limit:
            return False
        now = time.monotonic()
        with self.state.lock:
            while self.window and self.window[0] < now - 10:
                self.window.popleft()
            if len(self.window) >= self.token_limit:
                return True
            self.window.append(now)
        return False

    def create_card(self, params):
        with self.state.lock:
            id_list = params.get("idList", "")
            lst = self.lists.get(id_list)
            if lst is None:
                return 400, "invalid value for idList"
            name = params.get("name", "")
            desc = params.get("desc", "")
            if len(desc) > MAX_DESC:
                return 400, "invalid value for desc"
            cid = new_id()
            short = secrets.token_urlsafe(6)[:8]
            idshort = len(self.cards) + 1
            card = {
                "id": cid,
                "badges": {"votes": 0, "viewingMemberVoted": False,
                           "subscribed": False, "fogbugz": "",
                           "checkItems": 0, "checkItemsChecked": 0,
                           "comments": 0, "attachments": 0,
                           "description": bool(desc), "due": None},
                "checkItemStates": [], "closed": False,
                "dateLastActivity": time.strftime("%Y-%m-%dT%H:%M:%S.000Z",
                                                  time.gmtime()),
                "desc": desc, "descData": {"emoji": {}}, "due": None,
                "email": None, "idBoard": lst["idBoard"],
                "idChecklists": [], "idLabels": [], "idList": id_list,
                "idMembers": [], "idShort": idshort,
                "idAttachmentCover": None, "manualCoverAttachment": False,
                "labels": [], "name": name,
                "pos": 16384 * idshort,
                "shortLink": short,
                "shortUrl": "https://trello.com/c/" + short,
                "url": "https://trello.com/c/%s/%d-card" % (short, idshort),
                "stickers": []}
            self.cards.append(card)
            return 200, card


def pick(card, fields):
    if not fields or fields == ["all"]:
        return card
    out = {"id": card["id"]}
    for f in fields:
        if f in card:
            out[f] = card[f]
    return out


class TrelloHandler(fakecommon.FakeHandler):
    def rate_limited(self, code):
        return code, {}, {"error": "API_TOKEN_LIMIT_EXCEEDED",
                          "message": "Rate limit exceeded"}

    def service(self, method, path, query, body):
        srv = self.server
        key = query.get("key", [None])[0]
        token = query.get("token", [None])[0]
        text = "text/plain; charset=utf-8"
        if key != srv.key:
            return 401, {"Content-Type": text}, "invalid key"
        if token != srv.token:
            return 401, {"Content-Type": text}, "invalid token"
        if srv.over_limit():
            return 429, {}, {"error": "API_TOKEN_LIMIT_EXCEEDED",
                             "message": "Rate limit exceeded"}
        parts = path.strip("/").split("/")
        fields = query.get("fields", [""])[0]
        fields = [f for f in fields.split(",") if f]
        with srv.state.lock:
            if method == "GET" and len(parts) == 4 and parts[:2] == [
                    "1", "boards"] and parts[3] == "lists":
                ids = srv.boards.get(parts[2])
                if ids is None:
                    return 400, {"Content-Type": text}, "invalid id"
                lists = [srv.lists[i] for i in ids
                         if not srv.lists[i]["closed"]]
                return 200, {}, [pick(lst, fields) for lst in lists]
            if method == "GET" and len(parts) == 4 and parts[:2] == [
                    "1", "lists"] and parts[3] == "cards":
                if parts[2] not in srv.lists:
                    return 400, {"Content-Type": text}, "invalid id"
                cards = [c for c in srv.cards if c["idList"] == parts[2]
                         and not c["closed"]]
                return 200, {}, [pick(c, fields) for c in cards]
            if method == "GET" and len(parts) == 3 and parts[:2] == [
                    "1", "cards"]:
                for c in srv.cards:
                    if c["id"] == parts[2] or c["shortLink"] == parts[2]:
                        return 200, {}, pick(c, fields)
                return 404, {"Content-Type": text}, \
                    "The requested resource was not found."
        if method == "POST" and parts == ["1", "cards"]:
            params = {k: v[0] for k, v in query.items()}
            form = fakecommon.form_fields(body,
                                          self.headers.get("Content-Type"))
            if body and form is None:
                return 400, {"Content-Type": text}, "invalid content type"
            params.update(dict(form or []))
            code, out = srv.create_card(params)
            if code != 200:
                return code, {"Content-Type": text}, out
            return 200, {}, out
        return 404, {"Content-Type": text}, \
            "The requested resource was not found."


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    portfile = sys.argv[2] if len(sys.argv) > 2 else None
    fakecommon.serve([TrelloServer(port)], portfile)


if __name__ == "__main__":
    main()

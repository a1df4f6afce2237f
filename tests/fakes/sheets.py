#!/usr/bin/env python3
"""Fake Google Sheets API v4 plus the OAuth2 token endpoint of a service
account, after shared/reference/api-contracts.md section 1.

  POST /token                              JWT bearer grant (RS256 checked)
  GET  /v4/spreadsheets/{id}               metadata (sheets.properties)
  GET  /v4/spreadsheets/{id}/values/{rng}  ValueRange; ragged rows; no
                                           "values" key for an empty range
  PUT  /v4/spreadsheets/{id}/values/{rng}?valueInputOption=RAW
  POST /v4/spreadsheets/{id}/values:batchUpdate

Auth: "Authorization: Bearer <token from /token>" for everything, or
"?key=<api key>" for reads of a spreadsheet marked public.

Admin (besides fakecommon's):
  POST /_admin/setup  {"client_email": ..., "public_key_pem": ...,
                       "api_key": ..., "token_ttl": 3599}
  POST /_admin/sheet  {"id": ..., "tab": "Sheet1", "rows": [[...], ...],
                       "public": false, "private": false}
  POST /_admin/append {"id": ..., "tab": ..., "rows": [[...]]}
  POST /_admin/move_column {"id", "tab", "from": 3, "to": 0}
  POST /_admin/expire_tokens {}
State: {"sheets": {id: {tab: rows}}, "writes": [...], "tokens_issued": n,
        "tokens": [...], "token_requests": n, "jwt_errors": [...]}
"""

import base64
import json
import re
import secrets
import sys
import threading
import time
import urllib.parse

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

import fakecommon

SCOPE_RW = "https://www.googleapis.com/auth/spreadsheets"
SCOPE_RO = "https://www.googleapis.com/auth/spreadsheets.readonly"
GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
GRID_ROWS = 1000
GRID_COLS = 26


def b64url_decode(text):
    text += "=" * (-len(text) % 4)
    return base64.urlsafe_b64decode(text.encode())


def col_index(letters):
    n = 0
    for ch in letters.upper():
        n = n * 26 + (ord(ch) - 64)
    return n - 1


def col_letters(index):
    out = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        out = chr(65 + rem) + out
    return out


def quote_tab(tab):
    if re.fullmatch(r"[A-Za-z0-9_]+", tab):
        return tab
    return "'" + tab.replace("'", "''") + "'"


CELL = re.compile(r"^([A-Za-z]*)(\d*)$")


def parse_range(text):
    """A1 range -> (tab, r0, c0, r1, c1), 0-based inclusive; None ends mean
    'to the end of the grid'.  Raises ValueError."""
    if "!" in text:
        tab, cells = text.rsplit("!", 1)
    else:
        tab, cells = text, ""
    if tab.startswith("'"):
        if not tab.endswith("'") or len(tab) < 2:
            raise ValueError(text)
        tab = tab[1:-1].replace("''", "'")
    if not cells:
        return tab, 0, 0, None, None
    parts = cells.split(":")
    if len(parts) > 2:
        raise ValueError(text)
    m0 = CELL.match(parts[0])
    if not m0 or (not m0.group(1) and not m0.group(2)):
        raise ValueError(text)
    r0 = int(m0.group(2)) - 1 if m0.group(2) else 0
    c0 = col_index(m0.group(1)) if m0.group(1) else 0
    if len(parts) == 1:
        return tab, r0, c0, r0, c0
    m1 = CELL.match(parts[1])
    if not m1 or (not m1.group(1) and not m1.group(2)):
        raise ValueError(text)
    r1 = int(m1.group(2)) - 1 if m1.group(2) else None
    c1 = col_index(m1.group(1)) if m1.group(1) else None
    return tab, r0, c0, r1, c1


def google_error(code, message, status):
    return code, {}, {"error": {"code": code, "message": message,
                                "status": status}}


class SheetsServer(fakecommon.FakeServer):
    def __init__(self, port=0):
        super().__init__("sheets", SheetsHandler, port)
        self.client_email = None
        self.public_key = None
        self.api_key = None
        self.token_ttl = 3599
        self.tokens = {}
        self.service_reset({})

    def service_reset(self, data):
        with self.state.lock:
            self.sheets = {}
            self.flags = {}
            self.writes = []
            self.tokens = {}
            self.issued = []
            self.tokens_issued = 0
            self.token_requests = 0
            self.jwt_errors = []

    def service_state(self):
        return {"sheets": self.sheets, "writes": self.writes,
                "tokens_issued": self.tokens_issued,
                # every access token handed out (expired ones too), so
                # tests can look for them where they must not be
                "tokens": list(self.issued),
                "token_requests": self.token_requests,
                "jwt_errors": self.jwt_errors}

    def service_admin(self, what, data):
        with self.state.lock:
            if what == "setup":
                self.client_email = data.get("client_email")
                pem = data.get("public_key_pem")
                if pem:
                    self.public_key = serialization.load_pem_public_key(
                        pem.encode())
                self.api_key = data.get("api_key")
                self.token_ttl = data.get("token_ttl", 3599)
                return 200, {"ok": True}
            if what == "sheet":
                book = self.sheets.setdefault(data["id"], {})
                book[data.get("tab", "Sheet1")] = [
                    [str(c) for c in row] for row in data.get("rows", [])]
                self.flags[data["id"]] = {
                    "public": data.get("public", False),
                    "private": data.get("private", False)}
                return 200, {"ok": True}
            if what == "append":
                rows = self.sheets[data["id"]][data.get("tab", "Sheet1")]
                rows.extend([str(c) for c in r] for r in data["rows"])
                return 200, {"ok": True, "rows": len(rows)}
            if what == "move_column":
                rows = self.sheets[data["id"]][data.get("tab", "Sheet1")]
                width = max(len(r) for r in rows)
                for r in rows:
                    r.extend([""] * (width - len(r)))
                    r.insert(data["to"], r.pop(data["from"]))
                return 200, {"ok": True}
            if what == "expire_tokens":
                self.tokens = {}
                return 200, {"ok": True}
        return 404, {"error": "admin: unknown endpoint " + what}

    # -- the token endpoint ---------------------------------------------

    def check_jwt(self, assertion, token_url):
        parts = assertion.split(".")
        if len(parts) != 3:
            return "Invalid JWT: not three parts"
        try:
            header = json.loads(b64url_decode(parts[0]))
            claims = json.loads(b64url_decode(parts[1]))
            signature = b64url_decode(parts[2])
        except ValueError:
            return "Invalid JWT: bad base64url or JSON"
        if any(p.endswith("=") for p in parts):
            return "Invalid JWT: padding in base64url"
        if header.get("alg") != "RS256" or header.get("typ", "JWT") != "JWT":
            return "Invalid JWT: alg must be RS256"
        if self.public_key is None:
            return "Invalid JWT Signature."
        try:
            self.public_key.verify(signature,
                                   (parts[0] + "." + parts[1]).encode(),
                                   padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            return "Invalid JWT Signature."
        if self.client_email and claims.get("iss") != self.client_email:
            return "Invalid JWT Signature."
        if claims.get("aud") != token_url:
            return "Invalid JWT: aud %r is not %r" % (claims.get("aud"),
                                                     token_url)
        scopes = str(claims.get("scope", "")).split()
        if SCOPE_RW not in scopes and SCOPE_RO not in scopes:
            return "Invalid JWT: missing scope"
        now = time.time()
        iat, exp = claims.get("iat"), claims.get("exp")
        if (not isinstance(iat, int) or not isinstance(exp, int)
                or exp - iat > 3600 or exp <= iat
                or abs(iat - now) > 300 or exp < now):
            return ("Invalid JWT: Token must be a short-lived token (60 "
                    "minutes) and in a reasonable timeframe. Check your "
                    "iat and exp values in the JWT claim.")
        return None, scopes

    def issue_token(self, form, token_url):
        with self.state.lock:
            self.token_requests += 1
        if form.get("grant_type") != GRANT:
            return 400, {}, {"error": "unsupported_grant_type",
                             "error_description": "Invalid grant_type: "
                             + form.get("grant_type", "")}
        result = self.check_jwt(form.get("assertion", ""), token_url)
        if isinstance(result, str):
            with self.state.lock:
                self.jwt_errors.append(result)
            return 400, {}, {"error": "invalid_grant",
                             "error_description": result}
        scopes = result[1]
        token = "ya29.fake-" + secrets.token_urlsafe(24)
        with self.state.lock:
            self.tokens[token] = (time.time() + self.token_ttl,
                                  SCOPE_RW in scopes)
            self.issued.append(token)
            self.tokens_issued += 1
        return 200, {}, {"access_token": token, "expires_in": self.token_ttl,
                         "token_type": "Bearer"}

    # -- auth ------------------------------------------------------------

    def authorise(self, headers, query, sheet_id, write):
        """None if allowed, else an error triple."""
        auth = headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            with self.state.lock:
                entry = self.tokens.get(auth[7:])
            if not entry or entry[0] < time.time():
                return google_error(
                    401, "Request had invalid authentication credentials. "
                    "Expected OAuth 2 access token, login cookie or other "
                    "valid authentication credential.", "UNAUTHENTICATED")
            if write and not entry[1]:
                return google_error(403, "Request had insufficient "
                                    "authentication scopes.",
                                    "PERMISSION_DENIED")
            if self.flags.get(sheet_id, {}).get("private"):
                return google_error(403, "The caller does not have "
                                    "permission", "PERMISSION_DENIED")
            return None
        key = query.get("key", [None])[0]
        if key is not None:
            if key != self.api_key:
                return google_error(400, "API key not valid. Please pass "
                                    "a valid API key.", "INVALID_ARGUMENT")
            if write:
                return google_error(
                    401, "API keys are not supported by this API. Expected "
                    "OAuth2 access token or other authentication "
                    "credentials that assert a principal.",
                    "UNAUTHENTICATED")
            if not self.flags.get(sheet_id, {}).get("public"):
                return google_error(403, "The caller does not have "
                                    "permission", "PERMISSION_DENIED")
            return None
        return google_error(403, "The request is missing a valid API key.",
                            "PERMISSION_DENIED")

    # -- values ----------------------------------------------------------

    def read_values(self, sheet_id, rng):
        try:
            tab, r0, c0, r1, c1 = parse_range(rng)
        except ValueError:
            return google_error(400, "Unable to parse range: " + rng,
                                "INVALID_ARGUMENT")
        with self.state.lock:
            rows = self.sheets[sheet_id].get(tab)
            if rows is None:
                return google_error(400, "Unable to parse range: " + rng,
                                    "INVALID_ARGUMENT")
            grid_rows = max(GRID_ROWS, len(rows))
            grid_cols = max([GRID_COLS] + [len(r) for r in rows])
            end_r = grid_rows - 1 if r1 is None else r1
            end_c = grid_cols - 1 if c1 is None else c1
            out = []
            for r in range(r0, min(end_r, len(rows) - 1) + 1):
                row = rows[r][c0:end_c + 1]
                while row and row[-1] == "":
                    row = row[:-1]
                out.append(row)
        while out and not out[-1]:
            out.pop()
        body = {"range": "%s!%s%d:%s%d" % (quote_tab(tab), col_letters(c0),
                                            r0 + 1, col_letters(end_c),
                                            end_r + 1),
                "majorDimension": "ROWS"}
        if r0 == end_r and c0 == end_c:
            body["range"] = "%s!%s%d" % (quote_tab(tab), col_letters(c0),
                                         r0 + 1)
        if out:
            body["values"] = out
        return 200, {}, body

    def write_values(self, sheet_id, rng, values):
        try:
            tab, r0, c0, r1, c1 = parse_range(rng)
        except ValueError:
            return None, "Unable to parse range: " + rng
        if (not isinstance(values, list)
                or not all(isinstance(r, list) for r in values)):
            return None, ("Invalid value at 'data.values' "
                          "(type.googleapis.com/google.protobuf.ListValue)")
        with self.state.lock:
            rows = self.sheets[sheet_id].get(tab)
            if rows is None:
                return None, "Unable to parse range: " + rng
            ncols = 0
            for i, vals in enumerate(values):
                r = r0 + i
                while len(rows) <= r:
                    rows.append([])
                row = rows[r]
                for j, v in enumerate(vals):
                    c = c0 + j
                    while len(row) <= c:
                        row.append("")
                    row[c] = "" if v is None else str(v)
                    self.writes.append({"tab": tab, "row": r + 1,
                                        "col": c + 1, "value": row[c]})
                ncols = max(ncols, len(vals))
        nrows = len(values)
        rng_out = "%s!%s%d" % (quote_tab(tab), col_letters(c0), r0 + 1)
        if nrows > 1 or ncols > 1:
            rng_out += ":%s%d" % (col_letters(c0 + max(ncols, 1) - 1),
                                  r0 + nrows)
        return {"spreadsheetId": sheet_id, "updatedRange": rng_out,
                "updatedRows": nrows, "updatedColumns": ncols,
                "updatedCells": sum(len(v) for v in values)}, None


class SheetsHandler(fakecommon.FakeHandler):
    def rate_limited(self, code):
        return google_error(
            429, "Quota exceeded for quota metric 'Write requests' and "
            "limit 'Write requests per minute per user' of service "
            "'sheets.googleapis.com' for consumer 'project_number:1'.",
            "RESOURCE_EXHAUSTED")

    def server_error_body(self):
        return json.dumps({"error": {"code": 500, "message": "Internal "
                                     "error encountered.",
                                     "status": "INTERNAL"}})

    def service(self, method, path, query, body):
        srv = self.server
        if path == "/token" and method == "POST":
            ctype = self.headers.get("Content-Type", "")
            if not ctype.startswith("application/x-www-form-urlencoded"):
                return 400, {}, {"error": "invalid_request",
                                 "error_description": "bad content type"}
            form = dict(urllib.parse.parse_qsl(body.decode()))
            token_url = "http://%s/token" % self.headers.get("Host", "")
            return srv.issue_token(form, token_url)
        m = re.match(r"^/v4/spreadsheets/([^/:]+)(.*)$", path)
        if not m:
            return google_error(404, "Requested entity was not found.",
                                "NOT_FOUND")
        sheet_id, rest = m.group(1), m.group(2)
        write = method != "GET"
        with srv.state.lock:
            known = sheet_id in srv.sheets
        denied = srv.authorise(self.headers, query, sheet_id, write)
        if denied:
            return denied
        if not known:
            return google_error(404, "Requested entity was not found.",
                                "NOT_FOUND")
        if rest == "" and method == "GET":
            with srv.state.lock:
                tabs = list(srv.sheets[sheet_id])
            return 200, {}, {"spreadsheetId": sheet_id,
                             "properties": {"title": "fake " + sheet_id},
                             "sheets": [{"properties": {
                                 "sheetId": i, "title": t, "index": i,
                                 "sheetType": "GRID"}}
                                 for i, t in enumerate(tabs)]}
        if rest.startswith("/values/") and method == "GET":
            rng = urllib.parse.unquote(rest[len("/values/"):])
            return srv.read_values(sheet_id, rng)
        if rest.startswith("/values/") and method == "PUT":
            vio = query.get("valueInputOption", [None])[0]
            if vio not in ("RAW", "USER_ENTERED"):
                return google_error(400, "'valueInputOption' is required "
                                    "but not specified", "INVALID_ARGUMENT")
            rng = urllib.parse.unquote(rest[len("/values/"):])
            try:
                data = json.loads(body or b"{}")
            except ValueError:
                return google_error(400, "Invalid JSON payload received.",
                                    "INVALID_ARGUMENT")
            out, err = srv.write_values(sheet_id, rng, data.get("values"))
            if err:
                return google_error(400, err, "INVALID_ARGUMENT")
            return 200, {}, out
        if rest == "/values:batchUpdate" and method == "POST":
            try:
                data = json.loads(body or b"{}")
            except ValueError:
                return google_error(400, "Invalid JSON payload received.",
                                    "INVALID_ARGUMENT")
            if data.get("valueInputOption") not in ("RAW", "USER_ENTERED"):
                return google_error(400, "'valueInputOption' is required "
                                    "but not specified", "INVALID_ARGUMENT")
            responses = []
            for item in data.get("data", []):
                out, err = srv.write_values(sheet_id, item.get("range", ""),
                                            item.get("values"))
                if err:
                    return google_error(400, err, "INVALID_ARGUMENT")
                responses.append(out)
            return 200, {}, {
                "spreadsheetId": sheet_id,
                "totalUpdatedRows": sum(r["updatedRows"] for r in responses),
                "totalUpdatedColumns": max([0] + [r["updatedColumns"]
                                                  for r in responses]),
                "totalUpdatedCells": sum(r["updatedCells"]
                                         for r in responses),
                "totalUpdatedSheets": 1 if responses else 0,
                "responses": responses}
        return google_error(404, "Requested entity was not found.",
                            "NOT_FOUND")


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    portfile = sys.argv[2] if len(sys.argv) > 2 else None
    fakecommon.serve([SheetsServer(port)], portfile)


if __name__ == "__main__":
    main()

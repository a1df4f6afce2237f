/*
 * sheets.c - Google Sheets API v4: read a whole sheet (values.get, ragged
 * rows, no "values" key when empty) and write status cells
 * (values:batchUpdate, valueInputOption RAW so nothing typed in a form is
 * ever parsed as a formula).  Every cell is cleaned as it is read
 * (reg_clean_cell): nothing later sees the sheet's raw text.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "registrar.h"

void reg_table_free(struct reg_table *t)
{
	for (int i = 0; i < t->ncols; i++)
		free(t->headers[i]);
	free(t->headers);
	for (int r = 0; r < t->nrows; r++) {
		for (int i = 0; i < t->ncols; i++)
			free(t->cells[r][i]);
		free(t->cells[r]);
	}
	free(t->cells);
	free(t->row_numbers);
	memset(t, 0, sizeof(*t));
}

static char *reg_cell_text(json_t *cell)
{
	if (json_is_string(cell))
		return sdk_xstrdup(json_string_value(cell));
	if (json_is_integer(cell))
		return sdk_xasprintf("%lld",
				     (long long)json_integer_value(cell));
	if (json_is_real(cell))
		return sdk_xasprintf("%g", json_real_value(cell));
	if (json_is_true(cell))
		return sdk_xstrdup("TRUE");
	if (json_is_false(cell))
		return sdk_xstrdup("FALSE");
	return sdk_xstrdup("");
}

int reg_table_parse(const char *body, struct reg_table *t, struct sdk_buf *err)
{
	json_t *root = json_loads(body, 0, NULL), *values, *header;
	size_t nrows;
	int ncols = 0;

	memset(t, 0, sizeof(*t));
	if (!json_is_object(root)) {
		sdk_buf_adds(err, "the answer is not json");
		json_decref(root);
		return -1;
	}
	values = json_object_get(root, "values");
	if (!values) {
		/* an empty range has no "values" at all */
		json_decref(root);
		return 0;
	}
	if (!json_is_array(values)) {
		sdk_buf_adds(err, "\"values\" is not a list");
		json_decref(root);
		return -1;
	}
	nrows = json_array_size(values);
	header = json_array_get(values, 0);
	/* The header row fixes the columns; cells past it have no name. */
	ncols = (int)json_array_size(header);
	t->ncols = ncols;
	t->headers = sdk_xcalloc((size_t)ncols, sizeof(char *));
	for (int i = 0; i < ncols; i++) {
		char *raw = reg_cell_text(json_array_get(header, (size_t)i));

		/* a header is a name: one line */
		t->headers[i] = reg_clean_line(raw, REG_NAME_MAX);
		free(raw);
	}
	t->cells = sdk_xcalloc(nrows, sizeof(char **));
	t->row_numbers = sdk_xcalloc(nrows, sizeof(int));
	for (size_t r = 1; r < nrows; r++) {
		json_t *row = json_array_get(values, r);
		char **cells = sdk_xcalloc((size_t)ncols, sizeof(char *));

		for (int i = 0; i < ncols; i++) {
			json_t *cell = json_is_array(row)
					   ? json_array_get(row, (size_t)i)
					   : NULL;

			char *raw = reg_cell_text(cell);

			/* cleaned once, here, for every later use */
			cells[i] = reg_clean_cell(raw);
			free(raw);
		}
		t->cells[t->nrows] = cells;
		t->row_numbers[t->nrows] = (int)r + 1;
		t->nrows++;
	}
	json_decref(root);
	return 0;
}

/* ------------------------------------------------------------------------ */

struct reg_sheet_op {
	const struct reg_sheet_cfg *sheet;
	reg_sheet_read_fn *read_fn;
	reg_sheet_write_fn *write_fn;
	void *data;
	char *path_and_query; /* after the spreadsheet id */
	char *body;	      /* for writes */
	int auth_retried;
};

static void reg_sheet_op_free(struct reg_sheet_op *op)
{
	free(op->path_and_query);
	free(op->body);
	free(op);
}

static void reg_sheet_send(struct reg *reg, struct reg_sheet_op *op);

static void reg_sheet_fail(struct reg *reg, struct reg_sheet_op *op,
			   const char *error)
{
	if (op->read_fn)
		op->read_fn(reg, NULL, error, op->data);
	else
		op->write_fn(reg, error, op->data);
	reg_sheet_op_free(op);
}

static char *reg_sheet_cause(const struct reg_sheet_op *op,
			     const struct reg_result *res)
{
	const char *hint = "";

	if (res->code == 403)
		hint = "; share the sheet with the service account";
	else if (res->code == 404)
		hint = "; check the spreadsheet id in [plugin.registrar] sheet";
	else if (res->code == 400 && op->read_fn)
		hint = "; check the tab name in [plugin.registrar] sheet";
	else if (res->code == 401)
		hint = "; check google_key or google_api_key";
	else if (res->transient && strstr(res->cause, "later sync"))
		hint = "";
	else if (res->code == 429)
		hint = "; sheets quota exceeded, retried at the next sync";
	else if (res->transient)
		hint = "; retried at the next sync";
	return sdk_xasprintf("sheets: %s %s: %s%s", op->sheet->name,
			     op->read_fn ? "read" : "write", res->cause, hint);
}

static void reg_sheet_done(struct reg *reg, const struct reg_result *res,
			   void *data)
{
	struct reg_sheet_op *op = data;
	struct reg_table t;
	struct sdk_buf err = SDK_BUF_INIT;
	char *cause;

	if (res->outcome == REG_CANCELLED) {
		reg_sheet_fail(reg, op, "cancelled");
		return;
	}
	if (res->outcome == REG_FAILED && res->code == 401 &&
	    !op->auth_retried && reg->google_key && *reg->google_key) {
		/* an expired or revoked token: get a new one, once */
		op->auth_retried = 1;
		reg_google_invalidate(reg);
		reg_sheet_send(reg, op);
		return;
	}
	if (res->outcome != REG_OK) {
		cause = reg_sheet_cause(op, res);
		reg_sheet_fail(reg, op, cause);
		free(cause);
		return;
	}
	if (op->write_fn) {
		op->write_fn(reg, NULL, op->data);
		reg_sheet_op_free(op);
		return;
	}
	if (reg_table_parse(res->body, &t, &err) < 0) {
		cause =
		    sdk_xasprintf("sheets: %s read: %s; retried at the next "
				  "sync",
				  op->sheet->name, sdk_buf_str(&err));
		reg_sheet_fail(reg, op, cause);
		free(cause);
		sdk_buf_release(&err);
		return;
	}
	op->read_fn(reg, &t, NULL, op->data);
	reg_sheet_op_free(op);
}

static void reg_sheet_authed(struct reg *reg, const char *auth,
			     const char *error, void *data)
{
	struct reg_sheet_op *op = data;
	struct sdk_buf url = SDK_BUF_INIT;
	const char *headers[3] = {NULL, NULL, NULL};
	int nh = 0;
	struct sdk_http_call spec = {
	    .service = REG_SVC_GOOGLE,
	    /* reads change nothing; batchUpdate of fixed cells writes
	       the same values again: both safe to repeat */
	    .flags = SDK_HTTP_IDEMPOTENT,
	    .max_response_bytes = 64u << 20,
	};

	if (error) {
		reg_sheet_fail(reg, op, error);
		return;
	}
	sdk_buf_addf(&url, "%s/", reg->sheets_url);
	sdk_url_encode(&url, reg->api, op->sheet->id);
	sdk_buf_adds(&url, op->path_and_query);
	if (auth) {
		headers[nh++] = auth;
	} else if (reg->google_api_key && *reg->google_api_key) {
		if (op->write_fn) {
			reg_sheet_fail(reg, op,
				       "sheets: an api key cannot write; set "
				       "google_key_file to mark rows");
			sdk_buf_release(&url);
			return;
		}
		sdk_buf_adds(&url, strchr(op->path_and_query, '?') ? "&key="
								   : "?key=");
		sdk_url_encode(&url, reg->api, reg->google_api_key);
	} else {
		reg_sheet_fail(reg, op,
			       "sheets: no credentials; set google_key_file "
			       "or google_api_key");
		sdk_buf_release(&url);
		return;
	}
	if (op->body) {
		headers[nh++] = "Content-Type: application/json";
		spec.method = "POST";
		spec.body = op->body;
		spec.body_len = strlen(op->body);
	}
	spec.url = sdk_buf_str(&url);
	spec.headers = headers;
	reg_call(reg, &spec, reg_sheet_done, op);
	sdk_buf_release(&url);
}

static void reg_sheet_send(struct reg *reg, struct reg_sheet_op *op)
{
	reg_google_auth(reg, reg_sheet_authed, op);
}

void reg_sheets_read(struct reg *reg, const struct reg_sheet_cfg *sheet,
		     reg_sheet_read_fn *fn, void *data)
{
	struct reg_sheet_op *op = sdk_xcalloc(1, sizeof(*op));
	struct sdk_buf path = SDK_BUF_INIT, range = SDK_BUF_INIT;

	op->sheet = sheet;
	op->read_fn = fn;
	op->data = data;
	/* the whole sheet: Sheets trims trailing empty rows and cells */
	reg_a1_tab(&range, sheet->tab);
	sdk_buf_adds(&path, "/values/");
	sdk_url_encode(&path, reg->api, sdk_buf_str(&range));
	sdk_buf_adds(&path, "?majorDimension=ROWS"
			    "&valueRenderOption=FORMATTED_VALUE");
	op->path_and_query = sdk_buf_detach(&path);
	sdk_buf_release(&range);
	reg_sheet_send(reg, op);
}

void reg_sheets_write(struct reg *reg, const struct reg_sheet_cfg *sheet,
		      const struct reg_cell_write *cells, int n,
		      reg_sheet_write_fn *fn, void *data)
{
	struct reg_sheet_op *op = sdk_xcalloc(1, sizeof(*op));
	json_t *root = json_object(), *list = json_array();

	op->sheet = sheet;
	op->write_fn = fn;
	op->data = data;
	for (int i = 0; i < n; i++) {
		struct sdk_buf range = SDK_BUF_INIT;
		char col[8];

		reg_a1_tab(&range, sheet->tab);
		reg_a1_column(cells[i].col, col);
		sdk_buf_addf(&range, "!%s%d", col, cells[i].row);
		json_array_append_new(
		    list, json_pack("{ss s[[s]]}", "range", sdk_buf_str(&range),
				    "values", cells[i].value));
		sdk_buf_release(&range);
	}
	json_object_set_new(root, "valueInputOption", json_string("RAW"));
	json_object_set_new(root, "data", list);
	op->body = sdk_json_dump(root, JSON_COMPACT);
	json_decref(root);
	op->path_and_query = sdk_xstrdup("/values:batchUpdate");
	reg_sheet_send(reg, op);
}

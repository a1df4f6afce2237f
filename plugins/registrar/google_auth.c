/*
 * google_auth.c - Google service-account auth: the JSON key file, an RS256
 * JWT signed with OpenSSL, the token from the key's token_uri, cached
 * until 80 % of its lifetime, at most five minutes before it expires
 * (and dropped after a 401).  Or an API key for read-only public sheets.
 *
 * All of the plugin's libcrypto use is in this file, and libcrypto is
 * loaded on the first signature, not with the plugin: it is 1.4 MB of the
 * 1.8 MB the plugin would otherwise add to the bot's resident memory, and
 * an API-key setup never needs it.
 */
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "registrar.h"

/* The libcrypto functions used, typed from OpenSSL's own declarations. */
#define REG_CRYPTO_FUNCTIONS(X)                                                \
	X(BIO_new_mem_buf)                                                     \
	X(BIO_free)                                                            \
	X(PEM_read_bio_PrivateKey)                                             \
	X(EVP_PKEY_free)                                                       \
	X(EVP_MD_CTX_new)                                                      \
	X(EVP_MD_CTX_free)                                                     \
	X(EVP_sha256)                                                          \
	X(EVP_DigestSignInit)                                                  \
	X(EVP_DigestSignUpdate)                                                \
	X(EVP_DigestSignFinal)                                                 \
	X(ERR_clear_error)

static struct {
	void *handle;
#define REG_CRYPTO_MEMBER(name) __typeof__(&name) name;
	REG_CRYPTO_FUNCTIONS(REG_CRYPTO_MEMBER)
#undef REG_CRYPTO_MEMBER
} reg_crypto;

/* Loads libcrypto once; it stays loaded (OpenSSL does not unload well). */
static int reg_crypto_load(struct sdk_buf *err)
{
	void *h;

	if (reg_crypto.handle)
		return 0;
	h = dlopen("libcrypto.so.3", RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
	if (!h) {
		sdk_buf_addf(err,
			     "google: cannot load libcrypto.so.3 (%s); "
			     "install libssl3",
			     dlerror());
		return -1;
	}
#define REG_CRYPTO_LOAD(name)                                                  \
	*(void **)&reg_crypto.name = dlsym(h, #name);                          \
	if (!reg_crypto.name) {                                                \
		sdk_buf_addf(err, "google: libcrypto lacks %s", #name);        \
		return -1;                                                     \
	}
	REG_CRYPTO_FUNCTIONS(REG_CRYPTO_LOAD)
#undef REG_CRYPTO_LOAD
	reg_crypto.handle = h;
	return 0;
}

#define REG_SCOPE_RW "https://www.googleapis.com/auth/spreadsheets"
/* a token is renewed at 80 % of its life, at most 5 minutes early */
#define REG_TOKEN_MARGIN_MAX_MS (5 * 60 * 1000)

int64_t reg_token_refresh_at(int64_t now_ms, long long expires_in_s)
{
	int64_t life = (int64_t)expires_in_s * 1000;
	int64_t margin = life / 5;

	if (margin > REG_TOKEN_MARGIN_MAX_MS)
		margin = REG_TOKEN_MARGIN_MAX_MS;
	return now_ms + life - margin;
}

struct reg_auth_waiter {
	struct reg_auth_waiter *next;
	reg_auth_fn *fn;
	void *data;
};

struct reg_google_auth {
	struct reg_google_key key;
	int have_key;
	char *token;	    /* "Authorization: Bearer ..." */
	int64_t expires_at; /* monotonic ms */
	int fetching;
	struct reg_auth_waiter *waiters;
};

static char *reg_json_str(json_t *obj, const char *name)
{
	const char *s = sdk_json_string(obj, name, NULL);

	return s ? sdk_xstrdup(s) : NULL;
}

int reg_google_key_parse(const char *json, struct reg_google_key *key,
			 struct sdk_buf *err)
{
	json_error_t jerr;
	json_t *root = json_loads(json, 0, &jerr);

	memset(key, 0, sizeof(*key));
	if (!json_is_object(root)) {
		sdk_buf_addf(
		    err,
		    "google: the service-account key is not json "
		    "(line %d); check [plugin.registrar] google_key_file",
		    jerr.line);
		json_decref(root);
		return -1;
	}
	key->client_email = reg_json_str(root, "client_email");
	key->private_key = reg_json_str(root, "private_key");
	key->token_uri = reg_json_str(root, "token_uri");
	key->key_id = reg_json_str(root, "private_key_id");
	json_decref(root);
	if (!key->client_email || !key->private_key || !key->token_uri) {
		sdk_buf_adds(err, "google: the service-account key lacks "
				  "client_email, private_key or token_uri; "
				  "download a new json key");
		reg_google_key_free(key);
		return -1;
	}
	return 0;
}

void reg_google_key_free(struct reg_google_key *key)
{
	free(key->client_email);
	if (key->private_key) {
		/* do not leave the key in freed memory */
		memset(key->private_key, 0, strlen(key->private_key));
		free(key->private_key);
	}
	free(key->token_uri);
	free(key->key_id);
	memset(key, 0, sizeof(*key));
}

static void reg_b64url_json(struct sdk_buf *out, json_t *obj)
{
	char *text = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);

	if (text) {
		reg_base64url(out, (const unsigned char *)text, strlen(text));
		free(text);
	}
}

int reg_jwt_build(const struct reg_google_key *key, const char *scope,
		  long long now, struct sdk_buf *jwt, struct sdk_buf *err)
{
	BIO *bio = NULL;
	EVP_PKEY *pkey = NULL;
	EVP_MD_CTX *ctx = NULL;
	unsigned char *sig = NULL;
	size_t siglen = 0;
	json_t *header, *claims;
	int rc = -1;

	header = json_pack("{ssss}", "alg", "RS256", "typ", "JWT");
	if (key->key_id)
		json_object_set_new(header, "kid", json_string(key->key_id));
	claims = json_pack("{sssssssIsI}", "iss", key->client_email, "scope",
			   scope, "aud", key->token_uri, "iat", (json_int_t)now,
			   "exp", (json_int_t)(now + 3600));
	sdk_buf_reset(jwt);
	reg_b64url_json(jwt, header);
	sdk_buf_adds(jwt, ".");
	reg_b64url_json(jwt, claims);
	json_decref(header);
	json_decref(claims);

	if (reg_crypto_load(err) < 0)
		return -1;
	bio = reg_crypto.BIO_new_mem_buf(key->private_key, -1);
	if (bio)
		pkey =
		    reg_crypto.PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	if (!pkey) {
		sdk_buf_adds(err,
			     "google: cannot read the private_key of the "
			     "service-account key; download a new json key");
		goto out;
	}
	ctx = reg_crypto.EVP_MD_CTX_new();
	/* EVP's default RSA padding is PKCS#1 v1.5, which RS256 is. */
	if (!ctx ||
	    reg_crypto.EVP_DigestSignInit(ctx, NULL, reg_crypto.EVP_sha256(),
					  NULL, pkey) != 1 ||
	    reg_crypto.EVP_DigestSignUpdate(ctx, jwt->buf, jwt->len) != 1 ||
	    reg_crypto.EVP_DigestSignFinal(ctx, NULL, &siglen) != 1) {
		sdk_buf_adds(err, "google: signing the jwt failed");
		goto out;
	}
	sig = sdk_xmalloc(siglen);
	if (reg_crypto.EVP_DigestSignFinal(ctx, sig, &siglen) != 1) {
		sdk_buf_adds(err, "google: signing the jwt failed");
		goto out;
	}
	sdk_buf_adds(jwt, ".");
	reg_base64url(jwt, sig, siglen);
	rc = 0;
out:
	reg_crypto.ERR_clear_error();
	free(sig);
	reg_crypto.EVP_MD_CTX_free(ctx);
	reg_crypto.EVP_PKEY_free(pkey);
	reg_crypto.BIO_free(bio);
	return rc;
}

int reg_google_setup(struct reg *reg, struct sdk_buf *err)
{
	struct reg_google_auth *g = sdk_xcalloc(1, sizeof(*g));

	reg->google = g;
	if (reg->google_key && *reg->google_key) {
		if (reg_google_key_parse(reg->google_key, &g->key, err) < 0)
			return -1;
		g->have_key = 1;
	}
	return 0;
}

void reg_google_free(struct reg *reg)
{
	struct reg_google_auth *g = reg->google;

	if (!g)
		return;
	reg_google_key_free(&g->key);
	free(g->token);
	while (g->waiters) {
		struct reg_auth_waiter *w = g->waiters;

		g->waiters = w->next;
		free(w);
	}
	free(g);
	reg->google = NULL;
}

void reg_google_invalidate(struct reg *reg)
{
	struct reg_google_auth *g = reg->google;

	free(g->token);
	g->token = NULL;
	g->expires_at = 0;
}

static void reg_auth_notify(struct reg *reg, const char *error)
{
	struct reg_google_auth *g = reg->google;
	struct reg_auth_waiter *w = g->waiters;

	g->waiters = NULL;
	while (w) {
		struct reg_auth_waiter *next = w->next;

		w->fn(reg, error ? NULL : g->token, error, w->data);
		free(w);
		w = next;
	}
}

static void reg_token_done(struct reg *reg, const struct reg_result *res,
			   void *data)
{
	struct reg_google_auth *g = reg->google;
	json_t *root = NULL;
	const char *token;
	json_int_t expires;
	char *error = NULL;

	g->fetching = 0;
	if (res->outcome == REG_CANCELLED) {
		error = sdk_xstrdup("cancelled");
	} else if (res->outcome != REG_OK) {
		error = sdk_xasprintf("google: token request failed: %s%s",
				      res->cause,
				      res->code == 400 || res->code == 401
					  ? "; check the service-account "
					    "key and the clock"
					  : "");
	} else {
		root = json_loads(res->body, 0, NULL);
		token = sdk_json_string(root, "access_token", NULL);
		expires = sdk_json_int(root, "expires_in", 0);
		if (!token || !*token) {
			error = sdk_xstrdup("google: token answer without "
					    "access_token");
		} else {
			free(g->token);
			g->token =
			    sdk_xasprintf("Authorization: Bearer %s", token);
			if (expires <= 0)
				expires = 3600;
			g->expires_at = reg_token_refresh_at(
			    reg->api->now_ms(), (long long)expires);
		}
		json_decref(root);
	}
	reg_auth_notify(reg, error);
	free(error);
}

void reg_google_auth(struct reg *reg, reg_auth_fn *fn, void *data)
{
	struct reg_google_auth *g = reg->google;
	struct reg_auth_waiter *w;
	struct sdk_buf jwt = SDK_BUF_INIT, err = SDK_BUF_INIT;
	struct sdk_buf body = SDK_BUF_INIT;
	static const char *const headers[] = {
	    "Content-Type: application/x-www-form-urlencoded", NULL};
	struct sdk_http_call spec = {
	    .service = REG_SVC_GOOGLE,
	    .method = "POST",
	    .headers = headers,
	    /* a token request changes nothing: safe to repeat */
	    .flags = SDK_HTTP_IDEMPOTENT,
	};

	if (!g->have_key) {
		/* API key mode: the key goes in the query by sheets.c */
		fn(reg, NULL, NULL, data);
		return;
	}
	if (g->token && reg->api->now_ms() < g->expires_at) {
		fn(reg, g->token, NULL, data);
		return;
	}
	w = sdk_xcalloc(1, sizeof(*w));
	w->fn = fn;
	w->data = data;
	w->next = g->waiters;
	g->waiters = w;
	if (g->fetching)
		return;
	if (reg_jwt_build(&g->key, REG_SCOPE_RW, (long long)time(NULL), &jwt,
			  &err) < 0) {
		reg_auth_notify(reg, sdk_buf_str(&err));
		sdk_buf_release(&err);
		sdk_buf_release(&jwt);
		return;
	}
	sdk_form_add(&body, reg->api, "grant_type",
		     "urn:ietf:params:oauth:grant-type:jwt-bearer");
	sdk_form_add(&body, reg->api, "assertion", sdk_buf_str(&jwt));
	spec.url = g->key.token_uri;
	spec.body = body.buf;
	spec.body_len = body.len;
	g->fetching = 1;
	reg_call(reg, &spec, reg_token_done, NULL);
	sdk_buf_release(&jwt);
	sdk_buf_release(&body);
}

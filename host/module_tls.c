/*
 * module_tls.c - modules/tls.so: TLS client sessions with OpenSSL on
 * memory BIOs, so the host's loop keeps owning the socket.
 *
 * Verification is on unless the config turns it off: the chain against
 * the system store (or a configured CA file) and the server's name
 * (SSL_set1_host, or the IP address), TLS 1.2 at least, inside the
 * handshake (an untrusted server gets an alert, not our Finished).  A
 * configured SHA-256 certificate fingerprint replaces the chain check,
 * for servers with self-signed certificates; it is compared right after
 * the handshake, before anything is sent.
 *
 * It also computes the HMAC-SHA256 that webhook signatures are checked
 * with, the primitives of SASL SCRAM-SHA-256 (SHA-256, PBKDF2, random
 * nonces) and the signature of SASL ECDSA-NIST256P-CHALLENGE, so the host
 * needs no second copy of a hash.
 */
#include "tls_backend.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tls_ctx {
	SSL_CTX *ssl_ctx;
	int verify;
	unsigned char pin[32];
	int has_pin;
};

struct tls_session {
	struct tls_ctx *ctx;
	SSL *ssl;
	BIO *in;  /* ciphertext from the socket */
	BIO *out; /* ciphertext for the socket */
	int done;
	char verify_err[160]; /* why the chain check ended the handshake */
};

/* The last OpenSSL error as one line. */
static void ssl_error(char *err, size_t size, const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[256];

	if (e) {
		ERR_error_string_n(e, buf, sizeof(buf));
		snprintf(err, size, "%s: %s", what, buf);
	} else {
		snprintf(err, size, "%s", what);
	}
	ERR_clear_error();
}

/* "AB:cd:..." or "abcd..." -> 32 bytes. */
static int parse_fingerprint(const char *text, unsigned char *out)
{
	int n = 0;

	while (*text && n < 64) {
		int v;

		if (*text == ':' || *text == ' ') {
			text++;
			continue;
		}
		if (!isxdigit((unsigned char)*text))
			return -1;
		v = isdigit((unsigned char)*text)
			? *text - '0'
			: tolower((unsigned char)*text) - 'a' + 10;
		if (n % 2 == 0)
			out[n / 2] = (unsigned char)(v << 4);
		else
			out[n / 2] |= (unsigned char)v;
		n++;
		text++;
	}
	return n == 64 && !*text ? 0 : -1;
}

/* The chain and the server's name are checked inside the handshake, so a
 * certificate we do not trust ends it with an alert before the server
 * sees a Finished from us (as IRCv3 STS and the client conformance tests
 * expect); why is kept for the error line.  A pinned certificate is
 * compared after the handshake instead (check_peer), and nothing is sent
 * before that; without verification everything passes here. */
static int verify_in_handshake(int preverify, X509_STORE_CTX *store)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(
	    store, SSL_get_ex_data_X509_STORE_CTX_idx());
	struct tls_session *s = ssl ? SSL_get_app_data(ssl) : NULL;

	if (!s || s->ctx->has_pin || !s->ctx->verify)
		return 1;
	if (!preverify && !s->verify_err[0])
		snprintf(s->verify_err, sizeof(s->verify_err), "%s",
			 X509_verify_cert_error_string(
			     X509_STORE_CTX_get_error(store)));
	return preverify;
}

static struct tls_ctx *ctx_new(const struct tls_options *o, char *err,
			       size_t err_size)
{
	struct tls_ctx *c = calloc(1, sizeof(*c));

	if (!c) {
		snprintf(err, err_size, "out of memory");
		return NULL;
	}
	c->ssl_ctx = SSL_CTX_new(TLS_client_method());
	if (!c->ssl_ctx) {
		ssl_error(err, err_size, "cannot create a TLS context");
		free(c);
		return NULL;
	}
	SSL_CTX_set_min_proto_version(c->ssl_ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(c->ssl_ctx, SSL_VERIFY_PEER, verify_in_handshake);
	c->verify = o->verify;
	if (o->fingerprint && *o->fingerprint) {
		if (parse_fingerprint(o->fingerprint, c->pin) < 0) {
			snprintf(err, err_size,
				 "tls_fingerprint is not a SHA-256 fingerprint "
				 "(64 hex digits, colons allowed)");
			goto fail;
		}
		c->has_pin = 1;
	}
	if (o->ca_file && *o->ca_file) {
		if (!SSL_CTX_load_verify_locations(c->ssl_ctx, o->ca_file,
						   NULL)) {
			char what[300];

			snprintf(what, sizeof(what), "cannot load CA file '%s'",
				 o->ca_file);
			ssl_error(err, err_size, what);
			goto fail;
		}
	} else if (o->verify && !c->has_pin &&
		   !SSL_CTX_set_default_verify_paths(c->ssl_ctx)) {
		ssl_error(err, err_size, "cannot load the system CA store");
		goto fail;
	}
	if (o->client_cert && *o->client_cert) {
		const char *key = o->client_key && *o->client_key
				      ? o->client_key
				      : o->client_cert;
		char what[300];

		if (SSL_CTX_use_certificate_chain_file(c->ssl_ctx,
						       o->client_cert) != 1) {
			snprintf(what, sizeof(what),
				 "cannot load client certificate '%s'",
				 o->client_cert);
			ssl_error(err, err_size, what);
			goto fail;
		}
		if (SSL_CTX_use_PrivateKey_file(c->ssl_ctx, key,
						SSL_FILETYPE_PEM) != 1 ||
		    SSL_CTX_check_private_key(c->ssl_ctx) != 1) {
			snprintf(what, sizeof(what),
				 "cannot use client key '%s'", key);
			ssl_error(err, err_size, what);
			goto fail;
		}
	}
	return c;
fail:
	SSL_CTX_free(c->ssl_ctx);
	free(c);
	return NULL;
}

static void ctx_free(struct tls_ctx *c)
{
	if (!c)
		return;
	SSL_CTX_free(c->ssl_ctx);
	free(c);
}

static int is_ip_address(const char *host)
{
	unsigned char buf[16];

	return inet_pton(AF_INET, host, buf) == 1 ||
	       inet_pton(AF_INET6, host, buf) == 1;
}

static struct tls_session *session_new(struct tls_ctx *ctx, const char *host,
				       char *err, size_t err_size)
{
	struct tls_session *s = calloc(1, sizeof(*s));

	if (!s) {
		snprintf(err, err_size, "out of memory");
		return NULL;
	}
	s->ctx = ctx;
	s->ssl = SSL_new(ctx->ssl_ctx);
	s->in = BIO_new(BIO_s_mem());
	s->out = BIO_new(BIO_s_mem());
	if (!s->ssl || !s->in || !s->out) {
		ssl_error(err, err_size, "cannot create a TLS session");
		goto fail;
	}
	BIO_set_mem_eof_return(s->in, -1);
	SSL_set_bio(s->ssl, s->in, s->out);
	SSL_set_app_data(s->ssl, s);
	if (is_ip_address(host)) {
		X509_VERIFY_PARAM *param = SSL_get0_param(s->ssl);

		X509_VERIFY_PARAM_set1_ip_asc(param, host);
	} else {
		SSL_set_tlsext_host_name(s->ssl, host);
		SSL_set1_host(s->ssl, host);
	}
	SSL_set_connect_state(s->ssl);
	return s;
fail:
	if (s->ssl)
		SSL_free(s->ssl);
	else {
		BIO_free(s->in);
		BIO_free(s->out);
	}
	free(s);
	return NULL;
}

static void session_free(struct tls_session *s)
{
	if (!s)
		return;
	SSL_free(s->ssl); /* frees both BIOs */
	free(s);
}

static int cert_sha256(X509 *cert, unsigned char *out)
{
	unsigned int n = 0;

	return X509_digest(cert, EVP_sha256(), out, &n) == 1 && n == 32 ? 0
									: -1;
}

/* After the handshake: the pin, or the chain and name. */
static int check_peer(struct tls_session *s, char *err, size_t err_size)
{
	X509 *cert = SSL_get1_peer_certificate(s->ssl);
	long result;

	if (!cert) {
		snprintf(err, err_size, "the server sent no certificate");
		return TLS_ERROR;
	}
	if (s->ctx->has_pin) {
		unsigned char digest[32];
		int ok = cert_sha256(cert, digest) == 0 &&
			 !memcmp(digest, s->ctx->pin, 32);

		X509_free(cert);
		if (!ok) {
			snprintf(err, err_size,
				 "the server's certificate does not match "
				 "tls_fingerprint");
			return TLS_ERROR;
		}
		return TLS_OK;
	}
	X509_free(cert);
	if (!s->ctx->verify)
		return TLS_OK;
	result = SSL_get_verify_result(s->ssl);
	if (result != X509_V_OK) {
		snprintf(err, err_size, "certificate verification failed: %s",
			 X509_verify_cert_error_string(result));
		return TLS_ERROR;
	}
	return TLS_OK;
}

static int handshake(struct tls_session *s, char *err, size_t err_size)
{
	int rc, e;

	if (s->done)
		return TLS_OK;
	rc = SSL_do_handshake(s->ssl);
	if (rc == 1) {
		s->done = 1;
		return check_peer(s, err, err_size);
	}
	e = SSL_get_error(s->ssl, rc);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return TLS_WANT_MORE;
	if (s->verify_err[0]) {
		ERR_clear_error();
		snprintf(err, err_size, "certificate verification failed: %s",
			 s->verify_err);
		return TLS_ERROR;
	}
	ssl_error(err, err_size, "TLS handshake failed");
	return TLS_ERROR;
}

static int feed(struct tls_session *s, const char *data, size_t len)
{
	return BIO_write(s->in, data, (int)len) == (int)len ? TLS_OK
							    : TLS_ERROR;
}

static int tls_read(struct tls_session *s, char *buf, size_t size, char *err,
		    size_t err_size)
{
	int n = SSL_read(s->ssl, buf, (int)size), e;

	if (n > 0)
		return n;
	e = SSL_get_error(s->ssl, n);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return 0;
	if (e == SSL_ERROR_ZERO_RETURN)
		return TLS_CLOSED;
	ssl_error(err, err_size, "TLS read failed");
	return TLS_ERROR;
}

static int tls_write(struct tls_session *s, const char *data, size_t len,
		     char *err, size_t err_size)
{
	/* Memory BIOs take everything: one call writes it all. */
	int n = SSL_write(s->ssl, data, (int)len);

	if (n == (int)len)
		return TLS_OK;
	ssl_error(err, err_size, "TLS write failed");
	return TLS_ERROR;
}

static size_t take_output(struct tls_session *s, char *buf, size_t size)
{
	int n = BIO_read(s->out, buf, (int)size);

	return n > 0 ? (size_t)n : 0;
}

static void describe(struct tls_session *s, char *out, size_t size)
{
	X509 *cert = SSL_get1_peer_certificate(s->ssl);
	unsigned char d[32];
	char hex[100] = "";
	int i;

	if (cert && cert_sha256(cert, d) == 0)
		for (i = 0; i < 32; i++)
			snprintf(hex + i * 3, sizeof(hex) - (size_t)i * 3,
				 "%02x%s", d[i], i < 31 ? ":" : "");
	X509_free(cert);
	snprintf(out, size, "%s, %s, certificate sha256 %s",
		 SSL_get_version(s->ssl), SSL_get_cipher_name(s->ssl), hex);
}

static int hmac_sha256(const void *key, size_t key_len, const void *data,
		       size_t len, unsigned char out[32])
{
	unsigned int out_len = 0;

	/* HMAC() reads key_len as an int. */
	if (key_len > INT_MAX)
		return -1;
	if (!HMAC(EVP_sha256(), key, (int)key_len,
		  (const unsigned char *)(len ? data : ""), len, out, &out_len))
		return -1;
	return out_len == 32 ? 0 : -1;
}

static int sha256(const void *data, size_t len, unsigned char out[32])
{
	unsigned int out_len = 0;

	if (!EVP_Digest(len ? data : "", len, out, &out_len, EVP_sha256(),
			NULL))
		return -1;
	return out_len == 32 ? 0 : -1;
}

static int pbkdf2_sha256(const char *password, size_t password_len,
			 const unsigned char *salt, size_t salt_len,
			 unsigned iterations, unsigned char out[32])
{
	if (password_len > INT_MAX || salt_len > INT_MAX || !iterations ||
	    iterations > INT_MAX)
		return -1;
	return PKCS5_PBKDF2_HMAC(password, (int)password_len, salt,
				 (int)salt_len, (int)iterations, EVP_sha256(),
				 32, out) == 1
		   ? 0
		   : -1;
}

static int random_bytes(unsigned char *out, size_t n)
{
	if (n > INT_MAX)
		return -1;
	return RAND_bytes(out, (int)n) == 1 ? 0 : -1;
}

static int ecdsa_p256_sign(const char *key_file, const unsigned char *challenge,
			   size_t len, unsigned char *sig, size_t *sig_len,
			   char *err, size_t err_size)
{
	FILE *f = fopen(key_file, "r");
	EVP_PKEY *key = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	char group[64] = "";
	int rc = -1;

	if (!f) {
		snprintf(err, err_size, "cannot read sasl_ecdsa_key '%s'",
			 key_file);
		return -1;
	}
	key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (!key) {
		ssl_error(err, err_size,
			  "sasl_ecdsa_key is not a PEM private key");
		return -1;
	}
	if (EVP_PKEY_get_base_id(key) != EVP_PKEY_EC ||
	    !EVP_PKEY_get_group_name(key, group, sizeof(group), NULL) ||
	    (strcmp(group, "prime256v1") && strcmp(group, "P-256"))) {
		snprintf(err, err_size,
			 "sasl_ecdsa_key is not a NIST P-256 (prime256v1) key");
		goto out;
	}
	/* No digest set: the challenge is signed as the digest itself. */
	ctx = EVP_PKEY_CTX_new(key, NULL);
	if (!ctx || EVP_PKEY_sign_init(ctx) != 1 ||
	    EVP_PKEY_sign(ctx, sig, sig_len, challenge, len) != 1) {
		ssl_error(err, err_size, "ECDSA signature failed");
		goto out;
	}
	rc = 0;
out:
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(key);
	return rc;
}

__attribute__((visibility("default")))
const struct tls_backend opsbot_tls_backend = {
    .version = TLS_BACKEND_VERSION,
    .ctx_new = ctx_new,
    .ctx_free = ctx_free,
    .session_new = session_new,
    .session_free = session_free,
    .handshake = handshake,
    .feed = feed,
    .read = tls_read,
    .write = tls_write,
    .take_output = take_output,
    .describe = describe,
    .hmac_sha256 = hmac_sha256,
    .sha256 = sha256,
    .pbkdf2_sha256 = pbkdf2_sha256,
    .random_bytes = random_bytes,
    .ecdsa_p256_sign = ecdsa_p256_sign,
};

/*
 * sasl_scram.c - see sasl_scram.h.  The state holds the client-first
 * message (bare), the nonces, the AuthMessage and the salted password
 * between the steps; every key is zeroed when it is no longer needed.
 */
#include "sasl_scram.h"
#include "tls_backend.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

#define NONCE_BYTES 24

struct scram {
	const struct tls_backend *tls;
	char *password;
	char *client_first_bare; /* n=user,r=cnonce */
	char *client_nonce;
	char *auth_message;
	long min_iterations, max_iterations;
	unsigned char salted[32];
	int state; /* 0 started, 1 client-final sent, 2 done */
};

/* Decodes standard base64 (padding optional) into a malloc'd buffer. */
static unsigned char *base64_decode(const char *text, size_t *out_len)
{
	size_t len = strlen(text), n = 0, i;
	unsigned char *out = xmalloc(len / 4 * 3 + 3);
	unsigned acc = 0;
	int bits = 0;

	for (i = 0; i < len; i++) {
		char c = text[i];
		int v;

		if (c >= 'A' && c <= 'Z')
			v = c - 'A';
		else if (c >= 'a' && c <= 'z')
			v = c - 'a' + 26;
		else if (c >= '0' && c <= '9')
			v = c - '0' + 52;
		else if (c == '+')
			v = 62;
		else if (c == '/')
			v = 63;
		else if (c == '=' && i + 2 >= len)
			break;
		else {
			free(out);
			return NULL;
		}
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (unsigned char)(acc >> bits);
		}
	}
	*out_len = n;
	return out;
}

unsigned char *sasl_base64_decode(const char *b64, size_t *len)
{
	return base64_decode(b64, len);
}

char *sasl_base64_decode_text(const char *b64)
{
	size_t len = 0;
	unsigned char *raw = base64_decode(b64, &len);
	char *text;

	if (!raw || memchr(raw, '\0', len)) {
		free(raw);
		return NULL;
	}
	text = xmalloc(len + 1);
	memcpy(text, raw, len);
	text[len] = '\0';
	free(raw);
	return text;
}

/* Compares in time independent of where the bytes differ. */
static int same_bytes(const unsigned char *a, const unsigned char *b, size_t n)
{
	unsigned char diff = 0;
	size_t i;

	for (i = 0; i < n; i++)
		diff |= a[i] ^ b[i];
	return diff == 0;
}

/* The value of attribute "x=" in a comma-separated message, malloc'd,
 * or NULL. */
static char *attribute(const char *msg, char name)
{
	const char *p = msg;

	while (p && *p) {
		if (p[0] == name && p[1] == '=') {
			size_t len = strcspn(p + 2, ",");
			char *v = xmalloc(len + 1);

			memcpy(v, p + 2, len);
			v[len] = '\0';
			return v;
		}
		p = strchr(p, ',');
		if (p)
			p++;
	}
	return NULL;
}

/* A user name with ',' and '=' escaped (RFC 5802 section 5.1). */
static char *escape_user(const char *user)
{
	struct buf b = BUF_INIT;

	for (; *user; user++)
		if (*user == ',')
			buf_adds(&b, "=2C");
		else if (*user == '=')
			buf_adds(&b, "=3D");
		else
			buf_addch(&b, *user);
	buf_addch(&b, '\0');
	return b.data;
}

struct scram *scram_start(const struct tls_backend *tls, const char *user,
			  const char *password, const char *nonce,
			  long min_iterations, long max_iterations,
			  char **client_first, char **err)
{
	struct scram *s;
	char *name, *generated = NULL;

	if (!tls || !tls->sha256 || !tls->pbkdf2_sha256 || !tls->random_bytes) {
		*err = xstrdup("scram-sha-256 needs the tls module");
		return NULL;
	}
	if (!nonce) {
		unsigned char raw[NONCE_BYTES];

		if (tls->random_bytes(raw, sizeof(raw)) < 0) {
			*err = xstrdup("scram-sha-256: no random bytes for a "
				       "nonce");
			return NULL;
		}
		generated = base64_encode(raw, sizeof(raw));
		nonce = generated;
	}
	s = xcalloc(1, sizeof(*s));
	s->tls = tls;
	s->password = xstrdup(password ? password : "");
	s->client_nonce = xstrdup(nonce);
	s->min_iterations = min_iterations;
	s->max_iterations = max_iterations;
	name = escape_user(user);
	s->client_first_bare = xasprintf("n=%s,r=%s", name, nonce);
	free(name);
	free(generated);
	*client_first = xasprintf("n,,%s", s->client_first_bare);
	return s;
}

int scram_client_final(struct scram *s, const char *server_first,
		       char **client_final, char **err)
{
	char *nonce = NULL, *salt64 = NULL, *iter = NULL, *without_proof;
	char *proof64, *end;
	unsigned char *salt = NULL, client_key[32], stored_key[32];
	unsigned char signature[32], proof[32];
	size_t salt_len = 0, i;
	long iterations;
	int rc = -1;

	*client_final = NULL;
	if (s->state != 0) {
		*err = xstrdup("scram-sha-256: a second server-first message");
		return -1;
	}
	if (server_first[0] == 'm' && server_first[1] == '=') {
		*err = xstrdup("scram-sha-256: the server wants an extension "
			       "we do not know");
		return -1;
	}
	nonce = attribute(server_first, 'r');
	salt64 = attribute(server_first, 's');
	iter = attribute(server_first, 'i');
	if (!nonce || !salt64 || !iter) {
		*err = xstrdup("scram-sha-256: the server's first message "
			       "lacks its nonce, salt or iteration count");
		goto out;
	}
	/* The server's nonce must extend ours, or this is a replay. */
	if (strncmp(nonce, s->client_nonce, strlen(s->client_nonce)) ||
	    strlen(nonce) <= strlen(s->client_nonce)) {
		*err = xstrdup("scram-sha-256: the server's nonce does not "
			       "extend ours (replay or a broken server)");
		goto out;
	}
	iterations = strtol(iter, &end, 10);
	if (*end || end == iter || iterations < s->min_iterations ||
	    iterations > s->max_iterations) {
		*err = xasprintf("scram-sha-256: the server asks for %.20s "
				 "iterations, outside %ld to %ld ([irc] "
				 "sasl_scram_min_iterations, "
				 "sasl_scram_max_iterations)",
				 iter, s->min_iterations, s->max_iterations);
		goto out;
	}
	salt = base64_decode(salt64, &salt_len);
	if (!salt || !salt_len) {
		*err = xstrdup("scram-sha-256: the server's salt is not "
			       "base64");
		goto out;
	}
	if (s->tls->pbkdf2_sha256(s->password, strlen(s->password), salt,
				  salt_len, (unsigned)iterations,
				  s->salted) < 0 ||
	    s->tls->hmac_sha256(s->salted, 32, "Client Key", 10, client_key) <
		0 ||
	    s->tls->sha256(client_key, 32, stored_key) < 0) {
		*err = xstrdup("scram-sha-256: the crypto failed");
		goto out;
	}
	/* "biws" is base64("n,,"): no channel binding. */
	without_proof = xasprintf("c=biws,r=%s", nonce);
	s->auth_message = xasprintf("%s,%s,%s", s->client_first_bare,
				    server_first, without_proof);
	if (s->tls->hmac_sha256(stored_key, 32, s->auth_message,
				strlen(s->auth_message), signature) < 0) {
		free(without_proof);
		*err = xstrdup("scram-sha-256: the crypto failed");
		goto out;
	}
	for (i = 0; i < 32; i++)
		proof[i] = client_key[i] ^ signature[i];
	proof64 = base64_encode(proof, sizeof(proof));
	*client_final = xasprintf("%s,p=%s", without_proof, proof64);
	free(proof64);
	free(without_proof);
	s->state = 1;
	rc = 0;
out:
	explicit_bzero(client_key, sizeof(client_key));
	explicit_bzero(stored_key, sizeof(stored_key));
	explicit_bzero(proof, sizeof(proof));
	free(nonce);
	free(salt64);
	free(iter);
	free(salt);
	return rc;
}

int scram_check_server_final(struct scram *s, const char *server_final,
			     char **err)
{
	unsigned char server_key[32], expected[32], *got;
	char *error_text, *v;
	size_t got_len = 0;
	int rc = -1;

	if (s->state != 1) {
		*err = xstrdup("scram-sha-256: the server's final message "
			       "came out of order");
		return -1;
	}
	error_text = attribute(server_final, 'e');
	if (error_text) {
		*err = xasprintf("scram-sha-256: the server says %.80s",
				 error_text);
		free(error_text);
		return -1;
	}
	v = attribute(server_final, 'v');
	got = v ? base64_decode(v, &got_len) : NULL;
	free(v);
	if (s->tls->hmac_sha256(s->salted, 32, "Server Key", 10, server_key) <
		0 ||
	    s->tls->hmac_sha256(server_key, 32, s->auth_message,
				strlen(s->auth_message), expected) < 0) {
		*err = xstrdup("scram-sha-256: the crypto failed");
	} else if (!got || got_len != 32 || !same_bytes(got, expected, 32)) {
		*err = xstrdup("scram-sha-256: the server's signature is "
			       "wrong: it does not know the password (an "
			       "impostor?)");
	} else {
		s->state = 2;
		rc = 0;
	}
	explicit_bzero(server_key, sizeof(server_key));
	free(got);
	return rc;
}

void scram_free(struct scram *s)
{
	if (!s)
		return;
	free_secret(s->password);
	free(s->client_first_bare);
	free(s->client_nonce);
	free(s->auth_message);
	explicit_bzero(s->salted, sizeof(s->salted));
	free(s);
}

/*
 * tls_backend.h - the contract between the host and modules/tls.so
 * (module_tls.c), which holds OpenSSL.  The host loads the module only
 * for a TLS connection (net.c), a webhook's HMAC check (webhook.c) or a
 * SASL SCRAM or ECDSA login (sasl_scram.c, irc_register.c), so
 * a plain-text bot does not pay OpenSSL's resident memory (about 4 MB
 * once its configuration is loaded).
 *
 * The session works on memory buffers: ciphertext from the socket goes in
 * with feed(), plaintext comes out of read(); plaintext goes in with
 * write(), ciphertext for the socket comes out of take_output().
 */
#ifndef TLS_BACKEND_H
#define TLS_BACKEND_H

#include <stddef.h>

#define TLS_BACKEND_VERSION 4
#define TLS_BACKEND_SYMBOL "opsbot_tls_backend"

struct tls_ctx;
struct tls_session;

struct tls_options {
	int verify;		 /* check the chain and the host name */
	const char *ca_file;	 /* PEM bundle; NULL: the system store */
	const char *fingerprint; /* SHA-256 of the certificate (hex, colons
				    allowed), or NULL; when set it replaces
				    the chain check */
	const char *client_cert; /* PEM file, for CertFP / SASL EXTERNAL */
	const char *client_key;	 /* PEM file; NULL: in client_cert */
};

enum tls_status {
	TLS_OK = 0,
	TLS_WANT_MORE = 1, /* needs more input before it can go on */
	TLS_ERROR = -1,
	TLS_CLOSED = -2, /* the peer ended the session */
};

struct tls_backend {
	unsigned version;
	struct tls_ctx *(*ctx_new)(const struct tls_options *o, char *err,
				   size_t err_size);
	void (*ctx_free)(struct tls_ctx *ctx);
	/* host: for SNI and the name check (an IP address is checked as
	 * one). */
	struct tls_session *(*session_new)(struct tls_ctx *ctx,
					   const char *host, char *err,
					   size_t err_size);
	void (*session_free)(struct tls_session *s);
	/* Runs the handshake as far as the input allows: TLS_OK once done
	 * and verified, TLS_WANT_MORE, or TLS_ERROR with err set. */
	int (*handshake)(struct tls_session *s, char *err, size_t err_size);
	int (*feed)(struct tls_session *s, const char *data, size_t len);
	/* Plaintext: > 0 bytes, 0 when it needs more input, TLS_CLOSED or
	 * TLS_ERROR. */
	int (*read)(struct tls_session *s, char *buf, size_t size, char *err,
		    size_t err_size);
	int (*write)(struct tls_session *s, const char *data, size_t len,
		     char *err, size_t err_size);
	/* Ciphertext waiting for the socket: copies up to size bytes,
	 * returns how many. */
	size_t (*take_output)(struct tls_session *s, char *buf, size_t size);
	/* "TLSv1.3, TLS_AES_256_GCM_SHA384, sha256 ab:cd:..." for the log. */
	void (*describe)(struct tls_session *s, char *out, size_t size);
	/* HMAC-SHA256 of data with key into out (32 bytes): 0, or -1 (an
	 * OpenSSL failure).  Since version 2. */
	int (*hmac_sha256)(const void *key, size_t key_len, const void *data,
			   size_t len, unsigned char out[32]);
	/* SHA-256 of data; PBKDF2-HMAC-SHA256 (32 bytes of key); n bytes
	 * from OpenSSL's CSPRNG.  0, or -1.  Since version 3. */
	int (*sha256)(const void *data, size_t len, unsigned char out[32]);
	int (*pbkdf2_sha256)(const char *password, size_t password_len,
			     const unsigned char *salt, size_t salt_len,
			     unsigned iterations, unsigned char out[32]);
	int (*random_bytes)(unsigned char *out, size_t n);
	/* SASL ECDSA-NIST256P-CHALLENGE: signs challenge (used as the
	 * digest, as the mechanism specifies) with the P-256 private key in
	 * the PEM file key_file; the DER signature into sig (*sig_len: its
	 * size in, the length out; 80 bytes are enough).  0, or -1 with err
	 * set.  Since version 4. */
	int (*ecdsa_p256_sign)(const char *key_file,
			       const unsigned char *challenge, size_t len,
			       unsigned char *sig, size_t *sig_len, char *err,
			       size_t err_size);
};

#endif /* TLS_BACKEND_H */

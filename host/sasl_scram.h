/*
 * sasl_scram.h - the client side of SASL SCRAM-SHA-256 (RFC 5802, RFC
 * 7677) without channel binding: the messages, the proof, and the check
 * of the server's signature.  The crypto is OpenSSL's, through the TLS
 * module (tls_backend.h); nothing here knows IRC.
 *
 * Fails closed: a server nonce that does not extend ours, an iteration
 * count outside the configured bounds, a mandatory extension, an error
 * ("e=") or a wrong server signature all end the exchange with a message.
 */
#ifndef SASL_SCRAM_H
#define SASL_SCRAM_H

#include <stddef.h>

struct tls_backend;
struct scram;

/*
 * Starts an exchange for user and password; nonce is the client nonce
 * (printable, no ','), or NULL for 24 random bytes in base64.  Iteration
 * counts outside [min_iterations, max_iterations] are refused.  Returns
 * the state and sets *client_first (malloc'd, "n,,n=user,r=nonce"), or
 * NULL with *err set.
 */
struct scram *scram_start(const struct tls_backend *tls, const char *user,
			  const char *password, const char *nonce,
			  long min_iterations, long max_iterations,
			  char **client_first, char **err);

/* The server-first message in, the client-final message out (malloc'd):
 * 0, or -1 with *err set. */
int scram_client_final(struct scram *s, const char *server_first,
		       char **client_final, char **err);

/* The server-final message: 0 when its signature is right, or -1 with
 * *err set. */
int scram_check_server_final(struct scram *s, const char *server_final,
			     char **err);

/* Decodes a base64 payload that must be text (no NUL): malloc'd, or
 * NULL. */
char *sasl_base64_decode_text(const char *b64);
/* Decodes a base64 payload (any bytes): malloc'd, its length in *len, or
 * NULL when it is not base64. */
unsigned char *sasl_base64_decode(const char *b64, size_t *len);

/* Forgets the keys (zeroed) and frees; NULL is fine. */
void scram_free(struct scram *s);

#endif /* SASL_SCRAM_H */

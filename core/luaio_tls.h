/*
** luaio_tls.h - part of luaio.h (included by it, never on its own).
**
** TLS on streams (OpenSSL, through memory BIOs): a context holds the
** settings (asyncio's ssl.SSLContext), and luaio_stream_start_tls()
** turns a connected stream into a TLS one. After the handshake the
** stream reads and writes plain text exactly as before: every read,
** drain and close rule of luaio_stream.h holds. Built without OpenSSL
** (LUAIO_TLS off), or when libssl cannot be loaded at run time,
** luaio_tls_available() returns 0 and the functions here fail with
** UV_ENOTSUP.
*/

/* {======================================================================
** TLS
** ======================================================================= */

/* A handshake or a record failed; luaio_stream_tls_error() says why. */
#define LUAIO_ETLS (-5100)

typedef struct luaio_tls_ctx_s luaio_tls_ctx_t;

/* Nonzero when TLS can be used: luaio was built with it and OpenSSL's
** libssl loads (on the first call of this or of luaio_tls_ctx_new(), never
** at start). */
LUAIO_EXTERN int luaio_tls_available(void);
/* Why TLS cannot be used ("TLS is not available: libssl.so.3 could not
** be loaded: ..."), or NULL when it can. Loads OpenSSL as above. */
LUAIO_EXTERN const char *luaio_tls_unavailable(void);

/* Creates a context with asyncio's defaults: TLS 1.2 at least; for a
** client (server == 0), the peer verified against the system's CA store
** (OpenSSL's default paths, so SSL_CERT_FILE and SSL_CERT_DIR apply) and
** its host name checked; a server asks for no client certificate. The
** caller owns the reference returned. Returns NULL with *err set
** (LUAIO_ENOMEM, UV_ENOTSUP: luaio_tls_unavailable() says why). */
LUAIO_EXTERN luaio_tls_ctx_t *luaio_tls_ctx_new(int server, int *err);
/* Whether a client context trusts the system's CA store (on by default;
** read at its first handshake that verifies, so this must come before).
** Python's create_default_context leaves the store out when given CAs of
** its own (cafile, capath), and so does asyncio.ssl's. */
LUAIO_EXTERN void luaio_tls_ctx_set_default_cas(luaio_tls_ctx_t *ctx, int on);
LUAIO_EXTERN void luaio_tls_ctx_ref(luaio_tls_ctx_t *ctx);
LUAIO_EXTERN void luaio_tls_ctx_unref(luaio_tls_ctx_t *ctx);

/* Loads the certificate chain (PEM) and its private key (NULL: in the
** same file). Returns 0, or LUAIO_ETLS with the reason copied into msg
** (size bytes, NUL-terminated). */
LUAIO_EXTERN int luaio_tls_ctx_load_cert_chain(luaio_tls_ctx_t *ctx,
                                               const char *certfile,
                                               const char *keyfile, char *msg,
                                               size_t size);
/* Trusts the CA certificates in cafile and/or the hashed directory
** capath (either may be NULL). Returns as load_cert_chain. */
LUAIO_EXTERN int luaio_tls_ctx_load_verify_locations(luaio_tls_ctx_t *ctx,
                                                     const char *cafile,
                                                     const char *capath,
                                                     char *msg, size_t size);
/* verify: check the peer's certificate (a server then requires one);
** check_hostname: check the name the client asked for against it. */
LUAIO_EXTERN void luaio_tls_ctx_set_verify(luaio_tls_ctx_t *ctx, int verify,
                                           int check_hostname);
LUAIO_EXTERN int luaio_tls_ctx_is_server(const luaio_tls_ctx_t *ctx);
/* The protocols offered (a client) or accepted (a server) by ALPN, n
** names of 1 to 255 bytes each, by preference; a server picks the first
** of its own the client offers, and goes on without ALPN when there is
** none. Returns 0, LUAIO_EINVAL for a bad name, or LUAIO_ENOMEM. */
LUAIO_EXTERN int luaio_tls_ctx_set_alpn(luaio_tls_ctx_t *ctx,
                                        const char *const *protos, size_t n);

/* Starts the handshake on the connected stream s, as a client (hostname,
** may be NULL, is sent as SNI and checked as the context says: a name
** against the certificate's names, an IP address against its addresses;
** without one, a context that checks names fails the handshake, saying
** "check_hostname requires server_hostname") or, with a server context,
** as a server. timeout > 0 bounds the handshake. Text written meanwhile, and
** luaio_stream_write_eof(), wait for its end. The stream must not have
** been read from yet. Returns a new future (the caller owns the
** reference) that resolves when the handshake is done, or NULL when out
** of memory. */
LUAIO_EXTERN luaio_future_t *luaio_stream_start_tls(luaio_stream_t *s,
                                                    luaio_tls_ctx_t *ctx,
                                                    const char *hostname,
                                                    double timeout);
/* After the future was awaited: returns 0, or the error (err when the
** wait was cancelled, LUAIO_ETIMEOUT, LUAIO_ETLS, or the error that lost
** the connection); on error the stream is aborted. Borrows fut. */
LUAIO_EXTERN int luaio_stream_start_tls_finish(luaio_stream_t *s,
                                               luaio_future_t *fut, int err);
/* asyncio's ssl_shutdown_timeout: how long closing a TLS stream waits
** for the peer's close_notify once its own is sent (seconds). */
#define LUAIO_TLS_SHUTDOWN_TIMEOUT 30.0
/* Sets how long closing s waits for the peer's close_notify (0: not at
** all). Until it comes, the peer's input ends or timeout passes, s is
** closing but its handle stays open (luaio_stream_wait_closed() waits);
** once timeout passes, s is aborted. Returns 0, LUAIO_EINVAL for a
** negative or NaN timeout, or LUAIO_EINVALSTATE when s has no TLS. */
LUAIO_EXTERN int luaio_stream_set_tls_shutdown_timeout(luaio_stream_t *s,
                                                       double timeout);
/* Why TLS failed on s ("certificate verify failed: self-signed
** certificate"), or "" (borrowed, valid while s is). */
LUAIO_EXTERN const char *luaio_stream_tls_error(const luaio_stream_t *s);
/* Nonzero once s speaks TLS (start_tls was called). */
LUAIO_EXTERN int luaio_stream_is_tls(const luaio_stream_t *s);

enum {
  LUAIO_TLS_VERSION,      /* "TLSv1.3" */
  LUAIO_TLS_CIPHER,       /* "TLS_AES_256_GCM_SHA384" */
  LUAIO_TLS_CIPHER_BITS,  /* "256" */
  LUAIO_TLS_PEER_SUBJECT, /* "CN=localhost", one line, RFC 2253 */
  LUAIO_TLS_PEER_ISSUER,
  LUAIO_TLS_ALPN /* the protocol agreed, or none */
};
/* Copies what (LUAIO_TLS_*) of the TLS session of s into buf. Returns 0,
** or LUAIO_EINVALSTATE when s has no such thing (no TLS, no handshake
** done, no peer certificate). */
LUAIO_EXTERN int luaio_stream_tls_info(const luaio_stream_t *s, int what,
                                       char *buf, size_t size);

/* }====================================================================== */

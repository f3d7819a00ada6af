/*
** tls.c - TLS on streams with OpenSSL: the SSL object talks to a BIO of
** ours that reads from the bytes stream.c just read and collects what SSL
** writes, which is sent after each SSL call; the text SSL decrypts goes
** to the stream's input as if it had been read.
*/
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

int luaio_tls_available(void) {
  return luaio_tls_unavailable() == NULL;
}

int luaio_stream_start_tls_finish(luaio_stream_t *s, luaio_future_t *fut,
                                  int err) {
  int rc = err;
  if (rc == 0)
    rc = luaio_future_done(fut) ? luaio_future_error(fut) : LUAIO_ECANCELLED;
  if (rc != 0)
    luaio_stream_abort(s); /* ends a handshake in progress too */
  return rc;
}

#ifdef LUAIO_TLS

#include <dlfcn.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

/* {======================================================================
** OpenSSL, loaded on first use: a program that never uses TLS does not
** pay for mapping libssl and libcrypto at start. The headers give the
** types and constants; the functions come from dlsym into ossl, and the
** defines below make every call here (and every OpenSSL macro, which
** expands to one of these) go through it. Never unloaded.
** ======================================================================= */

#define LUAIO_STR_(x) #x
#define LUAIO_STR(x) LUAIO_STR_(x)
#define LIBSSL "libssl.so." LUAIO_STR(OPENSSL_VERSION_MAJOR)

#define OSSL_FUNCS(X)                                                       \
  X(BIO_clear_flags) X(BIO_ctrl) X(BIO_free) X(BIO_get_data)                \
  X(BIO_get_new_index) X(BIO_meth_free) X(BIO_meth_new) X(BIO_meth_set_ctrl) \
  X(BIO_meth_set_read) X(BIO_meth_set_write) X(BIO_new) X(BIO_s_mem)        \
  X(BIO_set_data) X(BIO_set_flags) X(BIO_set_init)                          \
  X(ERR_clear_error) X(ERR_peek_last_error) X(ERR_reason_error_string)      \
  X(SSL_CIPHER_get_bits) X(SSL_CIPHER_get_name) X(SSL_CTX_check_private_key) \
  X(SSL_CTX_ctrl) X(SSL_CTX_free) X(SSL_CTX_load_verify_locations)          \
  X(SSL_CTX_new) X(SSL_CTX_set_alpn_protos) X(SSL_CTX_set_alpn_select_cb)   \
  X(SSL_CTX_set_default_verify_paths) X(SSL_CTX_set_verify)                 \
  X(SSL_CTX_use_PrivateKey_file) X(SSL_CTX_use_certificate_chain_file)      \
  X(SSL_ctrl) X(SSL_do_handshake) X(SSL_free) X(SSL_get0_alpn_selected)     \
  X(SSL_get0_param) X(SSL_get1_peer_certificate) X(SSL_get_current_cipher)  \
  X(SSL_get_error) X(SSL_get_verify_result) X(SSL_get_version) X(SSL_new)   \
  X(SSL_pending) X(SSL_read) X(SSL_select_next_proto) X(SSL_set1_host)      \
  X(SSL_set_accept_state) X(SSL_set_bio) X(SSL_set_connect_state)           \
  X(SSL_shutdown) X(SSL_write) X(TLS_client_method) X(TLS_server_method)    \
  X(X509_NAME_print_ex) X(X509_VERIFY_PARAM_set1_ip_asc) X(X509_free)       \
  X(X509_get_issuer_name) X(X509_get_subject_name)                          \
  X(X509_verify_cert_error_string)

static struct {
#define OSSL_FIELD(name) __typeof__(name) *name;
  OSSL_FUNCS(OSSL_FIELD)
#undef OSSL_FIELD
} ossl;

static uv_once_t ossl_once = UV_ONCE_INIT;
static char ossl_error[256]; /* why loading failed, or "" */
static BIO_METHOD *bio_method; /* the streams' BIO (see below) */
static int bio_method_new(void);

static void ossl_load(void) {
  void *lib = dlopen(LIBSSL, RTLD_NOW | RTLD_LOCAL); /* and libcrypto */
  if (lib != NULL) {
    void *sym;
#define OSSL_SYM(name)                                                      \
  if ((sym = dlsym(lib, #name)) == NULL)                                    \
    goto fail;                                                              \
  memcpy(&ossl.name, &sym, sizeof sym); /* ISO C has no cast for it */
    OSSL_FUNCS(OSSL_SYM)
#undef OSSL_SYM
    if (bio_method_new() != 0)
      snprintf(ossl_error, sizeof ossl_error,
               "TLS is not available: no BIO method could be made");
    return;
  }
fail:
  snprintf(ossl_error, sizeof ossl_error,
           "TLS is not available: " LIBSSL " could not be loaded: %s",
           dlerror());
}

const char *luaio_tls_unavailable(void) {
  uv_once(&ossl_once, ossl_load);
  return ossl_error[0] != '\0' ? ossl_error : NULL;
}

/* From here on, OpenSSL's names are ossl's pointers. */
#define BIO_clear_flags (ossl.BIO_clear_flags)
#define BIO_ctrl (ossl.BIO_ctrl)
#define BIO_free (ossl.BIO_free)
#define BIO_get_data (ossl.BIO_get_data)
#define BIO_get_new_index (ossl.BIO_get_new_index)
#define BIO_meth_free (ossl.BIO_meth_free)
#define BIO_meth_new (ossl.BIO_meth_new)
#define BIO_meth_set_ctrl (ossl.BIO_meth_set_ctrl)
#define BIO_meth_set_read (ossl.BIO_meth_set_read)
#define BIO_meth_set_write (ossl.BIO_meth_set_write)
#define BIO_new (ossl.BIO_new)
#define BIO_s_mem (ossl.BIO_s_mem)
#define BIO_set_data (ossl.BIO_set_data)
#define BIO_set_flags (ossl.BIO_set_flags)
#define BIO_set_init (ossl.BIO_set_init)
#define ERR_clear_error (ossl.ERR_clear_error)
#define ERR_peek_last_error (ossl.ERR_peek_last_error)
#define ERR_reason_error_string (ossl.ERR_reason_error_string)
#define SSL_CIPHER_get_bits (ossl.SSL_CIPHER_get_bits)
#define SSL_CIPHER_get_name (ossl.SSL_CIPHER_get_name)
#define SSL_CTX_check_private_key (ossl.SSL_CTX_check_private_key)
#define SSL_CTX_ctrl (ossl.SSL_CTX_ctrl)
#define SSL_CTX_free (ossl.SSL_CTX_free)
#define SSL_CTX_load_verify_locations (ossl.SSL_CTX_load_verify_locations)
#define SSL_CTX_new (ossl.SSL_CTX_new)
#define SSL_CTX_set_alpn_protos (ossl.SSL_CTX_set_alpn_protos)
#define SSL_CTX_set_alpn_select_cb (ossl.SSL_CTX_set_alpn_select_cb)
#define SSL_CTX_set_default_verify_paths (ossl.SSL_CTX_set_default_verify_paths)
#define SSL_CTX_set_verify (ossl.SSL_CTX_set_verify)
#define SSL_CTX_use_PrivateKey_file (ossl.SSL_CTX_use_PrivateKey_file)
#define SSL_CTX_use_certificate_chain_file                                  \
  (ossl.SSL_CTX_use_certificate_chain_file)
#define SSL_ctrl (ossl.SSL_ctrl)
#define SSL_do_handshake (ossl.SSL_do_handshake)
#define SSL_free (ossl.SSL_free)
#define SSL_get0_alpn_selected (ossl.SSL_get0_alpn_selected)
#define SSL_get0_param (ossl.SSL_get0_param)
#define SSL_get1_peer_certificate (ossl.SSL_get1_peer_certificate)
#define SSL_get_current_cipher (ossl.SSL_get_current_cipher)
#define SSL_get_error (ossl.SSL_get_error)
#define SSL_get_verify_result (ossl.SSL_get_verify_result)
#define SSL_get_version (ossl.SSL_get_version)
#define SSL_new (ossl.SSL_new)
#define SSL_pending (ossl.SSL_pending)
#define SSL_read (ossl.SSL_read)
#define SSL_select_next_proto (ossl.SSL_select_next_proto)
#define SSL_set1_host (ossl.SSL_set1_host)
#define SSL_set_accept_state (ossl.SSL_set_accept_state)
#define SSL_set_bio (ossl.SSL_set_bio)
#define SSL_set_connect_state (ossl.SSL_set_connect_state)
#define SSL_shutdown (ossl.SSL_shutdown)
#define SSL_write (ossl.SSL_write)
#define TLS_client_method (ossl.TLS_client_method)
#define TLS_server_method (ossl.TLS_server_method)
#define X509_NAME_print_ex (ossl.X509_NAME_print_ex)
#define X509_VERIFY_PARAM_set1_ip_asc (ossl.X509_VERIFY_PARAM_set1_ip_asc)
#define X509_free (ossl.X509_free)
#define X509_get_issuer_name (ossl.X509_get_issuer_name)
#define X509_get_subject_name (ossl.X509_get_subject_name)
#define X509_verify_cert_error_string (ossl.X509_verify_cert_error_string)

/* }====================================================================== */

struct luaio_tls_ctx_s {
  SSL_CTX *ctx; /* owns */
  int refs;
  unsigned char *alpn; /* owns: a server's ALPN list, wire format, or NULL */
  size_t alpnlen;
  unsigned server : 1;
  unsigned check_hostname : 1;
  unsigned verify : 1;        /* the peer's certificate is checked */
  unsigned need_defaults : 1; /* the system's CA store is yet to be loaded */
};

struct luaio__tls {
  SSL *ssl;                /* owns, and with it its BIO */
  const char *in;          /* in luaio__tls_input: what SSL is yet to read */
  size_t inlen;
  char *out;               /* owns: what SSL wrote, to be sent, or NULL */
  size_t outlen, outcap;
  luaio_future_t *hs;      /* owns: the handshake, while in progress */
  luaio_handle_t *timer;   /* owns: the handshake's deadline, if armed */
  luaio_handle_t *stimer;  /* owns: the closing exchange's deadline, armed
                           ** while the stream waits for close_notify */
  double shutdown_timeout; /* that wait's bound, 0 for none */
  char *early;             /* owns: text written during the handshake */
  size_t nearly, capearly;
  unsigned done : 1;       /* the handshake is over */
  unsigned eof_after : 1;  /* write_eof came during the handshake */
  unsigned shut : 1;       /* close_notify was sent */
  char err[160];           /* why TLS failed, or "" */
};

luaio_tls_ctx_t *luaio_tls_ctx_new(int server, int *err) {
  *err = UV_ENOTSUP;
  if (luaio_tls_unavailable() != NULL)
    return NULL;
  *err = LUAIO_ENOMEM;
  luaio_tls_ctx_t *c = luaio__alloc(sizeof *c);
  if (c == NULL)
    return NULL;
  c->ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
  if (c->ctx == NULL) {
    luaio__free(c, sizeof *c);
    ERR_clear_error();
    return NULL;
  }
  c->refs = 1;
  c->alpn = NULL;
  c->alpnlen = 0;
  c->server = server != 0;
  SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION);
  luaio_tls_ctx_set_verify(c, !server, !server);
  /* A client trusts the system's store, loaded by the first handshake
  ** that verifies (load_defaults): parsing its few hundred certificates
  ** is the dearest part of a context, and one that never verifies, or
  ** is made and not used, needs none of it. */
  c->need_defaults = !server;
  return c;
}

void luaio_tls_ctx_set_default_cas(luaio_tls_ctx_t *ctx, int on) {
  ctx->need_defaults = on && !ctx->server;
}

void luaio_tls_ctx_ref(luaio_tls_ctx_t *ctx) {
  ctx->refs++;
}

void luaio_tls_ctx_unref(luaio_tls_ctx_t *ctx) {
  if (--ctx->refs > 0)
    return;
  SSL_CTX_free(ctx->ctx);
  if (ctx->alpn != NULL)
    luaio__free(ctx->alpn, ctx->alpnlen);
  luaio__free(ctx, sizeof *ctx);
}

/* Copies the reason of the first error OpenSSL queued into msg, after
** what, and empties the queue. Returns LUAIO_ETLS. */
static int queued_error(const char *what, char *msg, size_t size) {
  unsigned long e = ERR_peek_last_error();
  const char *reason = e != 0 ? ERR_reason_error_string(e) : NULL;
  snprintf(msg, size, "%s: %s", what, reason != NULL ? reason : "failed");
  ERR_clear_error();
  return LUAIO_ETLS;
}

int luaio_tls_ctx_load_cert_chain(luaio_tls_ctx_t *ctx, const char *certfile,
                                  const char *keyfile, char *msg,
                                  size_t size) {
  if (SSL_CTX_use_certificate_chain_file(ctx->ctx, certfile) != 1)
    return queued_error(certfile, msg, size);
  if (keyfile == NULL)
    keyfile = certfile;
  if (SSL_CTX_use_PrivateKey_file(ctx->ctx, keyfile, SSL_FILETYPE_PEM) != 1)
    return queued_error(keyfile, msg, size);
  if (SSL_CTX_check_private_key(ctx->ctx) != 1)
    return queued_error(keyfile, msg, size);
  return 0;
}

int luaio_tls_ctx_load_verify_locations(luaio_tls_ctx_t *ctx,
                                        const char *cafile, const char *capath,
                                        char *msg, size_t size) {
  if (cafile == NULL && capath == NULL)
    return 0;
  if (SSL_CTX_load_verify_locations(ctx->ctx, cafile, capath) != 1)
    return queued_error(cafile != NULL ? cafile : capath, msg, size);
  return 0;
}

void luaio_tls_ctx_set_verify(luaio_tls_ctx_t *ctx, int verify,
                              int check_hostname) {
  int mode = SSL_VERIFY_NONE;
  if (verify)
    mode = SSL_VERIFY_PEER |
           (ctx->server ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0);
  SSL_CTX_set_verify(ctx->ctx, mode, NULL);
  ctx->verify = verify != 0;
  ctx->check_hostname = verify && check_hostname;
}

int luaio_tls_ctx_is_server(const luaio_tls_ctx_t *ctx) {
  return ctx->server;
}

/* A server's choice: its first protocol that the client offers. */
static int alpn_select_cb(SSL *ssl, const unsigned char **out,
                          unsigned char *outlen, const unsigned char *in,
                          unsigned int inlen, void *arg) {
  luaio_tls_ctx_t *ctx = arg;
  unsigned char *chosen;
  (void)ssl;
  if (SSL_select_next_proto(&chosen, outlen, ctx->alpn,
                            (unsigned)ctx->alpnlen, in,
                            inlen) != OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_NOACK;
  *out = chosen;
  return SSL_TLSEXT_ERR_OK;
}

int luaio_tls_ctx_set_alpn(luaio_tls_ctx_t *ctx, const char *const *protos,
                           size_t n) {
  size_t len = 0;
  for (size_t i = 0; i < n; i++) {
    size_t m = strlen(protos[i]);
    if (m == 0 || m > 255)
      return LUAIO_EINVAL;
    len += 1 + m;
  }
  if (len > 65535)
    return LUAIO_EINVAL;
  unsigned char *wire = len > 0 ? luaio__alloc(len) : NULL;
  if (len > 0 && wire == NULL)
    return LUAIO_ENOMEM;
  unsigned char *p = wire;
  for (size_t i = 0; i < n; i++) {
    size_t m = strlen(protos[i]);
    *p++ = (unsigned char)m;
    memcpy(p, protos[i], m);
    p += m;
  }
  if (!ctx->server) {
    /* 0 is success here, as OpenSSL's documentation says. */
    int rc = SSL_CTX_set_alpn_protos(ctx->ctx, wire, (unsigned)len);
    if (wire != NULL)
      luaio__free(wire, len);
    ERR_clear_error();
    return rc == 0 ? 0 : LUAIO_ENOMEM;
  }
  if (ctx->alpn != NULL)
    luaio__free(ctx->alpn, ctx->alpnlen);
  ctx->alpn = wire;
  ctx->alpnlen = len;
  SSL_CTX_set_alpn_select_cb(ctx->ctx, wire != NULL ? alpn_select_cb : NULL,
                             ctx);
  return 0;
}

void luaio__tls_free(luaio__tls *t) {
  assert(t->hs == NULL && t->timer == NULL && t->stimer == NULL);
  if (t->early != NULL)
    luaio__free(t->early, t->capearly);
  SSL_free(t->ssl);
  luaio__free(t->out, t->outcap);
  luaio__free(t, sizeof *t);
}

/* {======================================================================
** The streams' BIO. SSL reads from t->in, the bytes luaio__tls_input was
** given, in place: they are not copied into a memory BIO first, and none
** are left over, as SSL is called until it wants more. What SSL writes
** (records, a handshake's flight) is gathered in t->out and sent by
** flush() after each SSL call, in one write; a buffer of a record's size
** is kept for the next, a larger one given back.
** ======================================================================= */

#define OUT_FIRST 4096            /* t->out's size at first */
#define OUT_KEEP (16384 + 1024)   /* the largest t->out kept between sends */
#define WRITE_CHUNK (4 * 16384)   /* plain text encrypted before a send */

static int bio_read(BIO *b, char *buf, int size) {
  luaio__tls *t = BIO_get_data(b);
  BIO_clear_retry_flags(b);
  if (t->inlen == 0) {
    BIO_set_retry_read(b); /* SSL_ERROR_WANT_READ: wait for more */
    return -1;
  }
  size_t n = (size_t)size < t->inlen ? (size_t)size : t->inlen;
  memcpy(buf, t->in, n);
  t->in += n;
  t->inlen -= n;
  return (int)n;
}

/* Grows *buf (*cap bytes, first when it has none) to hold need bytes, by
** doubling at least. Returns 0 or LUAIO_ENOMEM. */
static int buf_grow(char **buf, size_t *cap, size_t need, size_t first) {
  if (need <= *cap)
    return 0;
  size_t ncap = *cap > 0 ? *cap * 2 : first;
  if (ncap < need)
    ncap = need;
  char *p = luaio__realloc(*buf, *cap, ncap);
  if (p == NULL)
    return LUAIO_ENOMEM;
  *buf = p;
  *cap = ncap;
  return 0;
}

/* Makes room in t->out for n more bytes. Returns 0 or LUAIO_ENOMEM. */
static int out_reserve(luaio__tls *t, size_t n) {
  return buf_grow(&t->out, &t->outcap, t->outlen + n, OUT_FIRST);
}

static int bio_write(BIO *b, const char *data, int len) {
  luaio__tls *t = BIO_get_data(b);
  BIO_clear_retry_flags(b);
  if (len <= 0)
    return 0;
  if (out_reserve(t, (size_t)len) != 0)
    return -1; /* SSL fails: out of memory */
  memcpy(t->out + t->outlen, data, (size_t)len);
  t->outlen += (size_t)len;
  return len;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr) {
  (void)num, (void)ptr;
  switch (cmd) {
  case BIO_CTRL_FLUSH:
    return 1; /* flush() sends after each SSL call */
  case BIO_CTRL_PENDING:
    return (long)((luaio__tls *)BIO_get_data(b))->inlen;
  default:
    return 0;
  }
}

/* Made once, with the functions (ossl_load). Returns 0 or -1. */
static int bio_method_new(void) {
  int type = BIO_get_new_index();
  if (type == -1)
    return -1;
  bio_method = BIO_meth_new(type | BIO_TYPE_SOURCE_SINK, "luaio stream");
  if (bio_method == NULL || BIO_meth_set_read(bio_method, bio_read) != 1 ||
      BIO_meth_set_write(bio_method, bio_write) != 1 ||
      BIO_meth_set_ctrl(bio_method, bio_ctrl) != 1)
    return -1; /* freed below */
  return 0;
}

/* The method goes with this code: when luaio is a Lua module that
** lua_close unloads, and at exit. libcrypto stays loaded (never closed),
** so the call is safe then. */
__attribute__((destructor)) static void bio_method_free(void) {
  if (bio_method != NULL)
    BIO_meth_free(bio_method);
  bio_method = NULL;
}

/* Sends what SSL wrote. */
static void flush(luaio_stream_t *s, luaio__tls *t) {
  size_t n = t->outlen;
  if (n == 0)
    return;
  t->outlen = 0;
  if (luaio__stream_send(s, t->out, n) != 0)
    luaio__stream_end(s, LUAIO_ENOMEM); /* the data is lost: so is s */
  luaio__clock_sent(luaio__stream_loop(s));
  if (t->outcap > OUT_KEEP) {
    luaio__free(t->out, t->outcap);
    t->out = NULL;
    t->outcap = 0;
  }
}

/* }====================================================================== */

/* Records why the last SSL call failed. */
static void set_error(luaio__tls *t, int sslerr) {
  long v = SSL_get_verify_result(t->ssl);
  unsigned long e = ERR_peek_last_error();
  if (v != X509_V_OK && ERR_GET_REASON(e) == SSL_R_CERTIFICATE_VERIFY_FAILED)
    snprintf(t->err, sizeof t->err, "certificate verify failed: %s",
             X509_verify_cert_error_string(v));
  else if (e != 0 && ERR_reason_error_string(e) != NULL)
    snprintf(t->err, sizeof t->err, "%s", ERR_reason_error_string(e));
  else if (sslerr == SSL_ERROR_SYSCALL || sslerr == SSL_ERROR_ZERO_RETURN)
    snprintf(t->err, sizeof t->err, "EOF occurred in violation of protocol");
  else
    snprintf(t->err, sizeof t->err, "TLS error %d", sslerr);
  ERR_clear_error();
}

/* The handshake is over: resolves its future (err 0) or fails it, the
** text held for after it dropped and drain failed as start_tls is: with
** t->err, but for a timeout or a lack of memory. */
static void hs_finish(luaio_stream_t *s, luaio__tls *t, int err) {
  if (err != 0) {
    if (t->early != NULL)
      luaio__free(t->early, t->capearly);
    t->early = NULL;
    t->nearly = t->capearly = 0;
    luaio__stream_unhold(s, err == LUAIO_ETIMEOUT || err == LUAIO_ENOMEM
                                ? err
                                : LUAIO_ETLS);
  }
  if (t->timer != NULL) {
    luaio_handle_t *h = t->timer;
    t->timer = NULL;
    luaio_handle_cancel(h);
    luaio_handle_unref(h);
  }
  luaio_future_t *fut = t->hs;
  if (fut == NULL)
    return;
  t->hs = NULL;
  if (!luaio_future_done(fut)) {
    if (err == 0)
      luaio_future_set_result(fut);
    else
      luaio_future_set_error(fut, err);
  }
  luaio_future_unref(fut);
}

/* Decrypts every whole record received, so that none waits in SSL while
** the stream's reading is paused, into the stream's input in place: room
** for a byte at least, or for the rest of a record SSL began to give.
** SSL reads one record at a time, so once it has taken every byte and
** holds no text, it has nothing more to give: it is not asked again. */
static void read_records(luaio_stream_t *s, luaio__tls *t) {
  for (;;) {
    size_t room;
    int pending = SSL_pending(t->ssl);
    if (pending == 0 && t->inlen == 0)
      break;
    char *p = luaio__stream_reserve(s, pending > 0 ? (size_t)pending : 1,
                                    &room);
    if (p == NULL) {
      luaio__stream_end(s, LUAIO_ENOMEM);
      return;
    }
    int n = SSL_read(t->ssl, p, room < INT_MAX ? (int)room : INT_MAX);
    if (n > 0) {
      luaio__stream_commit(s, (size_t)n);
      continue;
    }
    int e = SSL_get_error(t->ssl, n);
    if (e == SSL_ERROR_WANT_READ)
      break;
    if (e == SSL_ERROR_ZERO_RETURN) { /* close_notify: the end of input */
      flush(s, t);
      luaio__stream_end(s, 0);
      return;
    }
    set_error(t, e);
    luaio__stream_end(s, LUAIO_ETLS);
    return;
  }
  luaio__stream_trim(s); /* a record of no text (a ticket) took no room */
  flush(s, t);           /* a key update, say, may want an answer */
}

/* Sends the text written while the handshake went on, in order, before
** any written after. Returns 0 when that lost the stream. */
static int send_early(luaio_stream_t *s, luaio__tls *t) {
  char *p = t->early;
  size_t n = t->nearly, cap = t->capearly;
  t->early = NULL;
  t->nearly = t->capearly = 0;
  luaio__tls_write(s, p, n);
  luaio__free(p, cap);
  luaio__stream_unhold(s, 0); /* counted from now as what it became */
  return luaio__stream_open(s);
}

/* Keeps len bytes written before the handshake ended, to send after it.
** Returns 0 or LUAIO_ENOMEM. */
static int keep_early(luaio__tls *t, const char *data, size_t len) {
  if (buf_grow(&t->early, &t->capearly, t->nearly + len, len) != 0)
    return LUAIO_ENOMEM;
  memcpy(t->early + t->nearly, data, len);
  t->nearly += len;
  return 0;
}

/* {======================================================================
** Closing: close_notify is sent, and the stream lingers (its handle open,
** reading for tls.c alone) until the peer's comes, its input ends, or the
** deadline passes and it is aborted (asyncio's ssl_shutdown_timeout).
** ======================================================================= */

/* The closing exchange is over: the stream's handle may close. */
static void linger_stop(luaio_stream_t *s, luaio__tls *t) {
  luaio_handle_t *h = t->stimer;
  t->stimer = NULL; /* first: linger_fin sees it was ended here */
  luaio_handle_cancel(h);
  luaio_handle_unref(h);
  luaio__stream_linger_end(s);
}

/* What arrives while lingering: text is dropped (nobody reads it now);
** the peer's close_notify, or anything else than more to come, ends
** the wait. */
static void linger_read(luaio_stream_t *s, luaio__tls *t) {
  char tmp[4096];
  int n;
  while ((n = SSL_read(t->ssl, tmp, sizeof tmp)) > 0)
    continue;
  int e = SSL_get_error(t->ssl, n);
  ERR_clear_error();
  if (e != SSL_ERROR_WANT_READ)
    linger_stop(s, t);
}

static void linger_timeout_cb(void *arg) {
  luaio_stream_t *s = arg;
  luaio__tls *t = luaio__stream_tls(s);
  luaio_handle_unref(t->stimer);
  t->stimer = NULL;
  luaio_stream_abort(s); /* as asyncio: the transport is aborted */
}

/* The deadline's finalizer. Still armed here means cancelled by the loop
** as it closes: the stream closes now, cleanly when nothing is queued. */
static void linger_fin(void *arg) {
  luaio_stream_t *s = arg;
  luaio__tls *t = luaio__stream_tls(s);
  if (t->stimer != NULL) {
    luaio_handle_unref(t->stimer);
    t->stimer = NULL;
    if (luaio_stream_write_buffer_size(s) > 0)
      luaio_stream_abort(s);
    else
      luaio__stream_linger_end(s);
  }
  luaio_stream_unref(s); /* the deadline's */
}

int luaio__tls_close(luaio_stream_t *s) {
  luaio__tls *t = luaio__stream_tls(s);
  luaio__tls_shutdown(s);
  if (!t->done || t->shutdown_timeout <= 0 || t->stimer != NULL ||
      !luaio__stream_open(s))
    return 0;
  luaio_stream_ref(s); /* the deadline's */
  if (luaio_call_later(luaio__stream_loop(s), t->shutdown_timeout,
                       linger_timeout_cb, s, linger_fin, &t->stimer) != 0) {
    luaio_stream_unref(s);
    return 0; /* out of memory: the handle closes at once */
  }
  return 1;
}

int luaio_stream_set_tls_shutdown_timeout(luaio_stream_t *s, double timeout) {
  luaio__tls *t = luaio__stream_tls(s);
  if (t == NULL)
    return LUAIO_EINVALSTATE;
  if (!(timeout >= 0))
    return LUAIO_EINVAL;
  t->shutdown_timeout = timeout;
  return 0;
}

/* }====================================================================== */

/* What luaio__tls_input does with t->in set. */
static void tls_input(luaio_stream_t *s, luaio__tls *t) {
  if (t->stimer != NULL) {
    linger_read(s, t);
    return;
  }
  if (!t->done) {
    int r = SSL_do_handshake(t->ssl);
    int e = r == 1 ? SSL_ERROR_NONE : SSL_get_error(t->ssl, r);
    flush(s, t); /* the next flight, or an alert */
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
      return;
    if (e != SSL_ERROR_NONE) {
      set_error(t, e);
      hs_finish(s, t, LUAIO_ETLS);
      luaio_stream_close(s); /* the alert goes out first */
      return;
    }
    t->done = 1;
    hs_finish(s, t, 0);
    if (t->early != NULL && !send_early(s, t))
      return;
    if (t->eof_after) {
      t->eof_after = 0;
      luaio__stream_send_eof(s);
      if (!luaio__stream_open(s))
        return;
    }
  }
  read_records(s, t);
}

void luaio__tls_input(luaio_stream_t *s, const char *data, size_t len) {
  luaio__tls *t = luaio__stream_tls(s);
  t->in = data; /* read by SSL through bio_read, in this call only */
  t->inlen = len;
  tls_input(s, t);
  t->in = NULL; /* what is left (after close_notify, an error) is dropped */
  t->inlen = 0;
}

void luaio__tls_write(luaio_stream_t *s, const char *data, size_t len) {
  luaio__tls *t = luaio__stream_tls(s);
  if (t->shut)
    return; /* as a closed stream: dropped */
  if (!t->done) { /* queued: a handshake that fails drops it */
    if (keep_early(t, data, len) != 0)
      luaio__stream_end(s, LUAIO_ENOMEM);
    else
      luaio__stream_hold(s, len);
    return;
  }
  while (len > 0) {
    /* A chunk at a time, each sent before the next is encrypted, so that
    ** a large write never holds all of its records at once. */
    int chunk = len > WRITE_CHUNK ? WRITE_CHUNK : (int)len;
    if (chunk > OUT_FIRST) /* the records' room at once, not by doubling */
      (void)out_reserve(t, (size_t)chunk + 1024);
    int n = SSL_write(t->ssl, data, chunk);
    if (n <= 0) {
      set_error(t, SSL_get_error(t->ssl, n));
      luaio__stream_end(s, LUAIO_ETLS);
      return;
    }
    data += n;
    len -= (size_t)n;
    flush(s, t);
  }
}

void luaio__tls_shutdown(luaio_stream_t *s) {
  luaio__tls *t = luaio__stream_tls(s);
  if (!t->done || t->shut || !luaio__stream_open(s))
    return;
  t->shut = 1;
  SSL_shutdown(t->ssl);
  ERR_clear_error();
  flush(s, t);
}

int luaio__tls_defer_eof(luaio_stream_t *s) {
  luaio__tls *t = luaio__stream_tls(s);
  if (t->done || t->hs == NULL)
    return 0;
  t->eof_after = 1;
  return 1;
}

void luaio__tls_input_end(luaio_stream_t *s, int err) {
  luaio__tls *t = luaio__stream_tls(s);
  if (t->stimer != NULL)
    linger_stop(s, t); /* the peer is gone: nothing more to wait for */
  if (t->hs == NULL && t->timer == NULL)
    return;
  if (t->err[0] == '\0')
    snprintf(t->err, sizeof t->err, "%s",
             err != 0 ? luaio_strerror(err)
                      : "EOF occurred in violation of protocol");
  hs_finish(s, t, err != 0 ? err : UV_ECONNRESET);
}

static void timeout_cb(void *arg) {
  luaio_stream_t *s = arg;
  luaio__tls *t = luaio__stream_tls(s);
  luaio_handle_unref(t->timer);
  t->timer = NULL;
  snprintf(t->err, sizeof t->err, "handshake timed out");
  hs_finish(s, t, LUAIO_ETIMEOUT);
  luaio_stream_abort(s);
}

static void stream_unref_cb(void *arg) {
  luaio_stream_unref(arg);
}

/* Nonzero when host is a numeric address. */
static int is_ip(const char *host) {
  unsigned char buf[16];
  return uv_inet_pton(AF_INET, host, buf) == 0 ||
         uv_inet_pton(AF_INET6, host, buf) == 0;
}

/* Loads the system's CA store into a client context that verifies, once,
** before its first handshake. */
static void load_defaults(luaio_tls_ctx_t *ctx) {
  if (!ctx->need_defaults || !ctx->verify)
    return;
  ctx->need_defaults = 0;
  if (SSL_CTX_set_default_verify_paths(ctx->ctx) != 1)
    ERR_clear_error(); /* no store: every peer fails to verify */
}

/* Sets t's SSL up for ctx. Returns 0, or LUAIO_ENOMEM. */
static int tls_setup(luaio__tls *t, luaio_tls_ctx_t *ctx,
                     const char *hostname) {
  t->ssl = SSL_new(ctx->ctx);
  BIO *bio = BIO_new(bio_method);
  if (t->ssl == NULL || bio == NULL) {
    BIO_free(bio);
    return LUAIO_ENOMEM;
  }
  BIO_set_data(bio, t);
  BIO_set_init(bio, 1);
  SSL_set_bio(t->ssl, bio, bio); /* one BIO both ways: the SSL owns it */
  if (ctx->server) {
    SSL_set_accept_state(t->ssl);
    return 0;
  }
  SSL_set_connect_state(t->ssl);
  if (hostname == NULL || hostname[0] == '\0')
    return 0;
  int ok = 1;
  if (!is_ip(hostname))
    ok = SSL_set_tlsext_host_name(t->ssl, hostname) == 1;
  if (ok && ctx->check_hostname) {
    X509_VERIFY_PARAM *param = SSL_get0_param(t->ssl);
    ok = is_ip(hostname) ? X509_VERIFY_PARAM_set1_ip_asc(param, hostname)
                         : SSL_set1_host(t->ssl, hostname);
  }
  return ok ? 0 : LUAIO_ENOMEM;
}

luaio_future_t *luaio_stream_start_tls(luaio_stream_t *s, luaio_tls_ctx_t *ctx,
                                       const char *hostname, double timeout) {
  luaio_loop_t *loop = luaio__stream_loop(s);
  luaio_future_t *fut = luaio_future_new(loop);
  if (fut == NULL)
    return NULL;
  if (luaio__stream_tls(s) != NULL || !luaio__stream_open(s)) {
    luaio_future_set_error(fut, LUAIO_EINVALSTATE);
    return fut;
  }
  luaio__tls *t = luaio__alloc(sizeof *t);
  if (t == NULL) {
    luaio_future_unref(fut);
    return NULL;
  }
  memset(t, 0, sizeof *t);
  t->shutdown_timeout = LUAIO_TLS_SHUTDOWN_TIMEOUT;
  ERR_clear_error();
  load_defaults(ctx);
  if (tls_setup(t, ctx, hostname) != 0) {
    SSL_free(t->ssl);
    luaio__free(t, sizeof *t);
    ERR_clear_error();
    luaio_future_unref(fut);
    return NULL;
  }
  if (timeout > 0) {
    luaio_stream_ref(s); /* the timer's */
    if (luaio_call_later(loop, timeout, timeout_cb, s, stream_unref_cb,
                         &t->timer) != 0) {
      luaio_stream_unref(s);
      luaio__tls_free(t);
      luaio_future_unref(fut);
      return NULL;
    }
  }
  luaio_future_ref(fut); /* the stream's, until the handshake ends */
  t->hs = fut;
  luaio__stream_set_tls(s, t);
  if (!ctx->server && ctx->check_hostname &&
      (hostname == NULL || hostname[0] == '\0')) {
    /* As Python's ssl: no name to check is an error, not a pass. */
    snprintf(t->err, sizeof t->err, "check_hostname requires server_hostname");
    hs_finish(s, t, LUAIO_ETLS);
    return fut;
  }
  size_t n;
  const char *early = luaio_stream_buffer(s, &n);
  if (n > 0) { /* read before TLS began (a ClientHello): TLS's input */
    char *copy = luaio__alloc(n);
    if (copy == NULL) {
      luaio__stream_end(s, LUAIO_ENOMEM); /* fails the handshake */
      return fut;
    }
    memcpy(copy, early, n);
    luaio_stream_consume(s, n);
    luaio__tls_input(s, copy, n);
    luaio__free(copy, n);
    return fut;
  }
  if (!ctx->server) { /* the client speaks first */
    int r = SSL_do_handshake(t->ssl);
    if (r != 1 && SSL_get_error(t->ssl, r) != SSL_ERROR_WANT_READ) {
      set_error(t, SSL_get_error(t->ssl, r));
      hs_finish(s, t, LUAIO_ETLS);
      return fut;
    }
    flush(s, t);
  }
  return fut;
}

const char *luaio_stream_tls_error(const luaio_stream_t *s) {
  const luaio__tls *t = luaio__stream_tls(s);
  return t != NULL ? t->err : "";
}

int luaio_stream_is_tls(const luaio_stream_t *s) {
  return luaio__stream_tls(s) != NULL;
}

int luaio_stream_tls_info(const luaio_stream_t *s, int what, char *buf,
                          size_t size) {
  const luaio__tls *t = luaio__stream_tls(s);
  if (t == NULL || !t->done || size == 0)
    return LUAIO_EINVALSTATE;
  const char *str = NULL;
  X509 *peer;
  int rc = 0;
  switch (what) {
  case LUAIO_TLS_VERSION:
    str = SSL_get_version(t->ssl);
    break;
  case LUAIO_TLS_CIPHER:
    str = SSL_CIPHER_get_name(SSL_get_current_cipher(t->ssl));
    break;
  case LUAIO_TLS_ALPN: {
    const unsigned char *proto;
    unsigned int len;
    SSL_get0_alpn_selected(t->ssl, &proto, &len);
    if (len == 0)
      return LUAIO_EINVALSTATE;
    size_t m = len < size - 1 ? len : size - 1;
    memcpy(buf, proto, m);
    buf[m] = '\0';
    return 0;
  }
  case LUAIO_TLS_CIPHER_BITS:
    snprintf(buf, size, "%d",
             SSL_CIPHER_get_bits(SSL_get_current_cipher(t->ssl), NULL));
    return 0;
  case LUAIO_TLS_PEER_SUBJECT:
  case LUAIO_TLS_PEER_ISSUER: {
    peer = SSL_get1_peer_certificate(t->ssl);
    if (peer == NULL)
      return LUAIO_EINVALSTATE;
    BIO *out = BIO_new(BIO_s_mem());
    char *p;
    long n;
    if (out == NULL ||
        X509_NAME_print_ex(out,
                           what == LUAIO_TLS_PEER_SUBJECT
                               ? X509_get_subject_name(peer)
                               : X509_get_issuer_name(peer),
                           0, XN_FLAG_RFC2253) < 0 ||
        (n = BIO_get_mem_data(out, &p)) < 0) {
      rc = LUAIO_ENOMEM;
    } else {
      size_t m = (size_t)n < size - 1 ? (size_t)n : size - 1;
      memcpy(buf, p, m);
      buf[m] = '\0';
    }
    BIO_free(out);
    X509_free(peer);
    ERR_clear_error();
    return rc;
  }
  default:
    return LUAIO_EINVAL;
  }
  if (str == NULL)
    return LUAIO_EINVALSTATE;
  snprintf(buf, size, "%s", str);
  return 0;
}

#else /* no OpenSSL: TLS is not supported */

const char *luaio_tls_unavailable(void) {
  return "TLS is not available: luaio was built without OpenSSL";
}

luaio_tls_ctx_t *luaio_tls_ctx_new(int server, int *err) {
  (void)server;
  *err = UV_ENOTSUP;
  return NULL;
}

void luaio_tls_ctx_set_default_cas(luaio_tls_ctx_t *ctx, int on) {
  (void)ctx, (void)on;
}

void luaio_tls_ctx_ref(luaio_tls_ctx_t *ctx) {
  (void)ctx;
}

void luaio_tls_ctx_unref(luaio_tls_ctx_t *ctx) {
  (void)ctx;
}

int luaio_tls_ctx_load_cert_chain(luaio_tls_ctx_t *ctx, const char *certfile,
                                  const char *keyfile, char *msg,
                                  size_t size) {
  (void)ctx, (void)certfile, (void)keyfile, (void)msg, (void)size;
  return UV_ENOTSUP;
}

int luaio_tls_ctx_load_verify_locations(luaio_tls_ctx_t *ctx,
                                        const char *cafile, const char *capath,
                                        char *msg, size_t size) {
  (void)ctx, (void)cafile, (void)capath, (void)msg, (void)size;
  return UV_ENOTSUP;
}

void luaio_tls_ctx_set_verify(luaio_tls_ctx_t *ctx, int verify,
                              int check_hostname) {
  (void)ctx, (void)verify, (void)check_hostname;
}

int luaio_tls_ctx_is_server(const luaio_tls_ctx_t *ctx) {
  (void)ctx;
  return 0;
}

int luaio_tls_ctx_set_alpn(luaio_tls_ctx_t *ctx, const char *const *protos,
                           size_t n) {
  (void)ctx, (void)protos, (void)n;
  return UV_ENOTSUP;
}

luaio_future_t *luaio_stream_start_tls(luaio_stream_t *s, luaio_tls_ctx_t *ctx,
                                       const char *hostname, double timeout) {
  (void)ctx, (void)hostname, (void)timeout;
  luaio_future_t *fut = luaio_future_new(luaio__stream_loop(s));
  if (fut != NULL)
    luaio_future_set_error(fut, UV_ENOTSUP);
  return fut;
}

const char *luaio_stream_tls_error(const luaio_stream_t *s) {
  (void)s;
  return "";
}

int luaio_stream_is_tls(const luaio_stream_t *s) {
  (void)s;
  return 0;
}

int luaio_stream_tls_info(const luaio_stream_t *s, int what, char *buf,
                          size_t size) {
  (void)s, (void)what, (void)buf, (void)size;
  return LUAIO_EINVALSTATE;
}

void luaio__tls_input(luaio_stream_t *s, const char *data, size_t len) {
  (void)s, (void)data, (void)len;
}

void luaio__tls_write(luaio_stream_t *s, const char *data, size_t len) {
  (void)s, (void)data, (void)len;
}

void luaio__tls_shutdown(luaio_stream_t *s) {
  (void)s;
}

int luaio__tls_defer_eof(luaio_stream_t *s) {
  (void)s;
  return 0;
}

int luaio__tls_close(luaio_stream_t *s) {
  (void)s;
  return 0;
}

int luaio_stream_set_tls_shutdown_timeout(luaio_stream_t *s, double timeout) {
  (void)s, (void)timeout;
  return LUAIO_EINVALSTATE;
}

void luaio__tls_input_end(luaio_stream_t *s, int err) {
  (void)s, (void)err;
}

void luaio__tls_free(luaio__tls *t) {
  (void)t;
}

#endif

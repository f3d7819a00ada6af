/*
** test-error.c - names and messages of the core's error codes, and that
** libuv's codes pass through unchanged.
*/
#include "luaio.h"
#include "test.h"

typedef struct {
  int code;
  const char *name;
} code_name;

static const code_name core_codes[] = {
    {LUAIO_ECANCELLED, "ECANCELLED"},   {LUAIO_ETIMEOUT, "ETIMEOUT"},
    {LUAIO_EINVALSTATE, "EINVALSTATE"}, {LUAIO_EFAILED, "EFAILED"},
    {LUAIO_EQUEUEEMPTY, "EQUEUEEMPTY"}, {LUAIO_EQUEUEFULL, "EQUEUEFULL"},
    {LUAIO_ESHUTDOWN, "ESHUTDOWN"},     {LUAIO_EBROKEN, "EBROKEN"},
    {LUAIO_EVALUE, "EVALUE"},           {LUAIO_ESELF, "ESELF"},
};

#define NCODES (sizeof core_codes / sizeof core_codes[0])

/* Every core code has its own name and a message of its own. */
TEST(core_codes_named) {
  for (size_t i = 0; i < NCODES; i++) {
    int code = core_codes[i].code;
    ASSERT(code < 0);
    ASSERT_STR_EQ(core_codes[i].name, luaio_err_name(code));
    const char *msg = luaio_strerror(code);
    ASSERT_NOT_NULL(msg);
    ASSERT(msg[0] != '\0');
    /* Not libuv's "unknown error" fallback. */
    ASSERT(strstr(msg, "nknown") == NULL);
    for (size_t j = 0; j < i; j++) {
      ASSERT_NE(core_codes[j].code, code);
      ASSERT(strcmp(luaio_strerror(core_codes[j].code), msg) != 0);
    }
  }
}

/* The core's codes sit below every code libuv may return. */
TEST(core_codes_apart_from_libuv) {
  for (size_t i = 0; i < NCODES; i++)
    ASSERT(core_codes[i].code < UV_ERRNO_MAX);
}

/* The aliases are libuv's codes, with libuv's names. */
TEST(aliases_are_libuv_codes) {
  ASSERT_EQ(UV_ENOMEM, LUAIO_ENOMEM);
  ASSERT_EQ(UV_EINVAL, LUAIO_EINVAL);
  ASSERT_EQ(UV_EBUSY, LUAIO_EBUSY);
  ASSERT_STR_EQ("ENOMEM", luaio_err_name(LUAIO_ENOMEM));
  ASSERT_STR_EQ("EINVAL", luaio_err_name(LUAIO_EINVAL));
  ASSERT_STR_EQ("EBUSY", luaio_err_name(LUAIO_EBUSY));
  ASSERT_STR_EQ(uv_strerror(UV_ENOMEM), luaio_strerror(LUAIO_ENOMEM));
}

/* Any libuv code passes through with libuv's name and message. */
TEST(libuv_codes_pass_through) {
  static const int uv_codes[] = {UV_ECONNREFUSED, UV_ETIMEDOUT, UV_EOF,
                                 UV_EAI_NONAME, UV_ENOENT};
  for (size_t i = 0; i < sizeof uv_codes / sizeof uv_codes[0]; i++) {
    ASSERT_STR_EQ(uv_err_name(uv_codes[i]), luaio_err_name(uv_codes[i]));
    ASSERT_STR_EQ(uv_strerror(uv_codes[i]), luaio_strerror(uv_codes[i]));
  }
  ASSERT_STR_EQ("ECONNREFUSED", luaio_err_name(UV_ECONNREFUSED));
  /* A deadline is not a socket timeout. */
  ASSERT_NE(UV_ETIMEDOUT, LUAIO_ETIMEOUT);
  ASSERT(strcmp(luaio_strerror(UV_ETIMEDOUT),
                luaio_strerror(LUAIO_ETIMEOUT)) != 0);
}

TEST(success) {
  ASSERT_STR_EQ("OK", luaio_err_name(0));
  ASSERT_NOT_NULL(luaio_strerror(0));
}

int main(int argc, char **argv) { return test_main(argc, argv); }

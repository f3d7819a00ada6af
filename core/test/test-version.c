/*
** test-version.c - the run-time version agrees with the header's macros.
*/
#include <stdlib.h>

#include "luaio.h"
#include "test.h"

/* The number packs major, minor and patch a byte or more apart. */
TEST(number_packs_the_macros) {
  unsigned int v = luaio_version();
  ASSERT_EQ(LUAIO_VERSION_HEX, v);
  ASSERT_EQ(LUAIO_VERSION_MAJOR, (int)(v >> 16));
  ASSERT_EQ(LUAIO_VERSION_MINOR, (int)((v >> 8) & 0xff));
  ASSERT_EQ(LUAIO_VERSION_PATCH, (int)(v & 0xff));
}

/* The string is "major.minor.patch" with the same three numbers. */
TEST(string_spells_the_number) {
  const char *s = luaio_version_string();
  ASSERT_STR_EQ(LUAIO_VERSION_STRING, s);
  char *end;
  long major = strtol(s, &end, 10);
  ASSERT_EQ('.', *end);
  long minor = strtol(end + 1, &end, 10);
  ASSERT_EQ('.', *end);
  long patch = strtol(end + 1, &end, 10);
  ASSERT_EQ('\0', *end);
  ASSERT_EQ(LUAIO_VERSION_MAJOR, major);
  ASSERT_EQ(LUAIO_VERSION_MINOR, minor);
  ASSERT_EQ(LUAIO_VERSION_PATCH, patch);
}

int main(int argc, char **argv) { return test_main(argc, argv); }

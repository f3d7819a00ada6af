/*
** version.c - the version of the library a program runs with.
*/
#include "internal.h"

unsigned int luaio_version(void) { return LUAIO_VERSION_HEX; }

const char *luaio_version_string(void) { return LUAIO_VERSION_STRING; }

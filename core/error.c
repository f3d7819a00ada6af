/*
** error.c - names and messages of the core's error codes.
*/
#include <assert.h>

#include "internal.h"

const char *luaio_strerror(int err) {
  switch (err) {
  case 0: return "success";
  case LUAIO_ECANCELLED: return "cancelled";
  case LUAIO_ETIMEOUT: return "timed out";
  case LUAIO_EINVALSTATE: return "invalid state";
  case LUAIO_EFAILED: return "failed";
  case LUAIO_EQUEUEEMPTY: return "queue is empty";
  case LUAIO_EQUEUEFULL: return "queue is full";
  case LUAIO_ESHUTDOWN: return "shut down";
  case LUAIO_EBROKEN: return "barrier is broken";
  case LUAIO_EVALUE: return "released too many times";
  case LUAIO_ESELF: return "a task cannot await itself";
  case LUAIO_ECYCLE: return "the awaited future waits for the awaiting task";
  default: return uv_strerror(err);
  }
}

const char *luaio_err_name(int err) {
  switch (err) {
  case 0: return "OK";
  case LUAIO_ECANCELLED: return "ECANCELLED";
  case LUAIO_ETIMEOUT: return "ETIMEOUT";
  case LUAIO_EINVALSTATE: return "EINVALSTATE";
  case LUAIO_EFAILED: return "EFAILED";
  case LUAIO_EQUEUEEMPTY: return "EQUEUEEMPTY";
  case LUAIO_EQUEUEFULL: return "EQUEUEFULL";
  case LUAIO_ESHUTDOWN: return "ESHUTDOWN";
  case LUAIO_EBROKEN: return "EBROKEN";
  case LUAIO_EVALUE: return "EVALUE";
  case LUAIO_ESELF: return "ESELF";
  case LUAIO_ECYCLE: return "ECYCLE";
  default: return uv_err_name(err);
  }
}

/* The core's codes must stay clear of every code libuv may return. */
static_assert(LUAIO_ECANCELLED < UV_ERRNO_MAX, "codes overlap libuv's");
static_assert(LUAIO_ECYCLE < LUAIO_ECANCELLED, "codes must be ordered");

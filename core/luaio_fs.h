/*
** luaio_fs.h - part of luaio.h (included by it, never on its own).
*/

/* {======================================================================
** Files (fs.c), on libuv's fs requests, which run on its thread pool.
**
** Each operation copies its arguments and returns, in *out, a new future
** (the caller owns the reference) for the running task to await with
** luaio_task_await(). The future resolves with a result read with the
** luaio_fs_result_*() accessors, or fails with a UV_E* code. An
** operation returns 0, or a negative code and leaves *out NULL (then
** nothing was started).
**
** Cancelling the future cancels the request where libuv still can;
** otherwise the request runs to its end and its result is dropped: a
** descriptor it opened is closed and a temporary file it made is removed.
** The request's memory lives until libuv is done with it, whoever drops
** the last reference first. A write_file cancelled midway (not atomic)
** may leave the file partly written.
** ======================================================================= */

/* An open descriptor, shared by the requests that use it. */
typedef struct luaio_file_s luaio_file_t;

#define LUAIO_FS_ATOMIC 1  /* write_file: a temporary file, then rename */
#define LUAIO_FS_PARENTS 2 /* mkdir: make missing parents, allow existing */

/* Reads the whole file; result: luaio_fs_result_data(). */
LUAIO_EXTERN int luaio_fs_read_file(luaio_loop_t *loop, const char *path,
                                    luaio_future_t **out);

/* Writes len bytes of data (copied) to path, created with mode 0666 less
** the umask, or truncated. With LUAIO_FS_ATOMIC the data goes to a new
** file in the same directory, synced and then renamed over path, so that
** readers see the old content or the new, never a part. */
LUAIO_EXTERN int luaio_fs_write_file(luaio_loop_t *loop, const char *path,
                                     const void *data, size_t len, int flags,
                                     luaio_future_t **out);

/* Opens path with open(2) flags and mode; result: luaio_fs_result_file(). */
LUAIO_EXTERN int luaio_fs_open(luaio_loop_t *loop, const char *path, int flags,
                               int mode, luaio_future_t **out);

/* Reads up to n bytes at offset (negative: at the descriptor's position);
** result: luaio_fs_result_data(), empty at end of file. The request takes
** a reference to f. Returns LUAIO_EINVALSTATE when f is closed. */
LUAIO_EXTERN int luaio_fs_read(luaio_loop_t *loop, luaio_file_t *f, size_t n,
                               int64_t offset, luaio_future_t **out);

/* Writes all len bytes of data (copied) at offset (negative: at the
** descriptor's position); result: luaio_fs_result() is len. */
LUAIO_EXTERN int luaio_fs_write(luaio_loop_t *loop, luaio_file_t *f,
                                const void *data, size_t len, int64_t offset,
                                luaio_future_t **out);

/* Closes f's descriptor. Returns LUAIO_EINVALSTATE when f is closed, or
** LUAIO_EBUSY while a request still uses it. */
LUAIO_EXTERN int luaio_fs_close(luaio_loop_t *loop, luaio_file_t *f,
                                luaio_future_t **out);

/* stat(2) of path, or fstat(2) of f; result: luaio_fs_result_stat(). */
LUAIO_EXTERN int luaio_fs_stat(luaio_loop_t *loop, const char *path,
                               luaio_future_t **out);
LUAIO_EXTERN int luaio_fs_fstat(luaio_loop_t *loop, luaio_file_t *f,
                                luaio_future_t **out);

/* The names in directory path but "." and "..", sorted bytewise; result:
** luaio_fs_result_count() and luaio_fs_result_name(). */
LUAIO_EXTERN int luaio_fs_listdir(luaio_loop_t *loop, const char *path,
                                  luaio_future_t **out);

/* Makes directory path with mode (less the umask). With LUAIO_FS_PARENTS
** it makes the missing parents too and succeeds when path is already a
** directory, as mkdir -p does. */
LUAIO_EXTERN int luaio_fs_mkdir(luaio_loop_t *loop, const char *path, int mode,
                                int flags, luaio_future_t **out);

/* Removes a file, or an empty directory, as C's remove(). */
LUAIO_EXTERN int luaio_fs_remove(luaio_loop_t *loop, const char *path,
                                 luaio_future_t **out);

/* Renames from to to, replacing to, as rename(2). */
LUAIO_EXTERN int luaio_fs_rename(luaio_loop_t *loop, const char *from,
                                 const char *to, luaio_future_t **out);

/* Results of a resolved fs future (borrowed, valid while fut is). The
** byte count of a write; the data of read_file or read; the stat buffer;
** the listdir names. luaio_fs_result_file() returns a new reference to
** the file that open made (the caller owns it), or NULL. */
LUAIO_EXTERN int64_t luaio_fs_result(const luaio_future_t *fut);
LUAIO_EXTERN const char *luaio_fs_result_data(const luaio_future_t *fut,
                                              size_t *len);
LUAIO_EXTERN const uv_stat_t *luaio_fs_result_stat(const luaio_future_t *fut);
LUAIO_EXTERN size_t luaio_fs_result_count(const luaio_future_t *fut);
LUAIO_EXTERN const char *luaio_fs_result_name(const luaio_future_t *fut,
                                              size_t i);
LUAIO_EXTERN luaio_file_t *luaio_fs_result_file(luaio_future_t *fut);

/* Files are reference counted. The last unref closes a descriptor still
** open, at once, on the calling thread (a close(2), which does not wait
** on regular files). */
LUAIO_EXTERN void luaio_file_ref(luaio_file_t *f);
LUAIO_EXTERN void luaio_file_unref(luaio_file_t *f);
/* The descriptor, or -1 once closed or being closed. */
LUAIO_EXTERN int luaio_file_fd(const luaio_file_t *f);

/* }====================================================================== */

// Shared by the source files of fsx.node (fsx.c: xattrs and mknod; fsxScan.c: batched
// directory reads; fsxCopy.c: batched file copies; fsxTar.c: the tar header encoder; fsxGzip.c:
// gzip members). Nothing outside native/ includes it.
#ifndef FSX_H
#define FSX_H
#define NAPI_VERSION 8
#include <node_api.h>
#include <stdint.h>
#include <sys/types.h>

/** llistxattr / lgetxattr (flistxattr / fgetxattr when fd >= 0) into a malloc'd buffer, retried
 *  while the list or value grows (ERANGE). */
ssize_t fsx_read_list(const char *path, int fd, char **out);
ssize_t fsx_read_value(const char *path, int fd, const char *name, char **out);
/** errno's name ("ENOENT"), or "EIO" for one Node's callers need not tell apart. */
const char *fsx_errno_code(int e);
/** A Node-style error: code "ENOENT" etc., errno (negative), syscall, path, message. */
napi_value fsx_errno_error(napi_env env, int err, const char *syscall, const char *path);
/** A malloc'd copy of a JS string, NULL if it is not one. */
char *fsx_get_string(napi_env env, napi_value v);
/** Starts data's async work (execute off the JS thread, complete back on it) and returns its promise;
 *  *deferred and *async are where the work keeps them for complete(). */
napi_value fsx_queue(napi_env env, const char *resource, napi_async_execute_callback execute, napi_async_complete_callback complete,
                     void *data, napi_deferred *deferred, napi_async_work *async);
/** A JS Buffer over the malloc'd *p (len bytes), which it then owns (*p becomes NULL), or a copy
 *  of it where the runtime refuses external buffers (*p is left to the caller to free). */
napi_value fsx_take_buffer(napi_env env, char **p, size_t len);
/** Throws a TypeError for bad arguments (or out of memory) and returns NULL, for `return fsx_reject_args(...)`. */
napi_value fsx_reject_args(napi_env env, const char *msg);
/** A growable byte buffer (malloc'd p, len used of cap). */
struct fsx_bytes {
  char *p;
  size_t len, cap;
};
/** Makes room for n more bytes; -1 when out of memory. */
int fsx_reserve(struct fsx_bytes *b, size_t n);
/** Appends n bytes; -1 when out of memory. */
int fsx_put(struct fsx_bytes *b, const void *src, size_t n);

struct fsx_tar_xattr {
  const char *key;
  size_t klen;
  const char *val;
  size_t vlen;
};
/** One tar entry's header fields (fsxTar.c); path and link are UTF-8, `type` the ustar typeflag. */
struct fsx_tar_entry {
  const char *path;
  size_t path_len;
  char type;
  uint32_t mode;
  uint64_t uid, gid, size;
  int64_t mtime;
  const char *link;
  size_t link_len;
  uint64_t devmajor, devminor;
  const struct fsx_tar_xattr *xattrs;
  size_t nxattrs;
};
/** Appends the entry's header (a pax extended header where ustar cannot hold a value, then the ustar block); -1 when out of memory. */
int fsx_tar_header(struct fsx_bytes *out, const struct fsx_tar_entry *e);

/** Adds scanDir and readFiles (fsxScan.c), copyFiles (fsxCopy.c) to the module's exports. */
void fsx_register_scan(napi_env env, napi_value exports);
void fsx_register_copy(napi_env env, napi_value exports);
/** Adds tarHeader (fsxTar.c). */
void fsx_register_tar(napi_env env, napi_value exports);
/** Adds gzipMember (fsxGzip.c). */
void fsx_register_gzip(napi_env env, napi_value exports);
/** Adds mountOverlay and unmount (fsxMount.c). */
void fsx_register_mount(napi_env env, napi_value exports);

#endif

// Shared by the source files of fsx.node (fsx.c: xattrs and mknod; fsxScan.c: batched
// directory reads; fsxCopy.c: batched file copies). Nothing outside native/ includes it.
#ifndef FSX_H
#define FSX_H
#define NAPI_VERSION 8
#include <node_api.h>
#include <sys/types.h>

/** llistxattr / lgetxattr into a malloc'd buffer, retried while the list or value grows (ERANGE). */
ssize_t fsx_read_list(const char *path, char **out);
ssize_t fsx_read_value(const char *path, const char *name, char **out);
/** A Node-style error: code "ENOENT" etc., errno (negative), syscall, path, message. */
napi_value fsx_errno_error(napi_env env, int err, const char *syscall, const char *path);
/** A malloc'd copy of a JS string, NULL if it is not one. */
char *fsx_get_string(napi_env env, napi_value v);
/** Starts data's async work (execute off the JS thread, complete back on it) and returns its promise;
 *  *deferred and *async are where the work keeps them for complete(). */
napi_value fsx_queue(napi_env env, const char *resource, napi_async_execute_callback execute, napi_async_complete_callback complete,
                     void *data, napi_deferred *deferred, napi_async_work *async);
/** Throws a TypeError for bad arguments (or out of memory) and returns NULL, for `return fsx_reject_args(...)`. */
napi_value fsx_reject_args(napi_env env, const char *msg);
/** Adds scanDir and readFiles (fsxScan.c), copyFiles (fsxCopy.c) to the module's exports. */
void fsx_register_scan(napi_env env, napi_value exports);
void fsx_register_copy(napi_env env, napi_value exports);

#endif

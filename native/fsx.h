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
/** Adds scanDir and readFiles (fsxScan.c), copyFiles (fsxCopy.c) to the module's exports. */
void fsx_register_scan(napi_env env, napi_value exports);
void fsx_register_copy(napi_env env, napi_value exports);

#endif

// fsx.node: the few filesystem calls Node's fs lacks (xattrs on links, mknod), as async N-API
// functions returning promises. Each call runs on the libuv thread pool so a slow filesystem
// never blocks the event loop. Wrapped (and typed) by src/util/fsx.ts; nothing else loads it.
// The batched directory reads (scanDir, readFiles) live in fsxScan.c.
#include "fsx.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/xattr.h>

enum op { OP_GETXATTRS, OP_SETXATTR, OP_MKNOD };

struct work {
  enum op op;
  napi_deferred deferred;
  napi_async_work async;
  char *path;
  char *name;
  char *value; // setxattr input, or getxattrs output: names list then values, see below
  size_t value_len;
  unsigned mode;
  unsigned major;
  unsigned minor;
  int err;              // errno of the failing call, 0 on success
  const char *syscall;  // which call failed, for the error message
  // getxattrs output: `names` is the llistxattr buffer, vals[i]/lens[i] the value of the i-th name
  char *names;
  ssize_t names_len;
  char **vals;
  ssize_t *lens;
  size_t count;
};

static void free_work(struct work *w) {
  free(w->path);
  free(w->name);
  free(w->value);
  free(w->names);
  if (w->vals) {
    for (size_t i = 0; i < w->count; i++) free(w->vals[i]);
  }
  free(w->vals);
  free(w->lens);
  free(w);
}

// The list or a value may grow between the size query and the read (another process setting
// xattrs); retry on ERANGE instead of failing.
ssize_t fsx_read_list(const char *path, char **out) {
  for (int attempt = 0; attempt < 8; attempt++) {
    ssize_t n = llistxattr(path, NULL, 0);
    if (n <= 0) return n;
    char *buf = malloc((size_t)n);
    if (!buf) { errno = ENOMEM; return -1; }
    ssize_t got = llistxattr(path, buf, (size_t)n);
    if (got >= 0) { *out = buf; return got; }
    free(buf);
    if (errno != ERANGE) return -1;
  }
  errno = ERANGE;
  return -1;
}

ssize_t fsx_read_value(const char *path, const char *name, char **out) {
  for (int attempt = 0; attempt < 8; attempt++) {
    ssize_t n = lgetxattr(path, name, NULL, 0);
    if (n < 0) return n;
    char *buf = malloc(n > 0 ? (size_t)n : 1);
    if (!buf) { errno = ENOMEM; return -1; }
    ssize_t got = lgetxattr(path, name, buf, (size_t)n);
    if (got >= 0) { *out = buf; return got; }
    free(buf);
    if (errno != ERANGE) return -1;
  }
  errno = ERANGE;
  return -1;
}

static void do_getxattrs(struct work *w) {
  ssize_t n = fsx_read_list(w->path, &w->names);
  if (n < 0) {
    // A filesystem without xattr support simply has none.
    if (errno == ENOTSUP || errno == ENODATA) { w->names_len = 0; return; }
    w->err = errno; w->syscall = "llistxattr"; return;
  }
  w->names_len = n;
  size_t count = 0;
  for (ssize_t i = 0; i < n; i++) if (w->names[i] == '\0') count++;
  w->vals = calloc(count ? count : 1, sizeof(char *));
  w->lens = calloc(count ? count : 1, sizeof(ssize_t));
  if (!w->vals || !w->lens) { w->err = ENOMEM; w->syscall = "malloc"; return; }
  w->count = count;
  size_t idx = 0;
  for (ssize_t off = 0; off < n && idx < count; idx++) {
    const char *name = w->names + off;
    ssize_t len = fsx_read_value(w->path, name, &w->vals[idx]);
    if (len < 0) {
      // Removed between list and get: treat as absent (lens < 0 marks it skipped).
      if (errno == ENODATA || errno == ENOTSUP) { w->vals[idx] = NULL; w->lens[idx] = -1; }
      else { w->err = errno; w->syscall = "lgetxattr"; return; }
    } else {
      w->lens[idx] = len;
    }
    off += (ssize_t)strlen(name) + 1;
  }
}

static void execute(napi_env env, void *data) {
  (void)env;
  struct work *w = data;
  switch (w->op) {
    case OP_GETXATTRS:
      do_getxattrs(w);
      break;
    case OP_SETXATTR:
      if (lsetxattr(w->path, w->name, w->value, w->value_len, 0) != 0) { w->err = errno; w->syscall = "lsetxattr"; }
      break;
    case OP_MKNOD:
      if (mknod(w->path, (mode_t)w->mode, makedev(w->major, w->minor)) != 0) { w->err = errno; w->syscall = "mknod"; }
      break;
  }
}

const char *fsx_errno_code(int e) {
  switch (e) {
    case ENOENT: return "ENOENT";
    case EEXIST: return "EEXIST";
    case EPERM: return "EPERM";
    case EACCES: return "EACCES";
    case ENOTSUP: return "ENOTSUP";
    case ENODATA: return "ENODATA";
    case EINVAL: return "EINVAL";
    case ENOTDIR: return "ENOTDIR";
    case ENOSPC: return "ENOSPC";
    case E2BIG: return "E2BIG";
    case ERANGE: return "ERANGE";
    case EROFS: return "EROFS";
    case ENOMEM: return "ENOMEM";
    case ELOOP: return "ELOOP";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case EDQUOT: return "EDQUOT";
    default: return "EIO";
  }
}

napi_value fsx_errno_error(napi_env env, int err, const char *syscall, const char *path) {
  char msg[4096];
  snprintf(msg, sizeof msg, "%s %s: %s", syscall, path, strerror(err));
  napi_value code, text, error, num, jpath;
  napi_create_string_utf8(env, fsx_errno_code(err), NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &text);
  napi_create_error(env, code, text, &error);
  napi_create_int32(env, -err, &num);
  napi_set_named_property(env, error, "errno", num);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &text);
  napi_set_named_property(env, error, "syscall", text);
  napi_create_string_utf8(env, path, NAPI_AUTO_LENGTH, &jpath);
  napi_set_named_property(env, error, "path", jpath);
  return error;
}

static void complete(napi_env env, napi_status status, void *data) {
  struct work *w = data;
  napi_value result;
  if (status != napi_ok) {
    w->err = ECANCELED;
    w->syscall = "async work";
  }
  if (w->err != 0) {
    napi_reject_deferred(env, w->deferred, fsx_errno_error(env, w->err, w->syscall, w->path));
  } else if (w->op == OP_GETXATTRS) {
    napi_create_array(env, &result);
    uint32_t out = 0;
    ssize_t off = 0;
    for (size_t i = 0; i < w->count; i++) {
      const char *name = w->names + off;
      off += (ssize_t)strlen(name) + 1;
      if (w->lens[i] < 0) continue;
      napi_value pair, jname, jval;
      void *dst;
      napi_create_array_with_length(env, 2, &pair);
      napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &jname);
      napi_create_buffer_copy(env, (size_t)w->lens[i], w->vals[i] ? w->vals[i] : "", &dst, &jval);
      napi_set_element(env, pair, 0, jname);
      napi_set_element(env, pair, 1, jval);
      napi_set_element(env, result, out++, pair);
    }
    napi_resolve_deferred(env, w->deferred, result);
  } else {
    napi_get_undefined(env, &result);
    napi_resolve_deferred(env, w->deferred, result);
  }
  napi_delete_async_work(env, w->async);
  free_work(w);
}

char *fsx_get_string(napi_env env, napi_value v) {
  size_t len;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) return NULL;
  char *s = malloc(len + 1);
  if (!s) return NULL;
  napi_get_value_string_utf8(env, v, s, len + 1, &len);
  return s;
}

static napi_value start(napi_env env, struct work *w, const char *resource) {
  napi_value promise, name;
  napi_create_promise(env, &w->deferred, &promise);
  napi_create_string_utf8(env, resource, NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, execute, complete, w, &w->async);
  napi_queue_async_work(env, w->async);
  return promise;
}

static napi_value fail(napi_env env, struct work *w, const char *msg) {
  if (w) free_work(w);
  napi_throw_type_error(env, NULL, msg);
  return NULL;
}

// lgetxattrs(path: string): Promise<Array<[string, Buffer]>>
static napi_value js_lgetxattrs(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  struct work *w = calloc(1, sizeof *w);
  if (!w) return fail(env, NULL, "out of memory");
  w->op = OP_GETXATTRS;
  if (argc < 1 || !(w->path = fsx_get_string(env, argv[0]))) return fail(env, w, "lgetxattrs(path) expects a string");
  return start(env, w, "fsx.lgetxattrs");
}

// lsetxattr(path: string, name: string, value: Buffer): Promise<void>
static napi_value js_lsetxattr(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  struct work *w = calloc(1, sizeof *w);
  if (!w) return fail(env, NULL, "out of memory");
  w->op = OP_SETXATTR;
  if (argc < 3 || !(w->path = fsx_get_string(env, argv[0])) || !(w->name = fsx_get_string(env, argv[1]))) {
    return fail(env, w, "lsetxattr(path, name, value) expects strings and a Buffer");
  }
  bool is_buf = false;
  napi_is_buffer(env, argv[2], &is_buf);
  if (!is_buf) return fail(env, w, "lsetxattr value must be a Buffer");
  void *data;
  size_t len;
  napi_get_buffer_info(env, argv[2], &data, &len);
  // Copied because the worker thread must not touch a JS-owned buffer.
  w->value = malloc(len ? len : 1);
  if (!w->value) return fail(env, w, "out of memory");
  if (len) memcpy(w->value, data, len);
  w->value_len = len;
  return start(env, w, "fsx.lsetxattr");
}

// mknod(path: string, mode: number, major: number, minor: number): Promise<void>
// (mode includes the file type bits, e.g. S_IFCHR | 0o000)
static napi_value js_mknod(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  struct work *w = calloc(1, sizeof *w);
  if (!w) return fail(env, NULL, "out of memory");
  w->op = OP_MKNOD;
  uint32_t mode, major, minor;
  if (argc < 4 || !(w->path = fsx_get_string(env, argv[0])) ||
      napi_get_value_uint32(env, argv[1], &mode) != napi_ok ||
      napi_get_value_uint32(env, argv[2], &major) != napi_ok ||
      napi_get_value_uint32(env, argv[3], &minor) != napi_ok) {
    return fail(env, w, "mknod(path, mode, major, minor) expects a string and three numbers");
  }
  w->mode = mode;
  w->major = major;
  w->minor = minor;
  return start(env, w, "fsx.mknod");
}

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  napi_property_descriptor props[] = {
    { "lgetxattrs", NULL, js_lgetxattrs, NULL, NULL, NULL, napi_default, NULL },
    { "lsetxattr", NULL, js_lsetxattr, NULL, NULL, NULL, napi_default, NULL },
    { "mknod", NULL, js_mknod, NULL, NULL, NULL, napi_default, NULL },
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  fsx_register_scan(env, exports);
  return exports;
}

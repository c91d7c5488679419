// fsx.node: the few filesystem calls Node's fs lacks (xattrs on links, mknod), and a batch of
// tree operations for layer extraction (new files, directories, symlinks, owner+mode+times: a
// whole run of tar entries in one round trip instead of one per syscall), as async N-API
// functions returning promises. Each call runs on the libuv thread pool so a slow filesystem
// never blocks the event loop; the one exception, lgetxattrSync, reads one small attribute on
// every build's path, where the round trip would cost far more than the syscall. Wrapped (and
// typed) by src/util/fsx.ts; nothing else loads it.
// The batched directory reads (scanDir, readFiles) live in fsxScan.c, batched copies in fsxCopy.c,
// gzip members (libdeflate) in fsxGzip.c.
#include "fsx.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

enum op { OP_GETXATTRS, OP_SETXATTR, OP_MKNOD, OP_TREE };

// One operation of a tree batch (see js_apply_tree_ops).
enum tree_kind { T_FILE = 0, T_DIR = 1, T_SYMLINK = 2, T_META = 3 };
struct tree_op {
  int kind;
  char *path;
  char *target;       // T_SYMLINK
  const char *data;   // T_FILE: bytes of a JS Buffer, kept alive by the batch's reference
  size_t data_len;
  int64_t uid;
  int64_t gid;
  unsigned mode;
  int chmod_too;      // T_META
  struct timespec times[2];
  size_t xcount;
  char **xnames;
  char **xvals;
  size_t *xlens;
};

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
  // OP_TREE: the operations, run in order until one fails; file data stays in JS Buffers held
  // by data_ref (the ops array) and never written to while the work runs.
  struct tree_op *ops;
  size_t nops;
  size_t done;
  napi_ref data_ref;
  const char *err_path;
  // what the filesystem or the namespace refused and was skipped
  uint32_t owners_skipped;
  uint32_t xattrs_skipped;
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
  for (size_t i = 0; w->ops && i < w->nops; i++) {
    struct tree_op *op = &w->ops[i];
    free(op->path);
    free(op->target);
    for (size_t k = 0; k < op->xcount; k++) {
      if (op->xnames) free(op->xnames[k]);
      if (op->xvals) free(op->xvals[k]);
    }
    free(op->xnames);
    free(op->xvals);
    free(op->xlens);
  }
  free(w->ops);
  free(w);
}

// The refusals extraction tolerates (and counts): an id with no mapping in this user namespace
// (EINVAL) or no right to give files away (EPERM); for xattrs also a filesystem without them.
static int refused_owner(int e) { return e == EINVAL || e == EPERM; }
static int refused_xattr(int e) { return e == EPERM || e == EACCES || e == ENOTSUP || e == EOPNOTSUPP || e == EINVAL; }

#define FAIL(call) do { w->err = errno; w->syscall = call; w->err_path = op->path; } while (0)

// Extended attributes by path without following a symlink; refusals are counted, not errors.
static int set_xattrs(struct work *w, struct tree_op *op, int fd) {
  for (size_t i = 0; i < op->xcount; i++) {
    int r = fd >= 0 ? fsetxattr(fd, op->xnames[i], op->xvals[i], op->xlens[i], 0)
                    : lsetxattr(op->path, op->xnames[i], op->xvals[i], op->xlens[i], 0);
    if (r != 0) {
      if (!refused_xattr(errno)) { FAIL(fd >= 0 ? "fsetxattr" : "lsetxattr"); return -1; }
      w->xattrs_skipped++;
    }
  }
  return 0;
}

// open(O_EXCL|O_NOFOLLOW), write, fchown, fchmod, fsetxattr, futimens, close: the order that
// keeps setuid bits (chown clears them) and file capabilities (chown drops security.capability).
static int tree_file(struct work *w, struct tree_op *op) {
  int fd = open(op->path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) { FAIL("open"); return -1; }
  int rc = -1;
  size_t off = 0;
  while (off < op->data_len) {
    ssize_t n = write(fd, op->data + off, op->data_len - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      FAIL("write"); goto out;
    }
    off += (size_t)n;
  }
  if (fchown(fd, (uid_t)op->uid, (gid_t)op->gid) != 0) {
    if (!refused_owner(errno)) { FAIL("fchown"); goto out; }
    w->owners_skipped++;
  }
  if (fchmod(fd, (mode_t)(op->mode & 07777)) != 0) { FAIL("fchmod"); goto out; }
  if (set_xattrs(w, op, fd) != 0) goto out;
  if (futimens(fd, op->times) != 0) { FAIL("futimens"); goto out; }
  rc = 0;
out:
  if (close(fd) != 0 && rc == 0) { FAIL("close"); rc = -1; }
  return rc;
}

// lchown, chmod (unless a symlink's: Linux has no lchmod), utimensat without following links.
static int tree_meta(struct work *w, struct tree_op *op) {
  if (lchown(op->path, (uid_t)op->uid, (gid_t)op->gid) != 0) {
    if (!refused_owner(errno)) { FAIL("lchown"); return -1; }
    w->owners_skipped++;
  }
  if (op->chmod_too && chmod(op->path, (mode_t)(op->mode & 07777)) != 0) { FAIL("chmod"); return -1; }
  if (utimensat(AT_FDCWD, op->path, op->times, AT_SYMLINK_NOFOLLOW) != 0) { FAIL("utimensat"); return -1; }
  return 0;
}

static void do_tree(struct work *w) {
  for (w->done = 0; w->done < w->nops; w->done++) {
    struct tree_op *op = &w->ops[w->done];
    int rc = 0;
    switch (op->kind) {
      case T_FILE:
        rc = tree_file(w, op);
        break;
      case T_DIR:
        if (mkdir(op->path, 0700) != 0) { FAIL("mkdir"); rc = -1; }
        else rc = set_xattrs(w, op, -1);
        break;
      case T_SYMLINK:
        if (symlink(op->target, op->path) != 0) { FAIL("symlink"); rc = -1; }
        else if ((rc = tree_meta(w, op)) == 0) rc = set_xattrs(w, op, -1);
        break;
      case T_META:
        rc = tree_meta(w, op);
        break;
    }
    if (rc != 0) return;
  }
}

// The list or a value may grow between the size query and the read (another process setting
// xattrs); retry on ERANGE instead of failing.
ssize_t fsx_read_list(const char *path, int fd, char **out) {
  for (int attempt = 0; attempt < 8; attempt++) {
    ssize_t n = fd >= 0 ? flistxattr(fd, NULL, 0) : llistxattr(path, NULL, 0);
    if (n <= 0) return n;
    char *buf = malloc((size_t)n);
    if (!buf) { errno = ENOMEM; return -1; }
    ssize_t got = fd >= 0 ? flistxattr(fd, buf, (size_t)n) : llistxattr(path, buf, (size_t)n);
    if (got >= 0) { *out = buf; return got; }
    free(buf);
    if (errno != ERANGE) return -1;
  }
  errno = ERANGE;
  return -1;
}

ssize_t fsx_read_value(const char *path, int fd, const char *name, char **out) {
  for (int attempt = 0; attempt < 8; attempt++) {
    ssize_t n = fd >= 0 ? fgetxattr(fd, name, NULL, 0) : lgetxattr(path, name, NULL, 0);
    if (n < 0) return n;
    char *buf = malloc(n > 0 ? (size_t)n : 1);
    if (!buf) { errno = ENOMEM; return -1; }
    ssize_t got = fd >= 0 ? fgetxattr(fd, name, buf, (size_t)n) : lgetxattr(path, name, buf, (size_t)n);
    if (got >= 0) { *out = buf; return got; }
    free(buf);
    if (errno != ERANGE) return -1;
  }
  errno = ERANGE;
  return -1;
}

static void do_getxattrs(struct work *w) {
  ssize_t n = fsx_read_list(w->path, -1, &w->names);
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
    ssize_t len = fsx_read_value(w->path, -1, name, &w->vals[idx]);
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
    case OP_TREE:
      do_tree(w);
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
    case EISDIR: return "EISDIR";
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
  if (w->err != 0 && w->op != OP_TREE) {
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
  } else if (w->op == OP_TREE) {
    // [done, ownersSkipped, xattrsSkipped, error | null]: the failing operation is ops[done]
    napi_value v;
    napi_create_array_with_length(env, 4, &result);
    napi_create_uint32(env, (uint32_t)w->done, &v);
    napi_set_element(env, result, 0, v);
    napi_create_uint32(env, w->owners_skipped, &v);
    napi_set_element(env, result, 1, v);
    napi_create_uint32(env, w->xattrs_skipped, &v);
    napi_set_element(env, result, 2, v);
    if (w->err != 0) {
      v = fsx_errno_error(env, w->err, w->syscall, w->err_path ? w->err_path : w->path);
    } else {
      napi_get_null(env, &v);
    }
    napi_set_element(env, result, 3, v);
    napi_resolve_deferred(env, w->deferred, result);
  } else {
    napi_get_undefined(env, &result);
    napi_resolve_deferred(env, w->deferred, result);
  }
  napi_delete_async_work(env, w->async);
  if (w->data_ref) napi_delete_reference(env, w->data_ref);
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

napi_value fsx_queue(napi_env env, const char *resource, napi_async_execute_callback execute, napi_async_complete_callback complete,
                     void *data, napi_deferred *deferred, napi_async_work *async) {
  napi_value promise, name;
  napi_create_promise(env, deferred, &promise);
  napi_create_string_utf8(env, resource, NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, execute, complete, data, async);
  napi_queue_async_work(env, *async);
  return promise;
}

static void free_data(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  free(data);
}

// Without a copy (a result can be megabytes); copied where the runtime refuses external buffers.
napi_value fsx_take_buffer(napi_env env, char **p, size_t len) {
  napi_value buf;
  void *dst;
  if (len == 0) {
    napi_create_buffer(env, 0, &dst, &buf);
    return buf;
  }
  if (napi_create_external_buffer(env, len, *p, free_data, NULL, &buf) == napi_ok) {
    *p = NULL;
    return buf;
  }
  napi_create_buffer_copy(env, len, *p, &dst, &buf);
  return buf;
}

napi_value fsx_reject_args(napi_env env, const char *msg) {
  napi_throw_type_error(env, NULL, msg);
  return NULL;
}

static napi_value start(napi_env env, struct work *w, const char *resource) {
  return fsx_queue(env, resource, execute, complete, w, &w->deferred, &w->async);
}

static napi_value fail(napi_env env, struct work *w, const char *msg) {
  if (w) free_work(w);
  return fsx_reject_args(env, msg);
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

// lgetxattrSync(path: string, name: string): Buffer | null, on the calling thread. null when the
// file has no such attribute or its filesystem none at all; other failures throw (ENOENT, EACCES).
static napi_value js_lgetxattr_sync(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char *path = argc >= 2 ? fsx_get_string(env, argv[0]) : NULL;
  char *name = argc >= 2 ? fsx_get_string(env, argv[1]) : NULL;
  napi_value result = NULL;
  if (!path || !name) {
    fsx_reject_args(env, "lgetxattrSync(path, name) expects two strings");
  } else {
    char *value = NULL;
    ssize_t len = fsx_read_value(path, -1, name, &value);
    if (len >= 0) {
      result = fsx_take_buffer(env, &value, (size_t)len);
    } else {
      int e = errno;
      if (e == ENODATA || e == ENOTSUP) napi_get_null(env, &result);
      else napi_throw(env, fsx_errno_error(env, e, "lgetxattr", path));
    }
    free(value);
  }
  free(path);
  free(name);
  return result;
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

// Seconds as a double, converted as libuv converts fs.utimes' numbers (microsecond resolution),
// so a tree unpacked either way gets the same times.
static struct timespec to_timespec(double t) {
  struct timespec ts;
  ts.tv_sec = (time_t)t;
  ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
  ts.tv_nsec -= ts.tv_nsec % 1000;
  if (ts.tv_nsec < 0) { ts.tv_nsec += 1000000000L; ts.tv_sec -= 1; }
  return ts;
}

static int prop(napi_env env, napi_value obj, const char *name, napi_value *out) {
  bool has = false;
  if (napi_has_named_property(env, obj, name, &has) != napi_ok || !has) return 0;
  napi_valuetype t;
  if (napi_get_named_property(env, obj, name, out) != napi_ok || napi_typeof(env, *out, &t) != napi_ok) return 0;
  return t != napi_undefined && t != napi_null;
}

static int prop_int64(napi_env env, napi_value obj, const char *name, int64_t *out) {
  napi_value v;
  return prop(env, obj, name, &v) && napi_get_value_int64(env, v, out) == napi_ok;
}

// One element of the ops array: { kind, path, target?, data?, uid, gid, mode, mtime, chmod?, xattrs? }
static const char *parse_tree_op(napi_env env, napi_value obj, struct tree_op *op) {
  napi_value v;
  uint32_t u;
  double mtime;
  bool b = false;
  if (!prop(env, obj, "kind", &v) || napi_get_value_uint32(env, v, &u) != napi_ok || u > T_META) return "kind must be 0-3";
  op->kind = (int)u;
  if (!prop(env, obj, "path", &v) || !(op->path = fsx_get_string(env, v))) return "path must be a string";
  if (op->kind == T_DIR) return NULL;
  if (!prop_int64(env, obj, "uid", &op->uid) || !prop_int64(env, obj, "gid", &op->gid)) return "uid and gid must be numbers";
  if (!prop(env, obj, "mode", &v) || napi_get_value_uint32(env, v, &u) != napi_ok) return "mode must be a number";
  op->mode = u;
  if (!prop(env, obj, "mtime", &v) || napi_get_value_double(env, v, &mtime) != napi_ok) return "mtime must be a number";
  op->times[0] = to_timespec(mtime);
  op->times[1] = op->times[0];
  if (op->kind == T_META) {
    if (!prop(env, obj, "chmod", &v) || napi_get_value_bool(env, v, &b) != napi_ok) return "chmod must be a boolean";
    op->chmod_too = b;
  }
  if (op->kind == T_SYMLINK && (!prop(env, obj, "target", &v) || !(op->target = fsx_get_string(env, v)))) return "target must be a string";
  if (op->kind == T_FILE) {
    void *data;
    if (!prop(env, obj, "data", &v) || napi_is_buffer(env, v, &b) != napi_ok || !b) return "data must be a Buffer";
    napi_get_buffer_info(env, v, &data, &op->data_len);
    op->data = data;
  }
  return NULL;
}

// An op's xattrs: [string, Buffer] pairs, copied (they are few and small).
static const char *parse_xattrs(napi_env env, napi_value obj, struct tree_op *op) {
  napi_value list;
  bool is_arr = false;
  uint32_t n;
  if (!prop(env, obj, "xattrs", &list)) return NULL;
  if (napi_is_array(env, list, &is_arr) != napi_ok || !is_arr) return "xattrs must be an array";
  napi_get_array_length(env, list, &n);
  if (n == 0) return NULL;
  op->xnames = calloc(n, sizeof(char *));
  op->xvals = calloc(n, sizeof(char *));
  op->xlens = calloc(n, sizeof(size_t));
  if (!op->xnames || !op->xvals || !op->xlens) return "out of memory";
  op->xcount = n;
  for (uint32_t i = 0; i < n; i++) {
    napi_value pair, name, value;
    bool is_buf = false;
    void *vdata;
    size_t vlen;
    napi_get_element(env, list, i, &pair);
    napi_get_element(env, pair, 0, &name);
    napi_get_element(env, pair, 1, &value);
    napi_is_buffer(env, value, &is_buf);
    if (!is_buf || !(op->xnames[i] = fsx_get_string(env, name))) return "xattrs must be [string, Buffer] pairs";
    napi_get_buffer_info(env, value, &vdata, &vlen);
    op->xvals[i] = malloc(vlen ? vlen : 1);
    if (!op->xvals[i]) return "out of memory";
    if (vlen) memcpy(op->xvals[i], vdata, vlen);
    op->xlens[i] = vlen;
  }
  return NULL;
}

// applyTreeOps(ops: TreeOp[]): Promise<[done, ownersSkipped, xattrsSkipped, Error | null]>
// Runs the operations in order on one pool thread and stops at the first failure, which it
// returns (ops[done] failed) instead of rejecting, so the caller can resolve it and go on.
// Creations never replace or follow what is there: EEXIST. The caller must not change `ops`
// or the Buffers in it until the promise settles.
static napi_value js_apply_tree_ops(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  struct work *w = calloc(1, sizeof *w);
  if (!w) return fail(env, NULL, "out of memory");
  w->op = OP_TREE;
  bool is_arr = false;
  uint32_t n;
  if (argc < 1 || napi_is_array(env, argv[0], &is_arr) != napi_ok || !is_arr) return fail(env, w, "applyTreeOps(ops) expects an array");
  napi_get_array_length(env, argv[0], &n);
  w->ops = calloc(n ? n : 1, sizeof *w->ops);
  if (!w->ops) return fail(env, w, "out of memory");
  w->nops = n;
  for (uint32_t i = 0; i < n; i++) {
    napi_value obj;
    napi_get_element(env, argv[0], i, &obj);
    const char *bad = parse_tree_op(env, obj, &w->ops[i]);
    if (!bad) bad = parse_xattrs(env, obj, &w->ops[i]);
    if (bad) {
      char msg[128];
      snprintf(msg, sizeof msg, "applyTreeOps: op %u: %s", i, bad);
      return fail(env, w, msg);
    }
  }
  if (napi_create_reference(env, argv[0], 1, &w->data_ref) != napi_ok) return fail(env, w, "applyTreeOps: cannot hold the ops");
  return start(env, w, "fsx.applyTreeOps");
}

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  napi_property_descriptor props[] = {
    { "lgetxattrs", NULL, js_lgetxattrs, NULL, NULL, NULL, napi_default, NULL },
    { "lgetxattrSync", NULL, js_lgetxattr_sync, NULL, NULL, NULL, napi_default, NULL },
    { "lsetxattr", NULL, js_lsetxattr, NULL, NULL, NULL, napi_default, NULL },
    { "mknod", NULL, js_mknod, NULL, NULL, NULL, napi_default, NULL },
    { "applyTreeOps", NULL, js_apply_tree_ops, NULL, NULL, NULL, napi_default, NULL },
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  fsx_register_scan(env, exports);
  fsx_register_copy(env, exports);
  fsx_register_tar(env, exports);
  fsx_register_gzip(env, exports);
  fsx_register_mount(env, exports);
  return exports;
}

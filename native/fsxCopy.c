// Batched file copies for COPY of many small files: copyFiles copies a list of regular files
// from one directory into another in one thread-pool job (create exclusively, reflink or
// copy_file_range, owner, mode, times), instead of copyFile + chown + utimes per file, each a
// promise and a hop through libuv's queue. A destination that exists is left alone and reported,
// so the caller's slow path (which replaces it by Docker's rules) takes that file.
#include "fsx.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

struct copy_work {
  napi_deferred deferred;
  napi_async_work async;
  char *src_dir, *dst_dir;
  char **names;
  uint32_t *modes;
  size_t count;
  uint32_t uid, gid;
  // per file: 0 copied, EEXIST destination exists, EAGAIN source is no longer a regular file
  int32_t *results;
  int err;
  const char *syscall;
  char *errpath;
};

static void free_copy(struct copy_work *w) {
  free(w->src_dir);
  free(w->dst_dir);
  if (w->names) {
    for (size_t i = 0; i < w->count; i++) free(w->names[i]);
  }
  free(w->names);
  free(w->modes);
  free(w->results);
  free(w->errpath);
  free(w);
}

static void fail_at(struct copy_work *w, int err, const char *syscall, const char *dir, const char *name) {
  w->err = err;
  w->syscall = syscall;
  size_t dl = strlen(dir), nl = name ? strlen(name) : 0;
  w->errpath = malloc(dl + nl + 2);
  if (!w->errpath) return;
  memcpy(w->errpath, dir, dl);
  w->errpath[dl] = '\0';
  if (name) {
    w->errpath[dl] = '/';
    memcpy(w->errpath + dl + 1, name, nl + 1);
  }
}

// The bytes of sfd into dfd: a reflink where the filesystem shares extents (btrfs, xfs), else
// copy_file_range, else read/write. `*reflink` and `*cfr` are cleared after the first refusal:
// a batch (one source and one destination directory, so one pair of filesystems) asks once.
static int copy_bytes(int sfd, int dfd, off_t size, int *reflink, int *cfr, char *buf, size_t buflen) {
  if (size == 0) return 0;
  if (*reflink) {
    if (ioctl(dfd, FICLONE, sfd) == 0) return 0;
    *reflink = 0;
  }
  off_t done = 0;
  while (done < size) {
    if (*cfr) {
      ssize_t n = copy_file_range(sfd, NULL, dfd, NULL, (size_t)(size - done), 0);
      if (n > 0) { done += n; continue; }
      if (n == 0) break;  // the source shrank: it is copied as it is now
      if (errno == EINTR) continue;
      if (errno != EXDEV && errno != ENOSYS && errno != EINVAL && errno != EOPNOTSUPP) return -1;
      *cfr = 0;
    }
    ssize_t r = read(sfd, buf, buflen);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return -1;
    if (r == 0) break;
    for (ssize_t at = 0; at < r;) {
      ssize_t wr = write(dfd, buf + at, (size_t)(r - at));
      if (wr < 0 && errno == EINTR) continue;
      if (wr < 0) return -1;
      at += wr;
    }
    done += r;
  }
  return 0;
}

static void do_copy(struct copy_work *w) {
  int sdir = open(w->src_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (sdir < 0) { fail_at(w, errno, "open", w->src_dir, NULL); return; }
  int ddir = open(w->dst_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (ddir < 0) { fail_at(w, errno, "open", w->dst_dir, NULL); close(sdir); return; }
  size_t buflen = 128 * 1024;
  char *buf = malloc(buflen);
  if (!buf) { fail_at(w, ENOMEM, "malloc", w->src_dir, NULL); goto out; }
  int reflink = 1, cfr = 1;
  for (size_t i = 0; i < w->count; i++) {
    const char *name = w->names[i];
    // Not following a link: a source swapped for a symlink meanwhile cannot lead out of the context.
    int sfd = openat(sdir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (sfd < 0) {
      if (errno == ELOOP) { w->results[i] = EAGAIN; continue; }
      fail_at(w, errno, "open", w->src_dir, name);
      break;
    }
    struct stat st;
    if (fstat(sfd, &st) != 0) { fail_at(w, errno, "fstat", w->src_dir, name); close(sfd); break; }
    if (!S_ISREG(st.st_mode)) { w->results[i] = EAGAIN; close(sfd); continue; }
    int dfd = openat(ddir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (dfd < 0) {
      int e = errno;
      close(sfd);
      if (e == EEXIST) { w->results[i] = EEXIST; continue; }
      fail_at(w, e, "open", w->dst_dir, name);
      break;
    }
    const char *failed = NULL;
    if (copy_bytes(sfd, dfd, st.st_size, &reflink, &cfr, buf, buflen) != 0) failed = "copy";
    // chmod after chown: chown clears setuid/setgid bits.
    else if (fchown(dfd, w->uid, w->gid) != 0) failed = "chown";
    else if (fchmod(dfd, w->modes[i]) != 0) failed = "chmod";
    else {
      struct timespec times[2] = { st.st_atim, st.st_mtim };
      if (futimens(dfd, times) != 0) failed = "utimes";
    }
    int e = errno;
    close(sfd);
    if (close(dfd) != 0 && !failed) { failed = "close"; e = errno; }
    if (failed) { fail_at(w, e, failed, w->dst_dir, name); break; }
  }
out:
  free(buf);
  close(sdir);
  close(ddir);
}

static void execute(napi_env env, void *data) {
  (void)env;
  do_copy(data);
}

static void complete(napi_env env, napi_status status, void *data) {
  struct copy_work *w = data;
  if (status != napi_ok && w->err == 0) {
    w->err = ECANCELED;
    w->syscall = "async work";
  }
  if (w->err != 0) {
    napi_reject_deferred(env, w->deferred, fsx_errno_error(env, w->err, w->syscall, w->errpath ? w->errpath : w->src_dir));
  } else {
    napi_value arr, v;
    napi_create_array_with_length(env, w->count, &arr);
    for (size_t i = 0; i < w->count; i++) {
      napi_create_int32(env, w->results[i], &v);
      napi_set_element(env, arr, (uint32_t)i, v);
    }
    napi_resolve_deferred(env, w->deferred, arr);
  }
  napi_delete_async_work(env, w->async);
  free_copy(w);
}

static napi_value reject_args(napi_env env, struct copy_work *w, const char *msg) {
  if (w) free_copy(w);
  return fsx_reject_args(env, msg);
}

// copyFiles(srcDir, dstDir, names: string[], modes: number[], uid, gid): Promise<number[]>
static napi_value js_copy_files(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  struct copy_work *w = calloc(1, sizeof *w);
  if (!w) return reject_args(env, NULL, "out of memory");
  uint32_t n = 0, n2 = 0;
  bool a1 = false, a2 = false;
  if (argc >= 6) {
    napi_is_array(env, argv[2], &a1);
    napi_is_array(env, argv[3], &a2);
  }
  if (argc < 6 || !(w->src_dir = fsx_get_string(env, argv[0])) || !(w->dst_dir = fsx_get_string(env, argv[1])) || !a1 || !a2 ||
      napi_get_array_length(env, argv[2], &n) != napi_ok || napi_get_array_length(env, argv[3], &n2) != napi_ok || n != n2 ||
      napi_get_value_uint32(env, argv[4], &w->uid) != napi_ok || napi_get_value_uint32(env, argv[5], &w->gid) != napi_ok) {
    return reject_args(env, w, "copyFiles(srcDir, dstDir, names, modes, uid, gid) expects two strings, two arrays of one length and two numbers");
  }
  w->names = calloc(n ? n : 1, sizeof *w->names);
  w->modes = calloc(n ? n : 1, sizeof *w->modes);
  w->results = calloc(n ? n : 1, sizeof *w->results);
  if (!w->names || !w->modes || !w->results) return reject_args(env, w, "out of memory");
  for (uint32_t i = 0; i < n; i++) {
    napi_value name, mode;
    napi_get_element(env, argv[2], i, &name);
    napi_get_element(env, argv[3], i, &mode);
    w->count = i + 1;
    if (!(w->names[i] = fsx_get_string(env, name)) || !w->names[i][0] || strchr(w->names[i], '/') || strcmp(w->names[i], ".") == 0 ||
        strcmp(w->names[i], "..") == 0 || napi_get_value_uint32(env, mode, &w->modes[i]) != napi_ok) {
      return reject_args(env, w, "copyFiles: names must be plain file names and modes numbers");
    }
  }
  return fsx_queue(env, "fsx.copyFiles", execute, complete, w, &w->deferred, &w->async);
}

void fsx_register_copy(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    { "copyFiles", NULL, js_copy_files, NULL, NULL, NULL, napi_default, NULL },
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}

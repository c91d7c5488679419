// Batched directory reads for walks over many small files (the layer tar of an upper dir).
// scanDir returns, in one thread-pool job, every entry of a directory sorted by name bytes with
// its lstat fields, xattrs, symlink target and, within a byte budget, the contents of its small
// regular files: one round trip per directory instead of lstat + llistxattr + open + read +
// close per file, each a promise and a hop through libuv's queue (which is what a 20,000-file
// tree spent its time on). readFiles reads the small files a scan left out for lack of budget.
// The result is packed (see struct layout below) and decoded by src/util/fsx.ts.
// For a layer tar (SCAN_TAR) the scan also writes the tar bytes of the directory's common
// entries itself (header, contents, padding: see archive()), so the JS side handles only
// directories and the rare entries that need its bookkeeping.
#include "fsx.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

// One record per entry: REC_WORDS native-endian uint32 words, indexed by enum field. Offsets
// point into the string area that follows the records (names, link targets, xattrs) or into the
// data buffer. Keep in step with src/util/fsx.ts.
enum field {
  F_MODE, F_UID, F_GID, F_NLINK, F_SIZE_LO, F_SIZE_HI, F_MTIME_LO, F_MTIME_HI, F_MTIME_NSEC,
  F_DEV_LO, F_DEV_HI, F_INO_LO, F_INO_HI, F_RDEV_MAJOR, F_RDEV_MINOR,
  F_NAME_OFF, F_NAME_LEN, F_LINK_OFF, F_LINK_LEN, F_XATTR_OFF, F_XATTR_LEN, F_DATA_OFF, F_FLAGS, F_TAR_END,
  F_TAR_MTIME_LO, F_TAR_MTIME_HI,
  REC_WORDS
};
enum flags { HAS_DATA = 1, HAS_LINK = 2, NAME_NOT_UTF8 = 4, XATTRS_UNREAD = 8, ARCHIVED = 16 };
// SCAN_TAR: write the tar bytes of common entries (paths prefixed with `prefix`); SCAN_OWNER_ZERO:
// their owner is 0:0 (an xattr store, where an owner is only ever recorded in an xattr);
// SCAN_EPOCH: clamp their mtimes to `epoch`.
enum scan_flags { SCAN_NO_XATTRS = 1, SCAN_TAR = 2, SCAN_OWNER_ZERO = 4, SCAN_EPOCH = 8 };

enum op { OP_SCAN, OP_READ };

struct scan_work {
  enum op op;
  napi_deferred deferred;
  napi_async_work async;
  char *dir;
  // scan: read contents of regular files up to inline_max bytes, budget bytes in total
  double budget, inline_max;
  uint32_t scan_flags;
  char *prefix;
  int64_t epoch;
  // read: these files of dir, each exactly sizes[i] bytes
  char **names;
  size_t count;
  uint64_t *sizes;
  // output: nrecs records (a tar scan leaves out the entries it archived, directories aside)
  size_t nrecs;
  uint32_t *recs;
  struct fsx_bytes strs;
  struct fsx_bytes tar;
  char *data;
  size_t data_len;
  int err;
  const char *syscall;
  char *errpath;
};

static void free_scan(struct scan_work *w) {
  free(w->dir);
  if (w->names) {
    for (size_t i = 0; i < w->count; i++) free(w->names[i]);
  }
  free(w->names);
  free(w->sizes);
  free(w->recs);
  free(w->strs.p);
  free(w->tar.p);
  free(w->prefix);
  free(w->data);
  free(w->errpath);
  free(w);
}

static int fail_at(struct scan_work *w, int err, const char *syscall, const char *name) {
  w->err = err;
  w->syscall = syscall;
  size_t dl = strlen(w->dir), nl = name ? strlen(name) : 0;
  w->errpath = malloc(dl + nl + 2);
  if (w->errpath) {
    memcpy(w->errpath, w->dir, dl);
    if (name) {
      w->errpath[dl] = '/';
      memcpy(w->errpath + dl + 1, name, nl + 1);
    } else {
      w->errpath[dl] = '\0';
    }
  }
  return -1;
}

// Little-endian whatever the machine (the xattr lengths are read with readUInt32LE).
static int put_u32(struct fsx_bytes *b, uint32_t v) {
  unsigned char le[4] = { (unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16), (unsigned char)(v >> 24) };
  return fsx_put(b, le, sizeof le);
}

static int cmp_names(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static int valid_utf8(const unsigned char *s, size_t len) {
  const unsigned char *end = s + len;
  while (s < end) {
    unsigned c = *s++;
    int more = c < 0x80 ? 0 : (c >> 5) == 0x6 ? 1 : (c >> 4) == 0xe ? 2 : (c >> 3) == 0x1e ? 3 : -1;
    if (more < 0 || (more == 1 && c < 0xc2)) return 0;
    uint32_t cp = c & (0x3f >> more);
    for (int i = 0; i < more; i++) {
      if (s == end || (*s & 0xc0) != 0x80) return 0;
      cp = (cp << 6) | (*s++ & 0x3f);
    }
    // overlong 3/4-byte forms, surrogates, beyond U+10FFFF
    if ((more == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (more == 3 && (cp < 0x10000 || cp > 0x10ffff))) return 0;
  }
  return 1;
}

// Opened without following a link and non-blocking, so a name swapped for a link or a fifo
// meanwhile can neither lead elsewhere nor hang.
static int open_file(int dirfd, const char *name) {
  return openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
}

// Exactly `size` bytes of fd (the file `name`) into dst: cut if the file grew, zero-filled if it
// shrank (the tar header already announced `size`).
static int read_fd(struct scan_work *w, int fd, const char *name, char *dst, size_t size) {
  size_t at = 0;
  while (at < size) {
    ssize_t n = pread(fd, dst + at, size - at, (off_t)at);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail_at(w, errno, "read", name);
    if (n == 0) break;
    at += (size_t)n;
  }
  if (at < size) memset(dst + at, 0, size - at);
  return 0;
}

// read_fd of dirfd/name, opened here, or of fd when the caller has it open already (fd >= 0).
static int read_exact(struct scan_work *w, int dirfd, int fd, const char *name, char *dst, size_t size) {
  if (fd >= 0) return read_fd(w, fd, name, dst, size);
  fd = open_file(dirfd, name);
  if (fd < 0) return fail_at(w, errno, "open", name);
  int ret = read_fd(w, fd, name, dst, size);
  close(fd);
  return ret;
}

// xattrs as [u32 name length][name][u32 value length][value]..., ENOTSUP/ENODATA meaning none.
// EACCES (user.* of a file without read permission, for its non-root owner) is left to the
// caller: the entry is flagged XATTRS_UNREAD with no xattrs.
// Read through fd when it is open (>= 0), else by path.
static int put_xattrs(struct scan_work *w, const char *path, int fd, const char *name, uint32_t *rec) {
  size_t start = w->strs.len;
  char *list = NULL;
  ssize_t n = fsx_read_list(path, fd, &list);
  if (n < 0) {
    if (errno == ENOTSUP || errno == ENODATA) return 0;
    if (errno == EACCES) { rec[F_FLAGS] |= XATTRS_UNREAD; return 0; }
    return fail_at(w, errno, "llistxattr", name);
  }
  for (ssize_t off = 0; off < n;) {
    const char *key = list + off;
    size_t klen = strlen(key);
    off += (ssize_t)klen + 1;
    char *val = NULL;
    ssize_t vlen = fsx_read_value(path, fd, key, &val);
    if (vlen < 0) {
      // Removed between list and get: absent.
      if (errno == ENODATA || errno == ENOTSUP) continue;
      int e = errno;
      free(list);
      if (e == EACCES) {
        w->strs.len = start;
        rec[F_FLAGS] |= XATTRS_UNREAD;
        return 0;
      }
      return fail_at(w, e, "lgetxattr", name);
    }
    int bad = put_u32(&w->strs, (uint32_t)klen) || fsx_put(&w->strs, key, klen) || put_u32(&w->strs, (uint32_t)vlen) || fsx_put(&w->strs, val, (size_t)vlen);
    free(val);
    if (bad) {
      free(list);
      return fail_at(w, ENOMEM, "malloc", name);
    }
  }
  free(list);
  return 0;
}

static int put_link(struct scan_work *w, int dirfd, const char *name, uint32_t *rec) {
  size_t cap = 256;
  for (;;) {
    char *buf = malloc(cap);
    if (!buf) return fail_at(w, ENOMEM, "malloc", name);
    ssize_t n = readlinkat(dirfd, name, buf, cap);
    if (n < 0) {
      free(buf);
      return fail_at(w, errno, "readlink", name);
    }
    if ((size_t)n < cap) {
      rec[F_LINK_OFF] = (uint32_t)w->strs.len;
      rec[F_LINK_LEN] = (uint32_t)n;
      rec[F_FLAGS] |= HAS_LINK;
      int bad = fsx_put(&w->strs, buf, (size_t)n);
      free(buf);
      return bad ? fail_at(w, ENOMEM, "malloc", name) : 0;
    }
    free(buf);
    cap *= 2;
  }
}

static int list_dir(struct scan_work *w, DIR *d) {
  size_t cap = 64;
  w->names = malloc(cap * sizeof *w->names);
  if (!w->names) return fail_at(w, ENOMEM, "malloc", NULL);
  for (;;) {
    errno = 0;
    struct dirent *de = readdir(d);
    if (!de) {
      if (errno) return fail_at(w, errno, "readdir", NULL);
      break;
    }
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
    if (w->count == cap) {
      char **more = realloc(w->names, cap * 2 * sizeof *w->names);
      if (!more) return fail_at(w, ENOMEM, "malloc", NULL);
      w->names = more;
      cap *= 2;
    }
    if (!(w->names[w->count] = strdup(de->d_name))) return fail_at(w, ENOMEM, "malloc", NULL);
    w->count++;
  }
  qsort(w->names, w->count, sizeof *w->names, cmp_names);
  return 0;
}

// What the scan archives itself: entries whose header needs nothing but their lstat (no xattrs
// to archive or to take an owner, whiteout or device from; not a possible hardlink; a small
// file's contents at hand). The rest, in between, are left to layerTar.ts, which also walks
// the directories: F_TAR_END of every record is where the archived bytes before it end (for an
// archived directory, after its own header).
// An entry's mtime in a layer tar: the seconds of the nanosecond time truncated toward zero
// (differs from st_mtim.tv_sec only before 1970 with a fraction), then clamped to
// SOURCE_DATE_EPOCH. Recorded for every entry of a tar scan, archived here or not.
static void put_tar_mtime(const struct scan_work *w, uint32_t *rec) {
  int64_t seconds = (int64_t)(rec[F_MTIME_LO] | ((uint64_t)rec[F_MTIME_HI] << 32));
  if (seconds < 0 && rec[F_MTIME_NSEC] > 0) seconds++;
  if ((w->scan_flags & SCAN_EPOCH) && seconds > w->epoch) seconds = w->epoch;
  rec[F_TAR_MTIME_LO] = (uint32_t)(uint64_t)seconds;
  rec[F_TAR_MTIME_HI] = (uint32_t)((uint64_t)seconds >> 32);
}

static bool archivable(const uint32_t *rec, const char *strs) {
  uint32_t flags = rec[F_FLAGS];
  if ((flags & (NAME_NOT_UTF8 | XATTRS_UNREAD)) || rec[F_XATTR_LEN] != 0) return false;
  switch (rec[F_MODE] & S_IFMT) {
  case S_IFDIR:
  case S_IFIFO:
    return true;
  case S_IFLNK:
    // layerTar.ts would carry an invalid target's bytes as U+FFFD: leave that to it.
    return (flags & HAS_LINK) && valid_utf8((const unsigned char *)strs + rec[F_LINK_OFF], rec[F_LINK_LEN]);
  case S_IFREG:
    return rec[F_NLINK] == 1 && ((flags & HAS_DATA) || (rec[F_SIZE_LO] == 0 && rec[F_SIZE_HI] == 0));
  default:
    return false;
  }
}

// Appends entry i's tar bytes (header, then a regular file's contents read through fd, or
// opened here when fd < 0, and padding); path is scratch space for its name in the tar.
static int archive(struct scan_work *w, size_t i, int dfd, int fd, struct fsx_bytes *path) {
  uint32_t *rec = w->recs + i * REC_WORDS;
  uint64_t size = rec[F_SIZE_LO] | ((uint64_t)rec[F_SIZE_HI] << 32);
  uint32_t type = rec[F_MODE] & S_IFMT;
  const char *name = w->names[i];
  path->len = 0;
  if (fsx_put(path, w->prefix, strlen(w->prefix)) || fsx_put(path, name, rec[F_NAME_LEN]) || (type == S_IFDIR && fsx_put(path, "/", 1))) {
    return fail_at(w, ENOMEM, "malloc", name);
  }
  bool zero = w->scan_flags & SCAN_OWNER_ZERO;
  struct fsx_tar_entry e = {
    .path = path->p,
    .path_len = path->len,
    .type = type == S_IFDIR ? '5' : type == S_IFIFO ? '6' : type == S_IFLNK ? '2' : '0',
    .mode = rec[F_MODE] & 07777,
    .uid = zero ? 0 : rec[F_UID],
    .gid = zero ? 0 : rec[F_GID],
    .size = type == S_IFREG ? size : 0,
    .mtime = (int64_t)(rec[F_TAR_MTIME_LO] | ((uint64_t)rec[F_TAR_MTIME_HI] << 32)),
    .link = type == S_IFLNK ? w->strs.p + rec[F_LINK_OFF] : "",
    .link_len = type == S_IFLNK ? rec[F_LINK_LEN] : 0,
  };
  if (fsx_tar_header(&w->tar, &e) != 0) return fail_at(w, ENOMEM, "malloc", name);
  if (type == S_IFREG && size > 0) {
    size_t pad = (512 - size % 512) % 512;
    // The contents and padding are written in place.
    if (fsx_reserve(&w->tar, size + pad) != 0) return fail_at(w, ENOMEM, "malloc", name);
    if (read_exact(w, dfd, fd, name, w->tar.p + w->tar.len, (size_t)size) != 0) return -1;
    memset(w->tar.p + w->tar.len + size, 0, pad);
    w->tar.len += size + pad;
  }
  rec[F_FLAGS] = (rec[F_FLAGS] & ~(uint32_t)HAS_DATA) | ARCHIVED;
  return 0;
}

static void do_scan(struct scan_work *w) {
  int fd = open(w->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) { fail_at(w, errno, "opendir", NULL); return; }
  DIR *d = fdopendir(fd);
  if (!d) { fail_at(w, errno, "opendir", NULL); close(fd); return; }
  int dfd = dirfd(d);
  size_t dl = strlen(w->dir);
  char *path = NULL;
  struct fsx_bytes data = { 0 }, tar_path = { 0 };
  int ffd = -1;
  if (list_dir(w, d) != 0) goto done;
  w->recs = calloc(w->count ? w->count : 1, REC_WORDS * sizeof(uint32_t));
  path = malloc(dl + 2 + 256);
  if (!w->recs || !path) { fail_at(w, ENOMEM, "malloc", NULL); goto done; }
  memcpy(path, w->dir, dl);
  path[dl] = '/';
  double planned = 0;
  int planning = 1;
  for (size_t i = 0; i < w->count; i++) {
    const char *name = w->names[i];
    uint32_t *rec = w->recs + i * REC_WORDS;
    struct stat st;
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) { fail_at(w, errno, "lstat", name); goto done; }
    uint64_t size = (uint64_t)st.st_size, dev = (uint64_t)st.st_dev, ino = (uint64_t)st.st_ino;
    int64_t mtime = (int64_t)st.st_mtim.tv_sec;
    rec[F_MODE] = (uint32_t)st.st_mode;
    rec[F_UID] = (uint32_t)st.st_uid;
    rec[F_GID] = (uint32_t)st.st_gid;
    rec[F_NLINK] = st.st_nlink > UINT32_MAX ? UINT32_MAX : (uint32_t)st.st_nlink;
    rec[F_SIZE_LO] = (uint32_t)size;
    rec[F_SIZE_HI] = (uint32_t)(size >> 32);
    rec[F_MTIME_LO] = (uint32_t)(uint64_t)mtime;
    rec[F_MTIME_HI] = (uint32_t)((uint64_t)mtime >> 32);
    rec[F_MTIME_NSEC] = (uint32_t)st.st_mtim.tv_nsec;
    rec[F_DEV_LO] = (uint32_t)dev;
    rec[F_DEV_HI] = (uint32_t)(dev >> 32);
    rec[F_INO_LO] = (uint32_t)ino;
    rec[F_INO_HI] = (uint32_t)(ino >> 32);
    rec[F_RDEV_MAJOR] = major(st.st_rdev);
    rec[F_RDEV_MINOR] = minor(st.st_rdev);
    size_t nl = strlen(name);
    rec[F_NAME_OFF] = (uint32_t)w->strs.len;
    rec[F_NAME_LEN] = (uint32_t)nl;
    if (!valid_utf8((const unsigned char *)name, nl)) rec[F_FLAGS] |= NAME_NOT_UTF8;
    if (fsx_put(&w->strs, name, nl) != 0) { fail_at(w, ENOMEM, "malloc", name); goto done; }
    if (S_ISLNK(st.st_mode) && put_link(w, dfd, name, rec) != 0) goto done;
    memcpy(path + dl + 1, name, nl + 1);
    // Contents are planned in name order and planning stops at the first file that does not fit,
    // so the files left for readFiles are the directory's tail.
    if (planning && S_ISREG(st.st_mode) && size > 0 && (double)size <= w->inline_max) {
      if (planned + (double)size <= w->budget) {
        rec[F_FLAGS] |= HAS_DATA;
        planned += (double)size;
      } else {
        planning = 0;
      }
    }
    // A file to be read is opened once, and its xattrs read through the fd: one path lookup
    // less. Where the open fails, the xattrs are read by path and the read reports it.
    ffd = (rec[F_FLAGS] & HAS_DATA) ? open_file(dfd, name) : -1;
    rec[F_XATTR_OFF] = (uint32_t)w->strs.len;
    if (!(w->scan_flags & SCAN_NO_XATTRS) && put_xattrs(w, path, ffd, name, rec) != 0) goto done;
    rec[F_XATTR_LEN] = (uint32_t)(w->strs.len - rec[F_XATTR_OFF]);
    if (w->scan_flags & SCAN_TAR) put_tar_mtime(w, rec);
    if ((w->scan_flags & SCAN_TAR) && archivable(rec, w->strs.p)) {
      if (archive(w, i, dfd, ffd, &tar_path) != 0) goto done;
    } else if (rec[F_FLAGS] & HAS_DATA) {
      // The 4 GiB limit of a 32-bit offset is far above any budget the caller passes.
      rec[F_DATA_OFF] = (uint32_t)data.len;
      if (fsx_reserve(&data, (size_t)size) != 0) { fail_at(w, ENOMEM, "malloc", name); goto done; }
      if (read_exact(w, dfd, ffd, name, data.p + data.len, (size_t)size) != 0) goto done;
      data.len += (size_t)size;
    }
    rec[F_TAR_END] = (uint32_t)w->tar.len;
    if (ffd >= 0) close(ffd);
    ffd = -1;
  }
  w->nrecs = w->count;
  if (w->scan_flags & SCAN_TAR) {
    // The caller needs no record of what is in the tar bytes already, but for a directory (its subtree).
    size_t kept = 0;
    for (size_t i = 0; i < w->count; i++) {
      uint32_t *rec = w->recs + i * REC_WORDS;
      if ((rec[F_FLAGS] & ARCHIVED) && !S_ISDIR(rec[F_MODE])) continue;
      if (kept != i) memcpy(w->recs + kept * REC_WORDS, rec, REC_WORDS * sizeof(uint32_t));
      kept++;
    }
    w->nrecs = kept;
  }
done:
  if (ffd >= 0) close(ffd);
  w->data = data.p;
  w->data_len = data.len;
  free(tar_path.p);
  free(path);
  closedir(d);
}

static void do_read(struct scan_work *w) {
  int dfd = open(w->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) { fail_at(w, errno, "opendir", NULL); return; }
  size_t total = 0;
  for (size_t i = 0; i < w->count; i++) total += (size_t)w->sizes[i];
  w->data_len = total;
  w->data = malloc(total ? total : 1);
  if (!w->data) { fail_at(w, ENOMEM, "malloc", NULL); close(dfd); return; }
  size_t at = 0;
  for (size_t i = 0; i < w->count; i++) {
    if (read_exact(w, dfd, -1, w->names[i], w->data + at, (size_t)w->sizes[i]) != 0) break;
    at += (size_t)w->sizes[i];
  }
  close(dfd);
}

static void execute(napi_env env, void *data) {
  (void)env;
  struct scan_work *w = data;
  if (w->op == OP_SCAN) do_scan(w);
  else do_read(w);
}

static void complete(napi_env env, napi_status status, void *data) {
  struct scan_work *w = data;
  if (status != napi_ok && w->err == 0) {
    w->err = ECANCELED;
    w->syscall = "async work";
  }
  if (w->err != 0) {
    napi_reject_deferred(env, w->deferred, fsx_errno_error(env, w->err, w->syscall, w->errpath ? w->errpath : w->dir));
  } else if (w->op == OP_READ) {
    napi_resolve_deferred(env, w->deferred, fsx_take_buffer(env, &w->data, w->data_len));
  } else {
    // { count, meta: records then strings, data, tar }
    napi_value result, count, meta, jdata, jtar;
    size_t rec_bytes = w->nrecs * REC_WORDS * sizeof(uint32_t);
    char *dst;
    napi_create_object(env, &result);
    napi_create_uint32(env, (uint32_t)w->nrecs, &count);
    napi_create_buffer(env, rec_bytes + w->strs.len, (void **)&dst, &meta);
    if (rec_bytes) memcpy(dst, w->recs, rec_bytes);
    if (w->strs.len) memcpy(dst + rec_bytes, w->strs.p, w->strs.len);
    jdata = fsx_take_buffer(env, &w->data, w->data_len);
    jtar = fsx_take_buffer(env, &w->tar.p, w->tar.len);
    napi_set_named_property(env, result, "count", count);
    napi_set_named_property(env, result, "meta", meta);
    napi_set_named_property(env, result, "data", jdata);
    napi_set_named_property(env, result, "tar", jtar);
    napi_resolve_deferred(env, w->deferred, result);
  }
  napi_delete_async_work(env, w->async);
  free_scan(w);
}

static napi_value queue(napi_env env, struct scan_work *w, const char *resource) {
  return fsx_queue(env, resource, execute, complete, w, &w->deferred, &w->async);
}

static napi_value reject_args(napi_env env, struct scan_work *w, const char *msg) {
  if (w) free_scan(w);
  return fsx_reject_args(env, msg);
}

// scanDir(dir: string, budget: number, inlineMax: number, flags?: number, prefix?: string, epoch?: number):
//   Promise<{ count, meta, data, tar }>
static napi_value js_scan_dir(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  struct scan_work *w = calloc(1, sizeof *w);
  if (!w) return reject_args(env, NULL, "out of memory");
  w->op = OP_SCAN;
  if (argc < 3 || !(w->dir = fsx_get_string(env, argv[0])) || napi_get_value_double(env, argv[1], &w->budget) != napi_ok ||
      napi_get_value_double(env, argv[2], &w->inline_max) != napi_ok || !(w->budget < 4294967296.0)) {
    return reject_args(env, w, "scanDir(dir, budget, inlineMax) expects a string and two numbers (budget < 4 GiB)");
  }
  if (argc >= 4 && napi_get_value_uint32(env, argv[3], &w->scan_flags) != napi_ok) return reject_args(env, w, "scanDir: flags must be a number");
  if ((w->scan_flags & SCAN_TAR) && (argc < 6 || (w->scan_flags & SCAN_NO_XATTRS) || !(w->prefix = fsx_get_string(env, argv[4])) ||
                                     napi_get_value_int64(env, argv[5], &w->epoch) != napi_ok)) {
    return reject_args(env, w, "scanDir(dir, budget, inlineMax, flags, prefix, epoch): a tar scan needs a path prefix, an epoch and xattrs");
  }
  return queue(env, w, "fsx.scanDir");
}

// readFiles(dir: string, names: string[], sizes: number[]): Promise<Buffer> (contents back to back)
static napi_value js_read_files(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  struct scan_work *w = calloc(1, sizeof *w);
  if (!w) return reject_args(env, NULL, "out of memory");
  w->op = OP_READ;
  uint32_t n = 0, n2 = 0;
  bool a1 = false, a2 = false;
  if (argc >= 3) {
    napi_is_array(env, argv[1], &a1);
    napi_is_array(env, argv[2], &a2);
  }
  if (argc < 3 || !(w->dir = fsx_get_string(env, argv[0])) || !a1 || !a2 || napi_get_array_length(env, argv[1], &n) != napi_ok ||
      napi_get_array_length(env, argv[2], &n2) != napi_ok || n != n2) {
    return reject_args(env, w, "readFiles(dir, names, sizes) expects a string and two arrays of one length");
  }
  w->names = calloc(n ? n : 1, sizeof *w->names);
  w->sizes = calloc(n ? n : 1, sizeof *w->sizes);
  if (!w->names || !w->sizes) return reject_args(env, w, "out of memory");
  for (uint32_t i = 0; i < n; i++) {
    napi_value name, size;
    double sz;
    napi_get_element(env, argv[1], i, &name);
    napi_get_element(env, argv[2], i, &size);
    w->count = i + 1;
    if (!(w->names[i] = fsx_get_string(env, name)) || napi_get_value_double(env, size, &sz) != napi_ok || !(sz >= 0 && sz < 4294967296.0)) {
      return reject_args(env, w, "readFiles: names must be strings and sizes numbers below 4 GiB");
    }
    w->sizes[i] = (uint64_t)sz;
  }
  return queue(env, w, "fsx.readFiles");
}

void fsx_register_scan(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    { "scanDir", NULL, js_scan_dir, NULL, NULL, NULL, napi_default, NULL },
    { "readFiles", NULL, js_read_files, NULL, NULL, NULL, napi_default, NULL },
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}

/*
 * The chown emulation behind `tsbuild-helper chown-trap ROOT -- CMD...`: a seccomp filter sends
 * chown, lchown, fchown and fchownat of CMD and its descendants to this process
 * (SECCOMP_RET_USER_NOTIF), which records the new owner in the xattr user.rootlesscontainers of
 * the file under ROOT (umoci's and runROOTLESS' format) instead of changing the real owner, and
 * answers the syscall as the kernel would. This lets `--isolation proot` keep the chowns of a RUN
 * where the process cannot chown (a non-root user, no user namespace).
 *
 * USER_NOTIF takes precedence over proot's own SECCOMP_RET_TRACE filter, so proot never sees these
 * calls and their paths are usually *guest* paths: they are resolved here, inside ROOT, with
 * openat2(RESOLVE_IN_ROOT). Without proot's seccomp acceleration proot translates the path at
 * syscall entry (ptrace runs before seccomp), so a path under ROOT/ is taken as a host path.
 * Files outside ROOT (proot's binds of /dev, /proc and /sys) and symlinks (user.* xattrs are not
 * allowed on them) are left alone and the call succeeds, as proot -0 fakes them too. Every write
 * goes through an O_PATH fd resolved inside ROOT: nothing outside ROOT is ever changed.
 */
#ifndef TSBUILD_CHOWNTRAP_H
#define TSBUILD_CHOWNTRAP_H

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <linux/filter.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>

#include "seccomp.h"

#define OWNER_XATTR "user.rootlesscontainers"
/* rootlesscontainers.proto: a field holding this value means "not emulated": the real owner. */
#define OWNER_NOOP_ID 0xFFFFFFFFu

struct chown_trap {
  int rootfd;
  char root[PATH_MAX]; /* canonical, without a trailing slash ("" for /) */
  size_t rootlen;
  int listener;
  unsigned long recorded, outside, links, special;
};

/* ------------------------------------------------------------------ the filter */

/* Installs the filter on the calling thread and returns the listener fd, or -errno. Needs
 * no_new_privs (or CAP_SYS_ADMIN). Other ABIs (32-bit x86, x32) are let through: their chowns
 * reach the kernel, where proot -0 fakes them as before. */
static int install_chown_filter(void) {
  static const long nrs[] = {
#ifdef __NR_chown
      __NR_chown,
#endif
#ifdef __NR_lchown
      __NR_lchown,
#endif
      __NR_fchown, __NR_fchownat,
  };
  struct sock_filter prog[4 + 2 * (sizeof nrs / sizeof nrs[0]) + 1];
  size_t n = 0;
  prog[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
  prog[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SECCOMP_NATIVE_ARCH, 1, 0);
  prog[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  prog[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
  for (size_t i = 0; i < sizeof nrs / sizeof nrs[0]; i++) {
    prog[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)nrs[i], 0, 1);
    prog[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF);
  }
  prog[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  struct sock_fprog fprog = {.len = (unsigned short)n, .filter = prog};
  long fd = syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &fprog);
  return fd < 0 ? -errno : (int)fd;
}

/* One fd over a unix socket (SCM_RIGHTS). Returns 0 or an errno. */
static int send_fd(int sock, int fd) {
  char byte = 'f';
  struct iovec iov = {.iov_base = &byte, .iov_len = 1};
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } u;
  memset(&u, 0, sizeof u);
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &fd, sizeof fd);
  for (;;) {
    if (sendmsg(sock, &msg, MSG_NOSIGNAL) == 1) return 0;
    if (errno != EINTR) return errno;
  }
}

/* Returns the fd, or -errno (-EPIPE: the sender closed the socket without sending one). */
static int recv_fd(int sock) {
  char byte;
  struct iovec iov = {.iov_base = &byte, .iov_len = 1};
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } u;
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
  ssize_t n;
  do n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (n < 0) return -errno;
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  if (n == 0 || c == NULL || c->cmsg_type != SCM_RIGHTS) return -EPIPE;
  int fd;
  memcpy(&fd, CMSG_DATA(c), sizeof fd);
  return fd;
}

/* ------------------------------------------------------------------ the owner xattr */

struct owner {
  uint32_t uid, gid;
};

static bool read_varint(const unsigned char **p, const unsigned char *end, uint64_t *out) {
  uint64_t v = 0;
  for (int shift = 0; shift < 64 && *p < end; shift += 7) {
    unsigned char b = *(*p)++;
    v |= (uint64_t)(b & 0x7f) << shift;
    if ((b & 0x80) == 0) {
      *out = v;
      return true;
    }
  }
  return false;
}

/* message { uint32 uid = 1; uint32 gid = 2; } in proto3: absent fields are 0; other fields are
 * skipped, as protobuf readers do. Returns false for bytes that are not such a message. */
static bool decode_owner(const unsigned char *p, size_t len, struct owner *o) {
  const unsigned char *end = p + len;
  o->uid = o->gid = 0;
  while (p < end) {
    uint64_t key, v;
    if (!read_varint(&p, end, &key)) return false;
    switch (key & 7) {
    case 0:
      if (!read_varint(&p, end, &v)) return false;
      if (key >> 3 == 1) o->uid = (uint32_t)v;
      if (key >> 3 == 2) o->gid = (uint32_t)v;
      break;
    case 1:
      if (end - p < 8) return false;
      p += 8;
      break;
    case 2:
      if (!read_varint(&p, end, &v) || v > (uint64_t)(end - p)) return false;
      p += v;
      break;
    case 5:
      if (end - p < 4) return false;
      p += 4;
      break;
    default:
      return false;
    }
  }
  if (o->uid == OWNER_NOOP_ID) o->uid = 0;
  if (o->gid == OWNER_NOOP_ID) o->gid = 0;
  return true;
}

static size_t put_varint(unsigned char *out, uint32_t v) {
  size_t n = 0;
  while (v >= 0x80) {
    out[n++] = (unsigned char)(v | 0x80);
    v >>= 7;
  }
  out[n++] = (unsigned char)v;
  return n;
}

/* The encoding is canonical, so the same owner always gives the same bytes (and layer digest). */
static size_t encode_owner(const struct owner *o, unsigned char out[12]) {
  size_t n = 0;
  if (o->uid != 0) {
    out[n++] = 0x08;
    n += put_varint(out + n, o->uid);
  }
  if (o->gid != 0) {
    out[n++] = 0x10;
    n += put_varint(out + n, o->gid);
  }
  return n;
}

/* setxattr on a user.* name needs write permission even for the owner; like umoci's unpriv
 * wrappers, give the owner write access for the moment of the call. */
static int write_owner_xattr(const char *fdpath, const struct stat *st, const unsigned char *val, size_t len) {
  int r = len == 0 ? removexattr(fdpath, OWNER_XATTR) : setxattr(fdpath, OWNER_XATTR, val, len, 0);
  if (r == 0 || (len == 0 && errno == ENODATA)) return 0;
  if (errno != EACCES || st->st_uid != geteuid() || (st->st_mode & S_IWUSR) != 0) return errno;
  if (chmod(fdpath, (st->st_mode & 07777) | S_IWUSR) < 0) return EACCES;
  r = len == 0 ? removexattr(fdpath, OWNER_XATTR) : setxattr(fdpath, OWNER_XATTR, val, len, 0);
  int err = r == 0 || (len == 0 && errno == ENODATA) ? 0 : errno;
  if (chmod(fdpath, st->st_mode & 07777) < 0 && err == 0) err = errno;
  return err;
}

/* ------------------------------------------------------------------ paths */

/* proot's binds in the copy runtime (src/isolation/copyRuntime.ts): the same path on the host
 * and in the guest, and not part of ROOT. */
static bool in_bound_dir(const char *path) {
  static const char *const bound[] = {"dev", "proc", "sys"};
  for (;;) {
    while (*path == '/') path++;
    if (path[0] == '.' && (path[1] == '/' || path[1] == '\0')) path++;
    else break;
  }
  for (size_t i = 0; i < sizeof bound / sizeof bound[0]; i++) {
    size_t n = strlen(bound[i]);
    if (strncmp(path, bound[i], n) == 0 && (path[n] == '/' || path[n] == '\0')) return true;
  }
  return false;
}

static bool under_root(const struct chown_trap *t, const char *host) {
  return strncmp(host, t->root, t->rootlen) == 0 && (host[t->rootlen] == '/' || host[t->rootlen] == '\0');
}

/* The guest path of a host path (a cwd or an fd of the tracee); false when it is neither under
 * ROOT nor in a bound dir. */
static bool guest_of_host(const struct chown_trap *t, const char *host, char *out, size_t cap) {
  const char *g;
  if (under_root(t, host)) g = host[t->rootlen] == '\0' ? "/" : host + t->rootlen;
  else if (host[0] == '/' && in_bound_dir(host)) g = host;
  else return false;
  return (size_t)snprintf(out, cap, "%s", g) < cap;
}

/* readlink of /proc/PID/<what>: the tracee's cwd or one of its fds, as a host path. */
static int read_proc_link(pid_t pid, const char *what, char *out, size_t cap) {
  char link[64];
  snprintf(link, sizeof link, "/proc/%d/%s", (int)pid, what);
  ssize_t n = readlink(link, out, cap - 1);
  if (n < 0) return errno == ENOENT ? EBADF : errno;
  if ((size_t)n >= cap - 1) return ENAMETOOLONG;
  out[n] = '\0';
  return 0;
}

/* A NUL-terminated string from the tracee's memory: 0, EFAULT or ENAMETOOLONG. */
static int read_tracee_string(pid_t pid, uint64_t addr, char *out, size_t cap) {
  if (addr == 0) return EFAULT;
  struct iovec local = {.iov_base = out, .iov_len = cap};
  struct iovec remote = {.iov_base = (void *)(uintptr_t)addr, .iov_len = cap};
  ssize_t n = process_vm_readv(pid, &local, 1, &remote, 1, 0);
  if (n < 0 && (errno == EPERM || errno == ENOSYS)) {
    /* Some seccomp profiles refuse process_vm_readv; /proc/PID/mem needs the same rights. */
    char mem[64];
    snprintf(mem, sizeof mem, "/proc/%d/mem", (int)pid);
    int fd = open(mem, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return EFAULT;
    n = pread(fd, out, cap, (off_t)addr);
    close(fd);
  }
  if (n <= 0) return EFAULT;
  if (memchr(out, '\0', (size_t)n) != NULL) return 0;
  return (size_t)n == cap ? ENAMETOOLONG : EFAULT;
}

/*
 * Debian's proot 5.1 is built without its seccomp acceleration, so it stops every syscall at
 * entry, before seccomp runs: it translates the path to a host path and, with -0, replaces a uid
 * or gid of 0 by its own real id "to get a chance of success" (fake_id0's chown handling). The
 * guest's 0 and the guest's literal real uid then arrive alike; they are read as 0, so a chown to
 * the builder's own uid is recorded as root (what proot alone would have left) rather than a chown
 * to root being recorded as the builder's uid.
 */
static bool is_traced(pid_t pid) {
  char status[64], buf[4096];
  snprintf(status, sizeof status, "/proc/%d/status", (int)pid);
  int fd = open(status, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return false;
  buf[n] = '\0';
  const char *tp = strstr(buf, "\nTracerPid:");
  return tp != NULL && strtol(tp + strlen("\nTracerPid:"), NULL, 10) != 0;
}

static int open_in_root(const struct chown_trap *t, const char *guest, bool nofollow) {
  struct open_how how;
  memset(&how, 0, sizeof how);
  how.flags = O_PATH | O_CLOEXEC | (nofollow ? O_NOFOLLOW : 0);
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  for (int attempt = 0;; attempt++) {
    long fd = syscall(SYS_openat2, t->rootfd, guest, &how, sizeof how);
    if (fd >= 0) return (int)fd;
    /* EAGAIN: a rename raced with ".." resolution; the kernel asks to try again. */
    if (errno != EAGAIN || attempt >= 16) return -errno;
  }
}

/* ------------------------------------------------------------------ one notification */

enum { CHOWN_DONE = 0, CHOWN_GONE = -1 };

/*
 * Emulates the chown of one notification. Returns 0 (success), an errno to answer with, or
 * CHOWN_GONE when the notification is no longer valid (the tracee died or was interrupted).
 */
static int emulate_chown(struct chown_trap *t, const struct seccomp_notif *req) {
  const __u64 *a = req->data.args;
  pid_t pid = (pid_t)req->pid;
  int nr = req->data.nr;
  uint64_t pathaddr = 0;
  int dirfd = AT_FDCWD;
  bool nofollow = false, by_fd = false;
  uint32_t uid, gid;
  if (nr == __NR_fchown) {
    dirfd = (int)a[0];
    by_fd = true;
    uid = (uint32_t)a[1];
    gid = (uint32_t)a[2];
  } else if (nr == __NR_fchownat) {
    dirfd = (int)a[0];
    pathaddr = a[1];
    uid = (uint32_t)a[2];
    gid = (uint32_t)a[3];
    if ((a[4] & ~(uint64_t)(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)) != 0) return EINVAL;
    nofollow = (a[4] & AT_SYMLINK_NOFOLLOW) != 0;
    by_fd = (a[4] & AT_EMPTY_PATH) != 0; /* only if the path is empty, see below */
  } else {
    pathaddr = a[0];
    uid = (uint32_t)a[1];
    gid = (uint32_t)a[2];
#ifdef __NR_lchown
    nofollow = nr == __NR_lchown;
#endif
  }

  char path[PATH_MAX], host[PATH_MAX], guest[PATH_MAX];
  if (!by_fd || pathaddr != 0) {
    int err = read_tracee_string(pid, pathaddr, path, sizeof path);
    if (err != 0) return ioctl(t->listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &req->id) == 0 ? err : CHOWN_GONE;
    if (path[0] != '\0') by_fd = false;
    else if (!by_fd) return ENOENT;
  }

  /* Where the file is, as a guest path; `outside` when it is not under ROOT at all. */
  bool outside = false;
  struct stat want; /* by fd: the file the fd refers to */
  if (by_fd || path[0] != '/') {
    char what[32];
    if (dirfd == AT_FDCWD && nr != __NR_fchown) snprintf(what, sizeof what, "cwd");
    else if (dirfd < 0) return EBADF;
    else snprintf(what, sizeof what, "fd/%d", dirfd);
    int err = read_proc_link(pid, what, host, sizeof host);
    if (err == 0 && by_fd) {
      char link[64];
      snprintf(link, sizeof link, "/proc/%d/%s", (int)pid, what);
      if (stat(link, &want) < 0) err = errno == ENOENT ? EBADF : errno;
    }
    if (ioctl(t->listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &req->id) != 0) return CHOWN_GONE;
    if (err != 0) return err;
    if (!guest_of_host(t, host, guest, sizeof guest)) outside = true;
    else if (!by_fd && (size_t)snprintf(host, sizeof host, "%s/%s", guest, path) >= sizeof host) return ENAMETOOLONG;
    else if (!by_fd) memcpy(guest, host, strlen(host) + 1);
    if (by_fd) nofollow = true; /* the fd's own file, even if that is a symlink (O_PATH) */
  } else if (under_root(t, path)) {
    /* proot translated the path already (it ran before seccomp) */
    snprintf(guest, sizeof guest, "%s", path[t->rootlen] == '\0' ? "/" : path + t->rootlen);
  } else {
    memcpy(guest, path, strlen(path) + 1);
  }
  /* A proot that stopped this call at entry (it translated the path to one under ROOT) has put
   * its own real ids where the guest passed 0. */
  bool swapped = (by_fd || under_root(t, path)) && is_traced(pid);
  /* The path string and the links were read from a live tracee: act only if it still waits. */
  if (ioctl(t->listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &req->id) != 0) return CHOWN_GONE;
  if (swapped && uid == getuid()) uid = 0;
  if (swapped && gid == getgid()) gid = 0;
  if (outside || in_bound_dir(guest)) {
    t->outside++;
    return 0;
  }

  int fd = open_in_root(t, guest, nofollow);
  if (fd < 0) return -fd;
  char fdpath[64];
  snprintf(fdpath, sizeof fdpath, "/proc/self/fd/%d", fd);
  int result = 0;
  struct stat st;
  ssize_t vlen;
  unsigned char val[64];
  if (fstat(fd, &st) < 0) {
    result = errno;
    goto out;
  }
  /* Resolved through a symlink into a bound dir (/etc/mtab -> /proc/...), or the fd's file is no
   * longer at its path (deleted, renamed): not a file of the image. */
  char self_fd[32];
  snprintf(self_fd, sizeof self_fd, "fd/%d", fd);
  if ((read_proc_link(getpid(), self_fd, host, sizeof host) == 0 && under_root(t, host) &&
       in_bound_dir(host + t->rootlen)) ||
      (by_fd && (st.st_dev != want.st_dev || st.st_ino != want.st_ino))) {
    t->outside++;
    goto out;
  }
  if (S_ISLNK(st.st_mode)) {
    t->links++;
    goto out;
  }
  if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
    /* The kernel allows user.* xattrs only on regular files and directories. */
    t->special++;
    goto out;
  }
  struct owner o = {0, 0};
  vlen = getxattr(fdpath, OWNER_XATTR, val, sizeof val);
  if (vlen < 0 && errno != ENODATA) {
    result = errno;
    goto out;
  }
  if (vlen > 0 && !decode_owner(val, (size_t)vlen, &o)) {
    result = EIO;
    goto out;
  }
  if (uid != OWNER_NOOP_ID) o.uid = uid;
  if (gid != OWNER_NOOP_ID) o.gid = gid;
  unsigned char enc[12];
  result = write_owner_xattr(fdpath, &st, enc, encode_owner(&o, enc));
  /* chown drops set-user-ID (and set-group-ID with group execute) from a regular file, as the
   * kernel does for root too; the rootless build does the same. */
  mode_t kill = S_ISUID | ((st.st_mode & S_IXGRP) ? S_ISGID : 0);
  if (result == 0 && S_ISREG(st.st_mode) && (st.st_mode & kill) != 0 && chmod(fdpath, st.st_mode & 07777 & ~kill) < 0)
    result = errno;
  if (result == 0) t->recorded++;
out:
  close(fd);
  return result;
}

#endif

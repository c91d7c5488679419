/*
 * Overlay and bind mounts, shared by tsbuild-helper (its mount-overlay mode and the RUN
 * sandbox) and fsx.node (mountOverlay/unmount for a build already inside tsbuild's namespace,
 * which then needs no helper process per mount). Every function returns 0 or an errno.
 */
#ifndef TSBUILD_OVERLAY_H
#define TSBUILD_OVERLAY_H

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

/* Overlay's monolithic option string splits on ',' and lowerdir on ':'; both may be escaped. */
static inline size_t append_escaped(char *out, size_t pos, size_t cap, const char *s) {
  for (; *s != '\0'; s++) {
    if (*s == ',' || *s == ':' || *s == '\\') {
      if (pos + 1 < cap) out[pos] = '\\';
      pos++;
    }
    if (pos + 1 < cap) out[pos] = *s;
    pos++;
  }
  return pos;
}

static inline size_t append_raw(char *out, size_t pos, size_t cap, const char *s) {
  for (; *s != '\0'; s++) {
    if (pos + 1 < cap) out[pos] = *s;
    pos++;
  }
  return pos;
}

/* Appends the fs context's log ("e overlay: ...") to `detail`: the kernel says there what was
 * wrong, which errno alone does not. */
static inline void read_fs_log(int fsfd, char *detail, size_t cap) {
  char line[512];
  size_t used = strlen(detail);
  for (;;) {
    ssize_t n = read(fsfd, line, sizeof line - 1);
    if (n <= 0) break;
    line[n] = '\0';
    if (n > 0 && line[n - 1] == '\n') line[n - 1] = '\0';
    const char *text = (line[0] != '\0' && line[1] == ' ') ? line + 2 : line;
    int w = snprintf(detail + used, cap - used, "%s%s", used > 0 ? "; " : "", text);
    if (w < 0 || (size_t)w >= cap - used) break;
    used += (size_t)w;
  }
}

struct overlay {
  const char *target;
  const char *const *lowers; /* top first */
  size_t nlowers;
  const char *upper; /* NULL: read-only overlay of the lowers */
  const char *work;
  bool userxattr;
  bool readonly;
};

/* Legacy mount(2) path for kernels without "lowerdir+" (< 6.5). The option string is limited to
 * a page, so very deep layer chains fail there with E2BIG. */
static inline int mount_overlay_legacy(const struct overlay *o, char *detail, size_t cap) {
  char data[4096];
  size_t pos = append_raw(data, 0, sizeof data, "lowerdir=");
  for (size_t i = 0; i < o->nlowers; i++) {
    if (i > 0) pos = append_raw(data, pos, sizeof data, ":");
    pos = append_escaped(data, pos, sizeof data, o->lowers[i]);
  }
  if (o->upper != NULL) {
    pos = append_raw(data, pos, sizeof data, ",upperdir=");
    pos = append_escaped(data, pos, sizeof data, o->upper);
    pos = append_raw(data, pos, sizeof data, ",workdir=");
    pos = append_escaped(data, pos, sizeof data, o->work);
  }
  if (o->userxattr) pos = append_raw(data, pos, sizeof data, ",userxattr");
  if (pos + 1 > sizeof data) {
    snprintf(detail, cap, "overlay options for %s are longer than a page", o->target);
    return E2BIG;
  }
  data[pos] = '\0';
  /* nodev: a device node shipped in an image must not open the host's device (Docker gets the
   * same effect from the devices cgroup); /dev itself is a separate tmpfs with bound nodes. */
  if (mount("overlay", o->target, "overlay", (o->readonly ? MS_RDONLY : 0) | MS_NODEV, data) < 0) {
    int err = errno;
    snprintf(detail, cap, "mounting overlay on %s", o->target);
    return err;
  }
  return 0;
}

/* Returns 0 or an errno, with a human detail in `detail`. */
static inline int mount_overlay(const struct overlay *o, char *detail, size_t cap) {
  detail[0] = '\0';
  if (o->nlowers == 0) {
    snprintf(detail, cap, "mounting overlay on %s: no lowerdir", o->target);
    return EINVAL;
  }
  int fsfd = fsopen("overlay", FSOPEN_CLOEXEC);
  if (fsfd < 0) {
    if (errno == ENOSYS) return mount_overlay_legacy(o, detail, cap);
    int err = errno;
    snprintf(detail, cap, "opening an overlay context for %s", o->target);
    return err;
  }
  int err = 0;
  const char *what = "";
  char log[2048] = "";
  /* "lowerdir+" takes one layer per call: no escaping, no page limit. */
  for (size_t i = 0; i < o->nlowers && err == 0; i++) {
    if (fsconfig(fsfd, FSCONFIG_SET_STRING, "lowerdir+", o->lowers[i], 0) < 0) {
      err = errno;
      if (i == 0 && err == EINVAL) {
        read_fs_log(fsfd, log, sizeof log);
        if (strstr(log, "lowerdir+") != NULL || log[0] == '\0') {
          close(fsfd);
          return mount_overlay_legacy(o, detail, cap);
        }
      }
      what = o->lowers[i];
    }
  }
  if (err == 0 && o->upper != NULL) {
    if (fsconfig(fsfd, FSCONFIG_SET_STRING, "upperdir", o->upper, 0) < 0) {
      err = errno;
      what = o->upper;
    } else if (fsconfig(fsfd, FSCONFIG_SET_STRING, "workdir", o->work, 0) < 0) {
      err = errno;
      what = o->work;
    }
  }
  if (err == 0 && o->userxattr && fsconfig(fsfd, FSCONFIG_SET_FLAG, "userxattr", NULL, 0) < 0) {
    err = errno;
    what = "userxattr";
  }
  if (err == 0 && fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0) err = errno;
  int mfd = -1;
  if (err == 0) {
    mfd = fsmount(fsfd, FSMOUNT_CLOEXEC, (o->readonly ? MOUNT_ATTR_RDONLY : 0) | MOUNT_ATTR_NODEV);
    if (mfd < 0) err = errno;
  }
  if (err == 0 && move_mount(mfd, "", AT_FDCWD, o->target, MOVE_MOUNT_F_EMPTY_PATH) < 0) {
    err = errno;
    what = o->target;
  }
  if (err != 0) {
    read_fs_log(fsfd, log, sizeof log);
    snprintf(detail, cap, "mounting overlay on %s%s%s%s%s%s", o->target, what[0] ? " (" : "", what,
             what[0] ? ")" : "", log[0] ? ": kernel says: " : "", log);
  }
  if (mfd >= 0) close(mfd);
  close(fsfd);
  return err;
}

/* A detached read-only clone of `source`, to be attached later with move_mount. Cloning first
 * lets the RUN setup take host files before pivot_root and attach them inside the new root,
 * where every path resolves within the rootfs. */
static inline int clone_readonly(const char *source, bool recursive, int *out) {
  unsigned flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (recursive ? AT_RECURSIVE : 0);
  int fd = open_tree(AT_FDCWD, source, flags);
  if (fd < 0) return errno;
  struct mount_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
  if (mount_setattr(fd, "", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), &attr, sizeof attr) <
      0) {
    int err = errno;
    close(fd);
    return err;
  }
  *out = fd;
  return 0;
}

static inline int attach(int treefd, const char *target) {
  if (move_mount(treefd, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH) < 0) return errno;
  return 0;
}

/* The mount-overlay mode's view: an overlay, or for a single lower without an upper a read-only
 * bind (overlay refuses one lower without an upper on some kernels; the bind is the same view). */
static inline int overlay_mount_or_bind(const struct overlay *o, char *detail, size_t cap) {
  if (o->upper == NULL && o->nlowers == 1) {
    int fd = -1;
    int err = clone_readonly(o->lowers[0], false, &fd);
    if (err == 0) {
      err = attach(fd, o->target);
      close(fd);
    }
    if (err != 0) snprintf(detail, cap, "bind-mounting %s on %s", o->lowers[0], o->target);
    return err;
  }
  return mount_overlay(o, detail, cap);
}

#endif

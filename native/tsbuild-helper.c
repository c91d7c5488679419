/*
 * tsbuild-helper: the small part of tsbuild that Node cannot do itself (Node is multi-threaded,
 * and a multi-threaded process can neither unshare a user namespace nor safely fork and set up
 * a container). Modes:
 *
 *   enter [--uid-map C:H:N]... [--gid-map C:H:N]... -- CMD...
 *       New mount namespace (plus a user namespace when not root), then exec CMD with
 *       TSBUILD_IN_NAMESPACE=1. Maps with more than one line go through newuidmap/newgidmap.
 *   enter --auto -- CMD...
 *       The same with this user's maps read from /etc/subuid and /etc/subgid, for the launcher
 *       bin/tsbuild; where the namespace cannot be had (or CMD exits 120: "not in here"), CMD
 *       runs outside it with TSBUILD_LAUNCHER=outside instead.
 *   run
 *       One RUN step (with its --mount entries, Docker's seccomp profile, masked /proc paths). The spec arrives on fd 3, setup failures leave on fd 4 as records
 *       (wire format: src/isolation/protocol.ts, the only TS file that knows it).
 *   mount-overlay [--readonly] [--userxattr] [--upper DIR --work DIR] --lower DIR... TARGET
 *   umount TARGET
 *       By hand, in the namespace `enter` made. Builds mount with the same code (overlay.h)
 *       through fsx.node, in their own process.
 *   chown-trap ROOT -- CMD...
 *       Runs CMD (for --isolation proot: proot -0 -r ROOT ...) under a seccomp filter that sends
 *       its chown, lchown, fchown and fchownat here (SECCOMP_RET_USER_NOTIF); the new owner is
 *       recorded as the xattr user.rootlesscontainers of the file inside ROOT instead, and the
 *       call succeeds (chowntrap.h says how paths are resolved). Exits with CMD's status (128 +
 *       signal if killed). TSBUILD_CHOWN_TRAP_DEBUG=1 prints what was recorded and ignored.
 *
 * The setup order follows runc/crun (see /work/shared/DESIGN.md, "The native helper").
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <net/if.h>
#include <poll.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/capability.h>

#include "seccomp.h"
#include "chowntrap.h"
#include "subid.h"
#include "overlay.h"

#define SPEC_FD 3
#define RECORD_FD 4
#define SPEC_MAGIC "tsbuild-run-spec"
#define SPEC_VERSION "1"
#define SPEC_MAX_BYTES (64u << 20)
#define EXIT_SETUP 125
#define EXIT_NOEXEC 126
#define EXIT_NOTFOUND 127
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* Signal handlers can only reach globals; these hold the pid that signals are forwarded to. */
static volatile pid_t forward_pid;
static volatile sig_atomic_t forward_skip_tty;

/* ------------------------------------------------------------------ errors and records */

static void write_all(int fd, const char *buf, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, buf, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;
    }
    buf += n;
    len -= (size_t)n;
  }
}

static bool fd_is_open(int fd) { return fcntl(fd, F_GETFD) >= 0; }

/* Record: "E" NUL step NUL errno NUL message NUL. Without fd 4 (a person running the helper by
 * hand) the same facts go to stderr as a line. */
static void report(const char *step, int err, const char *message) {
  if (fd_is_open(RECORD_FD)) {
    char buf[8192];
    int n = snprintf(buf, sizeof buf, "E%c%s%c%d%c%s%c", 0, step, 0, err, 0, message, 0);
    if (n > 0 && (size_t)n < sizeof buf) {
      write_all(RECORD_FD, buf, (size_t)n);
      return;
    }
  }
  dprintf(2, "tsbuild-helper: %s: %s\n", step, message);
}

__attribute__((format(printf, 3, 4), noreturn)) static void die(const char *step, int err,
                                                                 const char *fmt, ...) {
  char detail[4096];
  char message[6144];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(detail, sizeof detail, fmt, ap);
  va_end(ap);
  if (err != 0)
    snprintf(message, sizeof message, "%s: %s", detail, strerror(err));
  else
    snprintf(message, sizeof message, "%s", detail);
  report(step, err, message);
  _exit(EXIT_SETUP);
}

/* For the small modes and enter: a plain line on stderr, then exit. */
__attribute__((format(printf, 2, 3), noreturn)) static void fail(int err, const char *fmt, ...) {
  char detail[4096];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(detail, sizeof detail, fmt, ap);
  va_end(ap);
  if (err != 0)
    dprintf(2, "tsbuild-helper: %s: %s\n", detail, strerror(err));
  else
    dprintf(2, "tsbuild-helper: %s\n", detail);
  _exit(EXIT_SETUP);
}

/* ------------------------------------------------------------------ signals */

static void forward_signal(int sig, siginfo_t *info, void *ctx) {
  (void)ctx;
  /* A terminal's ^C already reaches every process of the foreground group; forwarding it again
   * would deliver it twice. */
  if (forward_skip_tty && info != NULL && info->si_code == SI_KERNEL) return;
  pid_t pid = forward_pid;
  if (pid > 0) {
    int saved = errno;
    kill(pid, sig);
    errno = saved;
  } else {
    /* Nothing to forward to yet (setup still running): stop here. */
    _exit(128 + sig);
  }
}

static void install_forwarders(bool skip_tty) {
  static const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
  forward_skip_tty = skip_tty;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = forward_signal;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&sa.sa_mask);
  for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) sigaction(sigs[i], &sa, NULL);
}

static void reset_signals(void) {
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  for (int sig = 1; sig < NSIG; sig++) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    signal(sig, SIG_DFL);
  }
}

/* Waits for `pid`, retrying on EINTR; returns the wait status or -1. */
static int wait_for(pid_t pid) {
  int status;
  for (;;) {
    pid_t r = waitpid(pid, &status, 0);
    if (r == pid) return status;
    if (r < 0 && errno != EINTR) return -1;
  }
}

static int exit_code_of(int status) {
  if (status < 0) return EXIT_SETUP;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return EXIT_SETUP;
}

/* The parent must not outlive its caller, and the child must not outlive the parent. PDEATHSIG
 * is per parent *thread* and is cleared by credential changes, so callers set it again after a
 * setuid. */
static void die_with_parent(pid_t expected_parent) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (expected_parent > 0 && getppid() != expected_parent) _exit(EXIT_SETUP);
}

/* Forks the child a mode talks to over a socket (enter: the id-map handshake; chown-trap: the seccomp
 * listener), with the caller's signals forwarded to it. Returns 0 in the child (which dies with the
 * helper) and the child's pid in the helper; *sock is the calling side's end of the socket. */
static pid_t fork_with_socket(int *sock) {
  int sp[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0) fail(errno, "creating a socketpair");
  install_forwarders(true);
  pid_t self = getpid();
  pid_t child = fork();
  if (child < 0) fail(errno, "forking");
  if (child == 0) {
    close(sp[0]);
    die_with_parent(self);
    *sock = sp[1];
    return 0;
  }
  forward_pid = child;
  close(sp[1]);
  *sock = sp[0];
  return child;
}

/* ------------------------------------------------------------------ overlay and binds */

/* ------------------------------------------------------------------ mode: mount-overlay, umount */

static int mode_mount_overlay(int argc, char **argv) {
  const char **lowers = calloc((size_t)argc, sizeof *lowers);
  if (lowers == NULL) fail(ENOMEM, "parsing arguments");
  struct overlay o = {.lowers = lowers};
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i];
    bool has_value = i + 1 < argc;
    if (strcmp(a, "--readonly") == 0) {
      o.readonly = true;
    } else if (strcmp(a, "--userxattr") == 0) {
      o.userxattr = true;
    } else if (strcmp(a, "--lower") == 0 && has_value) {
      lowers[o.nlowers++] = argv[++i];
    } else if (strcmp(a, "--upper") == 0 && has_value) {
      o.upper = argv[++i];
    } else if (strcmp(a, "--work") == 0 && has_value) {
      o.work = argv[++i];
    } else if (a[0] != '-' && o.target == NULL && i == argc - 1) {
      o.target = a;
    } else {
      fail(0, "mount-overlay: unexpected argument %s", a);
    }
  }
  if (o.target == NULL || o.nlowers == 0 || (o.upper == NULL) != (o.work == NULL))
    fail(0, "usage: mount-overlay [--readonly] [--userxattr] [--upper DIR --work DIR] --lower DIR... "
            "TARGET");
  char detail[4096];
  int err = overlay_mount_or_bind(&o, detail, sizeof detail);
  if (err != 0) fail(err, "%s", detail);
  return 0;
}

static int mode_umount(int argc, char **argv) {
  if (argc != 3) fail(0, "usage: umount TARGET");
  if (umount2(argv[2], MNT_DETACH | UMOUNT_NOFOLLOW) < 0) fail(errno, "unmounting %s", argv[2]);
  return 0;
}

/* ------------------------------------------------------------------ mode: enter */

struct idmap_args {
  const char **lines; /* "C H N" */
  size_t n;
};

static bool parse_map_arg(const char *arg, char *out, size_t cap) {
  unsigned long c, h, n;
  char tail;
  if (sscanf(arg, "%lu:%lu:%lu%c", &c, &h, &n, &tail) != 3 || n == 0) return false;
  return snprintf(out, cap, "%lu %lu %lu", c, h, n) < (int)cap;
}

static int write_file(const char *path, const char *content) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  ssize_t n = write(fd, content, strlen(content));
  int err = n < 0 ? errno : ((size_t)n == strlen(content) ? 0 : EIO);
  close(fd);
  return err;
}

/* Runs newuidmap/newgidmap PID C H N ...; returns its exit code (127: not installed). `quiet`
 * sends the tool's own complaints to /dev/null (enter --auto then goes on outside). */
static int run_idmap_tool(const char *tool, pid_t pid, const struct idmap_args *m, bool quiet) {
  char **args = calloc(m->n * 3 + 3, sizeof *args);
  char pidbuf[32];
  if (args == NULL) return EXIT_SETUP;
  snprintf(pidbuf, sizeof pidbuf, "%d", (int)pid);
  size_t k = 0;
  args[k++] = (char *)tool;
  args[k++] = pidbuf;
  for (size_t i = 0; i < m->n; i++) {
    char *copy = strdup(m->lines[i]);
    if (copy == NULL) return EXIT_SETUP;
    char *save = NULL;
    for (char *t = strtok_r(copy, " ", &save); t != NULL; t = strtok_r(NULL, " ", &save))
      args[k++] = t;
  }
  args[k] = NULL;
  pid_t child = fork();
  if (child < 0) return EXIT_SETUP;
  if (child == 0) {
    if (quiet) {
      int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
      if (null >= 0) dup2(null, 2);
    }
    execvp(tool, args);
    _exit(errno == ENOENT ? EXIT_NOTFOUND : EXIT_NOEXEC);
  }
  return exit_code_of(wait_for(child));
}

static const char *user_name(void) {
  static char buf[32];
  struct passwd *pw = getpwuid(getuid());
  if (pw != NULL && pw->pw_name != NULL) return pw->pw_name;
  snprintf(buf, sizeof buf, "%u", (unsigned)getuid());
  return buf;
}

/* Writes the child's maps: subordinate ranges through the setuid tools, else the one id this
 * user owns (which the kernel allows only with setgroups denied). Returns 0, or an errno (-1: a
 * tool failed) with what went wrong in `why`; `quiet` (enter --auto) keeps the tools silent. */
static int write_id_maps(pid_t child, const struct idmap_args *uids, const struct idmap_args *gids,
                         bool quiet, char *why, size_t cap) {
  char path[64];
  char line[64];
  bool single_uid = uids->n < 2;
  bool single_gid = gids->n < 2;
  if (!single_uid) {
    int code = run_idmap_tool("newuidmap", child, uids, quiet);
    if (code == EXIT_NOTFOUND) {
      dprintf(2, "tsbuild: warning: newuidmap not found (install the uidmap package); only one uid "
                 "is mapped, chown to other ids will fail.\n");
      single_uid = true;
    } else if (code != 0) {
      snprintf(why, cap, "writing the uid map with newuidmap failed (exit %d); check /etc/subuid", code);
      return -1;
    }
  }
  if (!single_gid) {
    int code = run_idmap_tool("newgidmap", child, gids, quiet);
    if (code == EXIT_NOTFOUND) {
      single_gid = true;
    } else if (code != 0) {
      snprintf(why, cap, "writing the gid map with newgidmap failed (exit %d); check /etc/subgid", code);
      return -1;
    }
  }
  if (uids->n < 2 || gids->n < 2)
    dprintf(2,
            "tsbuild: warning: no /etc/sub%cid range for %s; only one %cid is mapped, chown to other "
            "ids will fail. Add one with: usermod --add-subuids 100000-165535 --add-subgids "
            "100000-165535 %s\n",
            uids->n < 2 ? 'u' : 'g', user_name(), uids->n < 2 ? 'u' : 'g', user_name());
  if (single_uid) {
    snprintf(path, sizeof path, "/proc/%d/uid_map", (int)child);
    snprintf(line, sizeof line, "0 %u 1\n", (unsigned)geteuid());
    int err = write_file(path, line);
    if (err != 0) return snprintf(why, cap, "writing %s", path), err;
  }
  if (single_gid) {
    snprintf(path, sizeof path, "/proc/%d/setgroups", (int)child);
    int err = write_file(path, "deny");
    if (err != 0) return snprintf(why, cap, "writing %s", path), err;
    snprintf(path, sizeof path, "/proc/%d/gid_map", (int)child);
    snprintf(line, sizeof line, "0 %u 1\n", (unsigned)getegid());
    err = write_file(path, line);
    if (err != 0) return snprintf(why, cap, "writing %s", path), err;
  }
  return 0;
}

static int mode_enter(int argc, char **argv) {
  struct idmap_args uids = {calloc((size_t)argc, sizeof(char *)), 0};
  struct idmap_args gids = {calloc((size_t)argc, sizeof(char *)), 0};
  if (uids.lines == NULL || gids.lines == NULL) fail(ENOMEM, "parsing arguments");
  int i = 2;
  for (; i < argc && strcmp(argv[i], "--") != 0; i++) {
    bool is_uid = strcmp(argv[i], "--uid-map") == 0;
    bool is_gid = strcmp(argv[i], "--gid-map") == 0;
    if ((!is_uid && !is_gid) || i + 1 >= argc) fail(0, "enter: unexpected argument %s", argv[i]);
    char *line = malloc(64);
    if (line == NULL || !parse_map_arg(argv[++i], line, 64))
      fail(0, "enter: a map is CONTAINER:HOST:COUNT, got %s", argv[i]);
    struct idmap_args *m = is_uid ? &uids : &gids;
    m->lines[m->n++] = line;
  }
  if (i + 1 >= argc) fail(0, "usage: enter [--uid-map C:H:N]... [--gid-map C:H:N]... -- CMD...");
  char **cmd = argv + i + 1;
  bool rootless = geteuid() != 0;
  /* If the caller is killed outright, the build inside must not carry on unattended. */
  die_with_parent(getppid());

  /* The child blocks on this socket until the parent has written its id maps (buildah's
   * block → write maps → release handshake). */
  int sock;
  pid_t child = fork_with_socket(&sock);
  if (child == 0) {
    if (unshare(CLONE_NEWNS | (rootless ? CLONE_NEWUSER : 0)) < 0)
      fail(errno, rootless ? "creating a user and mount namespace" : "creating a mount namespace");
    char c = 'r';
    if (write(sock, &c, 1) != 1) _exit(EXIT_SETUP);
    if (read(sock, &c, 1) != 1 || c != 'g') _exit(EXIT_SETUP);
    close(sock);
    if (rootless) {
      if (setresgid(0, 0, 0) < 0) fail(errno, "becoming gid 0 in the user namespace");
      if (setresuid(0, 0, 0) < 0) fail(errno, "becoming uid 0 in the user namespace");
      die_with_parent(0);
    }
    /* Nothing mounted from here on may propagate back to the host. */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) fail(errno, "making / private");
    if (setenv("TSBUILD_IN_NAMESPACE", "1", 1) < 0) fail(errno, "setting the environment");
    reset_signals();
    execvp(cmd[0], cmd);
    int err = errno;
    dprintf(2, "tsbuild-helper: executing %s: %s\n", cmd[0], strerror(err));
    _exit(err == ENOENT ? EXIT_NOTFOUND : EXIT_NOEXEC);
  }
  char c;
  ssize_t n;
  do n = read(sock, &c, 1);
  while (n < 0 && errno == EINTR);
  if (n != 1) return exit_code_of(wait_for(child)); /* the child said why on stderr */
  if (rootless) {
    char why[256];
    int err = write_id_maps(child, &uids, &gids, false, why, sizeof why);
    if (err != 0) fail(err < 0 ? 0 : err, "%s", why);
  }
  c = 'g';
  if (write(sock, &c, 1) != 1) {
    kill(child, SIGKILL);
    fail(errno, "releasing the namespace child");
  }
  close(sock);
  return exit_code_of(wait_for(child));
}

/* ------------------------------------------------------------------ mode: enter --auto */

/* The launcher's (bin/tsbuild) way in: the maps worked out here from /etc/subuid and /etc/subgid
 * (subid.h), and where the namespace cannot be had, the command runs outside instead, marked
 * TSBUILD_LAUNCHER=outside, and the JS build picks its isolation as it always did. The JS side
 * answers EXIT_LEAVE when it finds, inside, that the build must not run there (the config file
 * asks for another isolation): the command then runs again outside. Keep in step with
 * src/isolation/launcher.ts and LEAVE_NAMESPACE_EXIT in src/cli/formatError.ts. */
#define EXIT_LEAVE 120

__attribute__((noreturn)) static void exec_outside(char **cmd) {
  if (setenv("TSBUILD_LAUNCHER", "outside", 1) < 0) fail(errno, "setting the environment");
  execvp(cmd[0], cmd);
  int err = errno;
  dprintf(2, "tsbuild-helper: executing %s: %s\n", cmd[0], strerror(err));
  _exit(err == ENOENT ? EXIT_NOTFOUND : EXIT_NOEXEC);
}

static bool isolation_enters(const char *value) {
  return strcmp(value, "auto") == 0 || strcmp(value, "rootless") == 0;
}

/* Whether the command asks for an isolation the namespace is not for: --isolation X,
 * --isolation=X (the last one wins), else $TSBUILD_ISOLATION. A misreading only costs time:
 * outside, the build enters on its own when it must; inside, the JS side checks again. */
static bool other_isolation_asked(char **cmd) {
  const char *asked = NULL;
  for (size_t i = 1; cmd[i] != NULL && strcmp(cmd[i], "--") != 0; i++) {
    if (strcmp(cmd[i], "--isolation") == 0 && cmd[i + 1] != NULL) asked = cmd[++i];
    else if (strncmp(cmd[i], "--isolation=", 12) == 0) asked = cmd[i] + 12;
  }
  if (asked == NULL) asked = getenv("TSBUILD_ISOLATION");
  return asked != NULL && asked[0] != '\0' && !isolation_enters(asked);
}

static char *path_join(const char *dir, const char *name) {
  char *out;
  return asprintf(&out, "%s/%s", dir, name) < 0 ? NULL : out;
}

/* probeRootless's last test, done here in the new namespace: an overlay with userxattr mounts
 * in a scratch dir under $TMPDIR (or /tmp). Unmounted and removed again. */
static bool overlay_works(void) {
  const char *tmp = getenv("TMPDIR");
  char *base = path_join(tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp", "tsbuild-probe-XXXXXX");
  if (base == NULL || mkdtemp(base) == NULL) return false;
  static const char *const names[] = {"lower", "upper", "work", "merged"};
  char *dirs[4] = {NULL, NULL, NULL, NULL};
  bool ok = true;
  for (size_t i = 0; i < 4 && ok; i++) ok = (dirs[i] = path_join(base, names[i])) != NULL && mkdir(dirs[i], 0700) == 0;
  if (ok) {
    const char *lowers[] = {dirs[0]};
    struct overlay o = {.target = dirs[3], .lowers = lowers, .nlowers = 1, .upper = dirs[1], .work = dirs[2], .userxattr = true};
    char detail[4096];
    ok = mount_overlay(&o, detail, sizeof detail) == 0;
    if (ok) umount2(dirs[3], MNT_DETACH);
  }
  /* overlay leaves work/work (and work/index on some kernels) behind */
  for (size_t i = 0; i < 2 && dirs[2] != NULL; i++) {
    char *inner = path_join(dirs[2], i == 0 ? "work" : "index");
    if (inner != NULL) rmdir(inner);
    free(inner);
  }
  for (size_t i = 0; i < 4; i++) {
    if (dirs[i] != NULL) rmdir(dirs[i]);
    free(dirs[i]);
  }
  rmdir(base);
  free(base);
  return ok;
}

/* This user's maps as enterArgs (src/isolation/enterNamespace.ts) gives them: its own id to 0
 * and its subordinate ranges, matched by name or uid, after it. */
static bool auto_maps(struct idmap_args *uids, struct idmap_args *gids) {
  uid_t uid = getuid();
  struct passwd *pw = getpwuid(uid);
  const char *name = pw != NULL && pw->pw_name != NULL ? pw->pw_name : getenv("USER");
  if (name != NULL && name[0] == '\0') name = NULL;
  /* getpwuid's buffer is reused by later calls (user_name()): keep a copy */
  char *owned = name != NULL ? strdup(name) : NULL;
  if (name != NULL && owned == NULL) return false;
  struct subid_ranges su = {0}, sg = {0};
  char **ulines, **glines;
  bool ok = subid_read("/etc/subuid", owned, (unsigned)uid, &su) && subid_read("/etc/subgid", owned, (unsigned)uid, &sg) &&
            subid_map_lines((unsigned)uid, &su, &ulines, &uids->n) && subid_map_lines((unsigned)getgid(), &sg, &glines, &gids->n);
  free(owned);
  free(su.items);
  free(sg.items);
  if (!ok) return false;
  uids->lines = (const char **)ulines;
  gids->lines = (const char **)glines;
  return true;
}

static int mode_enter_auto(char **cmd) {
  if (cmd[0] == NULL) fail(0, "usage: enter --auto -- CMD...");
  const char *inside = getenv("TSBUILD_IN_NAMESPACE");
  if (inside != NULL && strcmp(inside, "1") == 0) {
    execvp(cmd[0], cmd);
    fail(errno, "executing %s", cmd[0]);
  }
  if (other_isolation_asked(cmd)) exec_outside(cmd);
  bool rootless = geteuid() != 0;
  struct idmap_args uids = {NULL, 0}, gids = {NULL, 0};
  if (rootless && !auto_maps(&uids, &gids)) exec_outside(cmd);
  /* Unlike plain enter, no death signal tied to the caller: this process is the command the user
   * started (a shell running it in the background may exit first). */
  int sock;
  pid_t child = fork_with_socket(&sock);
  if (child == 0) {
    char c = unshare(CLONE_NEWNS | (rootless ? CLONE_NEWUSER : 0)) == 0 ? 'r' : 'n';
    if (write(sock, &c, 1) != 1 || c != 'r') _exit(EXIT_LEAVE);
    if (read(sock, &c, 1) != 1 || c != 'g') _exit(EXIT_LEAVE);
    close(sock);
    if (rootless) {
      if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0) _exit(EXIT_LEAVE);
      die_with_parent(0);
    }
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) _exit(EXIT_LEAVE);
    if (rootless && !overlay_works()) _exit(EXIT_LEAVE);
    if (setenv("TSBUILD_IN_NAMESPACE", "1", 1) < 0 || setenv("TSBUILD_LAUNCHER", "entered", 1) < 0) _exit(EXIT_LEAVE);
    reset_signals();
    execvp(cmd[0], cmd);
    int err = errno;
    dprintf(2, "tsbuild-helper: executing %s: %s\n", cmd[0], strerror(err));
    _exit(err == ENOENT ? EXIT_NOTFOUND : EXIT_NOEXEC);
  }
  char c = 0;
  ssize_t n;
  do n = read(sock, &c, 1);
  while (n < 0 && errno == EINTR);
  bool go = n == 1 && c == 'r';
  if (go && rootless) {
    char why[256];
    go = write_id_maps(child, &uids, &gids, true, why, sizeof why) == 0;
  }
  if (go) {
    c = 'g';
    go = write(sock, &c, 1) == 1;
  }
  close(sock);
  if (!go) kill(child, SIGKILL);
  int status = wait_for(child);
  forward_pid = 0;
  if (!go || (WIFEXITED(status) && WEXITSTATUS(status) == EXIT_LEAVE)) exec_outside(cmd);
  return exit_code_of(status);
}

/* ------------------------------------------------------------------ mode: run — spec */

/* One RUN --mount, as the spec gives it: "bind" (a host path, cloned before pivot_root),
 * "tmpfs" (options: mount data) or "file" (content written to a private tmpfs, then bound). */
struct mount_entry {
  const char *type, *source, *target, *options, *content;
  bool readonly;
  unsigned long mode, uid, gid;
  int fd; /* the detached clone, attached after pivot_root */
};

struct spec {
  const char *mountpoint, *upperdir, *workdir, *emptylower, *cwd, *user, *hostname;
  const char *hosts, *resolvconf, *scratch;
  bool userxattr, netnone, seccomp, nonewprivs;
  struct mount_entry *mounts;
  size_t nmounts;
  int *capadd;
  size_t ncapadd;
  const char **cgroups; /* cgroup.procs files to join first */
  size_t ncgroups;
  const char **lowers;
  size_t nlowers;
  char **argv;
  size_t argc;
  char **env;
  size_t envc;
};

static bool parse_id(const char *s, unsigned long *out);

static char *read_spec_bytes(size_t *len) {
  size_t cap = 65536, used = 0;
  char *buf = malloc(cap);
  if (buf == NULL) die("read spec", ENOMEM, "reading the spec");
  for (;;) {
    if (used == cap) {
      if (cap >= SPEC_MAX_BYTES) die("read spec", E2BIG, "reading the spec");
      cap *= 2;
      char *next = realloc(buf, cap);
      if (next == NULL) die("read spec", ENOMEM, "reading the spec");
      buf = next;
    }
    ssize_t n = read(SPEC_FD, buf + used, cap - used);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("read spec", errno, "reading the spec from fd %d", SPEC_FD);
    }
    if (n == 0) break;
    used += (size_t)n;
  }
  close(SPEC_FD);
  *len = used;
  return buf;
}

static bool is_abs(const char *p) { return p != NULL && p[0] == '/'; }

/* The spec is a sequence of NUL-terminated key, value pairs, starting with the magic and
 * version; repeated keys (lowerdir, arg, env) keep their order. */
static void parse_spec(struct spec *s) {
  size_t len;
  char *buf = read_spec_bytes(&len);
  if (len == 0 || buf[len - 1] != '\0') die("read spec", EINVAL, "the spec is empty or truncated");
  size_t nstrings = 0;
  for (size_t i = 0; i < len; i++)
    if (buf[i] == '\0') nstrings++;
  if (nstrings % 2 != 0) die("read spec", EINVAL, "the spec has a key without a value");
  s->lowers = calloc(nstrings / 2 + 1, sizeof *s->lowers);
  s->argv = calloc(nstrings / 2 + 1, sizeof *s->argv);
  s->env = calloc(nstrings / 2 + 1, sizeof *s->env);
  s->mounts = calloc(nstrings / 2 + 1, sizeof *s->mounts);
  s->capadd = calloc(nstrings / 2 + 1, sizeof *s->capadd);
  s->cgroups = calloc(nstrings / 2 + 1, sizeof *s->cgroups);
  if (s->cgroups == NULL) die("read spec", ENOMEM, "parsing");
  if (s->lowers == NULL || s->argv == NULL || s->env == NULL || s->mounts == NULL || s->capadd == NULL)
    die("read spec", ENOMEM, "parsing");
  s->seccomp = true;
  struct mount_entry *m = NULL;
  char *p = buf;
  char *end = buf + len;
  bool first = true;
  while (p < end) {
    char *key = p;
    p += strlen(p) + 1;
    char *value = p;
    p += strlen(p) + 1;
    if (first) {
      if (strcmp(key, SPEC_MAGIC) != 0 || strcmp(value, SPEC_VERSION) != 0)
        die("read spec", EINVAL, "unsupported spec format %s %s (this helper reads %s %s)", key,
            value, SPEC_MAGIC, SPEC_VERSION);
      first = false;
    } else if (strcmp(key, "mountpoint") == 0) s->mountpoint = value;
    else if (strcmp(key, "upperdir") == 0) s->upperdir = value;
    else if (strcmp(key, "workdir") == 0) s->workdir = value;
    else if (strcmp(key, "lowerdir") == 0) s->lowers[s->nlowers++] = value;
    else if (strcmp(key, "emptylowerdir") == 0) s->emptylower = value;
    else if (strcmp(key, "userxattr") == 0) s->userxattr = strcmp(value, "1") == 0;
    else if (strcmp(key, "arg") == 0) s->argv[s->argc++] = value;
    else if (strcmp(key, "env") == 0) s->env[s->envc++] = value;
    else if (strcmp(key, "cwd") == 0) s->cwd = value;
    else if (strcmp(key, "user") == 0) s->user = value;
    else if (strcmp(key, "hostname") == 0) s->hostname = value;
    else if (strcmp(key, "hosts") == 0) s->hosts = value;
    else if (strcmp(key, "resolvconf") == 0) s->resolvconf = value;
    else if (strcmp(key, "scratch") == 0) s->scratch = value;
    else if (strcmp(key, "cgroup") == 0) {
      if (!is_abs(value)) die("read spec", EINVAL, "cgroup file %s is not absolute", value);
      s->cgroups[s->ncgroups++] = value;
    }
    else if (strcmp(key, "seccomp") == 0) s->seccomp = strcmp(value, "1") == 0;
    else if (strcmp(key, "nonewprivs") == 0) s->nonewprivs = strcmp(value, "1") == 0;
    else if (strcmp(key, "capadd") == 0) {
      unsigned long cap;
      if (!parse_id(value, &cap) || cap > 63) die("read spec", EINVAL, "bad capability number %s", value);
      s->capadd[s->ncapadd++] = (int)cap;
    } else if (strcmp(key, "mount") == 0) {
      if (strcmp(value, "bind") != 0 && strcmp(value, "tmpfs") != 0 && strcmp(value, "file") != 0)
        die("read spec", EINVAL, "unknown mount type %s", value);
      m = &s->mounts[s->nmounts++];
      m->type = value;
      m->fd = -1;
      m->mode = 0400;
    } else if (strncmp(key, "mount.", 6) == 0) {
      if (m == NULL) die("read spec", EINVAL, "%s before any mount", key);
      const char *field = key + 6;
      if (strcmp(field, "source") == 0) m->source = value;
      else if (strcmp(field, "target") == 0) m->target = value;
      else if (strcmp(field, "options") == 0) m->options = value;
      else if (strcmp(field, "content") == 0) m->content = value;
      else if (strcmp(field, "readonly") == 0) m->readonly = strcmp(value, "1") == 0;
      else if (strcmp(field, "mode") == 0) m->mode = strtoul(value, NULL, 8);
      else if (strcmp(field, "uid") == 0 && parse_id(value, &m->uid)) {}
      else if (strcmp(field, "gid") == 0 && parse_id(value, &m->gid)) {}
      else die("read spec", EINVAL, "bad mount field %s=%s", key, value);
    }
    else if (strcmp(key, "network") == 0) {
      if (strcmp(value, "none") == 0) s->netnone = true;
      else if (strcmp(value, "host") != 0) die("read spec", EINVAL, "unknown network mode %s", value);
    } else die("read spec", EINVAL, "unknown spec key %s", key);
  }
  if (first) die("read spec", EINVAL, "the spec has no header");
  if (!is_abs(s->mountpoint) || !is_abs(s->upperdir) || !is_abs(s->workdir))
    die("read spec", EINVAL, "mountpoint, upperdir and workdir must be absolute paths");
  for (size_t i = 0; i < s->nlowers; i++)
    if (!is_abs(s->lowers[i])) die("read spec", EINVAL, "lowerdir %s is not absolute", s->lowers[i]);
  if (s->nlowers == 0) {
    if (!is_abs(s->emptylower))
      die("read spec", EINVAL, "a rootfs without lowerdirs needs an absolute emptylowerdir");
    s->lowers[s->nlowers++] = s->emptylower;
  }
  if (s->argc == 0 || s->argv[0][0] == '\0') die("read spec", EINVAL, "the command is empty");
  if (s->cwd == NULL) s->cwd = "/";
  if (!is_abs(s->cwd)) die("read spec", EINVAL, "cwd %s is not absolute", s->cwd);
  if (s->user == NULL) s->user = "";
  if (s->hostname != NULL && strlen(s->hostname) > 64)
    die("read spec", EINVAL, "hostname %s is longer than 64 bytes", s->hostname);
  for (size_t i = 0; i < s->envc; i++)
    if (strchr(s->env[i], '=') == NULL) die("read spec", EINVAL, "env entry %s has no '='", s->env[i]);
  if (s->hosts != NULL && s->hosts[0] != '\0' && !is_abs(s->hosts))
    die("read spec", EINVAL, "hosts file %s is not absolute", s->hosts);
  if (s->resolvconf != NULL && s->resolvconf[0] != '\0' && !is_abs(s->resolvconf))
    die("read spec", EINVAL, "resolv.conf %s is not absolute", s->resolvconf);
  for (size_t i = 0; i < s->nmounts; i++) {
    struct mount_entry *e = &s->mounts[i];
    if (!is_abs(e->target)) die("read spec", EINVAL, "mount target %s is not absolute", e->target ? e->target : "(none)");
    if (strcmp(e->type, "bind") == 0 && !is_abs(e->source))
      die("read spec", EINVAL, "bind source %s is not absolute", e->source ? e->source : "(none)");
    if (strcmp(e->type, "file") == 0 && (e->content == NULL || !is_abs(s->scratch)))
      die("read spec", EINVAL, "a file mount needs content and an absolute scratch dir");
  }
}

/* ------------------------------------------------------------------ mode: run — rootfs */

static void join(char *out, size_t cap, const char *a, const char *b) {
  if ((size_t)snprintf(out, cap, "%s/%s", a, b) >= cap) die("mount rootfs", ENAMETOOLONG, "%s/%s", a, b);
}

/* A mount point right under the rootfs: created when missing (it then lands in the layer, as
 * with runc), refused when it is anything but a directory, so a symlink in the image can't
 * redirect a mount onto the host. */
static void ensure_dir_under(const char *root, const char *name, const char *step) {
  char path[PATH_MAX];
  struct stat st;
  join(path, sizeof path, root, name);
  if (lstat(path, &st) == 0) {
    if (!S_ISDIR(st.st_mode)) die(step, ENOTDIR, "/%s in the rootfs", name);
    return;
  }
  if (errno != ENOENT || mkdir(path, 0755) < 0) die(step, errno, "creating /%s in the rootfs", name);
}

static void bring_up_loopback(void) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) die("bring up lo", errno, "opening a socket");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) die("bring up lo", errno, "reading lo flags");
  ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
  if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0) die("bring up lo", errno, "setting lo up");
  close(s);
}

static void setup_dev(const char *root) {
  static const char *const devices[] = {"null", "zero", "full", "random", "urandom", "tty"};
  static const char *const links[][2] = {
      {"fd", "/proc/self/fd"},         {"stdin", "/proc/self/fd/0"}, {"stdout", "/proc/self/fd/1"},
      {"stderr", "/proc/self/fd/2"},   {"ptmx", "pts/ptmx"},
  };
  char dev[PATH_MAX], path[PATH_MAX];
  join(dev, sizeof dev, root, "dev");
  if (mount("tmpfs", dev, "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k") < 0)
    die("mount /dev", errno, "mounting a tmpfs on /dev");
  for (size_t i = 0; i < sizeof devices / sizeof devices[0]; i++) {
    char host[64];
    snprintf(host, sizeof host, "/dev/%s", devices[i]);
    join(path, sizeof path, dev, devices[i]);
    int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0666);
    if (fd < 0) die("mount /dev", errno, "creating /dev/%s", devices[i]);
    close(fd);
    /* mknod is not allowed in a user namespace, so the host's nodes are bound instead. */
    if (mount(host, path, NULL, MS_BIND, NULL) < 0) die("mount /dev", errno, "binding %s", host);
  }
  join(path, sizeof path, dev, "pts");
  if (mkdir(path, 0755) < 0) die("mount /dev/pts", errno, "creating /dev/pts");
  /* gid=5 (tty) only works when gid 5 is mapped; a one-id user namespace has to do without. */
  if (mount("devpts", path, "devpts", MS_NOSUID | MS_NOEXEC,
            "newinstance,ptmxmode=0666,mode=0620,gid=5") < 0 &&
      mount("devpts", path, "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620") < 0)
    die("mount /dev/pts", errno, "mounting devpts");
  join(path, sizeof path, dev, "shm");
  if (mkdir(path, 01777) < 0) die("mount /dev/shm", errno, "creating /dev/shm");
  if (mount("shm", path, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k") < 0)
    die("mount /dev/shm", errno, "mounting a tmpfs on /dev/shm");
  for (size_t i = 0; i < sizeof links / sizeof links[0]; i++) {
    join(path, sizeof path, dev, links[i][0]);
    if (symlink(links[i][1], path) < 0) die("mount /dev", errno, "creating /dev/%s", links[i][0]);
  }
}

/* A host file to show read-only inside the rootfs; -1 when there is none (hosts without
 * /etc/resolv.conf exist, e.g. minimal containers, and a RUN there still works). */
static int clone_host_file(const char *requested, const char *fallback, const char *step) {
  const char *source = requested != NULL ? requested : fallback;
  if (source[0] == '\0') return -1;
  int fd;
  int err = clone_readonly(source, false, &fd);
  if (err == ENOENT) return -1;
  if (err != 0) die(step, err, "opening %s", source);
  return fd;
}

/* Binds the cloned host file over the rootfs file. A missing target is skipped instead of
 * created: a placeholder would otherwise end up in the layer. */
static void attach_if_file(int fd, const char *target, const char *step) {
  if (fd < 0) return;
  struct stat st;
  if (stat(target, &st) < 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return;
  }
  int err = attach(fd, target);
  if (err != 0) die(step, err, "binding over %s", target);
  close(fd);
}

static void pivot_into(const char *root) {
  int oldroot = open("/", O_DIRECTORY | O_PATH | O_CLOEXEC);
  if (oldroot < 0) die("pivot_root", errno, "opening /");
  int newroot = open(root, O_DIRECTORY | O_PATH | O_CLOEXEC);
  if (newroot < 0) die("pivot_root", errno, "opening %s", root);
  if (fchdir(newroot) < 0) die("pivot_root", errno, "entering %s", root);
  /* pivot_root(".", ".") stacks the old root on top of the new one, so it can be detached
   * without needing a directory for it inside the rootfs (runc's sequence). */
  if (syscall(SYS_pivot_root, ".", ".") < 0) die("pivot_root", errno, "pivoting into %s", root);
  if (fchdir(oldroot) < 0) die("pivot_root", errno, "entering the old root");
  if (umount2(".", MNT_DETACH) < 0) die("pivot_root", errno, "detaching the old root");
  if (chdir("/") < 0) die("pivot_root", errno, "entering the new root");
  close(oldroot);
  close(newroot);
}

/* ------------------------------------------------------------------ mode: run — RUN --mount */

static int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

/* A secret's bytes go to a file on a tmpfs private to this mount namespace: they never touch a
 * disk, and the tmpfs vanishes with the step. */
static int prepare_file(const struct spec *s, struct mount_entry *m, size_t index, bool *scratch_ready) {
  if (!*scratch_ready) {
    if (mount("tmpfs", s->scratch, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0700,size=16m") < 0)
      die("mount secrets", errno, "mounting a tmpfs on %s", s->scratch);
    *scratch_ready = true;
  }
  char path[PATH_MAX];
  if ((size_t)snprintf(path, sizeof path, "%s/%zu", s->scratch, index) >= sizeof path) return ENAMETOOLONG;
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return errno;
  size_t len = strlen(m->content);
  char buf[4096];
  size_t used = 0;
  for (size_t i = 0; i + 1 < len; i += 2) {
    int hi = hex_value(m->content[i]), lo = hex_value(m->content[i + 1]);
    if (hi < 0 || lo < 0) {
      close(fd);
      return EINVAL;
    }
    buf[used++] = (char)(hi << 4 | lo);
    if (used == sizeof buf) {
      write_all(fd, buf, used);
      used = 0;
    }
  }
  write_all(fd, buf, used);
  if (fchown(fd, (uid_t)m->uid, (gid_t)m->gid) < 0 || fchmod(fd, (mode_t)m->mode) < 0) {
    int err = errno;
    close(fd);
    return err;
  }
  close(fd);
  return clone_readonly(path, false, &m->fd);
}

/* Before pivot_root: every bind source and secret file becomes a detached mount, so that after
 * it the targets are resolved inside the rootfs only (a symlink in the image cannot point a
 * mount at the host). */
static void prepare_mounts(struct spec *s) {
  bool scratch_ready = false;
  for (size_t i = 0; i < s->nmounts; i++) {
    struct mount_entry *m = &s->mounts[i];
    int err = 0;
    if (strcmp(m->type, "bind") == 0) {
      if (m->readonly) {
        err = clone_readonly(m->source, true, &m->fd);
      } else {
        m->fd = open_tree(AT_FDCWD, m->source, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
        if (m->fd < 0) err = errno;
      }
      if (err != 0) die("mount", err, "preparing --mount source %s for %s", m->source, m->target);
    } else if (strcmp(m->type, "file") == 0) {
      err = prepare_file(s, m, i, &scratch_ready);
      if (err != 0) die("mount", err, "preparing the file for %s", m->target);
    }
  }
}

/* mkdir -p inside the new root; the caller (TS) removes what this creates from the layer. */
static void make_parents(const char *target, bool include_last) {
  char path[PATH_MAX];
  if (snprintf(path, sizeof path, "%s", target) >= (int)sizeof path) die("mount", ENAMETOOLONG, "%s", target);
  for (char *p = path + 1;; p++) {
    if (*p == '/' || *p == '\0') {
      char saved = *p;
      if (saved == '\0' && !include_last) break;
      *p = '\0';
      if (mkdir(path, 0755) < 0 && errno != EEXIST) die("mount", errno, "creating %s for a mount", path);
      *p = saved;
      if (saved == '\0') break;
    }
  }
}

/* After pivot_root: create each target (a directory, or an empty file for a file source) and
 * attach the mount. Entries come sorted by target from TS, so a nested target lands on top. */
static void attach_mounts(struct spec *s) {
  for (size_t i = 0; i < s->nmounts; i++) {
    struct mount_entry *m = &s->mounts[i];
    if (strcmp(m->type, "tmpfs") == 0) {
      make_parents(m->target, true);
      if (mount("tmpfs", m->target, "tmpfs", MS_NOSUID | MS_NODEV, m->options ? m->options : "") < 0)
        die("mount", errno, "mounting a tmpfs on %s", m->target);
      continue;
    }
    struct stat st;
    if (fstat(m->fd, &st) < 0) die("mount", errno, "inspecting the source for %s", m->target);
    if (S_ISDIR(st.st_mode)) {
      make_parents(m->target, true);
    } else {
      make_parents(m->target, false);
      int fd = open(m->target, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
      if (fd < 0 && errno != EISDIR) die("mount", errno, "creating %s for a mount", m->target);
      if (fd >= 0) close(fd);
    }
    int err = attach(m->fd, m->target);
    if (err != 0) die("mount", err, "attaching the mount on %s", m->target);
    close(m->fd);
    m->fd = -1;
  }
}

/* ------------------------------------------------------------------ mode: run — masked paths */

/* Docker's defaults (moby oci/defaults.go): kernel state a build has no business reading is
 * hidden, and kernel knobs it could turn are read-only. */
static const char *const masked_paths[] = {
    "/proc/asound",       "/proc/acpi",        "/proc/interrupts", "/proc/kcore",
    "/proc/keys",         "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
    "/proc/sched_debug",  "/proc/scsi",        "/sys/firmware",    "/sys/devices/virtual/powercap",
};
static const char *const readonly_paths[] = {
    "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
};

static void mask_paths(void) {
  for (size_t i = 0; i < sizeof masked_paths / sizeof masked_paths[0]; i++) {
    const char *p = masked_paths[i];
    struct stat st;
    if (stat(p, &st) < 0) continue; /* this kernel lacks it */
    int rc = S_ISDIR(st.st_mode) ? mount("tmpfs", p, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=0")
                                 : mount("/dev/null", p, NULL, MS_BIND, NULL);
    if (rc < 0) die("mask paths", errno, "masking %s", p);
  }
  for (size_t i = 0; i < sizeof readonly_paths / sizeof readonly_paths[0]; i++) {
    const char *p = readonly_paths[i];
    struct stat st;
    if (stat(p, &st) < 0) continue;
    int fd = open_tree(AT_FDCWD, p, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
    if (fd < 0) die("mask paths", errno, "cloning %s", p);
    struct mount_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC;
    if (mount_setattr(fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr) < 0)
      die("mask paths", errno, "making %s read-only", p);
    int err = attach(fd, p);
    if (err != 0) die("mask paths", err, "binding %s read-only", p);
    close(fd);
  }
}

/* ------------------------------------------------------------------ mode: run — user */

struct exec_user {
  uid_t uid;
  gid_t gid;
  gid_t *groups;
  size_t ngroups;
};

static bool parse_id(const char *s, unsigned long *out) {
  if (s[0] == '\0') return false;
  char *end;
  errno = 0;
  unsigned long v = strtoul(s, &end, 10);
  if (errno != 0 || *end != '\0' || v > 0xfffffffeUL) return false;
  *out = v;
  return true;
}

/* Splits a passwd/group line into its ':' fields in place; returns the field count. */
static size_t split_fields(char *line, char **fields, size_t max) {
  size_t n = 0;
  char *p = line;
  while (n < max) {
    fields[n++] = p;
    char *colon = strchr(p, ':');
    if (colon == NULL) break;
    *colon = '\0';
    p = colon + 1;
  }
  return n;
}

/* Finds a passwd entry by name or, when `byid` is set, by uid. */
static bool find_passwd(const char *name, bool byid, unsigned long id, char *namebuf, size_t namecap,
                        unsigned long *uid, unsigned long *gid) {
  FILE *f = fopen("/etc/passwd", "re");
  if (f == NULL) return false;
  char line[4096];
  bool found = false;
  while (!found && fgets(line, sizeof line, f) != NULL) {
    line[strcspn(line, "\n")] = '\0';
    char *fields[7];
    if (line[0] == '#' || split_fields(line, fields, 7) < 4) continue;
    unsigned long u, g;
    if (!parse_id(fields[2], &u) || !parse_id(fields[3], &g)) continue;
    if (byid ? u == id : strcmp(fields[0], name) == 0) {
      snprintf(namebuf, namecap, "%s", fields[0]);
      *uid = u;
      *gid = g;
      found = true;
    }
  }
  fclose(f);
  return found;
}

static bool find_group(const char *name, unsigned long *gid) {
  FILE *f = fopen("/etc/group", "re");
  if (f == NULL) return false;
  char line[8192];
  bool found = false;
  while (!found && fgets(line, sizeof line, f) != NULL) {
    line[strcspn(line, "\n")] = '\0';
    char *fields[4];
    unsigned long g;
    if (line[0] == '#' || split_fields(line, fields, 4) < 3 || !parse_id(fields[2], &g)) continue;
    if (strcmp(fields[0], name) == 0) {
      *gid = g;
      found = true;
    }
  }
  fclose(f);
  return found;
}

/* Supplementary groups: every /etc/group entry that lists `name` as a member. */
static void member_groups(const char *name, struct exec_user *u) {
  FILE *f = fopen("/etc/group", "re");
  if (f == NULL) return;
  char line[8192];
  size_t cap = 0;
  while (fgets(line, sizeof line, f) != NULL) {
    line[strcspn(line, "\n")] = '\0';
    char *fields[4];
    unsigned long g;
    if (line[0] == '#' || split_fields(line, fields, 4) < 4 || !parse_id(fields[2], &g)) continue;
    char *save = NULL;
    for (char *m = strtok_r(fields[3], ",", &save); m != NULL; m = strtok_r(NULL, ",", &save)) {
      if (strcmp(m, name) != 0) continue;
      if (u->ngroups == cap) {
        cap = cap == 0 ? 16 : cap * 2;
        gid_t *next = realloc(u->groups, cap * sizeof *next);
        if (next == NULL) die("resolve user", ENOMEM, "reading /etc/group");
        u->groups = next;
      }
      u->groups[u->ngroups++] = (gid_t)g;
      break;
    }
  }
  fclose(f);
}

/* Docker's rules (runc's GetExecUser): "" is root; a numeric uid needs no passwd entry; a name
 * must exist; supplementary groups apply only when no group was given. Reads the NEW root. */
static void resolve_user(const char *spec, struct exec_user *u) {
  char userpart[256], *grouppart = NULL;
  if (snprintf(userpart, sizeof userpart, "%s", spec) >= (int)sizeof userpart)
    die("resolve user", EINVAL, "user %s is too long", spec);
  char *colon = strchr(userpart, ':');
  if (colon != NULL) {
    *colon = '\0';
    grouppart = colon + 1;
  }
  char name[256] = "";
  unsigned long uid = 0, gid = 0, id;
  bool have_entry;
  if (userpart[0] == '\0' || parse_id(userpart, &id)) {
    uid = userpart[0] == '\0' ? 0 : id;
    have_entry = find_passwd(NULL, true, uid, name, sizeof name, &uid, &gid);
    if (!have_entry) gid = 0;
  } else {
    have_entry = find_passwd(userpart, false, 0, name, sizeof name, &uid, &gid);
    if (!have_entry)
      die("resolve user", 0, "unable to find user %s: no matching entries in passwd file", userpart);
  }
  memset(u, 0, sizeof *u);
  if (grouppart != NULL && grouppart[0] != '\0') {
    if (!parse_id(grouppart, &gid) && !find_group(grouppart, &gid))
      die("resolve user", 0, "unable to find group %s: no matching entries in group file", grouppart);
  } else if (have_entry) {
    member_groups(name, u);
  }
  u->uid = (uid_t)uid;
  u->gid = (gid_t)gid;
}

/* mkdir -p, as root inside the new root, like Docker does for a missing WORKDIR. */
static void make_cwd(const char *cwd) {
  char path[PATH_MAX];
  if (snprintf(path, sizeof path, "%s", cwd) >= (int)sizeof path) die("chdir", ENAMETOOLONG, "%s", cwd);
  for (char *p = path + 1;; p++) {
    if (*p == '/' || *p == '\0') {
      char saved = *p;
      *p = '\0';
      if (mkdir(path, 0755) < 0 && errno != EEXIST) die("chdir", errno, "creating %s", path);
      *p = saved;
      if (saved == '\0') break;
    }
  }
}

/* ------------------------------------------------------------------ mode: run — privileges */

static const int default_caps[] = {
    CAP_CHOWN,  CAP_DAC_OVERRIDE, CAP_FSETID,           CAP_FOWNER,     CAP_MKNOD,
    CAP_NET_RAW, CAP_SETGID,      CAP_SETUID,           CAP_SETFCAP,    CAP_SETPCAP,
    CAP_NET_BIND_SERVICE,         CAP_SYS_CHROOT,       CAP_KILL,       CAP_AUDIT_WRITE,
};

static bool is_default_cap(int cap) {
  for (size_t i = 0; i < sizeof default_caps / sizeof default_caps[0]; i++)
    if (default_caps[i] == cap) return true;
  return false;
}

static void drop_bounding_set(const struct spec *s) {
  for (int cap = 0; cap < 64; cap++) {
    if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) < 0) break; /* past the kernel's last cap */
    if (is_default_cap(cap) || cap_in(cap, s->capadd, s->ncapadd)) continue;
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) die("drop capabilities", errno, "dropping cap %d from the bounding set", cap);
  }
}

static void set_capabilities(bool keep_default, const struct spec *s) {
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  memset(data, 0, sizeof data);
  if (keep_default) {
    for (size_t i = 0; i < sizeof default_caps / sizeof default_caps[0]; i++) {
      int cap = default_caps[i];
      data[cap / 32].effective |= 1u << (cap % 32);
      data[cap / 32].permitted |= 1u << (cap % 32);
    }
    for (size_t i = 0; i < s->ncapadd; i++) {
      int cap = s->capadd[i];
      data[cap / 32].effective |= 1u << (cap % 32);
      data[cap / 32].permitted |= 1u << (cap % 32);
    }
  }
  if (syscall(SYS_capset, &hdr, data) < 0) die("drop capabilities", errno, "setting capabilities");
  (void)prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
}

static bool setgroups_denied(void) {
  char buf[16] = "";
  int fd = open("/proc/self/setgroups", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  return n > 0 && strncmp(buf, "deny", 4) == 0;
}

static void switch_user(const struct exec_user *u) {
  if (setgroups(u->ngroups, u->groups) < 0) {
    /* A one-id user namespace forbids setgroups; the process then keeps no extra groups. */
    if (!(errno == EPERM && setgroups_denied()))
      die("setgroups", errno, "setting supplementary groups");
  }
  if (setresgid(u->gid, u->gid, u->gid) < 0)
    die("setgid", errno, "switching to gid %u (is it mapped in the user namespace?)", (unsigned)u->gid);
  if (setresuid(u->uid, u->uid, u->uid) < 0)
    die("setuid", errno, "switching to uid %u (is it mapped in the user namespace?)", (unsigned)u->uid);
}

/* ------------------------------------------------------------------ mode: run — exec */

static const char *env_path(char **env, size_t envc) {
  for (size_t i = 0; i < envc; i++)
    if (strncmp(env[i], "PATH=", 5) == 0) return env[i] + 5;
  return DEFAULT_PATH;
}

/* execvpe with the spec's PATH, resolved inside the new root; returns the errno that decides
 * between 126 and 127. */
static int exec_command(char **argv, char **env, size_t envc) {
  if (strchr(argv[0], '/') != NULL) {
    execve(argv[0], argv, env);
    return errno;
  }
  const char *path = env_path(env, envc);
  bool denied = false;
  char candidate[PATH_MAX];
  const char *p = path;
  for (;;) {
    const char *colon = strchr(p, ':');
    size_t dirlen = colon != NULL ? (size_t)(colon - p) : strlen(p);
    if (dirlen == 0)
      snprintf(candidate, sizeof candidate, "%s", argv[0]);
    else
      snprintf(candidate, sizeof candidate, "%.*s/%s", (int)dirlen, p, argv[0]);
    execve(candidate, argv, env);
    if (errno == EACCES || errno == EPERM || errno == ENOEXEC) denied = true;
    if (colon == NULL) break;
    p = colon + 1;
  }
  return denied ? EACCES : ENOENT;
}

__attribute__((noreturn)) static void run_command(struct spec *s, const struct exec_user *u) {
  reset_signals();
  /* Its own session: the command must not hold a terminal or be reached by the caller's
   * process-group signals except through init. */
  if (setsid() < 0) die("setsid", errno, "starting a session");
  drop_bounding_set(s);
  /* Docker leaves no_new_privs off (setuid binaries in the image work, with the privileges of
   * container ids only) unless asked for it; without it the filter must go in while this
   * process still has CAP_SYS_ADMIN, i.e. before the switch to the step's user. None of the
   * syscalls left before execve is one the filter refuses. */
  if (s->nonewprivs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) die("no_new_privs", errno, "setting no_new_privs");
  if (s->seccomp) {
    int err = load_seccomp(s->capadd, s->ncapadd);
    if (err != 0) die("seccomp", err, "loading the seccomp filter");
  }
  switch_user(u);
  if (chdir(s->cwd) < 0) die("chdir", errno, "entering %s", s->cwd);
  set_capabilities(u->uid == 0, s);
  /* Close-on-exec rather than close: the record fd must survive until execve succeeds. */
  if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) < 0) die("close fds", errno, "marking fds close-on-exec");
  int err = exec_command(s->argv, s->env, s->envc);
  if (err == ENOENT || err == ENOTDIR)
    dprintf(2, "tsbuild: exec: \"%s\": executable file not found in $PATH\n", s->argv[0]);
  else
    dprintf(2, "tsbuild: exec: \"%s\": %s\n", s->argv[0], strerror(err));
  _exit(err == ENOENT || err == ENOTDIR ? EXIT_NOTFOUND : EXIT_NOEXEC);
}

/* ------------------------------------------------------------------ mode: run — init */

/* pid 1 of the step's pid namespace: set up, start the command as pid 2, reap, and leave with
 * the command's status. Leaving kills whatever the command left running. */
__attribute__((noreturn)) static void run_init(struct spec *s) {
  die_with_parent(0);
  /* Own session: a terminal's ^C reaches the step only through the caller's abort. */
  (void)setsid();
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) die("make / private", errno, "remounting /");
  if (s->netnone) bring_up_loopback();

  struct overlay o = {
      .target = s->mountpoint, .lowers = s->lowers, .nlowers = s->nlowers,
      .upper = s->upperdir,    .work = s->workdir,  .userxattr = s->userxattr,
  };
  char detail[4096];
  int err = mount_overlay(&o, detail, sizeof detail);
  if (err != 0) die("mount rootfs", err, "%s", detail);

  const char *root = s->mountpoint;
  char path[PATH_MAX];
  ensure_dir_under(root, "proc", "mount /proc");
  join(path, sizeof path, root, "proc");
  if (mount("proc", path, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
    die("mount /proc", errno, "mounting proc");
  ensure_dir_under(root, "dev", "mount /dev");
  setup_dev(root);
  ensure_dir_under(root, "sys", "mount /sys");
  /* sysfs itself can't be mounted in a user namespace that doesn't own the network namespace,
   * so the host's /sys is shown read-only instead. */
  int sysfd;
  err = clone_readonly("/sys", true, &sysfd);
  if (err != 0) die("mount /sys", err, "cloning /sys");
  join(path, sizeof path, root, "sys");
  err = attach(sysfd, path);
  if (err != 0) die("mount /sys", err, "binding /sys");
  close(sysfd);
  int hostsfd = clone_host_file(s->hosts, "/etc/hosts", "bind /etc/hosts");
  int resolvfd = clone_host_file(s->resolvconf, "/etc/resolv.conf", "bind /etc/resolv.conf");
  prepare_mounts(s);

  pivot_into(root);
  attach_if_file(hostsfd, "/etc/hosts", "bind /etc/hosts");
  attach_if_file(resolvfd, "/etc/resolv.conf", "bind /etc/resolv.conf");
  attach_mounts(s);
  mask_paths();
  if (s->hostname != NULL && s->hostname[0] != '\0' &&
      sethostname(s->hostname, strlen(s->hostname)) < 0)
    die("sethostname", errno, "setting the hostname to %s", s->hostname);

  struct exec_user user;
  resolve_user(s->user, &user);
  make_cwd(s->cwd);

  install_forwarders(false);
  pid_t cmd = fork();
  if (cmd < 0) die("fork", errno, "starting the command");
  if (cmd == 0) run_command(s, &user);
  forward_pid = cmd;

  int status = 0;
  for (;;) {
    pid_t r = waitpid(-1, &status, 0);
    if (r == cmd) break;
    if (r < 0 && errno != EINTR && errno != ECHILD) die("wait", errno, "waiting for the command");
    if (r < 0 && errno == ECHILD) break;
  }
  if (WIFSIGNALED(status)) {
    char rec[32];
    int n = snprintf(rec, sizeof rec, "S%c%d%c", 0, WTERMSIG(status), 0);
    if (fd_is_open(RECORD_FD)) write_all(RECORD_FD, rec, (size_t)n);
    _exit(128 + WTERMSIG(status));
  }
  _exit(WIFEXITED(status) ? WEXITSTATUS(status) : EXIT_SETUP);
}

static int mode_run(void) {
  pid_t caller = getppid();
  die_with_parent(caller);
  /* Node hands over fds 0-4 only, but a hand-run helper may carry more; none may reach the
   * command. */
  (void)close_range(RECORD_FD + 1, ~0U, CLOSE_RANGE_CLOEXEC);
  struct spec s;
  memset(&s, 0, sizeof s);
  parse_spec(&s);

  /* Join the step's cgroups before anything forks: every process of the step is then inside. */
  for (size_t i = 0; i < s.ncgroups; i++) {
    int err = write_file(s.cgroups[i], "0");
    if (err != 0) die("join cgroup", err, "writing %s", s.cgroups[i]);
  }

  int flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC | (s.netnone ? CLONE_NEWNET : 0);
  if (unshare(flags) < 0)
    die("unshare", errno, "creating mount, pid, uts, ipc%s namespaces", s.netnone ? ", net" : "");
  install_forwarders(true);
  pid_t init = fork();
  if (init < 0) die("fork", errno, "starting the namespace init");
  if (init == 0) run_init(&s);
  forward_pid = init;
  if (fd_is_open(RECORD_FD)) close(RECORD_FD);
  return exit_code_of(wait_for(init));
}

/* ------------------------------------------------------------------ mode: chown-trap */

/* Serves notifications until `child` exits; returns its wait status. */
static int serve_chown_trap(struct chown_trap *t, pid_t child) {
  struct seccomp_notif_sizes sizes;
  if (syscall(__NR_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sizes) < 0) {
    kill(child, SIGKILL);
    fail(errno, "chown-trap: reading the seccomp notification sizes");
  }
  /* The kernel's structs may be larger than the headers' (newer fields): size by its answer. */
  size_t reqsz = sizes.seccomp_notif > sizeof(struct seccomp_notif) ? sizes.seccomp_notif : sizeof(struct seccomp_notif);
  size_t respsz = sizes.seccomp_notif_resp > sizeof(struct seccomp_notif_resp) ? sizes.seccomp_notif_resp
                                                                                : sizeof(struct seccomp_notif_resp);
  struct seccomp_notif *req = malloc(reqsz);
  struct seccomp_notif_resp *resp = malloc(respsz);
  if (req == NULL || resp == NULL) {
    kill(child, SIGKILL);
    fail(ENOMEM, "chown-trap: allocating notification buffers");
  }
  /* A pidfd says when the child exits even if descendants keep the filter alive; without one
   * (kernel < 5.3) the child is polled. */
  int pidfd = (int)syscall(SYS_pidfd_open, child, 0);
  int status = -1;
  for (;;) {
    struct pollfd fds[2] = {{.fd = t->listener, .events = POLLIN}, {.fd = pidfd, .events = POLLIN}};
    int n = poll(fds, pidfd >= 0 ? 2 : 1, pidfd >= 0 ? -1 : 100);
    if (n < 0 && errno != EINTR) {
      kill(child, SIGKILL);
      fail(errno, "chown-trap: waiting for notifications");
    }
    if (n > 0 && (fds[0].revents & POLLIN)) {
      memset(req, 0, reqsz);
      if (ioctl(t->listener, SECCOMP_IOCTL_NOTIF_RECV, req) == 0) {
        int r = emulate_chown(t, req);
        if (r != CHOWN_GONE) {
          memset(resp, 0, respsz);
          resp->id = req->id;
          resp->error = -r;
          /* ENOENT: the tracee was killed or interrupted meanwhile; nobody waits for the answer. */
          if (ioctl(t->listener, SECCOMP_IOCTL_NOTIF_SEND, resp) < 0 && errno != ENOENT && errno != EINTR) {
            kill(child, SIGKILL);
            fail(errno, "chown-trap: answering a chown");
          }
        }
      } else if (errno != ENOENT && errno != EINTR) {
        kill(child, SIGKILL);
        fail(errno, "chown-trap: receiving a notification");
      }
      continue;
    }
    /* POLLHUP on the listener: no process with the filter is left. */
    bool hup = n > 0 && (fds[0].revents & (POLLHUP | POLLERR)) != 0;
    if (hup || (n > 0 && pidfd >= 0 && (fds[1].revents & POLLIN)) || pidfd < 0) {
      pid_t r = waitpid(child, &status, hup ? 0 : WNOHANG);
      if (r == child) break;
      if (r < 0 && errno != EINTR) break;
    }
  }
  if (pidfd >= 0) close(pidfd);
  free(req);
  free(resp);
  return status;
}

static int mode_chown_trap(int argc, char **argv) {
  if (argc < 5 || strcmp(argv[3], "--") != 0) fail(0, "usage: chown-trap ROOT -- CMD...");
  char **cmd = argv + 4;
  struct chown_trap t;
  memset(&t, 0, sizeof t);
  if (realpath(argv[2], t.root) == NULL) fail(errno, "chown-trap: resolving %s", argv[2]);
  t.rootlen = strlen(t.root);
  if (t.rootlen == 1) t.root[t.rootlen = 0] = '\0';
  t.rootfd = open(argv[2], O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (t.rootfd < 0) fail(errno, "chown-trap: opening %s", argv[2]);
  die_with_parent(getppid());

  int sock;
  pid_t child = fork_with_socket(&sock);
  if (child == 0) {
    /* Same process group as the helper: the caller kills the group on abort. */
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) fail(errno, "chown-trap: setting no_new_privs");
    int listener = install_chown_filter();
    if (listener < 0) fail(-listener, "chown-trap: installing the seccomp filter (user notification)");
    int err = send_fd(sock, listener);
    if (err != 0) fail(err, "chown-trap: passing the seccomp listener");
    close(listener);
    close(sock);
    reset_signals();
    execvp(cmd[0], cmd);
    err = errno;
    dprintf(2, "tsbuild-helper: executing %s: %s\n", cmd[0], strerror(err));
    _exit(err == ENOENT ? EXIT_NOTFOUND : EXIT_NOEXEC);
  }
  t.listener = recv_fd(sock);
  close(sock);
  if (t.listener < 0) return exit_code_of(wait_for(child)); /* the child said why on stderr */
  int status = serve_chown_trap(&t, child);
  close(t.listener);
  close(t.rootfd);
  if (getenv("TSBUILD_CHOWN_TRAP_DEBUG") != NULL)
    dprintf(2, "tsbuild-helper: chown-trap: %lu recorded, ignored: %lu outside %s, %lu on symlinks, %lu on special files\n",
            t.recorded, t.outside, argv[2], t.links, t.special);
  return exit_code_of(status);
}

/* ------------------------------------------------------------------ main */

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "";
  if (strcmp(mode, "enter") == 0 && argc > 3 && strcmp(argv[2], "--auto") == 0 && strcmp(argv[3], "--") == 0)
    return mode_enter_auto(argv + 4);
  if (strcmp(mode, "enter") == 0) return mode_enter(argc, argv);
  if (strcmp(mode, "run") == 0) return mode_run();
  if (strcmp(mode, "mount-overlay") == 0) return mode_mount_overlay(argc, argv);
  if (strcmp(mode, "umount") == 0) return mode_umount(argc, argv);
  if (strcmp(mode, "chown-trap") == 0) return mode_chown_trap(argc, argv);
  dprintf(2, "usage: tsbuild-helper enter|run|mount-overlay|umount|chown-trap ...\n");
  return 2;
}

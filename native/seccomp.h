/*
 * The RUN sandbox's seccomp filter: Docker's default profile (moby/profiles/seccomp/default.json)
 * turned into a deny list, in classic BPF with raw syscall numbers (no libseccomp, which the
 * helper would otherwise need at build and run time). Docker allows a syscall list and answers
 * EPERM for the rest; the syscalls it leaves out are the ones listed here, and a syscall the
 * kernel adds later is allowed here but refused there. What the profile grants only with a
 * capability (mount with CAP_SYS_ADMIN, ...) is allowed again when that capability is added
 * with --cap-add, as Docker does. Numbers come from the kernel headers of the machine that
 * compiles the helper, so each architecture gets its own table (x86_64, aarch64, ...).
 */
#ifndef TSBUILD_SECCOMP_H
#define TSBUILD_SECCOMP_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#if defined(__x86_64__)
#define SECCOMP_NATIVE_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define SECCOMP_NATIVE_ARCH AUDIT_ARCH_AARCH64
#else
#error "tsbuild-helper: no seccomp architecture for this machine (x86_64 and aarch64 are supported)"
#endif

/* Namespace flags for clone: Docker refuses clone with any of them (CAP_SYS_ADMIN aside). */
#define SECCOMP_CLONE_NS_FLAGS 0x7E020000u

/* A syscall and the capability that would allow it again (-1: always refused). */
struct seccomp_rule {
  long nr;
  int cap;
};

#define RULE(name, cap) {__NR_##name, cap}

static const struct seccomp_rule seccomp_rules[] = {
/* always refused by Docker's profile */
#ifdef __NR_add_key
    RULE(add_key, -1),
#endif
    RULE(keyctl, -1), RULE(request_key, -1),
#ifdef __NR_kexec_load
    RULE(kexec_load, -1),
#endif
#ifdef __NR_kexec_file_load
    RULE(kexec_file_load, -1),
#endif
    RULE(swapon, -1), RULE(swapoff, -1), RULE(userfaultfd, -1),
#ifdef __NR_uselib
    RULE(uselib, -1),
#endif
#ifdef __NR__sysctl
    RULE(_sysctl, -1),
#endif
#ifdef __NR_nfsservctl
    RULE(nfsservctl, -1),
#endif
#ifdef __NR_create_module
    RULE(create_module, -1),
#endif
#ifdef __NR_get_kernel_syms
    RULE(get_kernel_syms, -1),
#endif
#ifdef __NR_query_module
    RULE(query_module, -1),
#endif
/* CAP_SYS_ADMIN */
    RULE(mount, CAP_SYS_ADMIN), RULE(umount2, CAP_SYS_ADMIN),
#ifdef __NR_umount
    RULE(umount, CAP_SYS_ADMIN),
#endif
    RULE(pivot_root, CAP_SYS_ADMIN), RULE(unshare, CAP_SYS_ADMIN), RULE(setns, CAP_SYS_ADMIN),
    RULE(bpf, CAP_SYS_ADMIN), RULE(perf_event_open, CAP_SYS_ADMIN), RULE(fanotify_init, CAP_SYS_ADMIN),
    RULE(lookup_dcookie, CAP_SYS_ADMIN), RULE(quotactl, CAP_SYS_ADMIN), RULE(name_to_handle_at, CAP_SYS_ADMIN),
    RULE(sethostname, CAP_SYS_ADMIN), RULE(setdomainname, CAP_SYS_ADMIN),
#ifdef __NR_quotactl_fd
    RULE(quotactl_fd, CAP_SYS_ADMIN),
#endif
#ifdef __NR_fsopen
    RULE(fsopen, CAP_SYS_ADMIN), RULE(fsconfig, CAP_SYS_ADMIN), RULE(fsmount, CAP_SYS_ADMIN),
    RULE(fspick, CAP_SYS_ADMIN), RULE(move_mount, CAP_SYS_ADMIN), RULE(open_tree, CAP_SYS_ADMIN),
#endif
#ifdef __NR_mount_setattr
    RULE(mount_setattr, CAP_SYS_ADMIN),
#endif
/* CAP_SYS_MODULE, CAP_SYS_BOOT, CAP_SYS_PACCT, CAP_DAC_READ_SEARCH, CAP_SYS_RAWIO, CAP_SYS_TIME,
 * CAP_SYS_TTY_CONFIG, CAP_SYS_NICE, CAP_SYSLOG */
    RULE(init_module, CAP_SYS_MODULE), RULE(finit_module, CAP_SYS_MODULE), RULE(delete_module, CAP_SYS_MODULE),
    RULE(reboot, CAP_SYS_BOOT), RULE(acct, CAP_SYS_PACCT), RULE(open_by_handle_at, CAP_DAC_READ_SEARCH),
#ifdef __NR_iopl
    RULE(iopl, CAP_SYS_RAWIO),
#endif
#ifdef __NR_ioperm
    RULE(ioperm, CAP_SYS_RAWIO),
#endif
    RULE(settimeofday, CAP_SYS_TIME), RULE(clock_settime, CAP_SYS_TIME), RULE(adjtimex, CAP_SYS_TIME),
    RULE(clock_adjtime, CAP_SYS_TIME),
#ifdef __NR_stime
    RULE(stime, CAP_SYS_TIME),
#endif
    RULE(vhangup, CAP_SYS_TTY_CONFIG),
    RULE(get_mempolicy, CAP_SYS_NICE), RULE(set_mempolicy, CAP_SYS_NICE), RULE(mbind, CAP_SYS_NICE),
    RULE(syslog, CAP_SYSLOG),
};

#undef RULE

static bool cap_in(int cap, const int *caps, size_t ncaps) {
  for (size_t i = 0; i < ncaps; i++)
    if (caps[i] == cap) return true;
  return false;
}

/*
 * Builds and loads the filter. `added` are the capabilities given with --cap-add. Returns 0 or
 * an errno. Loading needs no_new_privs or CAP_SYS_ADMIN in the user namespace; the caller loads
 * it while it still has the latter, so no_new_privs stays off as in Docker.
 */
static int load_seccomp(const int *added, size_t nadded) {
  enum { MAX = 256 };
  struct sock_filter prog[MAX];
  size_t n = 0;
#define EMIT(stmt) do { if (n >= MAX) return E2BIG; prog[n++] = (struct sock_filter)stmt; } while (0)
  const uint32_t eperm = SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA);
  bool sys_admin = cap_in(CAP_SYS_ADMIN, added, nadded);

  EMIT(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)));
  /* Another ABI (32-bit x86 on x86_64, arm32 on aarch64) would bring other numbers: refuse it. */
  EMIT(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SECCOMP_NATIVE_ARCH, 1, 0));
  EMIT(BPF_STMT(BPF_RET | BPF_K, eperm));
  EMIT(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)));
#if defined(__x86_64__)
  /* x32 syscalls share the arch value and set bit 30; Docker's profile allows none. */
  EMIT(BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000u, 0, 1));
  EMIT(BPF_STMT(BPF_RET | BPF_K, eperm));
#endif
  for (size_t i = 0; i < sizeof seccomp_rules / sizeof seccomp_rules[0]; i++) {
    const struct seccomp_rule *r = &seccomp_rules[i];
    if (r->cap >= 0 && cap_in(r->cap, added, nadded)) continue;
    EMIT(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)r->nr, 0, 1));
    EMIT(BPF_STMT(BPF_RET | BPF_K, eperm));
  }
  if (!sys_admin) {
#ifdef __NR_clone3
    /* clone3 passes its flags in memory BPF cannot read; ENOSYS makes libc fall back to clone,
     * whose flags it can (Docker's answer too). */
    EMIT(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_clone3, 0, 1));
    EMIT(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA)));
#endif
    EMIT(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_clone, 0, 3));
    /* The flags are the first argument on x86_64 and aarch64; their low 32 bits hold CLONE_NEW*. */
    EMIT(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])));
    EMIT(BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, SECCOMP_CLONE_NS_FLAGS, 0, 1));
    EMIT(BPF_STMT(BPF_RET | BPF_K, eperm));
  }
  EMIT(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
#undef EMIT
  struct sock_fprog fprog = {.len = (unsigned short)n, .filter = prog};
  if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog, 0, 0) < 0) return errno;
  return 0;
}

#endif

/** Which isolation a build uses, from what was asked for and what the environment allows. Pure. */
import { TsbuildError } from '../errors.js';
import type { IsolationCapabilities, RootlessCapabilities } from './probe.js';

export type IsolationMode = 'rootless' | 'chroot' | 'proot' | 'none';
export type IsolationRequest = 'auto' | IsolationMode;

export const ISOLATION_REQUESTS: readonly IsolationRequest[] = ['auto', 'rootless', 'chroot', 'proot', 'none'];

export interface IsolationChoice {
  mode: IsolationMode;
  /** One line for people: why this mode. */
  reason: string;
  /** What the mode cannot give here (no /proc, ...), each a short phrase. */
  missing: string[];
  /** proot for a non-root user: RUN runs under the helper's chown-trap, which records chowns in xattrs. */
  chownTrap?: boolean;
}

/** Why rootless (user namespace + overlay, or plain mount namespace as root) cannot work, or undefined. */
export function rootlessBlocker(caps: RootlessCapabilities): string | undefined {
  if (caps.uid === 0 && !caps.inUserNamespace) return caps.mount ? undefined : 'mount namespaces are blocked (no CAP_SYS_ADMIN or a seccomp filter)';
  if (!caps.userns) return 'user namespaces are disabled by sysctl';
  if (!caps.unshareUser) return 'unshare(CLONE_NEWUSER) is refused (seccomp or AppArmor)';
  if (!caps.overlayInUserns) return 'overlay mounts inside a user namespace are refused';
  return undefined;
}

function chrootBlocker(caps: IsolationCapabilities): string | undefined {
  if (caps.uid !== 0) return 'it needs root';
  if (!caps.chroot) return 'CAP_SYS_CHROOT is missing';
  if (!caps.mknod) return 'CAP_MKNOD is missing (whiteouts and device nodes)';
  if (!caps.perl) return 'perl is not installed (the chroot launcher)';
  return undefined;
}

function prootBlocker(caps: IsolationCapabilities): string | undefined {
  if (!caps.proot) return 'proot is not installed or ptrace is blocked';
  // Root writes real owners and whiteouts (0/0 char devices); any other user records them in
  // xattrs instead (an xattr store, src/layer/README.md), which needs no capability.
  if (caps.uid === 0 && !caps.mknod) return 'CAP_MKNOD is missing (root writes whiteouts and device nodes)';
  return undefined;
}

function noneBlocker(caps: IsolationCapabilities): string | undefined {
  // It replaces / (every owner kept) and writes whiteouts, as the copy modes do.
  if (caps.uid !== 0) return 'it needs root';
  if (!caps.mknod) return 'CAP_MKNOD is missing (whiteouts and device nodes)';
  return undefined;
}

function missingFor(mode: IsolationMode, caps: IsolationCapabilities): string[] {
  if (mode === 'chroot') return caps.mount ? [] : ['/proc and /sys (no mount rights): commands that read them fail', 'network files /etc/hosts and /etc/resolv.conf are the image\'s'];
  // As root, proot -0 passes a RUN's chown on to the kernel, which does it: owners are kept.
  if (mode === 'proot' && caps.uid === 0) return [];
  if (mode === 'proot') {
    return [
      caps.seccompUserNotif
        ? `inside RUN every file shows root as its owner, and a chown to this user's own ids (${caps.uid}:${caps.gid}) is recorded as 0:0 (proot -0 swaps them)`
        : 'chown in RUN is faked and lost (no seccomp user notification for the chown trap)',
      'owners are recorded in xattrs: symlinks, fifos and sockets belong to 0:0',
      "a RUN as a non-root USER is not kept from the image's root-owned files (all are this user's), and modes that would lock this user out show widened (0000 as 0600)",
    ];
  }
  if (mode === 'none') return ['/etc/hosts and /etc/resolv.conf are the image\'s unless they are mount points'];
  return [];
}

export const AUTO_ROOTLESS_REASON = 'auto: namespaces and overlay work here';
const AUTO_ROOTLESS: IsolationChoice = { mode: 'rootless', reason: AUTO_ROOTLESS_REASON, missing: [] };

/** `auto`'s answer where the rootless probe alone shows rootless works, else undefined (probe the rest). */
export function autoRootless(caps: RootlessCapabilities): IsolationChoice | undefined {
  return rootlessBlocker(caps) === undefined ? { ...AUTO_ROOTLESS, missing: [] } : undefined;
}

/**
 * `auto` takes the best mode that works: rootless, else chroot, else proot. An explicit mode is
 * taken as asked when it can work here, and refused with the reason when it cannot.
 */
export function chooseIsolation(request: IsolationRequest, caps: IsolationCapabilities): IsolationChoice {
  const blockers: Record<IsolationMode, string | undefined> = {
    rootless: rootlessBlocker(caps),
    chroot: chrootBlocker(caps),
    proot: prootBlocker(caps),
    // Never taken by auto: only asked for by name (and only in a container, see pickIsolation).
    none: noneBlocker(caps),
  };
  if (request === 'auto') {
    if (blockers.rootless === undefined) return { ...AUTO_ROOTLESS, missing: [] };
    for (const mode of ['chroot', 'proot'] as const) {
      if (blockers[mode] === undefined) {
        return { mode, reason: `auto: rootless is impossible (${blockers.rootless})`, missing: missingFor(mode, caps), ...trapFor(mode, caps) };
      }
    }
    throw new TsbuildError('ISOLATION_UNAVAILABLE', `no isolation works here: rootless: ${blockers.rootless}; chroot: ${blockers.chroot}; proot: ${blockers.proot}`, {
      hint: 'run tsbuild info to see what this environment allows; install proot (and allow ptrace), or run as root with CAP_SYS_CHROOT and CAP_MKNOD',
    });
  }
  const blocker = blockers[request];
  if (blocker !== undefined) {
    throw new TsbuildError('ISOLATION_UNAVAILABLE', `--isolation ${request} cannot work here: ${blocker}`, { hint: 'use --isolation auto, or run tsbuild info to see what this environment allows' });
  }
  return { mode: request, reason: `asked for with --isolation ${request}`, missing: missingFor(request, caps), ...trapFor(request, caps) };
}

function trapFor(mode: IsolationMode, caps: IsolationCapabilities): { chownTrap?: true } {
  return mode === 'proot' && caps.uid !== 0 && caps.seccompUserNotif ? { chownTrap: true } : {};
}

export function parseIsolationRequest(value: string, from: string): IsolationRequest {
  if ((ISOLATION_REQUESTS as readonly string[]).includes(value)) return value as IsolationRequest;
  throw new TsbuildError('USAGE', `${from}: unknown isolation ${JSON.stringify(value)}`, { hint: `use one of ${ISOLATION_REQUESTS.join(', ')}` });
}

import { describe, expect, it } from 'vitest';
import { autoRootless, chooseIsolation } from '../../../src/isolation/chooseIsolation.js';
import type { IsolationCapabilities } from '../../../src/isolation/probe.js';

function caps(over: Partial<IsolationCapabilities>): IsolationCapabilities {
  return {
    uid: 1000, gid: 1000, userName: 'u', userns: true, inUserNamespace: false, subuidRanges: [], subgidRanges: [], newuidmap: true, overlayUserxattr: false,
    unshareUser: true, overlayInUserns: true, mount: true, chroot: false, mknod: false, proot: true, perl: true, seccompUserNotif: true,
    ...over,
  };
}

describe('chooseIsolation', () => {
  it('auto keeps rootless wherever it works, for users and for root', () => {
    expect(chooseIsolation('auto', caps({})).mode).toBe('rootless');
    expect(chooseIsolation('auto', caps({ uid: 0, chroot: true, mknod: true })).mode).toBe('rootless');
  });

  it('auto falls back to chroot for root in a pod without mount rights, and says why and what is missing', () => {
    const choice = chooseIsolation('auto', caps({ uid: 0, mount: false, unshareUser: false, chroot: true, mknod: true }));
    expect(choice.mode).toBe('chroot');
    expect(choice.reason).toBe('auto: rootless is impossible (mount namespaces are blocked (no CAP_SYS_ADMIN or a seccomp filter))');
    expect(choice.missing.join()).toContain('/proc');
  });

  it('auto takes proot for root without CAP_SYS_CHROOT', () => {
    expect(chooseIsolation('auto', caps({ uid: 0, mount: false, chroot: false, mknod: true })).mode).toBe('proot');
  });

  it('auto never takes none, even where nothing else works', () => {
    expect(() => chooseIsolation('auto', caps({ uid: 0, mknod: true, mount: false, chroot: false, proot: false }))).toThrow('no isolation works here');
  });

  it('auto takes proot for a non-root user where user namespaces are refused, and says what it cannot give', () => {
    const choice = chooseIsolation('auto', caps({ unshareUser: false, mount: false }));
    expect(choice.mode).toBe('proot');
    expect(choice.missing.join('; ')).toContain('symlinks, fifos and sockets belong to 0:0');
    // Root still needs CAP_MKNOD for its real whiteouts.
    expect(() => chooseIsolation('proot', caps({ uid: 0, mknod: false }))).toThrow('--isolation proot cannot work here: CAP_MKNOD is missing');
  });

  it('refuses when nothing works, naming every reason', () => {
    expect(() => chooseIsolation('auto', caps({ unshareUser: false, proot: false }))).toThrow(
      'no isolation works here: rootless: unshare(CLONE_NEWUSER) is refused (seccomp or AppArmor); chroot: it needs root; proot: proot is not installed or ptrace is blocked',
    );
  });

  it('refuses an explicit mode that cannot work here', () => {
    expect(() => chooseIsolation('chroot', caps({}))).toThrow('--isolation chroot cannot work here: it needs root');
    expect(chooseIsolation('proot', caps({ uid: 0, mknod: true })).reason).toBe('asked for with --isolation proot');
    // As root, proot's chowns are real: nothing to warn about.
    expect(chooseIsolation('proot', caps({ uid: 0, mknod: true })).missing).toEqual([]);
    expect(() => chooseIsolation('none', caps({}))).toThrow('--isolation none cannot work here: it needs root');
    expect(() => chooseIsolation('none', caps({ uid: 0, mknod: false }))).toThrow('--isolation none cannot work here: CAP_MKNOD is missing');
    expect(chooseIsolation('none', caps({ uid: 0, mknod: true })).reason).toBe('asked for with --isolation none');
  });
});

describe('autoRootless', () => {
  it('keeps rootless from the rootless probe alone, and leaves the rest to the full probe when it is out', () => {
    expect(autoRootless(caps({ uid: 0, mount: true, unshareUser: false }))?.mode).toBe('rootless');
    expect(autoRootless(caps({}))).toEqual(chooseIsolation('auto', caps({})));
    expect(autoRootless(caps({ uid: 0, mount: false }))).toBeUndefined();
    expect(autoRootless(caps({ overlayInUserns: false }))).toBeUndefined();
  });
});

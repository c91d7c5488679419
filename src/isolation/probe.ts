import { spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { access, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { delimiter, join } from 'node:path';
import { encodeOwner, OWNER_XATTR } from '../layer/ownerXattrs.js';
import { lgetxattrs } from '../util/fsx.js';
import { locateHelper } from './helperPath.js';
import { findSubidRanges, parseSubidFile, type SubidRange } from './idmap.js';

export interface IsolationProbe {
  /** The real uid (inside a user namespace, the namespace's view: 0 after `enter`). */
  uid: number;
  gid: number;
  userName: string | undefined;
  /** The caller can create a user namespace (always true for real root). */
  userns: boolean;
  /** Already inside a user namespace (uid_map is not the identity map). */
  inUserNamespace: boolean;
  /** All subordinate ranges of the user, in file order; `subuid`/`subgid` is the first. */
  subuidRanges: SubidRange[];
  subgidRanges: SubidRange[];
  subuid?: SubidRange;
  subgid?: SubidRange;
  newuidmap: boolean;
  /** Overlay mounts need `userxattr`: true exactly when mounting from inside a user namespace. */
  overlayUserxattr: boolean;
}

/**
 * What the environment actually lets this process do, found by trying (probeCapabilities):
 * the sysctls in IsolationProbe say what the kernel allows in general, but a container's seccomp
 * profile or missing capabilities block unshare and mount regardless of them.
 */
export interface IsolationCapabilities extends IsolationProbe {
  /** unshare(CLONE_NEWUSER) succeeded in a child. */
  unshareUser: boolean;
  /** An overlay mount succeeded inside a fresh user + mount namespace. */
  overlayInUserns: boolean;
  /** A mount namespace and a mount in it succeeded (as root: without a user namespace). */
  mount: boolean;
  /** CAP_SYS_CHROOT is in the effective set. */
  chroot: boolean;
  /** CAP_MKNOD is in the effective set (device nodes and overlay whiteouts without a user namespace). */
  mknod: boolean;
  /** proot is installed and could trace a child (ptrace is allowed). */
  proot: boolean;
  /** perl is installed (the chroot runtime's launcher: chroot, chdir, setgid/setuid, exec). */
  perl: boolean;
  /**
   * The helper's chown-trap works: a seccomp filter with a user-notification listener could be
   * installed in a child, and a chown there was recorded as the user.rootlesscontainers xattr.
   */
  seccompUserNotif: boolean;
}

export interface ProbeOptions {
  subuidPath?: string;
  subgidPath?: string;
  procRoot?: string;
  env?: NodeJS.ProcessEnv;
  /** The native helper (default: locateHelper's answer). */
  helperPath?: string;
  signal?: AbortSignal;
}

async function readText(path: string, signal?: AbortSignal): Promise<string | undefined> {
  try {
    return await readFile(path, { encoding: 'utf8', ...(signal ? { signal } : {}) });
  } catch (err) {
    if (signal?.aborted) throw err;
    return undefined;
  }
}

async function onPath(name: string, env: NodeJS.ProcessEnv): Promise<boolean> {
  const dirs = (env['PATH'] ?? '/usr/local/bin:/usr/bin:/bin').split(delimiter).concat(['/usr/bin', '/usr/sbin']);
  for (const dir of dirs) {
    if (dir === '') continue;
    try {
      await access(join(dir, name), constants.X_OK);
      return true;
    } catch {
      // next candidate
    }
  }
  return false;
}

/** The identity map "0 0 4294967295" means the initial user namespace. */
export function isIdentityMap(text: string | undefined): boolean {
  if (text === undefined) return true;
  const lines = text.trim().split('\n');
  return lines.length === 1 && /^0\s+0\s+4294967295$/.test((lines[0] ?? '').trim());
}

/**
 * What isolation this process can get. Reads a few small files, no processes; callers keep the
 * result rather than probing twice (there is deliberately no module-level cache).
 */
export async function probeIsolation(opts: ProbeOptions = {}): Promise<IsolationProbe> {
  const env = opts.env ?? process.env;
  const proc = opts.procRoot ?? '/proc';
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  let userName: string | undefined;
  try {
    userName = userInfo().username;
  } catch {
    userName = env['USER'] || undefined;
  }
  const [uidMap, maxUserns, legacyClone, apparmorRestrict, subuidText, subgidText, newuidmap] = await Promise.all([
    readText(join(proc, 'self', 'uid_map'), opts.signal),
    readText(join(proc, 'sys', 'user', 'max_user_namespaces'), opts.signal),
    // Debian/Ubuntu kernels before 6.x gate unprivileged user namespaces with this knob.
    readText(join(proc, 'sys', 'kernel', 'unprivileged_userns_clone'), opts.signal),
    // Ubuntu ≥ 23.10 lets only AppArmor-profiled programs create them.
    readText(join(proc, 'sys', 'kernel', 'apparmor_restrict_unprivileged_userns'), opts.signal),
    readText(opts.subuidPath ?? '/etc/subuid', opts.signal),
    readText(opts.subgidPath ?? '/etc/subgid', opts.signal),
    onPath('newuidmap', env),
  ]);
  const inUserNamespace = !isIdentityMap(uidMap);
  const usernsAllowed =
    (maxUserns === undefined || Number(maxUserns.trim()) > 0) &&
    (legacyClone === undefined || legacyClone.trim() !== '0') &&
    (apparmorRestrict === undefined || apparmorRestrict.trim() !== '1');
  const user = { uid, ...(userName !== undefined ? { name: userName } : {}) };
  const subuidRanges = subuidText === undefined ? [] : findSubidRanges(parseSubidFile(subuidText), user);
  const subgidRanges = subgidText === undefined ? [] : findSubidRanges(parseSubidFile(subgidText), user);
  const probe: IsolationProbe = {
    uid,
    gid,
    userName,
    userns: uid === 0 || usernsAllowed,
    inUserNamespace,
    subuidRanges,
    subgidRanges,
    newuidmap,
    overlayUserxattr: inUserNamespace,
  };
  if (subuidRanges[0]) probe.subuid = subuidRanges[0];
  if (subgidRanges[0]) probe.subgid = subgidRanges[0];
  return probe;
}

// Capability numbers (linux/capability.h).
const CAP_MKNOD = 27n;
const CAP_SYS_CHROOT = 18n;
export const CAP_SYS_ADMIN = 21n;

/** Whether the CapEff line of a /proc/PID/status text has capability `cap`. */
export function hasCap(status: string | undefined, cap: bigint): boolean {
  const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(status ?? '');
  return m !== null && ((BigInt(`0x${m[1]}`) >> cap) & 1n) === 1n;
}

/** Runs a short probe command; true when it exits 0 within the timeout. Never throws. */
async function tries(cmd: string, args: string[], env: NodeJS.ProcessEnv, signal?: AbortSignal): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    let child: ReturnType<typeof spawn>;
    try {
      child = spawn(cmd, args, { stdio: 'ignore', env, timeout: 5000, ...(signal ? { signal } : {}) });
    } catch {
      resolve(false);
      return;
    }
    child.on('error', () => resolve(false));
    child.on('exit', (code) => resolve(code === 0));
  });
}

/** The tried capabilities `rootless` rests on (see rootlessBlocker in chooseIsolation.ts). */
export type RootlessCapabilities = Pick<IsolationCapabilities, 'uid' | 'userns' | 'inUserNamespace' | 'unshareUser' | 'overlayInUserns' | 'mount'>;

/** A scratch dir with lower/upper/work/merged for the mount probes; removed by the caller. */
async function probeDirs(tmpDir: string | undefined): Promise<{ work: string; overlayOpts: string; merged: string }> {
  const work = await mkdtemp(join(tmpDir ?? tmpdir(), 'tsbuild-probe-'));
  for (const d of ['lower', 'upper', 'work', 'merged']) await mkdir(join(work, d));
  return { work, overlayOpts: `lowerdir=${join(work, 'lower')},upperdir=${join(work, 'upper')},workdir=${join(work, 'work')}`, merged: join(work, 'merged') };
}

/**
 * Only what `--isolation auto` needs to keep rootless, which is where it lands on nearly every
 * machine: real root tries one mount namespace, anyone else a user namespace and an overlay in
 * it. The other modes' probes (proot, perl, capabilities) run only when rootless is out.
 */
export async function probeRootless(opts: ProbeOptions & { tmpDir?: string } = {}): Promise<IsolationProbe & RootlessCapabilities> {
  const env = opts.env ?? process.env;
  const base = await probeIsolation(opts);
  const { work, overlayOpts, merged } = await probeDirs(opts.tmpDir);
  try {
    if (!(await onPath('unshare', env))) return { ...base, unshareUser: base.userns, overlayInUserns: base.userns, mount: true };
    if (base.uid === 0 && !base.inUserNamespace) {
      // Root in the initial user namespace needs no user namespace: the mount alone decides.
      const mount = await tries('unshare', ['--mount', 'mount', '-t', 'tmpfs', 'tmpfs', merged], env, opts.signal);
      return { ...base, unshareUser: base.userns, overlayInUserns: base.userns, mount };
    }
    const [unshareUser, overlayInUserns] = await Promise.all([
      tries('unshare', ['--user', '--map-root-user', 'true'], env, opts.signal),
      tries('unshare', ['--user', '--map-root-user', '--mount', 'mount', '-t', 'overlay', 'overlay', '-o', `${overlayOpts},userxattr`, merged], env, opts.signal),
    ]);
    // An overlay mounted in a user + mount namespace shows that namespace can mount.
    return { ...base, unshareUser, overlayInUserns, mount: overlayInUserns };
  } finally {
    await rm(work, { recursive: true, force: true }).catch(() => undefined);
  }
}

/**
 * Runs `chown 4242:4242 DIR/f` under the helper's chown-trap and checks that the owner landed in
 * the xattr and not on the file: the whole path a proot RUN's chown takes.
 */
async function triesChownTrap(dir: string, opts: ProbeOptions, env: NodeJS.ProcessEnv): Promise<boolean> {
  try {
    const helper = await locateHelper(opts.helperPath, env);
    const file = join(dir, 'f');
    await writeFile(file, '');
    if (!(await tries(helper, ['chown-trap', dir, '--', 'chown', '4242:4242', file], env, opts.signal))) return false;
    const st = await stat(file);
    const value = (await lgetxattrs(file)).find(([name]) => name === OWNER_XATTR)?.[1];
    return st.uid !== 4242 && value !== undefined && value.equals(encodeOwner(4242, 4242));
  } catch (err) {
    if (opts.signal?.aborted) throw err;
    return false;
  }
}

/**
 * probeIsolation plus what the process can really do, found by trying it in short-lived children
 * (util-linux unshare and mount, proot, the helper's chown-trap): user namespaces, overlay inside
 * one, mount rights, CAP_SYS_CHROOT and CAP_MKNOD, ptrace through proot, seccomp user notification. Takes a few tens of milliseconds; the
 * caller keeps the result for the whole process.
 */
export async function probeCapabilities(opts: ProbeOptions & { tmpDir?: string } = {}): Promise<IsolationCapabilities> {
  const env = opts.env ?? process.env;
  const base = await probeIsolation(opts);
  const { work, overlayOpts, merged } = await probeDirs(opts.tmpDir);
  try {
    await mkdir(join(work, 'trap'));
    const [status, unshareUser, overlayInUserns, mount, proot, perl, seccompUserNotif] = await Promise.all([
      readText(join(opts.procRoot ?? '/proc', 'self', 'status'), opts.signal),
      tries('unshare', ['--user', '--map-root-user', 'true'], env, opts.signal),
      tries('unshare', ['--user', '--map-root-user', '--mount', 'mount', '-t', 'overlay', 'overlay', '-o', `${overlayOpts},userxattr`, merged], env, opts.signal),
      base.uid === 0
        ? tries('unshare', ['--mount', 'mount', '-t', 'tmpfs', 'tmpfs', merged], env, opts.signal)
        : tries('unshare', ['--user', '--map-root-user', '--mount', 'mount', '-t', 'tmpfs', 'tmpfs', merged], env, opts.signal),
      onPath('proot', env).then((found) => found && tries('proot', ['true'], env, opts.signal)),
      onPath('perl', env),
      triesChownTrap(join(work, 'trap'), opts, env),
    ]);
    // Without util-linux's unshare nothing could be tried: trust the sysctls, as before the probe
    // tried things, rather than refuse rootless where it may well work.
    const tried = await onPath('unshare', env);
    return {
      ...base,
      unshareUser: tried ? unshareUser : base.userns,
      overlayInUserns: tried ? overlayInUserns : base.userns,
      mount: tried ? mount : true,
      chroot: hasCap(status, CAP_SYS_CHROOT),
      mknod: hasCap(status, CAP_MKNOD),
      proot,
      perl,
      seccompUserNotif,
    };
  } finally {
    await rm(work, { recursive: true, force: true }).catch(() => undefined);
  }
}

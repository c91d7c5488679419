/**
 * RUN where namespaces and mounts are refused (an unprivileged container, a Kubernetes pod):
 * the step's rootfs is a private copy of the layer chain (src/snapshot/copySnapshot.ts), the
 * command runs chrooted into it (`chroot`, needs CAP_SYS_CHROOT) or under PRoot's ptrace-based
 * path translation (`proot`), and what changed is written to the upper dir in overlay form, so
 * everything after (stub cleanup, commit) is the same as for the overlay runtime.
 */
import { constants as fsConstants } from 'node:fs';
import { access, chmod, mkdir, readFile, readlink, symlink, writeFile } from 'node:fs/promises';
import { delimiter, join, posix } from 'node:path';
import { parseIdFile } from '../util/parseIdFile.js';
import { TsbuildError } from '../errors.js';
import type { StoreKind, XattrFlavor } from '../store/storeRoot.js';
import { diffCopy, materializeLayers } from '../snapshot/copySnapshot.js';
import { mknodChar } from '../util/fsx.js';
import { lstatIfExists } from '../util/lstatIfExists.js';
import { resolveInRoot } from '../util/scopedPath.js';
import { locateHelper } from './helperPath.js';
import type { RunOutput, RunResult, RunSpec, Runtime } from './runtime.js';
import { spawnStep } from './spawnStep.js';

export type CopyLauncher = 'chroot' | 'proot';

export interface CopyRuntimeOptions {
  launcher: CopyLauncher;
  flavor: XattrFlavor;
  /** xattr: a non-root user's store (owners, whiteouts and devices in user.* xattrs). */
  storeKind?: StoreKind;
  /** proot runs under `tsbuild-helper chown-trap`, which records the step's chowns as owner xattrs. */
  chownTrap?: boolean;
  killGraceMs?: number;
}

/** The sandbox's own mount points: never part of a layer (the overlay runtime mounts over them). */
export const SANDBOX_DIRS: ReadonlySet<string> = new Set(['dev', 'proc', 'sys']);

// chroot, chdir, drop to the step's user, exec: the few syscalls Node cannot make. perl-base is
// part of every Debian system; it runs before the chroot, so the image needs nothing.
const CHROOT_LAUNCHER = String.raw`
use POSIX ();
my ($root, $cwd, $uid, $gid, $groups, @argv) = @ARGV;
chroot($root) or die "chroot $root: $!\n";
chdir($cwd) or die "chdir $cwd: $!\n";
$) = "$gid $groups";
POSIX::setgid($gid) or die "setgid $gid: $!\n";
POSIX::setuid($uid) or die "setuid $uid: $!\n";
{ exec { $argv[0] } @argv; }
my $err = $!;
print STDERR "exec $argv[0]: $err\n";
exit($!{ENOENT} ? 127 : 126);
`;

const DEV_NODES: ReadonlyArray<[string, number, number]> = [
  ['null', 1, 3],
  ['zero', 1, 5],
  ['full', 1, 7],
  ['random', 1, 8],
  ['urandom', 1, 9],
  ['tty', 5, 0],
];

interface StepUser {
  uid: number;
  gid: number;
  groups: number[];
}

/** USER as the overlay runtime's helper resolves it: "", "uid[:gid]" or "name[:group]" against the rootfs. */
export async function resolveUser(root: string, user: string): Promise<StepUser> {
  if (user === '') return { uid: 0, gid: 0, groups: [0] };
  const read = (file: string): Promise<string> => resolveInRoot(root, file).then((p) => readFile(p, 'utf8')).catch(() => '');
  const [passwdText, groupText] = await Promise.all([read('/etc/passwd'), read('/etc/group')]);
  const passwd = parseIdFile(passwdText);
  const group = parseIdFile(groupText);
  const [u = '', g] = user.split(':');
  const entry = /^\d+$/.test(u) ? passwd.find((e) => e.id === Number(u)) : passwd.find((e) => e.name === u);
  if (!/^\d+$/.test(u) && entry === undefined) {
    throw new TsbuildError('RUN_FAILED', `unable to find user ${u}: no matching entries in passwd file`, { hint: "check the USER instruction against the image's /etc/passwd" });
  }
  const uid = /^\d+$/.test(u) ? Number(u) : entry!.id;
  let gid = entry?.gid ?? 0;
  if (g !== undefined && g !== '') {
    const ge = /^\d+$/.test(g) ? { id: Number(g) } : group.find((e) => e.name === g);
    if (ge === undefined) throw new TsbuildError('RUN_FAILED', `unable to find group ${g}: no matching entries in group file`, { hint: "check the USER instruction against the image's /etc/group" });
    gid = ge.id;
  }
  // Supplementary groups: those listing the user by name (only without an explicit group, as Docker).
  const groups = [gid];
  if ((g === undefined || g === '') && entry !== undefined) {
    for (const line of groupText.split('\n')) {
      const f = line.split(':');
      if (f.length >= 4 && (f[3] ?? '').split(',').includes(entry.name) && /^\d+$/.test(f[2] ?? '')) groups.push(Number(f[2]));
    }
  }
  return { uid, gid, groups };
}

/** A minimal /dev for the chroot: device nodes need CAP_MKNOD, which `chroot` mode requires. */
async function prepareDev(root: string): Promise<void> {
  const dev = join(root, 'dev');
  // Refused, as the overlay runtime's helper refuses it: followed on the host, an image's
  // `dev -> /x` would get the nodes made in the host's /x; resolved inside the root, they would
  // land in a directory the layer diff keeps (or loop, `dev -> /dev`).
  const st = await lstatIfExists(dev);
  if (st !== undefined && !st.isDirectory()) {
    const what = st.isSymbolicLink() ? `a symlink (to ${await readlink(dev)})` : 'not a directory';
    throw new TsbuildError('ISOLATION_SETUP', `setting up the RUN sandbox: /dev in the image is ${what}`, {
      hint: "the sandbox makes its own /dev: make the image's /dev a directory (fix the base image, COPY or ADD that replaced it)",
    });
  }
  await mkdir(dev, { recursive: true });
  for (const [name, major, minor] of DEV_NODES) {
    if ((await lstatIfExists(join(dev, name))) !== undefined) continue;
    await mknodChar(join(dev, name), major, minor, 0o666);
    // mknod's mode went through the umask; a non-root USER must still write /dev/null.
    await chmod(join(dev, name), 0o666);
  }
  for (const [name, target] of [['fd', '/proc/self/fd'], ['stdin', '/proc/self/fd/0'], ['stdout', '/proc/self/fd/1'], ['stderr', '/proc/self/fd/2']] as const) {
    if ((await lstatIfExists(join(dev, name))) === undefined) await symlink(target, join(dev, name));
  }
  await mkdir(join(dev, 'shm'), { recursive: true, mode: 0o1777 });
}

/** The launcher's absolute path from tsbuild's own PATH (the step's PATH is for inside the image). */
async function hostCommand(name: string): Promise<string> {
  for (const dir of (process.env['PATH'] ?? '/usr/bin:/bin').split(delimiter).concat(['/usr/bin', '/bin'])) {
    if (dir === '') continue;
    const path = join(dir, name);
    if (await access(path, fsConstants.X_OK).then(() => true, () => false)) return path;
  }
  return name;
}

/**
 * The host's /etc/hosts and /etc/resolv.conf shown to the step where the image has them, as the
 * overlay sandbox bind-mounts them: written in place (same inode, so /etc itself is untouched)
 * and left out of the layer. Returns the paths to exclude from the diff.
 */
async function showHostFiles(root: string, spec: RunSpec): Promise<string[]> {
  const shown: string[] = [];
  for (const [rel, host] of [['etc/hosts', spec.etcHosts], ['etc/resolv.conf', spec.resolvConf]] as const) {
    if (host === undefined) continue;
    // Resolved inside the root: an image whose /etc is a symlink (even an absolute one) must not
    // get a host file written through it.
    const target = await resolveInRoot(root, rel, { followFinal: false });
    const st = await lstatIfExists(target);
    const content = await readFile(host).catch(() => undefined);
    if (!st?.isFile() || content === undefined) continue;
    await writeFile(target, content);
    shown.push(posix.relative(root, target));
  }
  return shown;
}

export class CopyRuntime implements Runtime {
  readonly #opts: CopyRuntimeOptions;

  constructor(opts: CopyRuntimeOptions) {
    this.#opts = opts;
  }

  async run(spec: RunSpec, output: RunOutput, signal: AbortSignal): Promise<RunResult> {
    if ((spec.mounts ?? []).length > 0) {
      throw new TsbuildError('ISOLATION_UNAVAILABLE', `RUN --mount (and heredoc files) need --isolation rootless; this build uses ${this.#opts.launcher}`, {
        hint: 'run where user namespaces are allowed, or write the files with COPY first',
      });
    }
    // What the copy modes cannot give is refused, never silently dropped.
    if (spec.network === 'none') throw this.#unsupported('RUN --network=none (no network namespace)');
    if ((spec.cgroupProcs ?? []).length > 0) throw this.#unsupported('--memory, --cpus and --pids-limit (no cgroup is joined)');
    signal.throwIfAborted();
    const root = spec.mountpoint;
    const baseline = await materializeLayers(spec.rootfs.lowerdirs, root, { flavor: this.#opts.flavor, ...this.#kind(), signal });
    const cwd = posix.resolve('/', spec.cwd || '/');
    // Created as root when missing, like the overlay runtime does (Docker's WORKDIR).
    await mkdir(await resolveInRoot(root, cwd), { recursive: true });
    const user = await resolveUser(root, spec.user);
    const hostFiles = await showHostFiles(root, spec);
    if (this.#opts.launcher === 'chroot') await prepareDev(root);
    const [cmd, args] =
      this.#opts.launcher === 'chroot'
        ? ['perl', ['-e', CHROOT_LAUNCHER, root, cwd, String(user.uid), String(user.gid), user.groups.join(' '), ...spec.argv]]
        : ['proot', [user.uid === 0 ? '-0' : `-i`, ...(user.uid === 0 ? [] : [`${user.uid}:${user.gid}`]), '-r', root, '-b', '/dev', '-b', '/proc', '-b', '/sys', '-w', cwd, ...spec.argv]];
    // proot itself is found through the host's PATH, the command through the step's; for a
    // non-root user's store, under the helper's chown trap (which records the step's chowns).
    const [launcher, launcherArgs]: [string, string[]] =
      this.#opts.launcher === 'proot' && this.#opts.chownTrap === true ? [await locateHelper(), ['chown-trap', root, '--', await hostCommand(cmd), ...args]] : [await hostCommand(cmd), args];
    const result = await spawnStep(launcher, launcherArgs, output, signal, {
      env: spec.env,
      ...(this.#opts.launcher === 'proot' ? { launcherEnv: { PROOT_TMP_DIR: process.env['TMPDIR'] ?? '/tmp' } } : {}),
      ...(this.#opts.killGraceMs !== undefined ? { killGraceMs: this.#opts.killGraceMs } : {}),
      hint: `install ${this.#opts.launcher === 'chroot' ? 'perl-base' : 'proot'}`,
    });
    await diffCopy(root, baseline, spec.rootfs.upperdir, { flavor: this.#opts.flavor, ...this.#kind(), newOwner: { uid: user.uid, gid: user.gid }, exclude: new Set([...SANDBOX_DIRS, ...hostFiles]), signal });
    return result;
  }

  #kind(): { storeKind?: StoreKind } {
    return this.#opts.storeKind ? { storeKind: this.#opts.storeKind } : {};
  }

  #unsupported(what: string): TsbuildError {
    return new TsbuildError('ISOLATION_UNAVAILABLE', `${what} needs --isolation rootless; this build uses ${this.#opts.launcher}`, {
      hint: 'run where user namespaces are allowed (tsbuild info shows what this environment allows), or drop the option',
    });
  }
}

/**
 * The overlay mounter's contract over copies: `mountOverlay` materializes the lower chain at the
 * target, `unmount` writes what changed into the upper dir. COPY, ADD and WORKDIR then write
 * into the copy directly (they resolve every path inside the root).
 */
export class CopyMounter {
  readonly #flavor: XattrFlavor;
  readonly #storeKind: StoreKind;
  // Per build, not per module: which targets are "mounted" and where their changes go.
  readonly #active = new Map<string, { baseline: Awaited<ReturnType<typeof materializeLayers>>; upperdir?: string }>();

  constructor(flavor: XattrFlavor, storeKind: StoreKind = 'native') {
    this.#flavor = flavor;
    this.#storeKind = storeKind;
  }

  async mountOverlay(opts: { lowerdirs: string[]; upperdir?: string; readonly?: boolean }, target: string): Promise<void> {
    const baseline = await materializeLayers(opts.lowerdirs, target, { flavor: this.#flavor, storeKind: this.#storeKind });
    this.#active.set(target, { baseline, ...(opts.upperdir !== undefined && !opts.readonly ? { upperdir: opts.upperdir } : {}) });
  }

  async unmount(target: string): Promise<void> {
    const entry = this.#active.get(target);
    this.#active.delete(target);
    if (entry?.upperdir !== undefined) await diffCopy(target, entry.baseline, entry.upperdir, { flavor: this.#flavor, storeKind: this.#storeKind });
  }
}

/**
 * An unprivileged container made with runc, as Docker makes one by default: Docker's default
 * capabilities (no CAP_SYS_ADMIN), Docker's default seccomp profile, pid/ipc/uts/mount namespaces,
 * the host network (so the test registry on 127.0.0.1 is reachable). The rootfs is minimal: the
 * host's /usr and /etc read-only (node, perl, proot, util-linux and their libraries), the
 * repository read-only, and one writable host directory as /tmp.
 *
 * With `runtimeDir` (the layout `--isolation none` needs, kaniko's /kaniko): the rootfs is an empty
 * writable directory, the host's /usr is read-only at RUNTIME/usr (node runs through its own
 * loader from there: noneNodeArgs), the writable host directory is RUNTIME/work, and nothing else
 * of the host is inside but the read-only binds.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, readFile, realpath, symlink, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { execCommand, type ExecResult } from '../../helpers/exec.js';
import { makeTempDir, removeTree } from '../../helpers/tmp.js';
import { repoRoot } from '../../helpers/tsbuild.js';

/** Docker's default capability set (moby/oci/caps/defaults.go). */
export const DOCKER_DEFAULT_CAPS = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID', 'CAP_SETUID',
  'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
];

// What Docker's default profile allows only with CAP_SYS_ADMIN (moby/profiles/seccomp/default.json).
const SYS_ADMIN_ONLY = [
  'bpf', 'clone', 'clone3', 'fanotify_init', 'fsconfig', 'fsmount', 'fsopen', 'fspick', 'lookup_dcookie', 'mount', 'mount_setattr',
  'move_mount', 'name_to_handle_at', 'open_tree', 'perf_event_open', 'quotactl', 'quotactl_fd', 'setdomainname', 'sethostname',
  'setns', 'syslog', 'umount', 'umount2', 'unshare',
];
// clone's namespace flags (CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET), refused without CAP_SYS_ADMIN.
const CLONE_NAMESPACE_FLAGS = 2114060288;

interface DockerSyscall {
  names: string[];
  action: string;
  errnoRet?: number;
  args?: unknown[] | null;
  includes?: { caps?: string[]; arches?: string[] };
  excludes?: { caps?: string[]; arches?: string[] };
}

/**
 * Docker's default seccomp profile for amd64 and `caps`, in the OCI runtime-spec form runc reads.
 * Made from the Docker-format profile of Debian's golang-github-containers-common (podman depends on it),
 * resolved for these capabilities, with Docker's CAP_SYS_ADMIN rules restored: that file lets
 * unshare and mount through for rootless podman, Docker's does not.
 */
export async function dockerDefaultSeccomp(caps: readonly string[]): Promise<unknown> {
  const profile = JSON.parse(await readFile('/usr/share/containers/seccomp.json', 'utf8')) as { syscalls: DockerSyscall[] };
  const applies = (s: DockerSyscall): boolean =>
    (s.includes?.caps ?? []).every((c) => caps.includes(c)) &&
    !(s.excludes?.caps ?? []).some((c) => caps.includes(c)) &&
    (s.includes?.arches === undefined || s.includes.arches.length === 0 || s.includes.arches.includes('amd64')) &&
    !(s.excludes?.arches ?? []).includes('amd64');
  const syscalls: unknown[] = [];
  for (const s of profile.syscalls.filter(applies)) {
    const names = caps.includes('CAP_SYS_ADMIN') ? s.names : s.names.filter((n) => !SYS_ADMIN_ONLY.includes(n));
    if (names.length === 0) continue;
    syscalls.push({ names, action: s.action, ...(s.errnoRet !== undefined ? { errnoRet: s.errnoRet } : {}), ...(s.args && s.args.length > 0 ? { args: s.args } : {}) });
  }
  if (!caps.includes('CAP_SYS_ADMIN')) {
    syscalls.push({ names: ['clone'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: CLONE_NAMESPACE_FLAGS, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }] });
    // ENOSYS makes glibc fall back to clone, whose flags the rule above can inspect.
    syscalls.push({ names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 });
  }
  return { defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: 1, architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'], syscalls };
}

export interface ContainerRun {
  args: string[];
  /** uid:gid inside the container (0:0 by default); non-root gets no effective capabilities, as in Docker. */
  user?: { uid: number; gid: number };
  env?: string[];
  /** Host paths mounted read-only at the same path inside. */
  readonlyBinds: string[];
  /** The host dir that is /tmp inside (writable), or RUNTIME/work with `runtimeDir`. */
  tmpDir: string;
  /** The isolation-none layout (see the top of this file), under this dir inside. */
  runtimeDir?: string;
  signal?: AbortSignal;
}

export async function runInUnprivilegedContainer(opts: ContainerRun): Promise<ExecResult> {
  const bundle = await makeTempDir('tsbuild-iso-bundle');
  const rootfs = join(bundle, 'rootfs');
  await mkdir(rootfs);
  const rt = opts.runtimeDir;
  if (rt === undefined) {
    for (const d of ['usr', 'etc', 'proc', 'dev', 'sys', 'tmp', 'work']) await mkdir(join(rootfs, d));
    for (const [name, target] of [['bin', 'usr/bin'], ['sbin', 'usr/sbin'], ['lib', 'usr/lib'], ['lib64', 'usr/lib64']] as const) await symlink(target, join(rootfs, name));
  } else {
    for (const d of ['proc', 'dev', 'sys', `${rt}/usr`, `${rt}/work`]) await mkdir(join(rootfs, d), { recursive: true });
  }
  const user = opts.user ?? { uid: 0, gid: 0 };
  const workDir = rt === undefined ? '/tmp' : `${rt}/work`;
  const caps = user.uid === 0 ? DOCKER_DEFAULT_CAPS : [];
  const bind = (source: string, ro: boolean) => ({ destination: source, type: 'bind', source, options: ['rbind', ro ? 'ro' : 'rw', 'nosuid'] });
  const spec = {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: { uid: user.uid, gid: user.gid },
      args: opts.args,
      env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', `HOME=${workDir}`, `TMPDIR=${workDir}`, ...(opts.env ?? [])],
      cwd: workDir,
      capabilities: { bounding: DOCKER_DEFAULT_CAPS, effective: caps, permitted: caps },
      noNewPrivileges: false,
    },
    root: { path: 'rootfs', readonly: rt === undefined },
    hostname: 'unprivileged',
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620'] },
      { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
      ...(rt === undefined
        ? [
            bind('/usr', true),
            bind('/etc', true),
            // /tmp before the binds: a checkout under /tmp (as CI clones may be) must not be hidden by it.
            { destination: '/tmp', type: 'bind', source: opts.tmpDir, options: ['rbind', 'rw'] },
          ]
        : [
            { destination: `${rt}/usr`, type: 'bind', source: '/usr', options: ['rbind', 'ro', 'nosuid'] },
            { destination: workDir, type: 'bind', source: opts.tmpDir, options: ['rbind', 'rw'] },
          ]),
      ...opts.readonlyBinds.map((p) => bind(p, true)),
    ],
    linux: {
      namespaces: [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }],
      seccomp: await dockerDefaultSeccomp(caps),
      maskedPaths: ['/proc/kcore', '/proc/keys', '/proc/timer_list', '/sys/firmware'],
      readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
    },
  };
  await writeFile(join(bundle, 'config.json'), JSON.stringify(spec, null, 2));
  const stateDir = await makeTempDir('tsbuild-iso-runc', { mode: 0o700 });
  const id = `tsbuild-iso-${randomUUID().slice(0, 12)}`;
  try {
    return await execCommand('runc', ['--root', stateDir, 'run', '--bundle', bundle, id], opts.signal ? { signal: opts.signal } : {});
  } finally {
    await execCommand('runc', ['--root', stateDir, 'delete', '--force', id]).catch(() => undefined);
    await removeTree(stateDir);
  }
}

/** The checkout, and its node_modules where that is a link elsewhere (a git worktree's): the read-only binds a container needs to run tsbuild. */
export async function repoBinds(): Promise<string[]> {
  const modules = await realpath(join(repoRoot(), 'node_modules'));
  return modules.startsWith(`${repoRoot()}/`) ? [repoRoot()] : [repoRoot(), modules];
}

/**
 * The argv that starts the host's node from RUNTIME/usr inside a `runtimeDir` container: through
 * its own dynamic loader with the libraries beside it, so nothing outside RUNTIME is needed.
 */
export async function noneNodeArgs(runtimeDir: string): Promise<string[]> {
  const node = await realpath(process.execPath);
  const loader = await realpath('/lib64/ld-linux-x86-64.so.2');
  for (const p of [node, loader]) {
    if (!p.startsWith('/usr/')) throw new Error(`the isolation-none container expects node and its loader under /usr; found ${p}`);
  }
  const inside = (p: string) => join(runtimeDir, 'usr', relative('/usr', p));
  return [inside(loader), '--library-path', inside(dirname(loader)), inside(node)];
}

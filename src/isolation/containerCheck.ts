/**
 * Is this process in a throw-away container? `--isolation none` replaces `/` with the image's
 * files (kaniko's model), so it must never run on a developer's machine or a VM.
 *
 * kaniko and podman trust marker files (/.dockerenv, /run/.containerenv), the `container`
 * variable and cgroup paths. Markers alone are not enough: VMs and machines made from container
 * images keep /.dockerenv (this project's own CI machine does). So two things must hold:
 * - a pid namespace of its own: kernel threads (kthreadd, pid 2) are visible only in the initial
 *   one, which a container never shares unless started with --pid=host;
 * - a sign that `/` is a container's: a marker, or a root mount that is an overlay/tmpfs or a
 *   bind of a subdirectory (runc with a directory rootfs), never a whole disk.
 */
import { readFile, stat } from 'node:fs/promises';
import { decodeMountPath } from './mountPoints.js';

export interface ContainerFacts {
  dockerenv: boolean;
  containerenv: boolean;
  /** $container (podman, systemd-nspawn, LXC set it). */
  containerVar: string | undefined;
  /** $KUBERNETES_SERVICE_HOST (every pod gets it). */
  kubernetes: boolean;
  /** /proc/1/cgroup. */
  cgroup: string;
  /** /proc/self/mountinfo. */
  mountinfo: string;
  /** /proc/2/status, undefined when pid 2 is not visible. */
  pid2Status: string | undefined;
}

export interface ContainerVerdict {
  inContainer: boolean;
  /** What says "container", each a short phrase. */
  signs: string[];
  /** What says "not a throw-away container", each a short phrase. */
  against: string[];
}

/** Pure: the verdict from the facts. */
export function judgeContainer(facts: ContainerFacts): ContainerVerdict {
  const signs: string[] = [];
  const against: string[] = [];
  if (facts.dockerenv) signs.push('/.dockerenv exists');
  if (facts.containerenv) signs.push('/run/.containerenv exists');
  if (facts.containerVar) signs.push(`container=${facts.containerVar}`);
  if (facts.kubernetes) signs.push('KUBERNETES_SERVICE_HOST is set');
  if (/\b(docker|kubepods|containerd|libpod|lxc)\b/.test(facts.cgroup)) signs.push('/proc/1/cgroup names a container runtime');
  const root = rootMount(facts.mountinfo);
  if (root !== undefined) {
    if (['overlay', 'fuse-overlayfs', 'fuse.fuse-overlayfs', 'tmpfs', 'aufs'].includes(root.fstype)) signs.push(`/ is ${root.fstype}`);
    else if (root.root !== '/') signs.push(`/ is a bind mount of ${root.root}`);
  }
  const hostPidNs = facts.pid2Status !== undefined && /^Name:\s*kthreadd$/m.test(facts.pid2Status) && /^PPid:\s*0$/m.test(facts.pid2Status);
  if (hostPidNs) against.push('kernel threads are visible (the host pid namespace)');
  if (signs.length === 0) against.push('no container marker (/.dockerenv, /run/.containerenv, $container, a container cgroup or root mount)');
  return { inContainer: !hostPidNs && signs.length > 0, signs, against };
}

function rootMount(mountinfo: string): { root: string; fstype: string } | undefined {
  let found: { root: string; fstype: string } | undefined;
  for (const line of mountinfo.split('\n')) {
    const [pre, post] = line.split(' - ');
    const f = pre?.split(' ') ?? [];
    // The last mount on / is the one visible.
    if (f[4] === '/' && post !== undefined) found = { root: decodeMountPath(f[3] ?? ''), fstype: post.split(' ')[0] ?? '' };
  }
  return found;
}

/** The effectful edge: reads the facts of this process. */
export async function readContainerFacts(env: NodeJS.ProcessEnv = process.env): Promise<ContainerFacts> {
  const exists = (p: string) => stat(p).then(() => true, () => false);
  const text = (p: string) => readFile(p, 'utf8').catch(() => undefined);
  const [dockerenv, containerenv, cgroup, mountinfo, pid2Status] = await Promise.all([
    exists('/.dockerenv'),
    exists('/run/.containerenv'),
    text('/proc/1/cgroup'),
    text('/proc/self/mountinfo'),
    text('/proc/2/status'),
  ]);
  return {
    dockerenv,
    containerenv,
    containerVar: env['container'] || undefined,
    kubernetes: (env['KUBERNETES_SERVICE_HOST'] ?? '') !== '',
    cgroup: cgroup ?? '',
    mountinfo: mountinfo ?? '',
    pid2Status,
  };
}

/**
 * Resource limits for one RUN (`--memory`, `--cpus`, `--pids-limit`) through cgroups: a child
 * cgroup next to tsbuild's own, which the helper joins before it forks the step (so every
 * process of the step is inside it, and the limits cannot be escaped by a fork). cgroup v2 when
 * this process may write its cgroup (delegation, or root), cgroup v1 controllers when they are
 * writable (root on a v1 or hybrid host). Rootless on v1 has no delegation: `probeCgroups` says
 * why, and the caller tells the user the limits are not applied.
 */
import { randomBytes } from 'node:crypto';
import { access, constants, mkdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface ResourceLimits {
  /** Bytes. */
  memory?: number;
  /** CPUs, e.g. 1.5. */
  cpus?: number;
  pids?: number;
}

export interface RunCgroup {
  /** cgroup.procs files the helper writes itself into. */
  procsFiles: string[];
  remove(): Promise<void>;
}

const ROOT = '/sys/fs/cgroup';
const V1: Record<keyof ResourceLimits, string> = { memory: 'memory', cpus: 'cpu', pids: 'pids' };

interface CgroupLayout {
  version: 1 | 2;
  /** v2: the writable parent dir; v1: controller → parent dir. */
  parents: Partial<Record<string, string>>;
}

async function writable(dir: string): Promise<boolean> {
  return access(dir, constants.W_OK).then(() => true, () => false);
}

async function layout(): Promise<CgroupLayout | string> {
  const self = await readFile('/proc/self/cgroup', 'utf8').catch(() => '');
  const lines = self.trim().split('\n').map((l) => l.split(':'));
  const unified = lines.find((l) => l[0] === '0' && l[1] === '');
  const v1 = lines.filter((l) => l[0] !== '0');
  if (v1.length === 0 && unified) {
    const dir = join(ROOT, unified[2] ?? '/');
    const controllers = await readFile(join(dir, 'cgroup.controllers'), 'utf8').catch(() => '');
    if (!(await writable(dir))) return `the cgroup v2 group ${dir} is not delegated to this user (systemd-run --user --scope -p Delegate=yes gives one)`;
    return { version: 2, parents: Object.fromEntries(controllers.split(/\s+/).filter(Boolean).map((c) => [c, dir])) };
  }
  const parents: Record<string, string> = {};
  for (const l of v1) {
    for (const ctrl of (l[1] ?? '').split(',')) {
      const dir = join(ROOT, ctrl, l[2] ?? '/');
      if (await writable(dir)) parents[ctrl] = dir;
    }
  }
  if (Object.keys(parents).length === 0) return 'this host uses cgroup v1, whose controllers only root can write (rootless needs cgroup v2 delegation)';
  return { version: 1, parents };
}

/** Undefined when limits can be applied, else why not (for a one-line notice). */
export async function probeCgroups(limits: ResourceLimits): Promise<string | undefined> {
  const l = await layout();
  if (typeof l === 'string') return l;
  for (const key of Object.keys(limits) as Array<keyof ResourceLimits>) {
    if (limits[key] === undefined) continue;
    const ctrl = l.version === 1 ? V1[key] : key === 'cpus' ? 'cpu' : key;
    if (!l.parents[ctrl]) return `the ${ctrl} cgroup controller is not available to this user`;
  }
  return undefined;
}

/** Makes the step's cgroup(s) with the limits set; undefined when no limit is asked for. */
export async function createRunCgroup(limits: ResourceLimits): Promise<RunCgroup | undefined> {
  if (limits.memory === undefined && limits.cpus === undefined && limits.pids === undefined) return undefined;
  const l = await layout();
  if (typeof l === 'string') return undefined;
  const name = `tsbuild-run-${randomBytes(6).toString('hex')}`;
  const made: string[] = [];
  const settings: Array<[keyof ResourceLimits, string, string]> = [];
  if (l.version === 2) {
    if (limits.memory !== undefined) settings.push(['memory', 'memory.max', String(limits.memory)], ['memory', 'memory.swap.max', '0']);
    if (limits.cpus !== undefined) settings.push(['cpus', 'cpu.max', `${Math.round(limits.cpus * 100_000)} 100000`]);
    if (limits.pids !== undefined) settings.push(['pids', 'pids.max', String(limits.pids)]);
  } else {
    if (limits.memory !== undefined) settings.push(['memory', 'memory.limit_in_bytes', String(limits.memory)]);
    if (limits.cpus !== undefined) settings.push(['cpus', 'cpu.cfs_period_us', '100000'], ['cpus', 'cpu.cfs_quota_us', String(Math.round(limits.cpus * 100_000))]);
    if (limits.pids !== undefined) settings.push(['pids', 'pids.max', String(limits.pids)]);
  }
  const dirFor = (key: keyof ResourceLimits): string | undefined => {
    const parent = l.version === 1 ? l.parents[V1[key]] : Object.values(l.parents)[0];
    return parent ? join(parent, name) : undefined;
  };
  try {
    if (l.version === 2) {
      // Controllers reach a child only through the parent's subtree_control.
      const parent = Object.values(l.parents)[0] as string;
      await writeFile(join(parent, 'cgroup.subtree_control'), '+memory +cpu +pids').catch(() => undefined);
    }
    for (const [key, file, value] of settings) {
      const dir = dirFor(key);
      if (!dir) continue;
      if (!made.includes(dir)) {
        await mkdir(dir);
        made.push(dir);
      }
      // Optional knobs (memory.swap.max without swap accounting) may be missing.
      await writeFile(join(dir, file), value).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
      });
    }
  } catch (err) {
    await Promise.all(made.map((d) => rmdir(d).catch(() => undefined)));
    throw err;
  }
  return {
    procsFiles: made.map((d) => join(d, 'cgroup.procs')),
    remove: async () => {
      for (const d of made) {
        // The step's processes are gone when the helper exits, but the kernel may take a moment
        // to release the group.
        for (let i = 0; i < 50; i++) {
          const ok = await rmdir(d).then(() => true, (e: NodeJS.ErrnoException) => e.code === 'ENOENT');
          if (ok) break;
          await sleep(20);
        }
      }
    },
  };
}

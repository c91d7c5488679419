/**
 * `--isolation none`, kaniko's model: the container tsbuild runs in is thrown away after the
 * build, so its own `/` becomes each RUN step's rootfs. Before a step everything under `/` is
 * removed except the kept paths (every mount point, /proc, /sys, /dev, /tsbuild as kaniko keeps
 * /kaniko, tsbuild's package, its store and the build's inputs), the step's layer chain is copied
 * in (src/snapshot/copySnapshot.ts), the command runs as a plain child process with the step's
 * environment, directory and user, and what changed is written to the upper dir in overlay form,
 * kept paths left out, so the commit is the same as for every other mode.
 */
import type { Stats } from 'node:fs';
import { readFile, readdir, realpath, rm, lstat, mkdir } from 'node:fs/promises';
import { dirname, join, posix, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import pLimit from 'p-limit';
import { TsbuildError } from '../errors.js';
import type { XattrFlavor } from '../store/storeRoot.js';
import { ancestorsOf, diffCopy, materializeLayers } from '../snapshot/copySnapshot.js';
import { resolveInRoot } from '../util/scopedPath.js';
import { judgeContainer, readContainerFacts } from './containerCheck.js';
import { resolveUser } from './copyRuntime.js';
import { mountPoints } from './mountPoints.js';
import type { RunOutput, RunResult, RunSpec, Runtime } from './runtime.js';
import { spawnStep } from './spawnStep.js';

/** kaniko keeps /kaniko; tsbuild keeps /tsbuild (where an image for `none` puts node and tsbuild). */
export const NONE_RUNTIME_DIR = '/tsbuild';
export const NONE_FORCE_ENV = 'TSBUILD_ISOLATION_NONE_FORCE';

/** The package root: this file runs as dist/isolation/noneRuntime.js or src/isolation/noneRuntime.ts. */
function packageRoot(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
}

/** Refuses unless this is a throw-away container (or the force variable says so). */
export async function assertNoneAllowed(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  if (env[NONE_FORCE_ENV] === '1') return;
  const verdict = judgeContainer(await readContainerFacts(env));
  if (verdict.inContainer) return;
  throw new TsbuildError(
    'ISOLATION_UNAVAILABLE',
    `--isolation none replaces the files under / with the image's, and this does not look like a throw-away container (${verdict.against.join('; ')}${verdict.signs.length > 0 ? `; seen: ${verdict.signs.join(', ')}` : ''}); nothing was changed`,
    { hint: `run it only inside a container made for the build (as kaniko's executor); if this is one, set ${NONE_FORCE_ENV}=1` },
  );
}

/** Is `p` (absolute) one of `roots` or inside one? */
function isUnder(p: string, roots: Iterable<string>): boolean {
  for (const r of roots) if (p === r || r === '/' || p.startsWith(`${r}${sep}`)) return true;
  return false;
}

/**
 * The absolute paths kept under `/`: the mount points (not `/` itself), /proc, /sys, /dev,
 * /tsbuild, tsbuild's package and `extra` (store, context, ...), each as given and as resolved.
 */
export async function keptPaths(extra: readonly string[], mountinfo: string): Promise<string[]> {
  const given = [...mountPoints(mountinfo).filter((m) => m !== '/'), '/proc', '/sys', '/dev', NONE_RUNTIME_DIR, packageRoot(), ...extra.map((p) => resolve(p))];
  const out = new Set<string>();
  for (const p of given) {
    out.add(posix.normalize(p));
    const real = await realpath(p).catch(() => undefined);
    if (real !== undefined) out.add(real);
  }
  out.delete('/');
  return [...out].sort();
}

/**
 * tsbuild must outlive `/` being replaced: node, every library it has mapped and the package
 * must lie in kept paths. Returns what does not (empty: all is well).
 */
export async function runtimeOutsideKept(kept: readonly string[]): Promise<string[]> {
  const maps = await readFile('/proc/self/maps', 'utf8').catch(() => '');
  const files = new Set<string>([await realpath(process.execPath).catch(() => process.execPath)]);
  for (const line of maps.split('\n')) {
    const path = line.split(/\s+/).slice(5).join(' ');
    if (path.startsWith('/') && !path.endsWith(' (deleted)')) files.add(path);
  }
  return [...files].filter((f) => !isUnder(f, kept)).sort();
}

/** Removes everything under `root` but the kept paths (relative) and the directories above them. */
export async function clearRoot(root: string, keep: ReadonlySet<string>, signal?: AbortSignal): Promise<void> {
  const above = ancestorsOf(keep);
  async function clear(rel: string): Promise<void> {
    signal?.throwIfAborted();
    for (const name of await readdir(join(root, rel))) {
      const childRel = rel === '' ? name : `${rel}/${name}`;
      if (keep.has(childRel)) continue;
      // A mount point's parents stay (with nothing else in them); nothing here holds a mount.
      if (above.has(childRel) && (await lstat(join(root, childRel))).isDirectory()) await clear(childRel);
      else await rm(join(root, childRel), { recursive: true, force: true });
    }
  }
  await clear('');
}

/** Kept paths that are the container's by nature: an image's own copies there are expected to be hidden. */
const CONTAINER_PATHS = ['proc', 'sys', 'dev', 'etc/hosts', 'etc/resolv.conf', 'etc/hostname'];

/** `rel` in one layer dir, never through a symlink of the layer (undefined when absent or under one). */
async function lstatInLayer(dir: string, rel: string): Promise<Stats | undefined> {
  const parts = rel.split('/');
  let path = dir;
  for (let i = 0; i < parts.length; i++) {
    path = join(path, parts[i]!);
    const st = await lstat(path).catch(() => undefined);
    if (st === undefined || i === parts.length - 1) return st;
    if (!st.isDirectory()) return undefined;
  }
  return undefined;
}

/**
 * What of the image a kept path hides: kept paths the image has an entry at, and directories
 * above kept paths that the image has as something else (a symlink such as /var/run -> /run).
 * Topmost layer first; a whiteout there hides nothing.
 */
async function hiddenByKept(lowerdirs: readonly string[], keep: ReadonlySet<string>): Promise<string[]> {
  const topmost = async (rel: string): Promise<Stats | undefined> => {
    for (const dir of lowerdirs) {
      const st = await lstatInLayer(dir, rel);
      if (st !== undefined) return st.isCharacterDevice() && st.rdev === 0 ? undefined : st;
    }
    return undefined;
  };
  const hidden: string[] = [];
  const under = (rel: string) => hidden.some((h) => rel.startsWith(`${h}/`));
  for (const rel of [...ancestorsOf(keep)].sort()) {
    if (!under(rel) && (await topmost(rel))?.isDirectory() === false) hidden.push(rel);
  }
  for (const rel of [...keep].sort()) {
    if (CONTAINER_PATHS.some((c) => rel === c || rel.startsWith(`${c}/`)) || under(rel)) continue;
    if ((await topmost(rel)) !== undefined) hidden.push(rel);
  }
  return hidden.sort();
}

export interface NoneRuntimeOptions {
  flavor: XattrFlavor;
  /** Paths the build reads or writes besides the store: kept under `/`. */
  keep: readonly string[];
  killGraceMs?: number;
  /** Tests only: a directory standing in for `/`. */
  root?: string;
}

// One `/` per process: steps of parallel stages (or bake services) take turns.
const rootTurn = pLimit(1);

export class NoneRuntime implements Runtime {
  readonly #opts: NoneRuntimeOptions;

  constructor(opts: NoneRuntimeOptions) {
    this.#opts = opts;
  }

  /** The kept paths, checked: fails when tsbuild itself would be removed with `/`. */
  async keptPaths(): Promise<string[]> {
    const kept = await keptPaths(this.#opts.keep, await readFile('/proc/self/mountinfo', 'utf8'));
    const outside = await runtimeOutsideKept(kept);
    if (outside.length > 0) {
      throw new TsbuildError('ISOLATION_UNAVAILABLE', `--isolation none would remove what tsbuild runs on: ${outside.slice(0, 3).join(', ')}${outside.length > 3 ? ` and ${outside.length - 3} more` : ''} (not under a mount point or ${NONE_RUNTIME_DIR})`, {
        hint: `put node, its libraries and tsbuild under ${NONE_RUNTIME_DIR} or a mounted volume (see the README's "isolation none" layout)`,
      });
    }
    return kept;
  }

  run(spec: RunSpec, output: RunOutput, signal: AbortSignal): Promise<RunResult> {
    if ((spec.mounts ?? []).length > 0) throw this.#unsupported('RUN --mount (and heredoc files)');
    if (spec.network === 'none') throw this.#unsupported('RUN --network=none (no network namespace)');
    if ((spec.cgroupProcs ?? []).length > 0) throw this.#unsupported('--memory, --cpus and --pids-limit (no cgroup is joined)');
    return rootTurn(() => this.#run(spec, output, signal));
  }

  async #run(spec: RunSpec, output: RunOutput, signal: AbortSignal): Promise<RunResult> {
    signal.throwIfAborted();
    const root = this.#opts.root ?? '/';
    // Checked again before every step: nothing is removed unless this is still the container it was.
    if (this.#opts.root === undefined) await assertNoneAllowed();
    const kept = this.#opts.root === undefined ? await this.keptPaths() : this.#opts.keep.map((p) => resolve(p));
    const keep = new Set(kept.map((p) => relative(root, p)).filter((p) => p !== '' && !p.startsWith('..')));
    const hidden = await hiddenByKept(spec.rootfs.lowerdirs, keep);
    if (hidden.length > 0) {
      output.onStderr(Buffer.from(`warning: --isolation none: the image's ${hidden.map((p) => `/${p}`).join(', ')} not used: kept paths (mount points or tsbuild's own) are there; this step sees the container's, and its changes there stay out of the layer\n`));
    }
    await clearRoot(root, keep, signal);
    const baseline = await materializeLayers(spec.rootfs.lowerdirs, root, { flavor: this.#opts.flavor, signal, keep });
    const cwd = posix.resolve('/', spec.cwd || '/');
    await mkdir(await resolveInRoot(root, cwd), { recursive: true });
    const user = await resolveUser(root, spec.user);
    const [cmd = '', ...args] = spec.argv;
    const sameIds = user.uid === process.getuid?.() && user.gid === process.getgid?.();
    // Node cannot set a child's supplementary groups (setting its ids clears them). For a step
    // as tsbuild's own user (root), the child inherits them: this process takes the step's
    // groups while it forks (spawn forks synchronously, and steps take turns), then its own back.
    const ownGroups = sameIds ? process.getgroups?.() : undefined;
    if (ownGroups !== undefined) process.setgroups?.(user.groups);
    let running: Promise<RunResult>;
    try {
      running = spawnStep(cmd, args, output, signal, {
        env: spec.env,
        cwd: join(root, cwd),
        ...(sameIds ? {} : { uid: user.uid, gid: user.gid }),
        ...(this.#opts.killGraceMs !== undefined ? { killGraceMs: this.#opts.killGraceMs } : {}),
        hint: "check that the image has the step's shell or command",
      });
    } finally {
      if (ownGroups !== undefined) process.setgroups?.(ownGroups);
    }
    const result = await running;
    await diffCopy(root, baseline, spec.rootfs.upperdir, { flavor: this.#opts.flavor, exclude: keep, signal });
    return result;
  }

  #unsupported(what: string): TsbuildError {
    return new TsbuildError('ISOLATION_UNAVAILABLE', `${what} needs --isolation rootless; this build uses none`, {
      hint: 'run where user namespaces are allowed (tsbuild info shows what this environment allows), or drop the option',
    });
  }
}

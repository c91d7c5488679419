/**
 * Turns a RUN's parsed --mount specs into sandbox mounts: host paths prepared here (cache dirs in
 * the store, overlay views of stages, images and the context), secrets read just in time and
 * handed to the helper on a pipe (it writes them to a private tmpfs). Everything prepared is
 * undone when `fn` returns; nothing of a mount is ever part of the step's layer.
 */
import { createHash } from 'node:crypto';
import { chmod, chown, cp, mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { constants as fsConstants } from 'node:fs';
import { dirname, join, posix, relative, sep } from 'node:path';
import { TsbuildError } from '../../errors.js';
import type { SandboxMount } from '../../isolation/runtime.js';
import type { ActiveSnapshot } from '../../snapshot/snapshotter.js';
import { withLockFile } from '../../util/lockFile.js';
import { lstatIfExists, pathExists } from '../../util/lstatIfExists.js';
import { resolveInRoot } from '../../util/scopedPath.js';
import type { ContextFilter } from '../../context/dockerignore.js';
import type { ImageRootfs, StepContext } from '../stepContext.js';
import type { CacheMount, RunMount } from './parseMount.js';
import { defaultRunOptions } from './runOptions.js';
import type { RunInstruction } from '../../dockerfile/instructions.js';

export interface PreparedMounts {
  mounts: SandboxMount[];
  /** KEY=value entries for `type=secret,env=KEY`. */
  env: string[];
}

type Cleanup = () => Promise<void>;

/** Where type=cache directories live: next to the store's tmp dir (same filesystem). */
export function cacheMountsDir(tmpDir: string): string {
  return join(dirname(tmpDir), 'cache-mounts');
}

export async function withRunMounts<T>(instr: RunInstruction, mounts: readonly RunMount[], ctx: StepContext, fn: (prepared: PreparedMounts) => Promise<T>): Promise<T> {
  const cleanups: Cleanup[] = [];
  const prepared: PreparedMounts = { mounts: [], env: [] };
  const locked: CacheMount[] = [];
  try {
    for (const m of mounts) await prepareOne(instr, m, ctx, prepared, cleanups, locked);
    // Parents before children, as BuildKit sorts them, so /a/b lands on top of /a.
    prepared.mounts.sort((a, b) => a.target.split('/').length - b.target.split('/').length);
    return await withCacheLocks(locked, ctx, () => fn(prepared));
  } finally {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  }
}

async function withCacheLocks<T>(locked: readonly CacheMount[], ctx: StepContext, fn: () => Promise<T>): Promise<T> {
  const [first, ...rest] = locked;
  if (!first) return fn();
  const dir = cacheMountsDir(ctx.services.tmpDir);
  // sharing=locked: one RUN at a time per cache id, across builds; waits as long as it takes.
  return withLockFile(join(dir, `${cacheKey(first.id)}.lock`), () => withCacheLocks(rest, ctx, fn), { timeoutMs: 24 * 3600_000, signal: ctx.signal });
}

function cacheKey(id: string): string {
  return createHash('sha256').update(id).digest('hex');
}

async function prepareOne(instr: RunInstruction, m: RunMount, ctx: StepContext, out: PreparedMounts, cleanups: Cleanup[], locked: CacheMount[]): Promise<void> {
  const { services } = ctx;
  const opts = services.run ?? defaultRunOptions;
  switch (m.type) {
    case 'tmpfs':
      out.mounts.push({ type: 'tmpfs', target: m.target, options: m.size !== undefined ? `size=${m.size}` : '' });
      return;
    case 'secret': {
      const source = opts.secrets.get(m.id);
      let value: Buffer | undefined;
      if (source && 'file' in source) {
        value = await readFile(source.file).catch((err: NodeJS.ErrnoException) => {
          throw new TsbuildError('USAGE', `reading secret ${m.id} from ${source.file}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`);
        });
      } else if (source) {
        const v = process.env[source.env];
        if (v !== undefined) value = Buffer.from(v);
      }
      if (value === undefined) {
        if (m.required) throw new TsbuildError('USAGE', `secret ${m.id} is required but was not given`, { hint: `pass --secret id=${m.id},src=FILE or --secret id=${m.id},env=VAR` });
        return; // BuildKit: an optional missing secret mounts nothing
      }
      if (m.env !== undefined) out.env.push(`${m.env}=${value.toString('utf8')}`);
      if (m.target !== undefined) out.mounts.push({ type: 'file', target: m.target, content: value, mode: m.mode, uid: m.uid, gid: m.gid });
      return;
    }
    case 'ssh': {
      const socket = opts.ssh.get(m.id);
      if (socket === undefined) {
        if (m.required) throw new TsbuildError('USAGE', `ssh agent ${m.id} is required but was not given`, { hint: `pass --ssh ${m.id}[=SOCKET|=KEYFILE]` });
        return;
      }
      out.mounts.push({ type: 'bind', source: socket, target: m.target, readonly: false });
      if (m.id === 'default' || !out.env.some((e) => e.startsWith('SSH_AUTH_SOCK='))) out.env.push(`SSH_AUTH_SOCK=${m.target}`);
      return;
    }
    case 'cache': {
      const root = cacheMountsDir(services.tmpDir);
      await mkdir(root, { recursive: true, mode: 0o700 });
      let dir = join(root, cacheKey(m.id));
      if (m.sharing === 'locked') locked.push(m);
      if (m.sharing === 'private') {
        // A private cache is never shared by two RUNs at once: a busy one gets its own instance.
        dir = await mkdtemp(`${dir}.private-`);
        cleanups.push(() => rm(dir, { recursive: true, force: true }));
      }
      if (!(await pathExists(join(dir, '.tsbuild-cache')))) {
        // First use: the data dir is made (or seeded from `from`) with the mount's owner and mode.
        const data = join(dir, 'data');
        await mkdir(dir, { recursive: true, mode: 0o700 });
        if (m.from !== undefined) {
          const src = await sourceRoot(instr, m.from, ctx, cleanups);
          await cp(await resolveInRoot(src, m.source ?? '/'), data, { recursive: true, preserveTimestamps: true, verbatimSymlinks: true });
        } else {
          await mkdir(data, { recursive: true });
        }
        await chown(data, m.uid, m.gid);
        await chmod(data, m.mode);
        await mkdir(join(dir, '.tsbuild-cache'), { recursive: true });
      }
      out.mounts.push({ type: 'bind', source: join(dir, 'data'), target: m.target, readonly: m.readonly });
      return;
    }
    case 'bind': {
      const root = m.from === undefined ? services.contextDir : await sourceRoot(instr, m.from, ctx, cleanups);
      let source = await resolveInRoot(root, posix.resolve('/', m.source));
      const hidden = m.from === undefined && services.contextFilter !== undefined && (await hiddenByIgnore(root, source, services.contextFilter));
      if (hidden || !(await pathExists(source))) throw new TsbuildError('COPY_SOURCE', `mount source ${m.source} not found${m.from ? ` in ${m.from}` : ' in the build context'}`);
      if (m.from === undefined && services.contextFilter !== undefined) {
        // The context as BuildKit's bind shows it: without what .dockerignore hides. A throw-away
        // copy, so a rw mount may write to it directly.
        const scratch = await mkdtemp(join(services.tmpDir, 'bind-ctx-'));
        cleanups.push(() => rm(scratch, { recursive: true, force: true }));
        source = await filteredCopy(root, source, services.contextFilter, join(scratch, 'view'));
        out.mounts.push({ type: 'bind', source, target: m.target, readonly: m.readonly });
        return;
      }
      if (m.readonly) {
        out.mounts.push({ type: 'bind', source, target: m.target, readonly: true });
        return;
      }
      // rw: writes go to a throw-away overlay upper, as BuildKit discards them.
      const scratch = await mkdtemp(join(services.tmpDir, 'bind-rw-'));
      cleanups.push(() => rm(scratch, { recursive: true, force: true }));
      const st = await stat(source);
      if (!st.isDirectory()) {
        await cp(source, join(scratch, 'file'), { preserveTimestamps: true });
        out.mounts.push({ type: 'bind', source: join(scratch, 'file'), target: m.target, readonly: false });
        return;
      }
      for (const d of ['upper', 'work', 'merged']) await mkdir(join(scratch, d));
      await services.mounter.mountOverlay({ lowerdirs: [source], upperdir: join(scratch, 'upper'), workdir: join(scratch, 'work'), userxattr: services.xattrFlavor === 'user' }, join(scratch, 'merged'));
      cleanups.push(() => services.mounter.unmount(join(scratch, 'merged')));
      out.mounts.push({ type: 'bind', source: join(scratch, 'merged'), target: m.target, readonly: false });
      return;
    }
  }
}

/** The context-relative, `/`-separated path of `path` under `root`. */
function contextPath(root: string, path: string): string {
  return relative(root, path).split(sep).join('/');
}

/** Whether .dockerignore hides `source` itself (or a directory above it). */
async function hiddenByIgnore(root: string, source: string, filter: ContextFilter): Promise<boolean> {
  const parts = contextPath(root, source).split('/').filter((p) => p !== '');
  for (let i = 1; i <= parts.length; i++) {
    const st = await lstatIfExists(join(root, ...parts.slice(0, i)));
    if (filter(parts.slice(0, i).join('/'), st?.isDirectory() ?? false)) return true;
  }
  return false;
}

/** `source` (in the context `root`) copied to `dest` without what `filter` hides; reflinks where the filesystem has them. */
async function filteredCopy(root: string, source: string, filter: ContextFilter, dest: string): Promise<string> {
  await cp(source, dest, {
    recursive: true,
    preserveTimestamps: true,
    verbatimSymlinks: true,
    mode: fsConstants.COPYFILE_FICLONE,
    filter: async (src) => {
      if (src === source) return true;
      const st = await lstatIfExists(src);
      return !filter(contextPath(root, src), st?.isDirectory() ?? false);
    },
  });
  return dest;
}

/** A read-only view of a stage, an image or a named context for `from=`, mounted until cleanup. */
async function sourceRoot(instr: RunInstruction, from: string, ctx: StepContext, cleanups: Cleanup[]): Promise<string> {
  const { services, stage, signal } = ctx;
  const dep = stage.copyFrom.find((c) => stage.ast.instructions[c.instructionIndex] === instr && c.from === from);
  let rootfs: ImageRootfs;
  if (dep?.kind === 'stage') rootfs = await services.stageResult(dep.index);
  else if (dep?.kind === 'context') rootfs = await services.namedContext(dep.name, signal);
  else if (dep?.kind === 'image') rootfs = await services.image(dep.ref, signal);
  else rootfs = await services.image(from, signal);
  const active: ActiveSnapshot = await services.snapshots.prepare(rootfs.layers.map((l) => l.diffID));
  cleanups.push(() => services.snapshots.abort(active));
  const lowerdirs = active.lowerdirs.length > 0 ? active.lowerdirs : [active.emptyLowerdir];
  await services.mounter.mountOverlay({ lowerdirs, upperdir: active.upperdir, workdir: active.workdir, userxattr: services.xattrFlavor === 'user' }, active.mountpoint);
  cleanups.push(() => services.mounter.unmount(active.mountpoint));
  return active.mountpoint;
}

/**
 * The filesystem half of COPY and ADD: copies sources from a root (the build context or another
 * stage's mounted rootfs) into the step's writable rootfs with Docker's rules. Every path on both
 * sides is resolved with resolveInRoot, so no symlink can lead a read or a write out of its root.
 */
import type { ReadEntry } from 'tar';
import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { chmod, copyFile, constants, lstat, lutimes, mkdir, open, readlink, rm, symlink, utimes } from 'node:fs/promises';
import { posix } from 'node:path';
import type { Stats } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import pLimit from 'p-limit';
import { TsbuildError } from '../../errors.js';
import { PatternMatcher } from '../../context/patternMatcher.js';
import { ownerWriterFor, type OwnerWriter } from '../../layer/ownerWriter.js';
import { copyFilesInto, scanDir } from '../../util/fsx.js';
import { resolveInRoot } from '../../util/scopedPath.js';
import { modeFor, type ChmodSpec } from './chmodSpec.js';
import { expandSource, hasMagic } from '../../context/globSources.js';

export interface Ownership {
  uid: number;
  gid: number;
}

export interface CopyRequest {
  srcRoot: string;
  /** How a source is named in messages: "build context" or "stage build". */
  srcName: string;
  sources: string[];
  destRoot: string;
  /** Absolute path inside the image (WORKDIR already applied). */
  dest: string;
  owner?: Ownership;
  /** How owners are written (the store's kind); default: lchown. */
  owners?: OwnerWriter;
  chmod?: ChmodSpec;
  /**
   * COPY --exclude patterns (moby/patternmatcher): matched against each path relative to the
   * source being copied, and against a wildcard match's own name, so `--exclude=*.txt dir/ hom*`
   * drops text files both inside dir/ and among the matches.
   */
  exclude?: readonly string[];
  /**
   * COPY --parents: each source keeps its path (from the context root, or from a `/./` pivot in
   * the source) under dest, which is always a directory.
   */
  parents?: boolean;
  /** ADD: local tar archives are unpacked into dest. */
  extractArchives: boolean;
  /**
   * Hides source paths (relative to srcRoot, `/`-separated): .dockerignore for the build context,
   * COPY --exclude. A hidden path is never copied, never matched by a wildcard, and "not found"
   * when named explicitly. A directory for which it returns true is skipped whole.
   */
  skip?: (relPath: string, isDir: boolean) => boolean;
  signal: AbortSignal;
}

export interface CopySummary {
  files: number;
}

const { S_IFDIR, S_IFMT, S_IFREG } = constants;
const FILE_CONCURRENCY = 16;
// New regular files copied per copyFilesInto job: several jobs of one directory run at once.
const COPY_BATCH = 64;

export async function copyFiles(req: CopyRequest): Promise<CopySummary> {
  const destIsDir = req.dest.endsWith('/') || req.parents === true;
  if (req.sources.length > 1 && !destIsDir) {
    throw new TsbuildError('COPY_SOURCE', 'when using COPY with more than one source file, the destination must be a directory and end with a /');
  }
  const owner = req.owner ?? { uid: 0, gid: 0 };
  const owners = req.owners ?? ownerWriterFor('native');
  const limit = pLimit(FILE_CONCURRENCY);
  const summary: CopySummary = { files: 0 };
  const excluded = excludeFilter(req.exclude);
  const expanded: string[] = [];
  // With --parents, how much of each match's path is dropped under dest (up to a `/./` pivot).
  const pivots = new Map<string, string>();
  for (const raw of req.sources) {
    const { source, pivot } = req.parents ? splitPivot(raw) : { source: raw, pivot: '' };
    const matches = await visibleSources(req, await expandSource(req.srcRoot, source));
    if (matches.length === 0 && !hasMagic(source)) {
      throw new TsbuildError('COPY_SOURCE', `"/${posix.normalize(`/${source}`).slice(1)}": not found in the ${req.srcName}`, {
        hint: 'it is excluded by .dockerignore (or --exclude)',
      });
    }
    if (matches.length === 0) {
      throw new TsbuildError('COPY_SOURCE', `no source files match ${JSON.stringify(source)} in the ${req.srcName}`, {
        hint: 'check the pattern and your .dockerignore',
      });
    }
    for (const m of matches) {
      if (excluded(posix.basename(m), false)) continue;
      expanded.push(m);
      pivots.set(m, pivot);
    }
  }
  const many = expanded.length > 1;
  if (many && !destIsDir) {
    throw new TsbuildError('COPY_SOURCE', 'when using COPY with more than one source file, the destination must be a directory and end with a /');
  }

  for (const rel of expanded) {
    req.signal.throwIfAborted();
    const srcPath = await resolveInRoot(req.srcRoot, rel);
    let st: Stats;
    try {
      st = await lstat(srcPath);
    } catch {
      throw new TsbuildError('COPY_SOURCE', `"/${rel}": not found in the ${req.srcName}`, {
        hint: req.srcName === 'build context' ? 'paths are relative to the build context; check it is not excluded by .dockerignore' : undefined,
      });
    }
    const kept = req.parents ? keptPath(rel, pivots.get(rel) ?? '') : undefined;
    if (st.isDirectory()) {
      const destDir = await ensureDir(req.destRoot, kept !== undefined ? posix.join(req.dest, kept) : req.dest, owner, owners);
      await copyTree(srcPath, req.destRoot, posix.relative(req.destRoot, destDir), owner, owners, req, limit, summary, { base: srcPath, excluded });
      continue;
    }
    if (req.extractArchives && st.isFile() && (await archiveKind(srcPath)) !== undefined) {
      const destDir = await ensureDir(req.destRoot, req.dest, owner, owners);
      await extractArchive(srcPath, destDir, req.owner, owners, req.signal);
      summary.files++;
      continue;
    }
    let targetPath = req.dest;
    if (kept !== undefined) targetPath = posix.join(req.dest, kept);
    else if (destIsDir || many) targetPath = posix.join(req.dest, posix.basename(rel));
    else {
      const existing = await resolveInRoot(req.destRoot, req.dest);
      const ex = await lstat(existing).catch(() => undefined);
      if (ex?.isDirectory()) targetPath = posix.join(req.dest, posix.basename(rel));
    }
    await ensureDir(req.destRoot, posix.dirname(targetPath), owner, owners);
    await copyEntry(srcPath, st, req.destRoot, targetPath, owner, owners, req.chmod);
    summary.files++;
  }
  return summary;
}

type ExcludeFilter = (relPath: string, isDir: boolean) => boolean;

function excludeFilter(patterns: readonly string[] | undefined): ExcludeFilter {
  if (!patterns || patterns.length === 0) return () => false;
  let matcher: PatternMatcher;
  try {
    matcher = new PatternMatcher(patterns);
  } catch (err) {
    throw new TsbuildError('DOCKERFILE_SYNTAX', `invalid --exclude pattern: ${(err as Error).message}`, { cause: err });
  }
  return (relPath) => relPath !== '' && matcher.matchesOrParentMatches(relPath);
}

/** `a/./b/*.txt` → source `a/b/*.txt`, pivot `a`: BuildKit's --parents keeps what follows the pivot. */
export function splitPivot(source: string): { source: string; pivot: string } {
  const at = source.indexOf('/./');
  if (at < 0) return { source, pivot: '' };
  const pivot = posix.normalize(`/${source.slice(0, at)}`).slice(1);
  return { source: `${source.slice(0, at)}/${source.slice(at + 3)}`, pivot };
}

function keptPath(rel: string, pivot: string): string {
  return pivot === '' ? rel : posix.relative(pivot, rel);
}

/** Drops the sources `req.skip` hides; a source that does not exist is kept, to fail later as "not found". */
async function visibleSources(req: CopyRequest, matches: string[]): Promise<string[]> {
  const skip = req.skip;
  if (!skip) return matches;
  const out: string[] = [];
  for (const rel of matches) {
    const st = await lstat(await resolveInRoot(req.srcRoot, rel)).catch(() => undefined);
    if (!skip(rel, st?.isDirectory() ?? false)) out.push(rel);
  }
  return out;
}

/** mkdir -p inside the root; directories it creates get the step's owner, as BuildKit does. */
async function ensureDir(root: string, path: string, owner: Ownership, owners: OwnerWriter): Promise<string> {
  const parts = posix.normalize(`/${path}`).split('/').filter(Boolean);
  let current = '/';
  for (const part of parts) {
    current = posix.join(current, part);
    const host = await resolveInRoot(root, current);
    const st = await lstat(host).catch(() => undefined);
    if (st?.isDirectory()) continue;
    if (st) {
      throw new TsbuildError('COPY_SOURCE', `cannot copy to ${path}: ${current} exists and is not a directory`);
    }
    await mkdir(host, { mode: 0o755 });
    await owners.chown(host, owner.uid, owner.gid, { created: true });
  }
  return resolveInRoot(root, path);
}

async function copyTree(
  srcDir: string,
  destRoot: string,
  destRel: string,
  owner: Ownership,
  owners: OwnerWriter,
  req: CopyRequest,
  limit: ReturnType<typeof pLimit>,
  summary: CopySummary,
  excludes: { base: string; excluded: ExcludeFilter },
): Promise<void> {
  // Directories are walked in order (parents before children). The directory is listed with its
  // lstat fields in one job (scanDir); its new regular files are copied COPY_BATCH at a time, one
  // job each (copyFilesInto); the rest (links, files whose destination exists, an xattr store's
  // owners) go one by one through copyEntry, a bounded number in flight.
  req.signal.throwIfAborted();
  const entries = await scanDir(srcDir, { inlineMax: 0, budget: 0, xattrs: false });
  const subdirs: Array<[string, string, Stats, string]> = [];
  // Resolved once per directory, not once per file (resolveInRoot lstats every component).
  const destDirHost = await resolveInRoot(destRoot, posix.join('/', destRel));
  const dirs: string[] = [];
  const batch: Array<{ name: string; mode: number }> = [];
  const single: string[] = [];
  for (const e of entries) {
    const src = posix.join(srcDir, e.name);
    if (!e.nameIsUtf8) {
      throw new TsbuildError('COPY_SOURCE', `"${posix.relative(req.srcRoot, src)}" in the ${req.srcName}: the file name is not UTF-8`, { hint: 'rename the file' });
    }
    const type = e.mode & S_IFMT;
    if (req.skip?.(posix.relative(req.srcRoot, src), type === S_IFDIR)) continue;
    if (excludes.excluded(posix.relative(excludes.base, src), type === S_IFDIR)) continue;
    if (type === S_IFDIR) dirs.push(e.name);
    else if (type === S_IFREG && owners.kind === 'native') batch.push({ name: e.name, mode: modeFor(req.chmod, e.mode, false) });
    else single.push(e.name);
  }
  const copyOne = (name: string) =>
    limit(async () => {
      req.signal.throwIfAborted();
      const src = posix.join(srcDir, name);
      await copyEntry(src, await lstat(src), destRoot, posix.join('/', destRel, name), owner, owners, req.chmod, destDirHost);
      summary.files++;
    });
  await Promise.all(
    dirs.map((name) =>
      limit(async () => {
        req.signal.throwIfAborted();
        const src = posix.join(srcDir, name);
        const st = await lstat(src);
        const host = await resolveInRoot(destRoot, posix.join('/', destRel, name));
        const existing = await lstat(host).catch(() => undefined);
        if (existing && !existing.isDirectory()) await rm(host, { recursive: true, force: true });
        if (!existing?.isDirectory()) await mkdir(host);
        await applyMeta(host, st, owner, owners, req.chmod, !existing?.isDirectory());
        subdirs.push([src, posix.relative(destRoot, host), st, host]);
      }),
    ),
  );
  const chunks: Array<typeof batch> = [];
  for (let i = 0; i < batch.length; i += COPY_BATCH) chunks.push(batch.slice(i, i + COPY_BATCH));
  await Promise.all([
    ...chunks.map((files) =>
      limit(async () => {
        req.signal.throwIfAborted();
        const outcome = await copyFilesInto(srcDir, destDirHost, files, owner);
        summary.files += outcome.filter((o) => o === 'copied').length;
        // An existing destination is replaced by Docker's rules, a source changed meanwhile copied as it is now.
        return files.filter((_, i) => outcome[i] !== 'copied').map((f) => f.name);
      }),
    ),
  ]).then((left) => Promise.all([...single, ...left.flat()].map(copyOne)));
  for (const [src, rel, st, host] of subdirs.sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    await copyTree(src, destRoot, rel, owner, owners, req, limit, summary, excludes);
    // Filling the directory moved its mtime: the source's again, as Docker keeps it (and so the
    // layer does not change with the time of the build).
    await utimes(host, st.atime, st.mtime);
  }
}

async function copyEntry(
  src: string,
  st: Stats,
  destRoot: string,
  target: string,
  owner: Ownership,
  owners: OwnerWriter,
  mode?: ChmodSpec,
  resolvedParent?: string,
): Promise<void> {
  // The last component is not followed: copying a file onto a symlink replaces the link.
  const parent = resolvedParent ?? (await resolveInRoot(destRoot, posix.dirname(target)));
  const host = posix.join(parent, posix.basename(target));
  // Fast path for the common case, a new file: O_EXCL creation never follows or overwrites
  // anything, and saves the lstat of a destination that is not there.
  if (st.isFile()) {
    const created = await copyFile(src, host, constants.COPYFILE_FICLONE | constants.COPYFILE_EXCL).then(
      () => true,
      (err: NodeJS.ErrnoException) => {
        if (err.code === 'EEXIST') return false;
        throw err;
      },
    );
    if (created) {
      await applyFileMeta(host, st, owner, owners, mode);
      return;
    }
  }
  const existing = await lstat(host).catch(() => undefined);
  if (existing?.isDirectory() && !st.isDirectory()) {
    throw new TsbuildError('COPY_SOURCE', `cannot copy a file onto the directory ${target}`);
  }
  if (existing) await rm(host, { force: true });
  if (st.isSymbolicLink()) {
    await symlink(await readlink(src), host);
    await owners.chown(host, owner.uid, owner.gid, { created: true });
    await lutimes(host, st.atime, st.mtime);
    return;
  }
  if (!st.isFile()) return; // sockets, fifos and devices in a context are not copied, as in BuildKit
  await copyFile(src, host, constants.COPYFILE_FICLONE);
  await applyFileMeta(host, st, owner, owners, mode);
}

/**
 * applyMeta for a file copyFile just made: libuv's copyfile already gave it the source's mode
 * bits, so the chmod is needed only when --chmod changes them or chown cleared setuid/setgid.
 */
async function applyFileMeta(host: string, st: Stats, owner: Ownership, owners: OwnerWriter, mode?: ChmodSpec): Promise<void> {
  const want = modeFor(mode, st.mode, false);
  if (want !== (st.mode & 0o7777) || (want & 0o6000) !== 0) {
    await applyMeta(host, st, owner, owners, mode, true);
    return;
  }
  await owners.chown(host, owner.uid, owner.gid, { created: true });
  await utimes(host, st.atime, st.mtime);
}

async function applyMeta(host: string, st: Stats, owner: Ownership, owners: OwnerWriter, mode: ChmodSpec | undefined, created: boolean): Promise<void> {
  await owners.chown(host, owner.uid, owner.gid, { created });
  // chmod after chown: chown clears setuid/setgid bits.
  await chmod(host, modeFor(mode, st.mode, st.isDirectory()));
  await utimes(host, st.atime, st.mtime);
}

type ArchiveKind = 'tar' | 'gzip' | 'bzip2' | 'xz' | 'zstd';

export async function archiveKind(path: string): Promise<ArchiveKind | undefined> {
  const fh = await open(path, 'r');
  try {
    const head = Buffer.alloc(512);
    const { bytesRead } = await fh.read(head, 0, 512, 0);
    const b = head.subarray(0, bytesRead);
    if (b[0] === 0x1f && b[1] === 0x8b) return 'gzip';
    if (b.subarray(0, 3).toString('latin1') === 'BZh') return 'bzip2';
    if (b.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
    if (b.subarray(0, 4).equals(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]))) return 'zstd';
    if (bytesRead >= 262 && b.subarray(257, 262).toString('latin1') === 'ustar') return 'tar';
    return undefined;
  } finally {
    await fh.close();
  }
}

const DECOMPRESSORS: Partial<Record<ArchiveKind, [string, string[]]>> = {
  bzip2: ['bzip2', ['-dc']],
  xz: ['xz', ['-dc']],
  zstd: ['zstd', ['-dc']],
};

async function extractArchive(src: string, destDir: string, owner: Ownership | undefined, owners: OwnerWriter, signal: AbortSignal): Promise<void> {
  const kind = await archiveKind(src);
  // A store that records owners in xattrs cannot chown: node-tar leaves the owners alone and
  // each entry's owner (the archive's, or --chown) is recorded after the unpack.
  const recorded: Array<[string, Ownership]> = [];
  const record = owners.kind === 'xattr';
  // node-tar only warns about (and skips) entries it will not write: `..` in a path or a link
  // target, a path through a symlink. A hostile archive is refused instead of half-unpacked.
  const refused: string[] = [];
  const tar = await import('tar');
  const unpack = tar.x({
    onwarn: (code: string, message: string | Error) => {
      if (code === 'TAR_ENTRY_ERROR' || code === 'TAR_SYMLINK_ERROR') refused.push(typeof message === 'string' ? message : message.message);
    },
    cwd: destDir,
    preserveOwner: !record && owner === undefined,
    ...(owner && !record ? { uid: owner.uid, gid: owner.gid } : {}),
    ...(record ? { onReadEntry: (e: ReadEntry) => void recorded.push([e.path, owner ?? { uid: e.uid ?? 0, gid: e.gid ?? 0 }]) } : {}),
    // node-tar strips a leading `/` (as Docker does) and skips what `onwarn` then refuses.
    preservePaths: false,
    noMtime: false,
  });
  try {
    const tool = kind ? DECOMPRESSORS[kind] : undefined;
    if (tool) {
      const child = spawn(tool[0], [...tool[1], src], { stdio: ['ignore', 'pipe', 'pipe'], signal });
      const exited = new Promise<void>((resolve, reject) => {
        child.on('error', (err) => reject(new TsbuildError('COPY_SOURCE', `unpacking ${posix.basename(src)}: ${tool[0]} is not available (${err.message})`, { hint: `install ${tool[0]}` })));
        child.on('close', (code) => (code === 0 ? resolve() : reject(new TsbuildError('COPY_SOURCE', `unpacking ${posix.basename(src)}: ${tool[0]} exited with ${code}`))));
      });
      await Promise.all([pipeline(child.stdout, unpack), exited]);
    } else {
      await pipeline(createReadStream(src), unpack);
    }
  } catch (err) {
    if (err instanceof TsbuildError) throw err;
    throw new TsbuildError('COPY_SOURCE', `unpacking ${posix.basename(src)}: ${(err as Error).message}`, { cause: err });
  }
  if (refused.length > 0) {
    throw new TsbuildError('COPY_SOURCE', `unpacking ${posix.basename(src)}: unsafe entry refused: ${refused[0]}`, {
      hint: 'the archive has entries that point outside the destination (`..`, or through a symlink); fix the archive',
    });
  }
  for (const [path, o] of recorded) {
    // node-tar wrote these paths inside destDir (it refused the rest above); an entry it skipped is not there.
    const rel = posix.normalize(`/${path}`);
    if (rel === '/') continue;
    const parent = await resolveInRoot(destDir, posix.dirname(rel)).catch(() => undefined);
    const host = parent === undefined ? undefined : posix.join(parent, posix.basename(rel));
    if (host !== undefined && (await lstat(host).catch(() => undefined))) await owners.chown(host, o.uid, o.gid);
  }
}

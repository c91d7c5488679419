/**
 * Content digests of build-context files. A directory is read in one native scan that brings
 * the contents of its files up to 64 KiB (reading those costs about what checking a cache
 * would). Bigger files, and files named as sources themselves, go through a stat cache as git's
 * index keeps one: a file whose (dev, inode, size, mtime ns, ctime ns) match the cached entry is
 * not read again. Git's racily-clean rule applies: an entry whose mtime is not older than the
 * moment the cache was written may have changed within the same timestamp tick, so it is hashed
 * again.
 *
 * The digest of an entry covers its type, permission bits and content (regular files) or link
 * target (symlinks), never its times or owner: COPY sets the owner itself (root or --chown), and
 * a fresh checkout of the same commit must hit.
 */
import { constants, createReadStream, readFileSync } from 'node:fs';
import type { BigIntStats } from 'node:fs';
import { lstat, mkdir, readlink } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { dirname, join, posix } from 'node:path';
import pLimit from 'p-limit';
import { writeFileAtomic } from '../util/atomicWrite.js';
import { rdevOf, readFiles, scanDir, type ScannedEntry } from '../util/fsx.js';
import { resolveInRoot } from '../util/scopedPath.js';
import { expandSource } from '../context/globSources.js';
import { digestOf } from './canonicalJson.js';

/** [dev, ino, size, mtimeNs, ctimeNs, digest] */
type StatRow = [string, string, string, string, string, string];

interface StatCacheFile {
  version: 1;
  /** When the file was written (ns since the epoch); entries with mtime >= this are racily clean. */
  writtenAtNs: string;
  entries: Record<string, StatRow>;
}

const READ_CONCURRENCY = 16;
const SCAN_CONCURRENCY = 4;
// Files up to this size are read with their directory's scan (at most SCAN_BUDGET bytes at once).
const INLINE_MAX = 64 * 1024;
const SCAN_BUDGET = 1024 * 1024;
const EMPTY = Buffer.alloc(0);
const { S_IFDIR, S_IFLNK, S_IFMT, S_IFREG } = constants;

export class ContextHasher {
  readonly #path: string;
  #loaded: Promise<StatCacheFile> | undefined;
  readonly #fresh = new Map<string, StatRow>();
  #dirty = false;

  /** `path`: the stat cache file in the store (e.g. ROOT/cache/context-stat.json). */
  constructor(path: string) {
    this.#path = path;
  }

  /**
   * Digests of everything the sources name, walked recursively, keyed by path relative to the
   * context ("missing" for a source that does not exist: the step itself will report it).
   */
  async hash(
    contextDir: string,
    sources: readonly string[],
    signal: AbortSignal,
    hidden?: (relPath: string, isDir: boolean) => boolean,
  ): Promise<Record<string, string>> {
    const cache = await this.#load();
    const limit = pLimit(READ_CONCURRENCY);
    // Bounds the directory scans in flight (each holds up to SCAN_BUDGET of file contents). Never
    // held across the recursion, so it cannot deadlock.
    const scanLimit = pLimit(SCAN_CONCURRENCY);
    const out: Record<string, string> = {};
    const jobs: Promise<void>[] = [];
    const bigFile = (rel: string, abs: string, mode: number): void => {
      jobs.push(limit(async () => {
        // Its own lstat: the stat cache keys on dev, inode, size and nanosecond mtime and ctime.
        const st = await lstat(abs, { bigint: true });
        out[rel] = digestOf({ t: 'f', mode, content: await this.#fileDigest(abs, st, cache, signal) });
      }));
    };
    // A directory's entries come from one scan with the contents of its small files: those are
    // hashed from memory (no stat cache: reading them is as cheap as checking it), bigger ones
    // are streamed unless the stat cache knows them.
    const walkDir = async (rel: string, abs: string): Promise<void> => {
      signal.throwIfAborted();
      const subdirs: Array<[string, string]> = [];
      await scanLimit(async () => {
        const entries = await scanDir(abs, { inlineMax: INLINE_MAX, budget: SCAN_BUDGET, xattrs: false });
        const tail: ScannedEntry[] = [];
        for (const e of entries) {
          const childRel = rel ? `${rel}/${e.name}` : e.name;
          // Not UTF-8: unreachable by name, as a readdir'd name was before (the step reports it).
          if (!e.nameIsUtf8) {
            out[childRel] = 'missing';
            continue;
          }
          const type = e.mode & S_IFMT;
          const mode = e.mode & 0o7777;
          // .dockerignore'd files are invisible to COPY, so they must not make it miss either.
          if (hidden?.(childRel, type === S_IFDIR)) continue;
          if (type === S_IFDIR) {
            out[childRel] = digestOf({ t: 'd', mode });
            subdirs.push([childRel, join(abs, e.name)]);
          } else if (type === S_IFLNK) {
            out[childRel] = digestOf({ t: 'l', target: e.linkTarget ?? '' });
          } else if (type === S_IFREG) {
            if (e.data || e.size === 0) out[childRel] = fileEntryDigest(mode, e.data ?? EMPTY);
            else if (e.size <= INLINE_MAX) tail.push(e);
            else bigFile(childRel, join(abs, e.name), mode);
          } else {
            out[childRel] = digestOf({ t: 'o', mode, rdev: String(rdevOf(e)) });
          }
        }
        // Small files past the scan's budget, a batch at a time.
        for (let i = 0; i < tail.length;) {
          const batch: ScannedEntry[] = [];
          for (let bytes = 0; i < tail.length && bytes < SCAN_BUDGET; i++) {
            batch.push(tail[i]!);
            bytes += tail[i]!.size;
          }
          const data = await readFiles(abs, batch);
          batch.forEach((e, k) => (out[rel ? `${rel}/${e.name}` : e.name] = fileEntryDigest(e.mode & 0o7777, data[k]!)));
        }
      });
      await Promise.all(subdirs.map(([r, a]) => walkDir(r, a)));
    };
    const visit = async (rel: string): Promise<void> => {
      signal.throwIfAborted();
      const abs = await resolveInRoot(contextDir, rel);
      const st = await lstat(abs, { bigint: true }).catch(() => undefined);
      if (!st) {
        out[rel || '.'] = 'missing';
        return;
      }
      const mode = Number(st.mode & 0o7777n);
      if (rel && hidden?.(rel, st.isDirectory())) return;
      if (st.isDirectory()) {
        out[rel || '.'] = digestOf({ t: 'd', mode });
        await walkDir(rel, abs);
      } else if (st.isSymbolicLink()) {
        out[rel] = digestOf({ t: 'l', target: await readlink(abs) });
      } else if (st.isFile()) {
        jobs.push(limit(async () => {
          out[rel] = digestOf({ t: 'f', mode, content: await this.#fileDigest(abs, st, cache, signal) });
        }));
      } else {
        out[rel] = digestOf({ t: 'o', mode, rdev: String(st.rdev) });
      }
    };
    for (const source of sources) {
      for (const match of await expandSource(contextDir, source)) await visit(posix.normalize(match).replace(/^\.\/?$|^\/+|\/+$/g, ''));
    }
    await Promise.all(jobs);
    return out;
  }

  /** Writes the stat cache back if anything in it changed (an unchanged context writes nothing). */
  async save(signal?: AbortSignal): Promise<void> {
    if (!this.#dirty) return;
    const cache = await this.#load();
    const entries = { ...cache.entries, ...Object.fromEntries(this.#fresh) };
    const file: StatCacheFile = { version: 1, writtenAtNs: String(BigInt(Date.now()) * 1_000_000n), entries };
    await mkdir(dirname(this.#path), { recursive: true });
    await writeFileAtomic(this.#path, JSON.stringify(file), signal, { durable: false });
    this.#dirty = false;
  }

  async #fileDigest(abs: string, st: BigIntStats, cache: StatCacheFile, signal: AbortSignal): Promise<string> {
    const row = cache.entries[abs];
    const stat: [string, string, string, string, string] = [String(st.dev), String(st.ino), String(st.size), String(st.mtimeNs), String(st.ctimeNs)];
    const racy = st.mtimeNs >= BigInt(cache.writtenAtNs);
    if (row && !racy && stat.every((v, i) => row[i] === v)) return row[5];
    const digest = await sha256File(abs, signal);
    if (!row || row[5] !== digest || stat.some((v, i) => row[i] !== v)) {
      this.#fresh.set(abs, [...stat, digest]);
      this.#dirty = true;
    }
    return digest;
  }

  /** Read once, in one synchronous call: it is small, and every rebuild's first hash waits for it. */
  #load(): Promise<StatCacheFile> {
    this.#loaded ??= Promise.resolve(readStatCache(this.#path));
    return this.#loaded;
  }
}

function readStatCache(path: string): StatCacheFile {
  try {
    const parsed = JSON.parse(readFileSync(path, 'utf8')) as StatCacheFile;
    if (parsed.version === 1 && typeof parsed.entries === 'object' && parsed.entries !== null) return parsed;
  } catch {
    // No cache yet, or a damaged one: start empty (it is only ever a shortcut).
  }
  return { version: 1, writtenAtNs: '0', entries: {} };
}

function fileEntryDigest(mode: number, content: Buffer): string {
  return digestOf({ t: 'f', mode, content: `sha256:${createHash('sha256').update(content).digest('hex')}` });
}

async function sha256File(path: string, signal: AbortSignal): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { signal })) hash.update(chunk as Buffer);
  return `sha256:${hash.digest('hex')}`;
}

export function statCachePath(storeRoot: string): string {
  return join(storeRoot, 'cache', 'context-stat.json');
}

/**
 * Content digests of build-context files, with a stat cache as git's index keeps one: a file
 * whose (dev, inode, size, mtime ns, ctime ns) match the cached entry is not read again, so an
 * unchanged context costs one lstat per file. Git's racily-clean rule applies: an entry whose
 * mtime is not older than the moment the cache was written may have changed within the same
 * timestamp tick, so it is hashed again.
 *
 * The digest of an entry covers its type, permission bits and content (regular files) or link
 * target (symlinks), never its times or owner: COPY sets the owner itself (root or --chown), and
 * a fresh checkout of the same commit must hit.
 */
import { createReadStream } from 'node:fs';
import type { BigIntStats } from 'node:fs';
import { lstat, mkdir, readdir, readFile, readlink } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { dirname, join, posix } from 'node:path';
import pLimit from 'p-limit';
import { writeFileAtomic } from '../util/atomicWrite.js';
import { resolveInRoot } from '../util/scopedPath.js';
import { expandSource } from '../build/steps/globSources.js';
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
const STAT_CONCURRENCY = 32;

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
    // Bounds the lstats in flight: a directory of 20,000 files is not 20,000 pending promises
    // (that peaked above 300 MiB). Never held across the recursion, so it cannot deadlock.
    const statLimit = pLimit(STAT_CONCURRENCY);
    const out: Record<string, string> = {};
    const jobs: Promise<void>[] = [];
    // `abs` is known for the children of a directory this walk already resolved and lstat'ed as a
    // real directory: joining one more name (never followed: lstat) stays inside the context.
    const visit = async (rel: string, known?: string): Promise<void> => {
      signal.throwIfAborted();
      const found = await statLimit(async () => {
        const abs = known ?? (await resolveInRoot(contextDir, rel));
        return lstat(abs, { bigint: true }).then((st) => ({ abs, st }), () => undefined);
      });
      if (!found) {
        out[rel || '.'] = 'missing';
        return;
      }
      const { abs, st } = found;
      const mode = Number(st.mode & 0o7777n);
      // .dockerignore'd files are invisible to COPY, so they must not make it miss either.
      if (rel && hidden?.(rel, st.isDirectory())) return;
      if (st.isDirectory()) {
        out[rel || '.'] = digestOf({ t: 'd', mode });
        const names = (await readdir(abs)).sort();
        await Promise.all(names.map((n) => visit(rel ? `${rel}/${n}` : n, join(abs, n))));
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
    await writeFileAtomic(this.#path, JSON.stringify(file), signal);
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

  #load(): Promise<StatCacheFile> {
    this.#loaded ??= readFile(this.#path, 'utf8').then(
      (text) => {
        const parsed = JSON.parse(text) as StatCacheFile;
        if (parsed.version !== 1 || typeof parsed.entries !== 'object') throw new Error('unexpected shape');
        return parsed;
      },
      // No cache yet, or a damaged one: start empty (it is only ever a shortcut).
      () => ({ version: 1 as const, writtenAtNs: '0', entries: {} }),
    ).catch(() => ({ version: 1 as const, writtenAtNs: '0', entries: {} }));
    return this.#loaded;
  }
}

async function sha256File(path: string, signal: AbortSignal): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { signal })) hash.update(chunk as Buffer);
  return `sha256:${hash.digest('hex')}`;
}

export function statCachePath(storeRoot: string): string {
  return join(storeRoot, 'cache', 'context-stat.json');
}

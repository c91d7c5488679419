/**
 * Size of the build cache and its garbage collector. What a tagged image references is never
 * removed, and neither is a layer another remaining cache entry still references (reference
 * counting over the entries). A running build holds a lease (cache/leases/<pid>-…), taken under
 * cache/gc.lock; prune takes the same lock and waits until no live build holds a lease, so it
 * never removes something a build has just looked up.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { TsbuildError } from '../errors.js';
import { isIndexMediaType } from '../image/mediaTypes.js';
import type { ContentStore } from '../store/contentStore.js';
import type { ImageStore } from '../store/imageStore.js';
import { digestHex } from '../store/digest.js';
import { withLockFile } from '../util/lockFile.js';
import { CacheIndex, type CacheEntry } from './cacheIndex.js';
import { pidAlive } from '../util/pidAlive.js';

export interface CacheStore {
  root: string;
  content: ContentStore;
  images: ImageStore;
  layersDir: string;
}

function gcLockPath(root: string): string {
  return join(root, 'cache', 'gc.lock');
}

function leasesDir(root: string): string {
  // Not under tmp/: a finished build leaves tmp/ empty (tests and fsck check that).
  return join(root, 'cache', 'leases');
}

/**
 * Where unchanged rebuilds find their build records (cli/buildMemo.ts): shortcuts only, so a
 * prune removes them all with the entries they name.
 */
export function buildRecordsDir(root: string): string {
  return join(root, 'cache', 'memo');
}

/**
 * Runs a build while holding a lease that keeps `cache prune` away. The lease's few small file
 * calls are synchronous (see withLockFile): every build, cached or not, pays for them.
 */
export async function withBuildLease<T>(root: string, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
  const lease = join(leasesDir(root), `${process.pid}-${randomBytes(4).toString('hex')}`);
  mkdirSync(leasesDir(root), { recursive: true });
  await withLockFile(gcLockPath(root), async () => writeFileSync(lease, `${process.pid}\n`), signal ? { signal } : {});
  try {
    return await fn();
  } finally {
    rmSync(lease, { force: true });
  }
}

async function liveLeases(root: string): Promise<number> {
  let live = 0;
  for (const name of await readdir(leasesDir(root)).catch(() => [] as string[])) {
    const pid = Number.parseInt(name.split('-')[0] ?? '', 10);
    if (pid === process.pid || pidAlive(pid)) live++;
    else await rm(join(leasesDir(root), name), { force: true });
  }
  return live;
}


export interface CacheUsage {
  entries: number;
  /** Distinct layer blobs the cache references, and their bytes. */
  layers: number;
  bytes: number;
  /** Bytes prune could free: layers no tagged image uses. */
  reclaimable: number;
}

export async function cacheUsage(store: CacheStore): Promise<CacheUsage> {
  const entries = await new CacheIndex(join(store.root, 'cache')).list();
  const tagged = await taggedReferences(store);
  const blobs = new Map<string, number>();
  for (const e of entries) if (e.layer) blobs.set(e.layer.descriptor.digest, e.layer.descriptor.size);
  let bytes = 0;
  let reclaimable = 0;
  for (const [digest, size] of blobs) {
    bytes += size;
    if (!tagged.blobs.has(digest)) reclaimable += size;
  }
  return { entries: entries.length, layers: blobs.size, bytes, reclaimable };
}

export interface PruneOptions {
  /** Keep at most this many bytes of cache-only layers (oldest entries go first). */
  keepStorage?: number;
  /** Only entries created more than this many ms ago. */
  olderThanMs?: number;
  signal?: AbortSignal;
  /** How long to wait for running builds to finish. */
  waitMs?: number;
}

export interface PruneResult {
  entries: number;
  blobs: number;
  bytes: number;
}

export async function pruneCache(store: CacheStore, opts: PruneOptions = {}): Promise<PruneResult> {
  await mkdir(join(store.root, 'cache'), { recursive: true });
  return withLockFile(
    gcLockPath(store.root),
    async () => {
      const deadline = Date.now() + (opts.waitMs ?? 60_000);
      while ((await liveLeases(store.root)) > 0) {
        if (Date.now() > deadline) {
          throw new TsbuildError('STORE_LOCKED', 'pruning the build cache: a build is running on this store', { hint: 'run cache prune again when the build has finished' });
        }
        await sleep(200, undefined, opts.signal ? { signal: opts.signal } : {});
      }
      const result = await collect(store, opts);
      await rm(buildRecordsDir(store.root), { recursive: true, force: true });
      return result;
    },
    { timeoutMs: (opts.waitMs ?? 60_000) + 10_000, ...(opts.signal ? { signal: opts.signal } : {}) },
  );
}

async function collect(store: CacheStore, opts: PruneOptions): Promise<PruneResult> {
  const index = new CacheIndex(join(store.root, 'cache'));
  const entries = (await index.list()).sort((a, b) => a.createdAt - b.createdAt);
  const tagged = await taggedReferences(store);
  const refs = new Map<string, number>();
  for (const e of entries) if (e.layer) refs.set(e.layer.descriptor.digest, (refs.get(e.layer.descriptor.digest) ?? 0) + 1);
  const cacheOnlyBytes = () => {
    let n = 0;
    const seen = new Set<string>();
    for (const e of entries) {
      const d = e.layer?.descriptor;
      if (d && !removed.has(e.key) && !tagged.blobs.has(d.digest) && !seen.has(d.digest)) {
        seen.add(d.digest);
        n += d.size;
      }
    }
    return n;
  };
  const removed = new Set<string>();
  const now = Date.now();
  const eligible = entries.filter((e) => opts.olderThanMs === undefined || now - e.createdAt > opts.olderThanMs);
  if (opts.keepStorage === undefined) for (const e of eligible) removed.add(e.key);
  else {
    for (const e of eligible) {
      if (cacheOnlyBytes() <= opts.keepStorage) break;
      removed.add(e.key);
    }
  }
  const result: PruneResult = { entries: 0, blobs: 0, bytes: 0 };
  const dropped: CacheEntry[] = [];
  for (const e of entries) {
    if (!removed.has(e.key)) continue;
    await index.remove(e.key);
    result.entries++;
    dropped.push(e);
    if (e.layer) refs.set(e.layer.descriptor.digest, (refs.get(e.layer.descriptor.digest) ?? 1) - 1);
  }
  for (const e of dropped) {
    const layer = e.layer;
    if (!layer || (refs.get(layer.descriptor.digest) ?? 0) > 0 || tagged.blobs.has(layer.descriptor.digest)) continue;
    refs.set(layer.descriptor.digest, 1); // counted once
    await store.content.delete(layer.descriptor.digest);
    if (!tagged.diffIDs.has(layer.diffID)) await rm(join(store.layersDir, digestHex(layer.diffID)), { recursive: true, force: true });
    result.blobs++;
    result.bytes += layer.descriptor.size;
  }
  if (opts.keepStorage === undefined && opts.olderThanMs === undefined) await index.clearPositions();
  return result;
}

/** Every blob and diffID a tagged image references (manifests, indexes, configs, layers). */
async function taggedReferences(store: CacheStore): Promise<{ blobs: Set<string>; diffIDs: Set<string> }> {
  const blobs = new Set<string>();
  const diffIDs = new Set<string>();
  const visit = async (digest: string, mediaType: string): Promise<void> => {
    if (blobs.has(digest)) return;
    blobs.add(digest);
    let doc: { manifests?: { digest: string; mediaType: string }[]; config?: { digest: string }; layers?: { digest: string }[] };
    try {
      doc = JSON.parse((await readFile(store.content.blobPath(digest))).toString('utf8'));
    } catch {
      return;
    }
    if (isIndexMediaType(mediaType) || doc.manifests) {
      for (const m of doc.manifests ?? []) await visit(m.digest, m.mediaType);
      return;
    }
    for (const l of doc.layers ?? []) blobs.add(l.digest);
    if (doc.config) {
      blobs.add(doc.config.digest);
      try {
        const config = JSON.parse((await readFile(store.content.blobPath(doc.config.digest))).toString('utf8')) as { rootfs?: { diff_ids?: string[] } };
        for (const d of config.rootfs?.diff_ids ?? []) diffIDs.add(d);
      } catch {
        // a missing config protects nothing more
      }
    }
  };
  for (const { descriptor } of await store.images.list()) await visit(descriptor.digest, descriptor.mediaType);
  return { blobs, diffIDs };
}

/** `10GB`, `512MiB`, `1g`, `1048576` → bytes. */
export function parseSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)\s*$/i.exec(text);
  if (!m) throw new TsbuildError('USAGE', `invalid size ${JSON.stringify(text)}: expected e.g. 512MB, 10GB or a number of bytes`);
  const unit = (m[2] ?? '').toLowerCase();
  const pow = ['', 'k', 'm', 'g', 't'].indexOf(unit);
  const base = (m[3] ?? '').toLowerCase().startsWith('i') ? 1024 : unit ? 1000 : 1;
  return Math.floor(Number(m[1]) * base ** pow);
}

/** `24h`, `30m`, `90s`, `7d` → ms. */
export function parseDuration(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$/.exec(text);
  if (!m) throw new TsbuildError('USAGE', `invalid duration ${JSON.stringify(text)}: expected e.g. 24h, 30m or 7d`);
  const mult = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 'ms' | 's' | 'm' | 'h' | 'd'];
  return Number(m[1]) * mult;
}

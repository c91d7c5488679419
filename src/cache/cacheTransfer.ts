/** Opening a `--cache-from` and writing a `--cache-to`: the transports behind a CacheSpec. */
import { join, resolve } from 'node:path';
import { parseReference } from '../image/reference.js';
import type { ContentStore } from '../store/contentStore.js';
import { OciLayoutDestination } from '../transport/ociLayoutDestination.js';
import { OciLayoutSource } from '../transport/ociLayoutSource.js';
import type { RegistryClient } from '../transport/registryClient.js';
import { RegistryDestination } from '../transport/registryDestination.js';
import { RegistrySource } from '../transport/registrySource.js';
import type { BuildCache } from './buildCache.js';
import { exportCache, RemoteCache, type CacheSpec } from './remoteCache.js';

/** The tag a cache takes in an OCI layout directory (`type=local`). */
const LOCAL_TAG = 'buildcache';

export function describeCacheSpec(spec: CacheSpec): string {
  return spec.type === 'registry' ? `registry ${spec.ref}` : `OCI layout ${spec.dir}`;
}

/**
 * Reads the cache manifest and entries. A cache that cannot be read (not pushed yet, registry
 * down) is not a failed build: BuildKit warns and builds without it, and so do we (`warn`).
 */
export async function openCacheFrom(
  spec: CacheSpec,
  deps: { registry: RegistryClient; content: ContentStore; signal: AbortSignal; warn: (message: string) => void },
): Promise<RemoteCache | undefined> {
  const source =
    spec.type === 'registry'
      ? new RegistrySource(deps.registry, parseReference(spec.ref ?? ''))
      : new OciLayoutSource({ path: resolve(spec.dir ?? ''), tag: LOCAL_TAG });
  try {
    return await RemoteCache.open(source, deps.content, deps.signal);
  } catch (err) {
    await source.close().catch(() => undefined);
    deps.warn(`--cache-from ${describeCacheSpec(spec)}: not used: ${(err as Error).message}`);
    return undefined;
  }
}

export async function exportCacheTo(
  spec: CacheSpec,
  cache: BuildCache,
  deps: { registry: RegistryClient; content: ContentStore; storeRoot: string; tmpDir: string; signal: AbortSignal },
): Promise<string> {
  const dest =
    spec.type === 'registry'
      ? new RegistryDestination(deps.registry, parseReference(spec.ref ?? ''))
      : new OciLayoutDestination({ path: resolve(spec.dir ?? ''), tar: false, names: [{ refName: LOCAL_TAG }] });
  const entries = cache.usedEntries(spec.mode);
  const out = await exportCache(entries, dest, {
    content: deps.content,
    tmpDir: deps.tmpDir,
    signal: deps.signal,
    // RUN --mount=type=cache directories live in ROOT/cache-mounts (see build/mounts/runMounts.ts).
    ...(spec.mounts ? { mountsDir: join(deps.storeRoot, 'cache-mounts') } : {}),
  });
  return `exported cache to ${describeCacheSpec(spec)}: ${entries.length} steps, ${out.layers} layers${spec.mounts ? `, ${out.mounts} cache mounts` : ''}`;
}

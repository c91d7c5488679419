/**
 * The cache outside the store: `--cache-to` / `--cache-from` with a registry repository or an
 * OCI layout directory. One OCI manifest (an artifact, see README.md here) lists every layer the
 * exported entries use, so a registry's GC and any OCI copy keep them, plus the RUN
 * --mount=type=cache directories as tar+gzip layers; its config blob holds the entries
 * (key → layer, config, history). Import reads the manifest and the config only: a layer is
 * downloaded when a step that runs, or the final image, needs it.
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import { TsbuildError } from '../errors.js';
import { MediaType } from '../image/mediaTypes.js';
import type { Descriptor } from '../image/types.js';
import type { ContentStore } from '../store/contentStore.js';
import type { ImageDestination, ImageSource } from '../transport/types.js';
import type { CacheEntry } from './cacheIndex.js';

export const CACHE_ARTIFACT_TYPE = 'application/vnd.tsbuild.cache.v1+json';
export const CACHE_CONFIG_TYPE = 'application/vnd.tsbuild.cache.config.v1+json';
/** On a cache-mount layer: the mount's directory name (sha256 of its id) under ROOT/cache-mounts. */
export const MOUNT_ANNOTATION = 'dev.tsbuild.cache-mount';

export interface CacheSpec {
  type: 'registry' | 'local';
  /** registry: REPO[:TAG]. */
  ref?: string;
  /** local: the OCI layout directory. */
  dir?: string;
  mode: 'min' | 'max';
  mounts: boolean;
}

/** `type=registry,ref=R[:T][,mode=min|max][,mounts=true]` or `type=local,dest=DIR` (to) / `src=DIR` (from). */
export function parseCacheSpec(text: string, direction: 'to' | 'from'): CacheSpec {
  const flag = `--cache-${direction}`;
  const fields = new Map<string, string>();
  for (const part of text.split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new TsbuildError('USAGE', `${flag} ${JSON.stringify(text)}: expected KEY=VALUE fields, e.g. type=registry,ref=REPO:TAG`);
    fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  const type = fields.get('type') ?? (fields.has('ref') ? 'registry' : undefined);
  const mode = fields.get('mode') ?? 'min';
  if (mode !== 'min' && mode !== 'max') throw new TsbuildError('USAGE', `${flag}: mode must be min or max, not ${JSON.stringify(mode)}`);
  const mounts = fields.get('mounts') === 'true';
  if (type === 'registry') {
    const ref = fields.get('ref');
    if (!ref) throw new TsbuildError('USAGE', `${flag} type=registry needs ref=REPO[:TAG]`);
    return { type, ref, mode, mounts };
  }
  if (type === 'local') {
    const dir = fields.get(direction === 'to' ? 'dest' : 'src');
    if (!dir) throw new TsbuildError('USAGE', `${flag} type=local needs ${direction === 'to' ? 'dest' : 'src'}=DIR`);
    return { type, dir, mode, mounts };
  }
  throw new TsbuildError('USAGE', `${flag} ${JSON.stringify(text)}: type must be registry or local`, { hint: 'e.g. type=registry,ref=registry.example.com/team/app:buildcache,mode=max' });
}

interface CacheConfig {
  version: 1;
  entries: CacheEntry[];
}

interface CacheManifest {
  schemaVersion: 2;
  mediaType: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
}

function bytesBlob(bytes: Buffer, mediaType: string): { desc: Descriptor; bytes: Buffer } {
  return { desc: { mediaType, digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}`, size: bytes.length }, bytes };
}

export interface ExportOptions {
  content: ContentStore;
  /** ROOT/cache-mounts, when cache mounts are exported. */
  mountsDir?: string;
  tmpDir: string;
  signal: AbortSignal;
}

/** Writes the entries (and their layers, and optionally the cache mounts) to `dest`. */
export async function exportCache(entries: readonly CacheEntry[], dest: ImageDestination, opts: ExportOptions): Promise<{ layers: number; mounts: number }> {
  const { content, signal } = opts;
  const layers = new Map<string, Descriptor>();
  for (const e of entries) if (e.layer) layers.set(e.layer.descriptor.digest, e.layer.descriptor);
  const mountLayers: Descriptor[] = [];
  const staged: string[] = [];
  try {
    if (opts.mountsDir) {
      for (const name of (await readdir(opts.mountsDir).catch(() => [] as string[])).sort()) {
        if (!/^[0-9a-f]{64}$/.test(name) || !(await stat(join(opts.mountsDir, name, '.tsbuild-cache')).catch(() => undefined))) continue;
        const info = await tarMount(join(opts.mountsDir, name, 'data'), content, opts.tmpDir, signal);
        staged.push(info.digest);
        mountLayers.push({ mediaType: MediaType.ociLayerGzip, digest: info.digest, size: info.size, annotations: { [MOUNT_ANNOTATION]: name } });
      }
    }
    const config = bytesBlob(Buffer.from(JSON.stringify({ version: 1, entries: [...entries] } satisfies CacheConfig)), CACHE_CONFIG_TYPE);
    const manifest: CacheManifest = {
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      artifactType: CACHE_ARTIFACT_TYPE,
      config: config.desc,
      layers: [...layers.values(), ...mountLayers],
    };
    for (const desc of manifest.layers) {
      if (await dest.hasBlob(desc, signal)) continue;
      await dest.putBlob(desc, async () => content.read(desc.digest, signal), signal);
    }
    if (!(await dest.hasBlob(config.desc, signal))) await dest.putBlob(config.desc, async () => Readable.from([config.bytes]), signal);
    const m = bytesBlob(Buffer.from(JSON.stringify(manifest)), MediaType.ociManifest);
    await dest.putManifest({ bytes: m.bytes, mediaType: MediaType.ociManifest, digest: m.desc.digest }, signal);
    await dest.commit(signal);
    return { layers: layers.size, mounts: mountLayers.length };
  } catch (err) {
    await dest.abort?.().catch(() => undefined);
    throw err;
  } finally {
    // Mount archives are only staged in the store for the upload.
    for (const d of staged) await content.delete(d).catch(() => undefined);
  }
}

async function tarMount(dir: string, content: ContentStore, tmpDir: string, signal: AbortSignal): Promise<{ digest: string; size: number }> {
  const tar = await import('tar');
  const pack = tar.c({ cwd: dir, portable: false, gzip: false }, ['.']) as unknown as NodeJS.ReadableStream;
  const writer = content.openWriter();
  void tmpDir;
  await pipeline(pack, createGzip({ level: 1 }), writer, { signal });
  const info = await writer.commit();
  return { digest: info.digest, size: info.size };
}

/** A cache read from outside: its entries in memory, its layers fetched on demand. */
export class RemoteCache {
  readonly #source: ImageSource;
  readonly #entries: ReadonlyMap<string, CacheEntry>;
  readonly #mountLayers: readonly Descriptor[];
  readonly #content: ContentStore;
  readonly #fetching = new Map<string, Promise<void>>();
  /** Layer blobs downloaded so far (for tests and the summary). */
  readonly fetched: string[] = [];

  private constructor(source: ImageSource, entries: ReadonlyMap<string, CacheEntry>, mountLayers: readonly Descriptor[], content: ContentStore) {
    this.#source = source;
    this.#entries = entries;
    this.#mountLayers = mountLayers;
    this.#content = content;
  }

  /** Reads the cache manifest and its config; no layer. A cache that does not exist yet is empty. */
  static async open(source: ImageSource, content: ContentStore, signal: AbortSignal): Promise<RemoteCache> {
    let manifest: CacheManifest;
    try {
      manifest = JSON.parse((await source.getManifest(signal)).bytes.toString('utf8')) as CacheManifest;
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'IMAGE_NOT_FOUND' || code === 'BLOB_NOT_FOUND') return new RemoteCache(source, new Map(), [], content);
      throw err;
    }
    if (manifest.config?.mediaType !== CACHE_CONFIG_TYPE) {
      throw new TsbuildError('MANIFEST_INVALID', `--cache-from ${source.reference}: not a tsbuild cache (config media type ${manifest.config?.mediaType})`);
    }
    const chunks: Buffer[] = [];
    for await (const c of await source.getBlob(manifest.config, signal)) chunks.push(c as Buffer);
    const config = JSON.parse(Buffer.concat(chunks).toString('utf8')) as CacheConfig;
    const entries = new Map((config.entries ?? []).filter((e) => e.version === 1).map((e) => [e.key, e]));
    return new RemoteCache(source, entries, manifest.layers.filter((l) => l.annotations?.[MOUNT_ANNOTATION]), content);
  }

  get(key: string): CacheEntry | undefined {
    return this.#entries.get(key);
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Downloads one blob into the content store (verified by digest), once. */
  fetch(desc: Descriptor, signal: AbortSignal): Promise<void> {
    let job = this.#fetching.get(desc.digest);
    if (!job) {
      job = (async () => {
        await this.#content.write(await this.#source.getBlob(desc, signal), { digest: desc.digest, size: desc.size }, signal);
        this.fetched.push(desc.digest);
      })();
      this.#fetching.set(desc.digest, job);
    }
    return job;
  }

  /** Unpacks exported cache mounts that this store does not have yet. */
  async restoreMounts(mountsDir: string, signal: AbortSignal): Promise<number> {
    let restored = 0;
    for (const layer of this.#mountLayers) {
      const name = layer.annotations?.[MOUNT_ANNOTATION] ?? '';
      if (!/^[0-9a-f]{64}$/.test(name)) continue;
      const dir = join(mountsDir, name);
      if (await stat(join(dir, '.tsbuild-cache')).catch(() => undefined)) continue;
      const work = `${dir}.import-${process.pid}`;
      await rm(work, { recursive: true, force: true });
      await mkdir(join(work, 'data'), { recursive: true, mode: 0o700 });
      const tar = await import('tar');
      await pipeline(await this.#source.getBlob(layer, signal), createGunzip(), tar.x({ cwd: join(work, 'data'), preserveOwner: true }) as unknown as NodeJS.WritableStream, { signal });
      await mkdir(join(work, '.tsbuild-cache'));
      await rm(dir, { recursive: true, force: true });
      await rename(work, dir);
      restored++;
    }
    return restored;
  }

  async close(): Promise<void> {
    await this.#source.close();
  }
}

import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve, basename } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { TsbuildError } from '../errors.js';
import { parseReference } from '../image/reference.js';
import type { Descriptor, ImageConfig, ImageManifest } from '../image/types.js';
import { decompressLayer } from './layerDecompress.js';
import type { ImageDestination, ManifestBlob } from './types.js';

const hex = (digest: string): string => digest.slice('sha256:'.length);

/**
 * Writes an image as `docker save` does (the docker-archive format that `docker load`,
 * `podman load` and skopeo's `docker-archive:` read): `manifest.json`, `repositories`, the
 * config as `<hex>.json` and each layer uncompressed as `<hex>/layer.tar`. Built in a staging
 * dir next to the target and renamed into place at commit: never a half-written file.
 */
export class DockerArchiveDestination implements ImageDestination {
  readonly reference: string;
  readonly #path: string;
  readonly #tags: string[];
  #staging: Promise<string> | undefined;
  #manifest: ImageManifest | undefined;

  /** `tags` are full names; they become RepoTags in their short form (`app:1`, `localhost:5000/x:1`). */
  constructor(path: string, tags: readonly string[]) {
    this.#path = resolve(path);
    this.#tags = tags.map((t) => {
      const ref = parseReference(t);
      return ref.tag !== undefined ? ref.familiar : `${ref.familiar.replace(/@.*$/, '')}:latest`;
    });
    this.reference = `docker-archive:${path}`;
  }

  #dir(): Promise<string> {
    this.#staging ??= (async () => {
      await mkdir(dirname(this.#path), { recursive: true });
      return mkdtemp(join(dirname(this.#path), `.${basename(this.#path)}.staging-`));
    })();
    return this.#staging;
  }

  async hasBlob(): Promise<boolean> {
    return false;
  }

  async putBlob(desc: Descriptor, open: () => Promise<NodeJS.ReadableStream>, signal?: AbortSignal): Promise<void> {
    const dir = await this.#dir();
    if (desc.mediaType.includes('config') || desc.mediaType.endsWith('container.image.v1+json')) {
      await pipeline(await open(), createWriteStream(join(dir, `${hex(desc.digest)}.json`)), signal ? { signal } : {});
      return;
    }
    await mkdir(join(dir, hex(desc.digest)), { recursive: true });
    const tar = decompressLayer(await open(), desc.mediaType, signal);
    await pipeline(tar, createWriteStream(join(dir, hex(desc.digest), 'layer.tar')), signal ? { signal } : {});
  }

  async putManifest(m: ManifestBlob): Promise<void> {
    const parsed = JSON.parse(m.bytes.toString('utf8')) as ImageManifest;
    if (!Array.isArray(parsed.layers) || !parsed.config) {
      throw new TsbuildError('OUTPUT_INVALID', `writing ${this.reference}: a docker archive holds one image, not an index`);
    }
    this.#manifest = parsed;
  }

  async commit(signal?: AbortSignal): Promise<void> {
    const manifest = this.#manifest;
    if (!manifest) throw new TsbuildError('INTERNAL', `writing ${this.reference}: commit without a manifest`);
    const dir = await this.#dir();
    const configName = `${hex(manifest.config.digest)}.json`;
    const config = JSON.parse(await readFile(join(dir, configName), 'utf8')) as ImageConfig;
    const layers = manifest.layers.map((l) => `${hex(l.digest)}/layer.tar`);
    await writeFile(join(dir, 'manifest.json'), JSON.stringify([{ Config: configName, RepoTags: this.#tags, Layers: layers }]));
    // `repositories` (name → tag → top layer id) is what docker load < 1.10 read; still written by docker save.
    const top = config.rootfs.diff_ids.at(-1);
    const repositories: Record<string, Record<string, string>> = {};
    for (const t of this.#tags) {
      const colon = t.lastIndexOf(':');
      (repositories[t.slice(0, colon)] ??= {})[t.slice(colon + 1)] = top ? hex(top) : '';
    }
    await writeFile(join(dir, 'repositories'), JSON.stringify(repositories));
    const entries = ['manifest.json', 'repositories', configName, ...new Set(manifest.layers.map((l) => hex(l.digest)))].flatMap((e) =>
      e.endsWith('.json') || e === 'repositories' ? [e] : [e, `${e}/layer.tar`]);
    const tmp = `${this.#path}.tmp-${process.pid}`;
    const { create } = await import('tar');
    await create({ file: tmp, cwd: dir, portable: true, noDirRecurse: true, mtime: new Date(0) }, entries);
    signal?.throwIfAborted();
    await rename(tmp, this.#path);
    await rm(dir, { recursive: true, force: true });
    this.#staging = undefined;
  }

  async abort(): Promise<void> {
    const staging = this.#staging;
    this.#staging = undefined;
    if (staging) await rm(await staging.catch(() => ''), { recursive: true, force: true }).catch(() => undefined);
    await rm(`${this.#path}.tmp-${process.pid}`, { force: true }).catch(() => undefined);
  }
}

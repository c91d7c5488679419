import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { TsbuildError } from '../errors.js';
import { MediaType } from '../image/mediaTypes.js';
import { parseReference, type ImageReference } from '../image/reference.js';
import { ANNOTATION_CONTAINERD_NAME, ANNOTATION_REF_NAME, type Descriptor, type ImageIndex } from '../image/types.js';
import { sha256Digest, verifyingStream } from './digestStream.js';
import { ociBlobPath, readOciIndex } from './ociLayoutSource.js';
import type { ImageDestination, ManifestBlob } from './types.js';

/** How an image is named in index.json, as BuildKit writes it. */
export interface OciImageName {
  /** `org.opencontainers.image.ref.name`: the tag, e.g. `1` for `app:1`. */
  refName?: string;
  /** `io.containerd.image.name`: the full normalised name, e.g. `docker.io/library/app:1`. */
  imageName?: string;
}

export function ociNameForImage(ref: ImageReference): OciImageName {
  return { ...(ref.tag !== undefined ? { refName: ref.tag } : {}), imageName: ref.toString() };
}

export interface OciLayoutDestinationOptions {
  /** The layout directory, or the tar file when `tar` is set. */
  path: string;
  tar: boolean;
  /**
   * One index.json entry per name; none means one unnamed entry. A string is a full image name
   * (`app:1` → ref.name `1`, io.containerd.image.name `docker.io/library/app:1`).
   */
  names?: readonly (string | OciImageName)[];
}

const LAYOUT_FILE = JSON.stringify({ imageLayoutVersion: '1.0.0' });

function tmpName(): string {
  return randomBytes(6).toString('hex');
}

async function atomicWrite(path: string, data: string | Buffer): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${tmpName()}`);
  await writeFile(tmp, data);
  await rename(tmp, path);
}

/**
 * Writes an image as an OCI layout: into a directory (blobs atomic, index.json rewritten at
 * commit, other images kept) or as a tar built in a staging dir next to the target and renamed
 * into place at commit, so a failed export never leaves a half-written file under the name.
 */
export class OciLayoutDestination implements ImageDestination {
  readonly reference: string;
  readonly #path: string;
  readonly #tar: boolean;
  readonly #names: OciImageName[];
  /** Where blobs go: the layout dir itself, or the tar's staging dir; set up on first use. */
  #ready: Promise<string> | undefined;
  #manifest: ManifestBlob | undefined;
  #done = false;

  /** Names are checked here; the filesystem is touched only on first use. */
  constructor(options: OciLayoutDestinationOptions) {
    this.#path = resolve(options.path);
    this.#tar = options.tar;
    this.#names = (options.names ?? []).map((n) => (typeof n === 'string' ? ociNameForImage(parseReference(n)) : n));
    const firstRef = this.#names.find((n) => n.refName)?.refName;
    this.reference = `${options.tar ? 'oci-archive' : 'oci'}:${options.path}${firstRef ? `:${firstRef}` : ''}`;
  }

  async hasBlob(desc: Descriptor): Promise<boolean> {
    const dir = await this.#dir();
    // Size is checked, not content: blobs only ever appear here by verified rename.
    const st = await stat(ociBlobPath(dir, desc.digest)).catch(() => undefined);
    return st !== undefined && st.isFile() && st.size === desc.size;
  }

  async putBlob(desc: Descriptor, open: () => Promise<NodeJS.ReadableStream>, signal?: AbortSignal): Promise<void> {
    const final = ociBlobPath(await this.#dir(), desc.digest);
    const tmp = join(dirname(final), `.tmp-${tmpName()}`);
    try {
      await pipeline(
        await open(),
        verifyingStream({ digest: desc.digest, size: desc.size }, `blob ${desc.digest} for ${this.reference}`),
        createWriteStream(tmp, { flags: 'wx' }),
        ...(signal ? [{ signal }] : []),
      );
      await rename(tmp, final);
    } catch (err) {
      await rm(tmp, { force: true });
      if (err instanceof TsbuildError) throw err;
      if (signal?.aborted) throw new TsbuildError('ABORTED', `writing blob ${desc.digest} to ${this.reference}: aborted`, { cause: err });
      throw new TsbuildError('OUTPUT_INVALID', `writing blob ${desc.digest} to ${this.reference}: ${(err as Error).message}`, { cause: err });
    }
  }

  async putManifest(m: ManifestBlob): Promise<void> {
    if (sha256Digest(m.bytes) !== m.digest) {
      throw new TsbuildError('DIGEST_MISMATCH', `writing manifest to ${this.reference}: bytes do not hash to ${m.digest}`);
    }
    await atomicWrite(ociBlobPath(await this.#dir(), m.digest), m.bytes);
    this.#manifest = m;
  }

  async commit(signal?: AbortSignal): Promise<void> {
    const m = this.#manifest;
    if (!m) throw new TsbuildError('INTERNAL', `writing ${this.reference}: commit without a manifest`);
    const dir = await this.#dir();
    const existing = this.#tar ? [] : (await readExistingIndex(dir, signal)).manifests;
    const index: ImageIndex = {
      schemaVersion: 2,
      mediaType: MediaType.ociIndex,
      manifests: mergeIndexEntries(existing, { mediaType: m.mediaType, digest: m.digest, size: m.bytes.length }, this.#names),
    };
    await atomicWrite(join(dir, 'index.json'), `${JSON.stringify(index)}\n`);
    if (this.#tar) await this.#writeTar(dir, signal);
    this.#done = true;
  }

  async abort(): Promise<void> {
    if (this.#done) return;
    this.#done = true;
    const dir = await this.#ready?.catch(() => undefined);
    // A directory keeps its blobs: they are valid content and index.json was never touched.
    if (this.#tar && dir) await rm(dir, { recursive: true, force: true });
  }

  #dir(): Promise<string> {
    this.#ready ??= this.#setUp();
    return this.#ready;
  }

  async #setUp(): Promise<string> {
    const path = this.#path;
    let dir = path;
    try {
      if (this.#tar) {
        await mkdir(dirname(path), { recursive: true });
        dir = await mkdtemp(join(dirname(path), `.${basename(path)}.tsbuild-`));
      }
      await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
      await atomicWrite(join(dir, 'oci-layout'), LAYOUT_FILE);
      return dir;
    } catch (err) {
      if (this.#tar && dir !== path) await rm(dir, { recursive: true, force: true });
      throw new TsbuildError('OUTPUT_INVALID', `creating OCI layout ${path}: ${(err as Error).message}`, { cause: err });
    }
  }

  async #writeTar(dir: string, signal?: AbortSignal): Promise<void> {
    const dest = this.#path;
    const tmp = join(dirname(dest), `.${basename(dest)}.tmp-${tmpName()}`);
    try {
      const blobs = (await readdir(join(dir, 'blobs', 'sha256'))).filter((n) => !n.startsWith('.')).sort();
      // Fixed order, owners and mtimes so the same image gives the same tar.
      const { create } = await import('tar');
      await create(
        { file: tmp, cwd: dir, portable: true, noDirRecurse: true, mtime: new Date(0) },
        ['oci-layout', 'index.json', 'blobs', 'blobs/sha256', ...blobs.map((b) => `blobs/sha256/${b}`)],
      );
      signal?.throwIfAborted();
      await rename(tmp, dest);
    } catch (err) {
      await rm(tmp, { force: true });
      throw new TsbuildError('OUTPUT_INVALID', `writing ${this.reference}: ${(err as Error).message}`, { cause: err });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
}

async function readExistingIndex(dir: string, signal?: AbortSignal): Promise<ImageIndex> {
  const exists = await stat(join(dir, 'index.json')).then(() => true, () => false);
  return exists ? readOciIndex(dir, signal) : { schemaVersion: 2, manifests: [] };
}

/**
 * index.json after adding `desc` under `names`: entries of other names stay, entries that held
 * one of these names are replaced, and an unnamed copy of the same manifest is not duplicated.
 */
export function mergeIndexEntries(existing: readonly Descriptor[], desc: Descriptor, names: readonly OciImageName[]): Descriptor[] {
  const refNames = new Set(names.flatMap((n) => (n.refName ? [n.refName] : [])));
  const imageNames = new Set(names.flatMap((n) => (n.imageName ? [n.imageName] : [])));
  const kept = existing.filter((d) => {
    const ref = d.annotations?.[ANNOTATION_REF_NAME];
    const full = d.annotations?.[ANNOTATION_CONTAINERD_NAME];
    if (ref !== undefined && refNames.has(ref)) return false;
    if (full !== undefined && imageNames.has(full)) return false;
    if (ref === undefined && full === undefined && d.digest === desc.digest) return false;
    return true;
  });
  const base: Descriptor = { mediaType: desc.mediaType, digest: desc.digest, size: desc.size };
  const added = names.length === 0
    ? [base]
    : names.map((n) => {
        const annotations: Record<string, string> = {};
        if (n.imageName) annotations[ANNOTATION_CONTAINERD_NAME] = n.imageName;
        if (n.refName) annotations[ANNOTATION_REF_NAME] = n.refName;
        return Object.keys(annotations).length ? { ...base, annotations } : base;
      });
  return [...kept, ...added];
}

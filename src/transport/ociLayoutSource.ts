import { createReadStream, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream';
import { TsbuildError } from '../errors.js';
import { ANNOTATION_CONTAINERD_NAME, ANNOTATION_REF_NAME, type Descriptor, type ImageIndex } from '../image/types.js';
import { readSmallFileSync } from '../util/readSmallFileSync.js';
import { assertSha256Digest, readAll, verifyBytes, verifyingStream } from './digestStream.js';
import { MAX_MANIFEST_BYTES, manifestMediaType } from './manifestBlob.js';
import type { ImageSource, ManifestBlob } from './types.js';

export function ociBlobPath(dir: string, digest: string): string {
  assertSha256Digest(digest, `blob in ${dir}`);
  return join(dir, 'blobs', 'sha256', digest.slice('sha256:'.length));
}

/**
 * Reads an index.json, with a clear error when the directory is not an OCI layout. Both files
 * are small and read on every build from the layout, so synchronously (no thread-pool round trips).
 */
export async function readOciIndex(dir: string, signal?: AbortSignal): Promise<ImageIndex> {
  signal?.throwIfAborted();
  let layout: unknown;
  let index: unknown;
  try {
    layout = JSON.parse(readFileSync(join(dir, 'oci-layout'), 'utf8'));
    index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8'));
  } catch (err) {
    throw new TsbuildError('TRANSPORT_INVALID', `reading OCI layout ${dir}: ${(err as Error).message}`, {
      cause: err,
      hint: 'an OCI layout is a directory with oci-layout, index.json and blobs/',
    });
  }
  if ((layout as { imageLayoutVersion?: unknown } | null)?.imageLayoutVersion !== '1.0.0') {
    throw new TsbuildError('TRANSPORT_INVALID', `reading OCI layout ${dir}: unsupported imageLayoutVersion in oci-layout`);
  }
  const manifests = (index as { manifests?: unknown } | null)?.manifests;
  if (!Array.isArray(manifests)) {
    throw new TsbuildError('MANIFEST_INVALID', `reading OCI layout ${dir}: index.json has no manifests list`);
  }
  return index as ImageIndex;
}

function entryNames(d: Descriptor): string[] {
  const names: string[] = [];
  const ref = d.annotations?.[ANNOTATION_REF_NAME];
  const full = d.annotations?.[ANNOTATION_CONTAINERD_NAME];
  if (ref) names.push(ref);
  if (full) names.push(full);
  return names;
}

/** The index.json entry for `ref`: a ref name, a full image name, a digest, or the only entry. */
export function pickOciEntry(index: ImageIndex, ref: string | undefined, where: string): Descriptor {
  const entries = index.manifests;
  if (ref === undefined || ref === '') {
    if (entries.length === 1 && entries[0]) return entries[0];
    const names = entries.flatMap((d) => entryNames(d).slice(0, 1));
    throw new TsbuildError('IMAGE_NOT_FOUND', `reading ${where}: ${entries.length === 0 ? 'the layout holds no image' : `the layout holds ${entries.length} images; say which`}`, {
      hint: names.length ? `name one of: ${names.join(', ')} (e.g. oci:DIR:${names[0]})` : 'give a digest: oci:DIR:@sha256:…',
    });
  }
  const digest = ref.startsWith('@') ? ref.slice(1) : ref;
  if (/^sha256:[a-f0-9]{64}$/.test(digest)) {
    const byDigest = entries.find((d) => d.digest === digest);
    if (byDigest) return byDigest;
  }
  const matches = entries.filter((d) => entryNames(d).includes(ref));
  if (matches.length === 1 && matches[0]) return matches[0];
  if (matches.length > 1) {
    throw new TsbuildError('MANIFEST_INVALID', `reading ${where}: index.json names ${matches.length} images "${ref}"`);
  }
  const names = entries.flatMap((d) => entryNames(d).slice(0, 1));
  throw new TsbuildError('IMAGE_NOT_FOUND', `reading ${where}: no image named "${ref}"`, {
    hint: names.length ? `the layout holds: ${names.join(', ')}` : 'the layout holds no named images',
  });
}

export interface OciLayoutSourceOptions {
  /** The layout directory, or the oci-archive tar when `archive` is set. */
  path: string;
  /** A ref name (`org.opencontainers.image.ref.name`) or full image name from index.json. */
  tag?: string;
  /** A manifest digest listed in index.json. */
  digest?: string;
  archive?: boolean;
  /** Where an archive is unpacked; the system temp dir by default. */
  tmpDir?: string;
}

interface Opened {
  dir: string;
  top: Descriptor;
}

/**
 * Reads one image from an OCI image layout (a directory, or an oci-archive tar unpacked into a
 * private temp dir that `close()` removes). Opening is lazy, so constructing never fails;
 * every blob is verified as it streams.
 */
export class OciLayoutSource implements ImageSource {
  readonly reference: string;
  readonly #options: OciLayoutSourceOptions;
  #opened: Promise<Opened> | undefined;
  #tmp: string | undefined;

  constructor(options: OciLayoutSourceOptions) {
    this.#options = options;
    const ref = options.digest !== undefined ? `@${options.digest}` : options.tag;
    this.reference = `${options.archive ? 'oci-archive' : 'oci'}:${options.path}${ref !== undefined ? `:${ref}` : ''}`;
  }

  /** The index.json entry this source stands for. */
  async descriptor(signal?: AbortSignal): Promise<Descriptor> {
    return (await this.#open(signal)).top;
  }

  async getManifest(signal?: AbortSignal): Promise<ManifestBlob> {
    const { top } = await this.#open(signal);
    const bytes = await this.#readVerified(top, signal);
    return { bytes, mediaType: top.mediaType || manifestMediaType(bytes), digest: top.digest };
  }

  async getManifestByDigest(digest: string, signal?: AbortSignal): Promise<ManifestBlob> {
    const bytes = await this.#readVerified({ mediaType: '', digest, size: -1 }, signal);
    return { bytes, mediaType: manifestMediaType(bytes), digest };
  }

  async getBlob(desc: Descriptor, signal?: AbortSignal): Promise<NodeJS.ReadableStream> {
    const { dir } = await this.#open(signal);
    const path = ociBlobPath(dir, desc.digest);
    try {
      await stat(path);
    } catch (err) {
      throw this.#missing(desc, err);
    }
    const verifier = verifyingStream(expectOf(desc), this.#blobWhat(desc));
    pipeline(createReadStream(path, { highWaterMark: 1 << 20, ...(signal ? { signal } : {}) }), verifier, () => {
      // Errors reach the consumer through `verifier`.
    });
    return verifier;
  }

  /**
   * readWholeBlob(getBlob) with the same errors. Manifests and configs are read on every build
   * from this layout: one within `limit` is read with one synchronous read and hashed in memory;
   * a larger one goes through getBlob's stream, which fails on it as it always did.
   */
  async readBlob(desc: Descriptor, limit: number, what: string, signal?: AbortSignal): Promise<Buffer> {
    const { dir } = await this.#open(signal);
    const path = ociBlobPath(dir, desc.digest);
    signal?.throwIfAborted();
    let bytes: Buffer | undefined;
    try {
      bytes = readSmallFileSync(path, limit);
    } catch (err) {
      // getBlob's order: a path that cannot be stat'ed is a missing blob; any other failure is the read's.
      try {
        statSync(path);
      } catch (statErr) {
        throw this.#missing(desc, statErr);
      }
      throw err;
    }
    if (bytes === undefined) return readAll(await this.getBlob(desc, signal), limit, what);
    verifyBytes(bytes, expectOf(desc), this.#blobWhat(desc));
    return bytes;
  }

  #missing(desc: Descriptor, cause: unknown): TsbuildError {
    return new TsbuildError('IMAGE_NOT_FOUND', `reading ${this.reference}: blob ${desc.digest} is missing from the layout`, { cause });
  }

  #blobWhat(desc: Descriptor): string {
    return `blob ${desc.digest} of ${this.reference}`;
  }

  async close(): Promise<void> {
    await this.#opened?.catch(() => undefined);
    if (this.#tmp) await rm(this.#tmp, { recursive: true, force: true });
    this.#tmp = undefined;
  }

  #open(signal?: AbortSignal): Promise<Opened> {
    this.#opened ??= this.#doOpen(signal);
    return this.#opened;
  }

  async #doOpen(signal?: AbortSignal): Promise<Opened> {
    const { path, archive, tag, digest } = this.#options;
    let dir = path;
    if (archive) {
      this.#tmp = await mkdtemp(join(this.#options.tmpDir ?? tmpdir(), 'tsbuild-oci-archive-'));
      dir = this.#tmp;
      try {
        // tar refuses absolute paths and `..` by default, so the archive cannot write outside dir.
        const { extract } = await import('tar');
        await extract({ file: path, cwd: dir, strict: true, preserveOwner: false });
      } catch (err) {
        throw new TsbuildError('TRANSPORT_INVALID', `reading ${this.reference}: ${(err as Error).message}`, { cause: err });
      }
      signal?.throwIfAborted();
    }
    const index = await readOciIndex(dir, signal);
    if (digest !== undefined && !index.manifests.some((d) => d.digest === digest)) {
      // BuildKit's oci-layout://PATH@DIGEST may name a manifest that index.json does not list.
      assertSha256Digest(digest, this.reference);
      return { dir, top: { mediaType: '', digest, size: -1 } };
    }
    return { dir, top: pickOciEntry(index, digest ?? tag, this.reference) };
  }

  #readVerified(desc: Descriptor, signal?: AbortSignal): Promise<Buffer> {
    return this.readBlob(desc, MAX_MANIFEST_BYTES, `manifest ${desc.digest} of ${this.reference}`, signal);
  }
}

/** What a blob must be: its digest, and its size unless unknown (-1: a manifest named only by digest). */
function expectOf(desc: Descriptor): { digest: string; size?: number } {
  return { digest: desc.digest, ...(desc.size >= 0 ? { size: desc.size } : {}) };
}

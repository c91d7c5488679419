import { pipeline } from 'node:stream';
import { TsbuildError } from '../errors.js';
import type { Descriptor } from '../image/types.js';
import type { ContentStore } from '../store/contentStore.js';
import { sha256Digest, verifyingStream } from './digestStream.js';
import { MAX_MANIFEST_BYTES, manifestMediaType } from './manifestBlob.js';
import type { ImageSource, ManifestBlob } from './types.js';

/** The part of ContentStore a source reads with. */
export type BlobReader = Pick<ContentStore, 'read' | 'readBytes'>;

/**
 * Reads an image from the local content store, starting at a manifest descriptor (from the tag
 * store or a build result). Blobs are hashed as they stream: the store verified them when they
 * were written, but a disk or another tool may have changed them since.
 */
export class StoreImageSource implements ImageSource {
  readonly reference: string;
  readonly #content: BlobReader;
  readonly #top: Pick<Descriptor, 'mediaType' | 'digest' | 'size'>;

  constructor(content: BlobReader, name: string, top: Pick<Descriptor, 'mediaType' | 'digest' | 'size'>) {
    this.#content = content;
    this.#top = top;
    this.reference = name;
  }

  async getManifest(signal?: AbortSignal): Promise<ManifestBlob> {
    const m = await this.getManifestByDigest(this.#top.digest, signal);
    return { ...m, mediaType: this.#top.mediaType || m.mediaType };
  }

  async getManifestByDigest(digest: string, signal?: AbortSignal): Promise<ManifestBlob> {
    const bytes = await this.#content.readBytes(digest, signal);
    if (bytes.length > MAX_MANIFEST_BYTES) {
      throw new TsbuildError('MANIFEST_INVALID', `reading manifest ${digest} of ${this.reference}: larger than ${MAX_MANIFEST_BYTES} bytes`);
    }
    const got = sha256Digest(bytes);
    if (got !== digest) {
      throw new TsbuildError('DIGEST_MISMATCH', `verifying manifest ${digest} of ${this.reference}: the store holds ${got}`, {
        hint: 'the local store is damaged; remove the image and pull or build it again',
      });
    }
    return { bytes, mediaType: manifestMediaType(bytes), digest };
  }

  async getBlob(desc: Descriptor, signal?: AbortSignal): Promise<NodeJS.ReadableStream> {
    const verifier = verifyingStream({ digest: desc.digest, size: desc.size }, `blob ${desc.digest} of ${this.reference}`);
    pipeline(this.#content.read(desc.digest, signal), verifier, () => {
      // Errors (a missing blob, a mismatch) reach the consumer through `verifier`.
    });
    return verifier;
  }

  async close(): Promise<void> {
    // The store outlives the source.
  }
}

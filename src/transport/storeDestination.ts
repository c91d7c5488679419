import { TsbuildError } from '../errors.js';
import type { Descriptor } from '../image/types.js';
import type { ContentStore } from '../store/contentStore.js';
import type { ImageStore } from '../store/imageStore.js';
import type { ImageDestination, ManifestBlob } from './types.js';

/**
 * Writes an image into the local store: blobs verified as they land (content-addressed, so a
 * half-copied image leaves only unreferenced blobs), and the tag written at commit, last. A
 * failed pull therefore never leaves the name pointing at an incomplete image.
 */
export class StoreImageDestination implements ImageDestination {
  readonly reference: string;
  readonly #content: ContentStore;
  readonly #images: ImageStore;
  #manifest: ManifestBlob | undefined;

  constructor(content: ContentStore, images: ImageStore, name: string) {
    this.#content = content;
    this.#images = images;
    this.reference = name;
  }

  hasBlob(desc: Descriptor, signal?: AbortSignal): Promise<boolean> {
    return this.#content.has(desc.digest, signal);
  }

  async putBlob(desc: Descriptor, open: () => Promise<NodeJS.ReadableStream>, signal?: AbortSignal): Promise<void> {
    await this.#content.write(await open(), { digest: desc.digest, size: desc.size }, signal);
  }

  async putManifest(m: ManifestBlob, signal?: AbortSignal): Promise<void> {
    await this.#content.writeBytes(m.bytes, { digest: m.digest, size: m.bytes.length }, signal);
    this.#manifest = m;
  }

  async commit(signal?: AbortSignal): Promise<void> {
    const m = this.#manifest;
    if (!m) throw new TsbuildError('INTERNAL', `storing ${this.reference}: commit without a manifest`);
    await this.#images.tag(this.reference, { mediaType: m.mediaType, digest: m.digest, size: m.bytes.length }, signal);
  }
}

import { TsbuildError } from '../errors.js';
import { isForeignLayerMediaType } from '../image/mediaTypes.js';
import type { ImageReference } from '../image/reference.js';
import type { Descriptor } from '../image/types.js';
import type { RegistryClient } from './registryClient.js';
import type { BlobHints, ImageDestination, ManifestBlob } from './types.js';

/**
 * Pushes one image to a registry. Manifests other than the last are pushed by digest (they are
 * the children of an index); the last one is the image and goes to the tag at commit.
 */
export class RegistryDestination implements ImageDestination {
  readonly reference: string;
  readonly #client: RegistryClient;
  readonly #ref: ImageReference;
  #pending: ManifestBlob | undefined;

  constructor(client: RegistryClient, ref: ImageReference) {
    this.#client = client;
    this.#ref = ref;
    this.reference = ref.toString();
  }

  async hasBlob(desc: Descriptor, signal?: AbortSignal): Promise<boolean> {
    // Registries do not take foreign layers; they stay where their urls point.
    if (isForeignLayerMediaType(desc.mediaType)) return true;
    return this.#client.hasBlob(this.#ref, desc.digest, signal);
  }

  putBlob(desc: Descriptor, open: () => Promise<NodeJS.ReadableStream>, signal?: AbortSignal, hints: BlobHints = {}): Promise<void> {
    return this.#client.putBlob(this.#ref, desc, open, signal, hints.origin ? { mountFrom: hints.origin } : {});
  }

  async putManifest(m: ManifestBlob, signal?: AbortSignal): Promise<void> {
    if (this.#pending) await this.#client.putManifest(this.#ref, this.#pending.digest, this.#pending, signal);
    this.#pending = m;
  }

  async commit(signal?: AbortSignal): Promise<void> {
    const m = this.#pending;
    if (!m) throw new TsbuildError('INTERNAL', `pushing ${this.reference}: commit without a manifest`);
    if (this.#ref.digest !== undefined && this.#ref.digest !== m.digest) {
      throw new TsbuildError('DIGEST_MISMATCH', `pushing ${this.reference}: the image's digest is ${m.digest}`, {
        hint: 'push to a tag, or to the digest the image actually has',
      });
    }
    await this.#client.putManifest(this.#ref, this.#ref.tag ?? m.digest, m, signal);
    this.#pending = undefined;
  }
}

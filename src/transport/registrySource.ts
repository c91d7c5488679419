import type { ImageReference } from '../image/reference.js';
import type { Descriptor } from '../image/types.js';
import type { RegistryClient } from './registryClient.js';
import type { ImageSource, ManifestBlob } from './types.js';

/** Reads one image from a registry. The client is shared and owned by the caller. */
export class RegistrySource implements ImageSource {
  readonly reference: string;
  readonly blobOrigin: ImageReference;
  readonly #client: RegistryClient;
  readonly #ref: ImageReference;

  constructor(client: RegistryClient, ref: ImageReference) {
    this.#client = client;
    this.#ref = ref;
    this.reference = ref.toString();
    this.blobOrigin = ref;
  }

  getManifest(signal?: AbortSignal): Promise<ManifestBlob> {
    // A digest pins the content even when a tag is written next to it.
    return this.#client.getManifest(this.#ref, this.#ref.digest ?? this.#ref.tag ?? 'latest', signal);
  }

  getManifestByDigest(digest: string, signal?: AbortSignal): Promise<ManifestBlob> {
    return this.#client.getManifest(this.#ref, digest, signal);
  }

  getBlob(desc: Descriptor, signal?: AbortSignal): Promise<NodeJS.ReadableStream> {
    return this.#client.getBlob(this.#ref, desc, signal);
  }

  async close(): Promise<void> {
    // The client's connections belong to whoever created it.
  }
}

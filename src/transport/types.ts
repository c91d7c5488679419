import type { Descriptor } from '../image/types.js';

/** A manifest or index exactly as stored: its digest is the sha256 of `bytes`. */
export interface ManifestBlob {
  bytes: Buffer;
  mediaType: string;
  digest: string;
}

/** Where an image is read from (registry, OCI layout, local store). */
export interface ImageSource {
  /** Human-readable name of what is read, for messages. */
  readonly reference: string;
  /** The registry repository the blobs come from, when there is one (for cross-repository mounts). */
  readonly blobOrigin?: { registry: string; repository: string };
  /** The top-level manifest; may be an index. */
  getManifest(signal?: AbortSignal): Promise<ManifestBlob>;
  getManifestByDigest(digest: string, signal?: AbortSignal): Promise<ManifestBlob>;
  /** Streams the blob; the stream errors with DIGEST_MISMATCH at its end if the bytes are wrong. */
  getBlob(desc: Descriptor, signal?: AbortSignal): Promise<NodeJS.ReadableStream>;
  /**
   * A whole small blob, verified: what readWholeBlob does with getBlob (the same errors), where
   * the source has a cheaper way than a stream.
   */
  readBlob?(desc: Descriptor, limit: number, what: string, signal?: AbortSignal): Promise<Buffer>;
  close(): Promise<void>;
}

/** What a destination may use to avoid sending a blob's bytes. */
export interface BlobHints {
  /** The blob is in this registry repository (a registry may mount it from there). */
  origin?: { registry: string; repository: string };
}

/** Where an image is written to. Nothing is visible under the final name before `commit`. */
export interface ImageDestination {
  readonly reference: string;
  /** containers/image's tryReuseBlob: true when the blob is already there and need not be sent. */
  hasBlob(desc: Descriptor, signal?: AbortSignal): Promise<boolean>;
  /** `open` is called lazily (and possibly again on retry) to get the blob's bytes. */
  putBlob(desc: Descriptor, open: () => Promise<NodeJS.ReadableStream>, signal?: AbortSignal, hints?: BlobHints): Promise<void>;
  putManifest(m: ManifestBlob, signal?: AbortSignal): Promise<void>;
  commit(signal?: AbortSignal): Promise<void>;
  /** Drops whatever was staged when the copy fails before commit; safe to call twice. */
  abort?(): Promise<void>;
}

import { createHash } from 'node:crypto';
import { TsbuildError, wrapError } from '../errors.js';
import type { ContentStore } from '../store/contentStore.js';
import type { StoreKind, XattrFlavor } from '../store/storeRoot.js';
import { adaptiveGzip } from './adaptiveGzip.js';
import { EMPTY_TAR_SIZE, layerTar } from './layerTar.js';

export const LAYER_MEDIA_TYPE_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';

export interface LayerInfo {
  /** sha256 of the uncompressed tar (rootfs.diff_ids). */
  diffID: string;
  /** sha256 of the compressed blob (manifest layers[].digest). */
  digest: string;
  size: number;
  mediaType: typeof LAYER_MEDIA_TYPE_GZIP;
  /** The tar has no entries; builders usually keep such a layer out of the image. */
  empty: boolean;
}

export interface CommitLayerOptions {
  xattrFlavor: XattrFlavor;
  storeKind?: StoreKind;
  sourceDateEpoch?: number;
  signal?: AbortSignal;
  /** libdeflate level (1-12); default 1, because compressing binary data is the slowest part of a build. */
  gzipLevel?: number;
  /**
   * Uncompressed tar bytes archived so far, at most every PROGRESS_EVERY_MS or PROGRESS_EVERY_BYTES
   * and once more with `done` at the end; the total is not known up front (no second walk of the tree).
   */
  onProgress?: (bytes: number, done: boolean) => void;
}

/** Often enough for a live bar, rarely enough that a multi-GiB layer costs no measurable time. */
const PROGRESS_EVERY_MS = 200;
const PROGRESS_EVERY_BYTES = 64 * 1024 * 1024;

/**
 * Archives `dir` (overlay-upper form) into a gzip layer blob in one streaming pass:
 * tar → sha256 (diffID) → gzip → content store writer (which hashes the digest).
 * Incompressible stretches are stored rather than deflated (see adaptiveGzip).
 * libdeflate's gzip header carries mtime 0 and no name, so equal tars give equal blobs.
 */
export async function commitLayer(dir: string, store: ContentStore, opts: CommitLayerOptions): Promise<LayerInfo> {
  const tarHash = createHash('sha256');
  let tarSize = 0;
  let reportedAt = Date.now();
  let reportedSize = 0;
  const onProgress = opts.onProgress;
  async function* hashedTar(): AsyncGenerator<Buffer> {
    for await (const chunk of layerTar(dir, opts)) {
      tarHash.update(chunk);
      tarSize += chunk.length;
      if (onProgress) {
        const now = Date.now();
        if (now - reportedAt >= PROGRESS_EVERY_MS || tarSize - reportedSize >= PROGRESS_EVERY_BYTES) {
          reportedAt = now;
          reportedSize = tarSize;
          onProgress(tarSize, false);
        }
      }
      yield chunk;
    }
  }
  const writer = store.openWriter();
  try {
    await adaptiveGzip(hashedTar(), writer, { level: opts.gzipLevel ?? 1, ...(opts.signal ? { signal: opts.signal } : {}) });
    const { digest, size } = await writer.commit();
    onProgress?.(tarSize, true);
    return {
      diffID: `sha256:${tarHash.digest('hex')}`,
      digest,
      size,
      mediaType: LAYER_MEDIA_TYPE_GZIP,
      empty: tarSize === EMPTY_TAR_SIZE,
    };
  } catch (err) {
    await writer.abort();
    if ((err as Error).name === 'AbortError') throw new TsbuildError('ABORTED', `committing layer from ${dir}: aborted`, { cause: err });
    throw wrapError('LAYER_INVALID', `committing layer from ${dir}`, err);
  }
}

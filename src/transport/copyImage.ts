import pLimit from 'p-limit';
import { TsbuildError } from '../errors.js';
import { hostPlatform } from '../image/platform.js';
import type { Descriptor, ImageManifest, Platform } from '../image/types.js';
import { testPausePoint } from '../util/testPause.js';
import { resolveImage } from './resolveImage.js';
import type { ImageDestination, ImageSource } from './types.js';

export type CopyProgress =
  | { kind: 'blob'; descriptor: Descriptor; status: 'exists' | 'copying' | 'done' }
  | { kind: 'manifest'; digest: string; status: 'done' };

export interface CopyImageOptions {
  /** Which image of an index to copy; the host's by default. */
  platform?: Platform;
  /** Blobs in flight at once. */
  concurrency?: number;
  signal?: AbortSignal;
  onProgress?: (event: CopyProgress) => void;
}

export interface CopyImageResult {
  manifestDigest: string;
  manifest: ImageManifest;
}

/**
 * Copies one image: an index is resolved to the chosen platform's manifest, which is copied
 * byte for byte (so its digest is kept); blobs the destination already has are not sent.
 */
export async function copyImage(source: ImageSource, dest: ImageDestination, options: CopyImageOptions = {}): Promise<CopyImageResult> {
  const { signal, onProgress } = options;
  const concurrency = options.concurrency ?? 3;
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new TsbuildError('USAGE', `copying ${source.reference}: concurrency must be a positive integer`);
  }
  try {
    const resolved = await resolveImage(source, options.platform ?? hostPlatform(), signal);
    const { manifest, manifestBlob } = resolved;
    const limit = pLimit(concurrency);
    const blobs = dedupe([manifest.config, ...manifest.layers]);
    // The first failure stops the other transfers instead of letting them run to completion.
    const stop = new AbortController();
    const inner = signal ? AbortSignal.any([signal, stop.signal]) : stop.signal;
    const results = await Promise.allSettled(
      blobs.map((desc) =>
        limit(async () => {
          inner.throwIfAborted();
          try {
            if (await dest.hasBlob(desc, inner)) {
              onProgress?.({ kind: 'blob', descriptor: desc, status: 'exists' });
              return;
            }
            onProgress?.({ kind: 'blob', descriptor: desc, status: 'copying' });
            await dest.putBlob(desc, () => source.getBlob(desc, inner), inner, source.blobOrigin ? { origin: source.blobOrigin } : {});
            await testPausePoint('push-blob');
            onProgress?.({ kind: 'blob', descriptor: desc, status: 'done' });
          } catch (err) {
            stop.abort(err);
            throw err;
          }
        }),
      ),
    );
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw stop.signal.aborted && !signal?.aborted ? stop.signal.reason : failed.reason;
    await testPausePoint('push-manifest');
    await dest.putManifest(manifestBlob, signal);
    await dest.commit(signal);
    onProgress?.({ kind: 'manifest', digest: manifestBlob.digest, status: 'done' });
    return { manifestDigest: manifestBlob.digest, manifest };
  } catch (err) {
    await dest.abort?.().catch(() => undefined);
    if (signal?.aborted && !(err instanceof TsbuildError)) {
      throw new TsbuildError('ABORTED', `copying ${source.reference} to ${dest.reference}: aborted`, { cause: err });
    }
    throw err;
  }
}

function dedupe(descs: Descriptor[]): Descriptor[] {
  const seen = new Set<string>();
  return descs.filter((d) => (seen.has(d.digest) ? false : (seen.add(d.digest), true)));
}

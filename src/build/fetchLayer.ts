import type { Readable } from 'node:stream';
import type { Descriptor } from '../image/types.js';
import type { Snapshotter } from '../snapshot/snapshotter.js';
import type { ContentStore } from '../store/contentStore.js';
import type { ImageSource } from '../transport/types.js';
import { teeStream } from '../util/teeStream.js';

export interface FetchLayerDeps {
  content: ContentStore;
  snapshots: Snapshotter;
  /** Asked before a blob is fetched; may throw to refuse (see ImageResolverDeps). */
  beforeFetch?: (what: string) => void;
}

/**
 * Makes one base layer present: its blob in the content store and its dir in layers/. When both
 * are missing (a cold pull) the source is read once, each chunk going to the blob writer and to
 * the unpack at once, as buildah unpacks straight from the source; the layer dir still appears
 * only after the blob verified, and a failure is reported as the two-pass order reports it (the
 * blob's error first). When one of the two is there, the other is made on its own.
 */
export async function fetchLayer(deps: FetchLayerDeps, source: ImageSource, descriptor: Descriptor, diffID: string, signal: AbortSignal): Promise<void> {
  const { content, snapshots } = deps;
  const { digest, mediaType } = descriptor;
  const expect = { digest, size: descriptor.size };
  if (await content.has(digest)) {
    await snapshots.ensureLayer(diffID, mediaType, async () => content.read(digest), signal);
    return;
  }
  deps.beforeFetch?.(`fetching layer ${digest}`);

  let blob: Promise<unknown> | undefined;
  let toUnpack: Readable | undefined;
  const layer = settle(
    snapshots.ensureLayer(
      diffID,
      mediaType,
      async () => {
        const [toStore, unpack] = teeStream(await source.getBlob(descriptor, signal));
        toUnpack = unpack;
        // Its errors reach the unpack through the unpack's pipeline; this keeps one that comes
        // before the pipeline is set up from being an unhandled 'error'.
        unpack.on('error', () => undefined);
        const written = content.write(toStore, expect, signal);
        // A blob that fails (digest, size, disk, abort) stops the unpack, with the same error.
        written.catch((err: Error) => unpack.destroy(err));
        blob = written;
        return unpack;
      },
      signal,
      async () => {
        // The unpack is complete: what is left of the source only goes to the blob writer.
        toUnpack?.destroy();
        await blob;
      },
    ),
  );
  const unpacked = await layer;
  if (blob === undefined) {
    // ensureLayer did not read the source: the layer was there, another call of this process
    // unpacked it (and may have stored the blob meanwhile), or it failed before reading.
    if (!unpacked.ok) throw unpacked.error;
    if (!(await content.has(digest))) await content.write(await source.getBlob(descriptor, signal), expect, signal);
    return;
  }
  // An unpack that failed no longer paces the source: the blob is read to its end, so a corrupt
  // blob reports its digest error (not the gunzip error it caused), as it does in two passes.
  toUnpack?.destroy();
  const stored = await settle(blob);
  if (!stored.ok) throw stored.error;
  if (!unpacked.ok) throw unpacked.error;
}

type Settled = { ok: true } | { ok: false; error: unknown };

function settle(p: Promise<unknown>): Promise<Settled> {
  return p.then(
    () => ({ ok: true }),
    (error: unknown) => ({ ok: false, error }),
  );
}

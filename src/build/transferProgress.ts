/**
 * Byte counting for pulls, pushes and exports: wraps an ImageSource so every blob read through it
 * reports `transfer` events. Sources and destinations stay unaware of progress display.
 */
import { PassThrough } from 'node:stream';
import type { Descriptor } from '../image/types.js';
import type { ImageSource } from '../transport/types.js';
import type { ProgressSink } from './progress.js';

/** At most this often per blob; a tty redraws at about the same rate. */
const EMIT_EVERY_MS = 100;

export function countingSource(source: ImageSource, progress: ProgressSink, verb: string): ImageSource {
  return {
    reference: source.reference,
    ...(source.blobOrigin ? { blobOrigin: source.blobOrigin } : {}),
    getManifest: (signal) => source.getManifest(signal),
    getManifestByDigest: (digest, signal) => source.getManifestByDigest(digest, signal),
    close: () => source.close(),
    async getBlob(desc: Descriptor, signal?: AbortSignal) {
      const stream = await source.getBlob(desc, signal);
      return countStream(stream, progress, transferOf(verb, desc));
    },
    ...(source.readBlob ? { readBlob: countedRead(source.readBlob.bind(source), progress, verb) } : {}),
  };
}

function transferOf(verb: string, desc: Descriptor): { id: string; label: string; total: number } {
  return { id: `${verb}:${desc.digest}`, label: `${verb} ${desc.digest.slice(7, 19)}`, total: desc.size };
}

/**
 * A whole-blob read with the events countStream emits for a one-chunk stream: the start, the
 * chunk, and the total once it is verified.
 */
function countedRead(read: NonNullable<ImageSource['readBlob']>, progress: ProgressSink, verb: string): NonNullable<ImageSource['readBlob']> {
  return async (desc, limit, what, signal) => {
    const base = { type: 'transfer' as const, ...transferOf(verb, desc) };
    progress.emit({ ...base, current: 0, done: false, time: Date.now() });
    const bytes = await read(desc, limit, what, signal);
    if (bytes.length > 0) progress.emit({ ...base, current: bytes.length, done: false, time: Date.now() });
    progress.emit({ ...base, current: bytes.length, done: true, time: Date.now() });
    return bytes;
  };
}

/** Passes `stream` through unchanged, emitting its byte count as it goes and once at its end. */
export function countStream(
  stream: NodeJS.ReadableStream,
  progress: ProgressSink,
  t: { id: string; label: string; total?: number },
): NodeJS.ReadableStream {
  const out = new PassThrough();
  let current = 0;
  let last = 0;
  const base = { type: 'transfer' as const, id: t.id, label: t.label, ...(t.total !== undefined ? { total: t.total } : {}) };
  progress.emit({ ...base, current: 0, done: false, time: Date.now() });
  stream.on('data', (chunk: Buffer) => {
    current += chunk.length;
    const now = Date.now();
    if (now - last >= EMIT_EVERY_MS) {
      last = now;
      progress.emit({ ...base, current, done: false, time: now });
    }
  });
  stream.on('end', () => progress.emit({ ...base, current, done: true, time: Date.now() }));
  // Errors (a digest mismatch at the end, an abort) travel on to the reader unchanged.
  stream.on('error', (err) => out.destroy(err));
  stream.pipe(out);
  return out;
}

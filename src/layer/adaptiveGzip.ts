import { once } from 'node:events';
import { availableParallelism } from 'node:os';
import type { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { gzipMember } from '../util/fsx.js';

/** Fixed input segment: level decisions and member boundaries happen at offsets that depend on the bytes only. */
const SEGMENT = 1024 * 1024;
const SAMPLE = 4096;
const SAMPLES_PER_SEGMENT = 16;
/** Bits per byte above which deflate gains next to nothing (random, already compressed). */
const INCOMPRESSIBLE_BITS = 7.9;
/**
 * Segments compressed at once. Each runs on a libuv pool thread (4 by default); leave one for
 * the file reads of the tar being compressed. Read when used, not at load: the start-up snapshot
 * (native/snapshot.mjs) freezes module state at `npm run build`, on a machine that may have
 * other CPUs than the one that runs it.
 */
const defaultParallel = (): number => Math.max(1, Math.min(3, availableParallelism()));

export interface AdaptiveGzipOptions {
  /** libdeflate's level for segments that look compressible: 1 (fastest) to 12. */
  level: number;
  signal?: AbortSignal;
  /** Segments compressed at once (default: the CPUs, at most 3). */
  parallel?: number;
}

/**
 * Gzips `source` into `sink` as a multi-member gzip stream (RFC 1952 §2.2; gunzip, Go's
 * compress/gzip and zlib read it as one; eStargz layers rely on the same thing): one member per
 * 1 MiB segment, compressed on several pool threads at once and written in order, as pigz does
 * with blocks. Each member is one whole-buffer libdeflate call (native/fsxGzip.c), about twice
 * as fast as zlib's streaming deflate at level 1. A segment that looks incompressible is stored
 * (level 0) instead: deflate gains nothing on random data and costs far more than storing it.
 * Member boundaries and levels depend only on the bytes, never on timing or input chunking, so
 * the output stays deterministic (for one libdeflate version, as it was for one zlib). An input
 * of at most one segment gives a single member, as plain gzip would. Chunks of `source` are
 * held while compressed: its producer must not reuse their memory (no Node stream does).
 */
export async function adaptiveGzip(source: AsyncIterable<Buffer>, sink: Writable, opts: AdaptiveGzipOptions): Promise<void> {
  const parallel = Math.max(1, opts.parallel ?? defaultParallel());
  // Rejects if the sink fails or closes early; raced against every wait for 'drain'.
  const sinkDone = finished(sink);
  sinkDone.catch(() => undefined);
  const put = async (member: Buffer): Promise<void> => {
    if (sink.errored) throw sink.errored;
    if (!sink.write(member)) await Promise.race([once(sink, 'drain', opts.signal ? { signal: opts.signal } : {}), sinkDone]);
  };
  // Members being compressed, oldest first; each is written once it and all before it are done.
  const pending: Array<{ member: Promise<Buffer>; segment: Buffer }> = [];
  const pool = new SegmentPool();
  const compress = (segment: Buffer, level: number): void => {
    const member = gzipMember(segment, level);
    // Awaited in order below; until then a failure must not count as unhandled.
    member.catch(() => undefined);
    pending.push({ member, segment });
  };
  const writeOldest = async (): Promise<void> => {
    const { member, segment } = pending.shift()!;
    const bytes = await member;
    // Compressed: the segment's memory can take the next one.
    pool.release(segment);
    await put(bytes);
  };
  try {
    let seen = 0;
    for await (const segment of segments(source, pool)) {
      opts.signal?.throwIfAborted();
      seen++;
      compress(segment, segment.length === SEGMENT && looksIncompressible(segment) ? 0 : opts.level);
      if (pending.length >= parallel) await writeOldest();
    }
    // An empty input still has to be a valid (one-member) gzip stream.
    if (seen === 0) compress(Buffer.alloc(0), opts.level);
    while (pending.length > 0) await writeOldest();
    sink.end();
    await sinkDone;
  } catch (err) {
    // Let the members in flight finish on their threads before the caller cleans up.
    await Promise.allSettled(pending.map((p) => p.member));
    throw err;
  }
}

/**
 * SEGMENT-sized buffers that segments() joins pieces into, reused once compressed: fresh memory
 * for every MiB of the layer costs a page fault per 4 KiB, much more than the copy itself.
 */
class SegmentPool {
  private readonly free: Buffer[] = [];
  private readonly ours = new WeakSet<Buffer>();

  /** Room for one segment (its contents are overwritten). */
  take(): Buffer {
    const buf = this.free.pop() ?? Buffer.allocUnsafeSlow(SEGMENT);
    this.ours.add(buf);
    return buf;
  }

  /** A segment done with; kept if it came from take(), not if it is a piece of the input. */
  release(segment: Buffer): void {
    if (this.ours.has(segment)) this.free.push(segment);
  }
}

/** Re-chunks into exact SEGMENT-sized buffers (the last may be shorter). */
async function* segments(source: AsyncIterable<Buffer>, pool: SegmentPool): AsyncGenerator<Buffer> {
  let parts: Buffer[] = [];
  let length = 0;
  for await (const chunk of source) {
    let rest = chunk;
    while (length + rest.length >= SEGMENT) {
      const take = SEGMENT - length;
      parts.push(rest.subarray(0, take));
      yield parts.length === 1 ? parts[0]! : join(parts, pool.take());
      rest = rest.subarray(take);
      parts = [];
      length = 0;
    }
    if (rest.length > 0) {
      parts.push(rest);
      length += rest.length;
    }
  }
  if (length > 0) yield Buffer.concat(parts, length);
}

/** Copies `parts` (SEGMENT bytes in all) into `into`. */
function join(parts: Buffer[], into: Buffer): Buffer {
  let at = 0;
  for (const p of parts) at += p.copy(into, at);
  return into;
}

/** Shannon entropy of byte values over samples spread through the segment. */
export function looksIncompressible(segment: Buffer): boolean {
  const counts = new Uint32Array(256);
  const stride = Math.floor(segment.length / SAMPLES_PER_SEGMENT);
  let n = 0;
  for (let s = 0; s < SAMPLES_PER_SEGMENT; s++) {
    const start = s * stride;
    const end = Math.min(start + SAMPLE, segment.length);
    for (let i = start; i < end; i++) counts[segment[i]!]!++;
    n += end - start;
  }
  let bits = 0;
  for (const c of counts) {
    if (c === 0) continue;
    const p = c / n;
    bits -= p * Math.log2(p);
  }
  return bits > INCOMPRESSIBLE_BITS;
}

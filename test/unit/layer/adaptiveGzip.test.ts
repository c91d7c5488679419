import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { execCommand } from '../../helpers/exec.js';
import { makeTempDir } from '../../helpers/tmp.js';
import { adaptiveGzip, looksIncompressible } from '../../../src/layer/adaptiveGzip.js';

/** A sink that keeps what it is given, and whether it was ended. */
function collector(): { sink: Writable; bytes: () => Buffer; finished: () => boolean } {
  const out: Buffer[] = [];
  let done = false;
  const sink = new Writable({
    write(c: Buffer, _e, cb) {
      out.push(c);
      cb();
    },
  });
  sink.on('finish', () => (done = true));
  return { sink, bytes: () => Buffer.concat(out), finished: () => done };
}

/** `data` in pieces of `chunk` bytes, or of the sizes `chunk` gives in turn. */
async function* piecesOf(data: Buffer, chunk: number | (() => number)): AsyncGenerator<Buffer> {
  for (let i = 0; i < data.length; ) {
    const n = typeof chunk === 'number' ? chunk : chunk();
    yield data.subarray(i, i + n);
    i += n;
  }
}

async function gzipOf(data: Buffer, chunk: number | (() => number), parallel?: number): Promise<Buffer> {
  const { sink, bytes } = collector();
  await adaptiveGzip(piecesOf(data, chunk), sink, { level: 1, ...(parallel ? { parallel } : {}) });
  return bytes();
}

describe('adaptiveGzip', () => {
  const MiB = 1024 * 1024;
  const data = Buffer.concat([Buffer.alloc(2 * MiB, 'text '), randomBytes(3 * MiB), Buffer.alloc(MiB + 123, 'more text ')]);

  it('stores random stretches, compresses the rest, and gunzips to the input', async () => {
    const gz = await gzipOf(data, 65536);
    expect(gunzipSync(gz).equals(data)).toBe(true);
    // the random 3 MiB are stored (just above their size), the text shrinks to almost nothing
    expect(gz.length).toBeGreaterThan(3 * MiB);
    expect(gz.length).toBeLessThan(3 * MiB + 64 * 1024);
  });

  it('is deterministic whatever the input chunking', async () => {
    const a = await gzipOf(data, 1000);
    const b = await gzipOf(data, 3 * MiB);
    expect(a.equals(b)).toBe(true);
    // exact segments, one byte off them, and a repeating run of odd sizes
    const sizes = [1, 4095, 65537, MiB - 1, 7, MiB + 1, 300_000];
    let k = 0;
    for (const chunk of [MiB, MiB + 1, MiB - 1, data.length, () => sizes[k++ % sizes.length]!]) {
      expect((await gzipOf(data, chunk)).equals(a)).toBe(true);
    }
  });

  it('writes a multi-member stream that the gzip program tests and unpacks to the input', async () => {
    const gz = await gzipOf(data, 65536);
    const dir = await makeTempDir('tsbuild-adaptive-gzip');
    await writeFile(join(dir, 'layer.gz'), gz);
    await writeFile(join(dir, 'layer'), data);
    const tested = await execCommand('gzip', ['-t', join(dir, 'layer.gz')]);
    expect(tested.code, tested.stderr).toBe(0);
    const same = await execCommand('sh', ['-c', 'gzip -dc "$1" | cmp - "$2"', 'sh', join(dir, 'layer.gz'), join(dir, 'layer')]);
    expect(same.code, same.stdout + same.stderr).toBe(0);
  });

  it('gives the same bytes however many segments are compressed at once', async () => {
    const one = await gzipOf(data, 65536, 1);
    const three = await gzipOf(data, 65536, 3);
    expect(three.equals(one)).toBe(true);
    expect(gunzipSync(three).equals(data)).toBe(true);
    // one member per 1 MiB segment: a member header (1f 8b 08) at the start of each
    let members = 0;
    for (let i = 0; (i = three.indexOf(Buffer.from([0x1f, 0x8b, 0x08, 0x00]), i)) >= 0; i++) members++;
    expect(members).toBeGreaterThanOrEqual(Math.ceil(data.length / MiB));
  });

  it('fails (rather than hangs) when the sink fails', async () => {
    const sink = new Writable({
      highWaterMark: 1,
      write(_c: Buffer, _e, cb) {
        cb(new Error('disk full'));
      },
    });
    await expect(adaptiveGzip(piecesOf(data, MiB), sink, { level: 1 })).rejects.toThrow('disk full');
  });

  it('rejects, without ending the sink, when the compressor refuses', async () => {
    const { sink, finished } = collector();
    await expect(adaptiveGzip(piecesOf(data, MiB), sink, { level: 13 })).rejects.toThrow('level must be a whole number from 0 to 12');
    expect(finished()).toBe(false);
  });

  it('rejects with an AbortError, without ending the sink, when aborted mid-stream', async () => {
    const abort = new AbortController();
    const { sink, finished } = collector();
    let given = 0;
    async function* source(): AsyncGenerator<Buffer> {
      for await (const piece of piecesOf(data, 256 * 1024)) {
        // after two segments' worth
        if ((given += piece.length) > 2 * MiB) abort.abort();
        yield piece;
      }
    }
    const run = adaptiveGzip(source(), sink, { level: 1, signal: abort.signal });
    await expect(run).rejects.toMatchObject({ name: 'AbortError' });
    expect(finished()).toBe(false);
  });

  it('produces a valid gzip stream for empty input', async () => {
    expect(gunzipSync(await gzipOf(Buffer.alloc(0), 10)).length).toBe(0);
  });

  it('tells random bytes from text', () => {
    expect(looksIncompressible(randomBytes(MiB))).toBe(true);
    expect(looksIncompressible(Buffer.alloc(MiB, 'some text'))).toBe(false);
  });
});

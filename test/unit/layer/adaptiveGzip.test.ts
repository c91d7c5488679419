import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { adaptiveGzip, looksIncompressible } from '../../../src/layer/adaptiveGzip.js';

async function gzipOf(data: Buffer, chunk: number, parallel?: number): Promise<Buffer> {
  const out: Buffer[] = [];
  const sink = new Writable({
    write(c: Buffer, _e, cb) {
      out.push(c);
      cb();
    },
  });
  async function* pieces(): AsyncGenerator<Buffer> {
    for (let i = 0; i < data.length; i += chunk) yield data.subarray(i, i + chunk);
  }
  await adaptiveGzip(pieces(), sink, { level: 1, ...(parallel ? { parallel } : {}) });
  return Buffer.concat(out);
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
    async function* pieces(): AsyncGenerator<Buffer> {
      for (let i = 0; i < data.length; i += MiB) yield data.subarray(i, i + MiB);
    }
    await expect(adaptiveGzip(pieces(), sink, { level: 1 })).rejects.toThrow('disk full');
  });

  it('produces a valid gzip stream for empty input', async () => {
    expect(gunzipSync(await gzipOf(Buffer.alloc(0), 10)).length).toBe(0);
  });

  it('tells random bytes from text', () => {
    expect(looksIncompressible(randomBytes(MiB))).toBe(true);
    expect(looksIncompressible(Buffer.alloc(MiB, 'some text'))).toBe(false);
  });
});

import { Readable } from 'node:stream';
import { setImmediate as tick } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { teeStream } from '../../../src/util/teeStream.js';

const CHUNK = 64 * 1024;

/** A source of `n` distinct chunks that counts how many were pulled from it. */
function counted(n: number): { source: Readable; pulled: () => number; destroyed: () => boolean } {
  let i = 0;
  const source = new Readable({
    highWaterMark: CHUNK,
    read() {
      this.push(i < n ? Buffer.alloc(CHUNK, i++ % 251) : null);
    },
  });
  return { source, pulled: () => i, destroyed: () => source.destroyed };
}

async function collect(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

async function settleDown(): Promise<void> {
  for (let k = 0; k < 50; k++) await tick();
}

describe('teeStream', () => {
  it('gives both branches every byte, in order, reading the source once', async () => {
    const { source, pulled } = counted(40);
    const [a, b] = teeStream(source, 4 * CHUNK);
    // One side slow: it paces the other, nothing is lost or reordered.
    const slow = (async () => {
      const parts: Buffer[] = [];
      for await (const chunk of b) {
        parts.push(chunk as Buffer);
        await new Promise((r) => setTimeout(r, 1));
      }
      return Buffer.concat(parts);
    })();
    const [got, gotSlow] = await Promise.all([collect(a), slow]);
    const want = Buffer.concat(Array.from({ length: 40 }, (_, i) => Buffer.alloc(CHUNK, i % 251)));
    expect(got.equals(want)).toBe(true);
    expect(gotSlow.equals(want)).toBe(true);
    expect(pulled()).toBe(40);
  });

  it('gathers small chunks into chunks of its highWaterMark, the rest at the end', async () => {
    const { source } = counted(10);
    const [a, b] = teeStream(source, 4 * CHUNK);
    b.resume();
    const sizes: number[] = [];
    for await (const chunk of a) sizes.push((chunk as Buffer).length);
    expect(sizes).toEqual([4 * CHUNK, 4 * CHUNK, 2 * CHUNK]);
  });

  it('reads the source no further than the slower branch can hold', async () => {
    const { source, pulled } = counted(400);
    const [a, b] = teeStream(source, 4 * CHUNK);
    a.on('data', () => undefined);
    await settleDown();
    // b is not read: the source stops after about b's highWaterMark (plus the source's own buffer).
    const stalledAt = pulled();
    expect(stalledAt).toBeLessThanOrEqual(8);
    await settleDown();
    expect(pulled()).toBe(stalledAt);
    expect((await collect(b)).length).toBe(400 * CHUNK);
    expect(pulled()).toBe(400);
  });

  it('goes on with one branch when the other is destroyed, and stops the source when both are', async () => {
    const one = counted(100);
    const [a, b] = teeStream(one.source, 2 * CHUNK);
    b.destroy();
    expect((await collect(a)).length).toBe(100 * CHUNK);

    const two = counted(1000);
    const [c, d] = teeStream(two.source, 2 * CHUNK);
    c.on('data', () => undefined);
    await settleDown();
    c.destroy();
    d.destroy();
    await settleDown();
    expect(two.destroyed()).toBe(true);
    expect(two.pulled()).toBeLessThan(1000);
  });

  it('fails both branches with the error of the source', async () => {
    const boom = new Error('source failed');
    const source = new Readable({
      read() {
        this.push(Buffer.alloc(CHUNK));
        this.destroy(boom);
      },
    });
    const [a, b] = teeStream(source);
    const [ra, rb] = await Promise.allSettled([collect(a), collect(b)]);
    expect(ra).toEqual({ status: 'rejected', reason: boom });
    expect(rb).toEqual({ status: 'rejected', reason: boom });
  });
});

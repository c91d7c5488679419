import { randomBytes } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { gzipMember } from '../../../src/util/fsx.js';

const MiB = 1024 * 1024;
const text = Buffer.alloc(MiB, 'a line of a text file\n');

describe('gzipMember (libdeflate through fsx.node)', () => {
  it('gives one complete gzip member that gunzips to the input', async () => {
    const gz = await gzipMember(text, 1);
    expect(gunzipSync(gz).equals(text)).toBe(true);
    expect(gz.length).toBeLessThan(text.length / 50);
    // magic, deflate, no flags (so no name), mtime 0: the bytes depend on the input alone
    expect([...gz.subarray(0, 8)]).toEqual([0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0]);
    // the trailer: CRC-32 and the input's size mod 2^32
    expect(gz.readUInt32LE(gz.length - 4)).toBe(text.length);
  });

  it('stores at level 0: the member holds the bytes themselves', async () => {
    const random = randomBytes(MiB);
    const gz = await gzipMember(random, 0);
    expect(gunzipSync(gz).equals(random)).toBe(true);
    expect(gz.length).toBeGreaterThan(random.length);
    expect(gz.length).toBeLessThan(random.length + 1024);
    expect(gz.includes(random.subarray(0, 4096))).toBe(true);
  });

  it('gives the same bytes for the same input, alone or alongside others', async () => {
    const inputs = [text, randomBytes(MiB), Buffer.alloc(0), Buffer.from('x'), text.subarray(7, 300_001)];
    const alone: Buffer[] = [];
    for (const input of inputs) alone.push(await gzipMember(input, 1));
    const together = await Promise.all([...inputs, ...inputs].map((input) => gzipMember(input, 1)));
    for (const [i, gz] of together.entries()) {
      expect(gz.equals(alone[i % inputs.length]!)).toBe(true);
      expect(gunzipSync(gz).equals(inputs[i % inputs.length]!)).toBe(true);
    }
  });

  it('higher levels compress at least as well', async () => {
    const mixed = Buffer.from(Array.from({ length: 40_000 }, (_, i) => `entry ${i * 7919 % 10007} ${i % 13}\n`).join(''));
    const fast = await gzipMember(mixed, 1);
    const best = await gzipMember(mixed, 12);
    expect(gunzipSync(best).equals(mixed)).toBe(true);
    expect(best.length).toBeLessThanOrEqual(fast.length);
  });

  it('rejects a level libdeflate has not, and input that is not a Buffer', async () => {
    await expect(gzipMember(text, 13)).rejects.toThrow('level must be a whole number from 0 to 12');
    await expect(gzipMember(text, -1)).rejects.toThrow('level must be a whole number from 0 to 12');
    await expect(gzipMember('text' as unknown as Buffer, 1)).rejects.toThrow('expects a Buffer');
  });
});

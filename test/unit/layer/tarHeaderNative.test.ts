import { describe, expect, it } from 'vitest';
import { encodeTarHeader, type TarEntryType, type TarHeaderFields } from '../../../src/layer/tarHeader.js';
import { referenceTarHeader } from './referenceTarHeader.js';

// A small deterministic PRNG (mulberry32): the same cases on every run.
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const TYPES: TarEntryType[] = ['file', 'link', 'symlink', 'char', 'block', 'dir', 'fifo'];
// Names that cross the ustar limits: ASCII and not, 1-4 byte UTF-8, control characters.
const PIECES = ['a', 'bin', 'usr/share/doc', 'ü', '€', '😀', 'x'.repeat(40), '\t', ' ', '~', 'PaxHeaders', '\x7f', 'é'.repeat(30)];
const NUMBERS = [0, 1, 0o7777777, 0o7777777 + 1, 0o77777777777, 0o77777777777 + 1, 2 ** 32, 2 ** 40, 1_700_000_000];

function pathOf(next: () => number): string {
  const parts: string[] = [];
  const n = 1 + Math.floor(next() * 8);
  for (let i = 0; i < n; i++) parts.push(PIECES[Math.floor(next() * PIECES.length)]!);
  return parts.join(next() < 0.5 ? '/' : '');
}

function pick<T>(next: () => number, from: readonly T[]): T {
  return from[Math.floor(next() * from.length)]!;
}

function randomHeader(next: () => number): TarHeaderFields {
  const type = pick(next, TYPES);
  const h: TarHeaderFields = {
    path: pathOf(next) + (type === 'dir' ? '/' : ''),
    type,
    mode: Math.floor(next() * 0o177777),
    uid: pick(next, NUMBERS),
    gid: pick(next, NUMBERS),
    size: pick(next, NUMBERS),
    mtime: next() < 0.2 ? -Math.floor(next() * 1e9) : pick(next, NUMBERS),
  };
  if (type === 'symlink' || type === 'link') h.linkpath = pathOf(next);
  if (type === 'char' || type === 'block') {
    h.devmajor = Math.floor(next() * 5000);
    h.devminor = Math.floor(next() * 2 ** 20);
  }
  if (next() < 0.3) {
    const keys = ['security.capability', 'user.a', 'user.é', 'trusted.x', 'user.b', 'user.a.b'];
    h.xattrs = keys.filter(() => next() < 0.5).map((k) => [k, Buffer.from(Array.from({ length: Math.floor(next() * 300) }, () => Math.floor(next() * 256)))]);
  }
  return h;
}

/**
 * native/fsxTar.c (through encodeTarHeader) against the JS encoder it replaced
 * (referenceTarHeader.ts): layer digests depend on every byte, so both must agree everywhere.
 */
describe('the native tar header encoder', () => {
  it('gives the bytes of the JS encoder it replaced on 5,000 generated headers', () => {
    const next = rng(8);
    for (let i = 0; i < 5000; i++) {
      const h = randomHeader(next);
      const got = encodeTarHeader(h);
      const want = referenceTarHeader(h);
      if (!got.equals(want)) expect({ header: h, got: got.toString('latin1') }).toEqual({ header: h, got: want.toString('latin1') });
    }
  });

  it('agrees on the boundary cases of each pax rule', () => {
    const base: TarHeaderFields = { path: 'f', type: 'file', mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 0 };
    const cases: TarHeaderFields[] = [
      base,
      { ...base, path: 'p'.repeat(100) },
      { ...base, path: 'p'.repeat(101) },
      { ...base, path: `${'d'.repeat(99)}/` , type: 'dir' },
      { ...base, path: `${'d'.repeat(100)}/`, type: 'dir' },
      { ...base, path: `${'ü'.repeat(60)}/${'😀'.repeat(30)}` },
      { ...base, type: 'symlink', linkpath: 'l'.repeat(100) },
      { ...base, type: 'symlink', linkpath: 'l'.repeat(101) },
      { ...base, type: 'link', linkpath: '/ü' },
      { ...base, uid: 0o7777777, gid: 0o7777777 + 1 },
      { ...base, size: 0o77777777777 + 1 },
      { ...base, mtime: -1 },
      { ...base, mtime: 0o77777777777 + 1 },
      { ...base, mode: 0o107755 },
      { ...base, type: 'char', devmajor: 2 ** 22, devminor: 3 },
      // pax record lengths around the digit boundaries (9/10, 99/100, 999/1000 bytes)
      ...[1, 2, 3, 80, 81, 82, 83, 84, 85, 86, 87, 88, 89, 90, 980, 985, 990, 995].map((n) => ({ ...base, path: 'n'.repeat(n + 100) })),
      { ...base, xattrs: [['user.z', Buffer.from('1')], ['user.a', Buffer.alloc(0)], ['security.capability', Buffer.from([0, 1, 2])]] as Array<[string, Buffer]> },
    ];
    for (const h of cases) expect(encodeTarHeader(h).toString('latin1')).toBe(referenceTarHeader(h).toString('latin1'));
  });
});

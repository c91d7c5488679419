/**
 * A small seeded mutation fuzzer: the same seed gives the same inputs on every machine, so a
 * failure in CI is reproduced by its seed and index alone.
 */

/** mulberry32: tiny, fast, good enough to drive mutations (not for anything secret). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Bytes that hit parser edges: NUL, space, octal digits, base-256 marker, pax separators, '/', '.'.
const INTERESTING = [0x00, 0x20, 0x30, 0x37, 0x38, 0x7f, 0x80, 0xff, 0x0a, 0x3d, 0x2f, 0x2e, 0x22, 0x7b, 0x7d, 0x5b, 0x5d, 0x2c, 0x3a];

/** One to four byte-level mutations of `input` (never modified in place). */
export function mutateBytes(input: Buffer, rand: () => number): Buffer {
  let b = Buffer.from(input);
  const int = (n: number): number => Math.floor(rand() * n);
  const rounds = 1 + int(4);
  for (let i = 0; i < rounds; i++) {
    const pos = b.length === 0 ? 0 : int(b.length);
    switch (int(8)) {
      case 0: // flip a bit
        if (b.length > 0) b[pos] = b[pos]! ^ (1 << int(8));
        break;
      case 1: // an interesting byte
        if (b.length > 0) b[pos] = INTERESTING[int(INTERESTING.length)]!;
        break;
      case 2: // a random byte run
        for (let j = 0, n = 1 + int(16); j < n && pos + j < b.length; j++) b[pos + j] = int(256);
        break;
      case 3: // truncate
        b = b.subarray(0, pos);
        break;
      case 4: // insert random bytes
        b = Buffer.concat([b.subarray(0, pos), Buffer.from(Array.from({ length: 1 + int(64) }, () => int(256))), b.subarray(pos)]);
        break;
      case 5: // duplicate a slice somewhere else
        {
          const len = int(Math.min(1024, b.length - pos + 1));
          const at = int(b.length + 1);
          b = Buffer.concat([b.subarray(0, at), b.subarray(pos, pos + len), b.subarray(at)]);
        }
        break;
      case 6: // delete a slice
        b = Buffer.concat([b.subarray(0, pos), b.subarray(pos + int(512))]);
        break;
      default: // overwrite with a decimal or octal number (sizes, lengths, pax records)
        {
          const num = Buffer.from(String([0, 1, 7, 511, 512, 1 << 20, 2 ** 31, 2 ** 53, 1e21][int(9)]), 'latin1');
          num.copy(b, pos);
        }
    }
  }
  return b;
}

/** Structural JSON mutations: replace, drop or retype a value somewhere in the tree. */
export function mutateJson(value: unknown, rand: () => number): unknown {
  const int = (n: number): number => Math.floor(rand() * n);
  const weird = (): unknown =>
    [null, true, 0, -1, 1.5, 2 ** 60, '', 'x', 'sha256:zz', `sha256:${'a'.repeat(64)}`, [], {}, [null], { digest: 1 }, '__proto__', { __proto__: { polluted: 1 } }][int(16)];
  const clone = JSON.parse(JSON.stringify(value)) as unknown;
  const paths: Array<{ parent: Record<string, unknown> | unknown[]; key: string | number }> = [];
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach((item, i) => (paths.push({ parent: v, key: i }), walk(item)));
    else if (v && typeof v === 'object') for (const k of Object.keys(v)) (paths.push({ parent: v as Record<string, unknown>, key: k }), walk((v as Record<string, unknown>)[k]));
  };
  walk(clone);
  if (paths.length === 0) return weird();
  for (let i = 0, n = 1 + int(3); i < n; i++) {
    const p = paths[int(paths.length)]!;
    const op = int(3);
    if (op === 0) (p.parent as Record<string | number, unknown>)[p.key] = weird();
    else if (op === 1) {
      if (Array.isArray(p.parent)) p.parent.splice(Number(p.key), 1);
      else delete p.parent[p.key as string];
    } else (p.parent as Record<string | number, unknown>)[p.key] = [(p.parent as Record<string | number, unknown>)[p.key]];
  }
  return clone;
}

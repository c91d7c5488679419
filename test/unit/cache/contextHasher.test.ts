import { chmod, mkdir, readFile, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ContextHasher } from '../../../src/cache/contextHasher.js';
import { makeTempDir } from '../../helpers/tmp.js';

const signal = new AbortController().signal;

async function context(): Promise<string> {
  const dir = await makeTempDir('tsbuild-hash');
  await mkdir(join(dir, 'src'));
  await writeFile(join(dir, 'src', 'main.ts'), 'main\n');
  await writeFile(join(dir, 'src', 'util.ts'), 'util\n');
  await symlink('main.ts', join(dir, 'src', 'link'));
  return dir;
}

describe('ContextHasher', () => {
  it('ignores mtimes but sees content, mode and link targets', async () => {
    const ctx = await context();
    const store = await makeTempDir('tsbuild-hash-store');
    const hasher = () => new ContextHasher(join(store, 'stat.json'));
    const first = await hasher().hash(ctx, ['src'], signal);
    expect(Object.keys(first).sort()).toEqual(['src', 'src/link', 'src/main.ts', 'src/util.ts']);
    await utimes(join(ctx, 'src', 'main.ts'), new Date(2001, 1, 1), new Date(2001, 1, 1));
    expect(await hasher().hash(ctx, ['src'], signal)).toEqual(first);
    await chmod(join(ctx, 'src', 'util.ts'), 0o755);
    const moded = await hasher().hash(ctx, ['src'], signal);
    expect(moded['src/util.ts']).not.toBe(first['src/util.ts']);
    expect(moded['src/main.ts']).toBe(first['src/main.ts']);
  });

  it('walks a wide tree completely without following a symlinked directory out of the context', async () => {
    const ctx = await makeTempDir('tsbuild-hash-wide');
    for (let d = 0; d < 4; d++) {
      await mkdir(join(ctx, 'tree', `d${d}`, 'sub'), { recursive: true });
      for (let f = 0; f < 500; f++) await writeFile(join(ctx, 'tree', `d${d}`, f % 5 ? `f${f}` : join('sub', `f${f}`)), `${d}/${f}\n`);
    }
    const outside = await makeTempDir('tsbuild-hash-outside');
    await writeFile(join(outside, 'secret'), 'not in the context\n');
    await symlink(outside, join(ctx, 'tree', 'd0', 'escape'));
    const store = await makeTempDir('tsbuild-hash-store');
    const digests = await new ContextHasher(join(store, 'stat.json')).hash(ctx, ['tree'], signal);
    const files = Object.keys(digests).filter((k) => /\/f\d+$/.test(k));
    expect(files).toHaveLength(2000);
    expect(digests['tree/d3/sub/f495']).toMatch(/^sha256:/);
    expect(digests['tree/d0/escape']).toMatch(/^sha256:/);
    expect(Object.keys(digests).filter((k) => k.startsWith('tree/d0/escape/'))).toEqual([]);
    // the same tree hashed again (from the stat cache) gives the same digests
    expect(await new ContextHasher(join(store, 'stat.json')).hash(ctx, ['tree'], signal)).toEqual(digests);
  });

  it('trusts its stat cache for unchanged files, and re-reads files whose stat changed', async () => {
    const ctx = await context();
    const store = await makeTempDir('tsbuild-hash-store');
    const path = join(store, 'stat.json');
    const h1 = new ContextHasher(path);
    const first = await h1.hash(ctx, ['src/*.ts'], signal);
    await h1.save();
    const saved = await readFile(path, 'utf8');
    // Pretend the cache was written long after the files: then their entries are not racy.
    const parsed = JSON.parse(saved) as { writtenAtNs: string; entries: Record<string, string[]> };
    const fake = 'sha256:' + '0'.repeat(64);
    for (const row of Object.values(parsed.entries)) row[5] = fake;
    await writeFile(path, JSON.stringify(parsed));
    // The stat cache answers for unchanged files (a wrong digest planted in it proves it was not re-read).
    const cached = await new ContextHasher(path).hash(ctx, ['src/main.ts'], signal);
    expect(cached['src/main.ts']).not.toBe(first['src/main.ts']);
    // A file whose size or mtime changed is hashed again.
    await writeFile(join(ctx, 'src', 'main.ts'), 'main, longer\n');
    const fresh = await new ContextHasher(path).hash(ctx, ['src/main.ts'], signal);
    expect(fresh['src/main.ts']).not.toBe(cached['src/main.ts']);
    expect(fresh['src/main.ts']).not.toBe(first['src/main.ts']);
  });

  it('re-hashes racily clean entries (modified no earlier than the cache was written)', async () => {
    const ctx = await context();
    const store = await makeTempDir('tsbuild-hash-store');
    const path = join(store, 'stat.json');
    const h1 = new ContextHasher(path);
    const first = await h1.hash(ctx, ['src/main.ts'], signal);
    await h1.save();
    const parsed = JSON.parse(await readFile(path, 'utf8')) as { writtenAtNs: string; entries: Record<string, string[]> };
    const st = await stat(join(ctx, 'src', 'main.ts'), { bigint: true });
    parsed.writtenAtNs = String(st.mtimeNs); // written in the same tick as the file changed
    for (const row of Object.values(parsed.entries)) row[5] = 'sha256:' + '0'.repeat(64);
    await writeFile(path, JSON.stringify(parsed));
    expect((await new ContextHasher(path).hash(ctx, ['src/main.ts'], signal))['src/main.ts']).toBe(first['src/main.ts']);
  });

  it('writes nothing when nothing changed', async () => {
    const ctx = await context();
    // Only files bigger than 64 KiB inside a directory go through the stat cache.
    await writeFile(join(ctx, 'src', 'big.bin'), Buffer.alloc(100_000, 'b'));
    const store = await makeTempDir('tsbuild-hash-store');
    const path = join(store, 'stat.json');
    const h1 = new ContextHasher(path);
    await h1.hash(ctx, ['src'], signal);
    await h1.save();
    const before = await stat(path);
    await new Promise((r) => setTimeout(r, 20));
    const h2 = new ContextHasher(path);
    await h2.hash(ctx, ['src'], signal);
    await h2.save();
    expect((await stat(path)).mtimeMs).toBe(before.mtimeMs);
  });

  it('hashes the files a directory scan reads (small ones, past its budget too) as it hashes a file named alone', async () => {
    const ctx = await makeTempDir('tsbuild-hash-scan');
    await mkdir(join(ctx, 'tree', 'sub'), { recursive: true });
    const names: string[] = [];
    // 40 files of 60,000 bytes: more than one scan reads, so the rest come in batches
    for (let i = 0; i < 40; i++) names.push(`tree/f${i}`);
    for (const [i, n] of names.entries()) await writeFile(join(ctx, n), Buffer.alloc(60_000 + i, `${i}`));
    for (const n of ['tree/empty', 'tree/sub/one', 'tree/big']) names.push(n);
    await writeFile(join(ctx, 'tree/empty'), '');
    await writeFile(join(ctx, 'tree/sub/one'), '1');
    await writeFile(join(ctx, 'tree/big'), Buffer.alloc(200_000, 'x'));
    await chmod(join(ctx, 'tree/f3'), 0o700);
    const store = await makeTempDir('tsbuild-hash-store');
    const walked = await new ContextHasher(join(store, 'a.json')).hash(ctx, ['tree'], signal);
    const alone = await new ContextHasher(join(store, 'b.json')).hash(ctx, names, signal);
    for (const n of names) expect(walked[n], n).toBe(alone[n]);
    expect(new Set(names.map((n) => walked[n])).size).toBe(names.length);
  });
});

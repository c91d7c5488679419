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
});

import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { encodeTarHeader, padding, type TarHeaderFields } from '../../../src/layer/tarHeader.js';
import { readTar } from '../../../src/layer/tarReader.js';

const run = promisify(execFile);

function archive(entries: Array<[TarHeaderFields, Buffer?]>): Buffer {
  const parts: Buffer[] = [];
  for (const [h, data] of entries) {
    parts.push(encodeTarHeader(h));
    if (data) parts.push(data, Buffer.alloc(padding(data.length)));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

async function readAll(bytes: Buffer, chunk = 100) {
  async function* pieces() {
    for (let i = 0; i < bytes.length; i += chunk) yield bytes.subarray(i, i + chunk);
  }
  const out: Array<{ path: string; type: string; uid: number; size: number; linkpath: string; xattrs: Array<[string, Buffer]>; data: string }> = [];
  for await (const e of readTar(pieces())) {
    const data: Buffer[] = [];
    for await (const c of e.body) data.push(c);
    out.push({ path: e.path, type: e.type, uid: e.uid, size: e.size, linkpath: e.linkpath, xattrs: e.xattrs, data: Buffer.concat(data).toString() });
  }
  return out;
}

const base = { mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 1_700_000_000 };

describe('tar header encoding and reading', () => {
  it('round-trips long and non-ASCII names, large ids, binary xattrs through pax records', async () => {
    const longName = `${'a'.repeat(120)}/ünïcode-${'b'.repeat(150)}`;
    const bytes = archive([
      [{ ...base, path: `${longName}/`, type: 'dir' }],
      [{ ...base, path: 'f', type: 'file', size: 5, uid: 3_000_000, xattrs: [['security.capability', Buffer.from([0, 1, 0xff, 10])]] }, Buffer.from('hello')],
      [{ ...base, path: 'l', type: 'symlink', linkpath: 'x'.repeat(300) }],
    ]);
    const entries = await readAll(bytes, 7);
    expect(entries.map((e) => e.path)).toEqual([`${longName}/`, 'f', 'l']);
    expect(entries[1]).toMatchObject({ uid: 3_000_000, data: 'hello', size: 5 });
    expect(entries[1]!.xattrs).toEqual([['security.capability', Buffer.from([0, 1, 0xff, 10])]]);
    expect(entries[2]!.linkpath).toBe('x'.repeat(300));
  });

  it('writes archives GNU tar reads back identically', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tsbuild-tarfmt-'));
    try {
      // pax record lengths around the 2→3 digit boundary are where length prefixes go wrong
      const names = Array.from({ length: 12 }, (_, i) => 'n'.repeat(85 + i));
      const bytes = archive(names.map((n) => [{ ...base, path: `${n}/`, type: 'dir' as const }]));
      await writeFile(join(dir, 't.tar'), bytes);
      const { stdout } = await run('tar', ['-tf', join(dir, 't.tar')]);
      expect(stdout.split('\n').filter(Boolean)).toEqual(names.map((n) => `${n}/`));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('reads GNU long names and ustar prefixes written by GNU tar', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tsbuild-tarfmt-'));
    try {
      const long = `${'p'.repeat(120)}.txt`;
      await writeFile(join(dir, long), 'gnu');
      await run('tar', ['--format=gnu', '-cf', join(dir, 'g.tar'), '-C', dir, long]);
      expect((await readAll(await readFile(join(dir, 'g.tar')))).map((e) => [e.path, e.data])).toEqual([[long, 'gnu']]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses corrupt headers and truncated data', async () => {
    const good = archive([[{ ...base, path: 'f', type: 'file', size: 600 }, Buffer.alloc(600, 1)]]);
    const badSum = Buffer.from(good);
    badSum[0] = 0x5a;
    await expect(readAll(badSum)).rejects.toMatchObject({ code: 'LAYER_INVALID' });
    await expect(readAll(good.subarray(0, 900))).rejects.toMatchObject({ code: 'LAYER_INVALID' });
  });
});

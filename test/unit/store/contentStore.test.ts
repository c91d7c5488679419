import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { mkdtemp, open, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ContentStore } from '../../../src/store/contentStore.js';

const execFileAsync = promisify(execFile);
const sha = (b: Uint8Array): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

describe('ContentStore', () => {
  let root: string;
  let store: ContentStore;

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'tsbuild-cs-'));
    store = new ContentStore(root);
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('stores a blob under blobs/sha256/<hex> and reads it back', async () => {
    const data = Buffer.from('hello blob');
    const info = await store.writeBytes(data);
    expect(info).toEqual({ digest: sha(data), size: data.length });
    expect(await readFile(join(root, 'blobs', 'sha256', sha(data).slice(7)))).toEqual(data);
    expect(await store.readBytes(info.digest)).toEqual(data);
    expect(await store.has(info.digest)).toBe(true);
    const streamed: Buffer[] = [];
    for await (const c of store.read(info.digest)) streamed.push(c as Buffer);
    expect(Buffer.concat(streamed)).toEqual(data);
    const listed: string[] = [];
    for await (const d of store.list()) listed.push(d);
    expect(listed).toEqual([info.digest]);
  });

  it('accepts many concurrent writes of the same blob, leaving one good copy and no temp files', async () => {
    const data = Buffer.alloc(3 * 1024 * 1024, 7);
    const chunks = (): Readable => Readable.from([data.subarray(0, 1000), data.subarray(1000)]);
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => (i % 2 ? store.write(chunks(), { digest: sha(data) }) : new ContentStore(root).write(chunks()))),
    );
    for (const r of results) expect(r).toEqual({ digest: sha(data), size: data.length });
    expect(await readdir(join(root, 'blobs', 'sha256'))).toEqual([sha(data).slice(7)]);
    expect(await readdir(join(root, 'tmp'))).toEqual([]);
    expect(await store.verify(sha(data))).toBe(true);
  });

  it('refuses a digest mismatch and leaves nothing behind', async () => {
    const data = Buffer.from('actual');
    const wrong = sha(Buffer.from('expected'));
    await expect(store.writeBytes(data, { digest: wrong })).rejects.toMatchObject({ code: 'DIGEST_MISMATCH' });
    await expect(store.writeBytes(data, { size: 3 })).rejects.toMatchObject({ code: 'DIGEST_MISMATCH' });
    await expect(store.writeBytes(data, { size: 99 })).rejects.toMatchObject({ code: 'DIGEST_MISMATCH' });
    expect(await store.has(wrong)).toBe(false);
    expect(await store.has(sha(data))).toBe(false);
    expect(await readdir(join(root, 'blobs', 'sha256'))).toEqual([]);
    expect(await readdir(join(root, 'tmp'))).toEqual([]);
  });

  it('writeBytes fails as write() of the same bytes does, message for message', async () => {
    const data = Buffer.from('actual');
    const cases = [{ digest: sha(Buffer.from('expected')) }, { size: 3 }, { size: 99 }, { digest: sha(data), size: 5 }];
    for (const expect_ of cases) {
      const viaBytes = await store.writeBytes(data, expect_).catch((e: Error) => e);
      const viaStream = await store.write(Readable.from([data]), expect_).catch((e: Error) => e);
      expect(viaBytes).toBeInstanceOf(Error);
      expect({ code: (viaBytes as { code?: string }).code, message: (viaBytes as Error).message }).toEqual({
        code: (viaStream as { code?: string }).code,
        message: (viaStream as Error).message,
      });
    }
    const ac = new AbortController();
    ac.abort();
    await expect(store.writeBytes(data, {}, ac.signal)).rejects.toMatchObject({ code: 'ABORTED', message: 'writing blob: aborted' });
    expect(await readdir(join(root, 'tmp'))).toEqual([]);
    // And succeeds as it does: installed, marked, trusted by a later process without hashing.
    expect(await store.writeBytes(data, { digest: sha(data), size: data.length })).toEqual({ digest: sha(data), size: data.length });
    expect(await new ContentStore(root).has(sha(data))).toBe(true);
    expect(await readdir(join(root, 'tmp'))).toEqual([]);
  });

  it('cleans up when the source stream fails midway', async () => {
    async function* failing(): AsyncGenerator<Buffer> {
      yield Buffer.from('partial');
      throw new Error('network reset');
    }
    await expect(store.write(failing())).rejects.toThrow(/network reset/);
    expect(await readdir(join(root, 'blobs', 'sha256'))).toEqual([]);
    expect(await readdir(join(root, 'tmp'))).toEqual([]);
  });

  it('readers never see a partial blob while it is being written', async () => {
    const data = Buffer.alloc(1024 * 1024, 1);
    const digest = sha(data);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    async function* slow(): AsyncGenerator<Buffer> {
      yield data.subarray(0, 4096);
      await gate;
      yield data.subarray(4096);
    }
    const writing = store.write(slow());
    await new Promise((r) => setTimeout(r, 50));
    expect(await store.has(digest)).toBe(false);
    await expect(store.readBytes(digest)).rejects.toMatchObject({ code: 'BLOB_NOT_FOUND' });
    const listed: string[] = [];
    for await (const d of store.list()) listed.push(d);
    expect(listed).toEqual([]);
    release();
    await writing;
    expect((await store.readBytes(digest)).equals(data)).toBe(true);
  });

  it('does not trust a corrupt existing blob: has() drops it and a write replaces it', async () => {
    const data = Buffer.from('good content');
    const digest = sha(data);
    await store.init();
    await writeFile(join(root, 'blobs', 'sha256', digest.slice(7)), 'garbage');
    expect(await new ContentStore(root).verify(digest)).toBe(false);
    expect(await new ContentStore(root).has(digest)).toBe(false);
    await writeFile(join(root, 'blobs', 'sha256', digest.slice(7)), 'garbage');
    await new ContentStore(root).writeBytes(data);
    expect(await readFile(join(root, 'blobs', 'sha256', digest.slice(7)))).toEqual(data);
  });

  it('trusts a blob it wrote in a later process without hashing it again; one changed since is hashed and dropped', async () => {
    const data = Buffer.from('good content, written once');
    const { digest } = await store.writeBytes(data);
    const path = join(root, 'blobs', 'sha256', digest.slice(7));
    // Rot that keeps size and mtime: a later has() trusts the mark (no re-hash) ...
    const stamp = join(root, 'stamp');
    await writeFile(stamp, '');
    await execFileAsync('touch', ['-r', path, stamp]); // nanosecond mtime, which utimes() cannot set
    const fh = await open(path, 'r+');
    await fh.write(Buffer.from('G'), 0, 1, 0);
    await fh.close();
    await execFileAsync('touch', ['-r', stamp, path]);
    expect(await new ContentStore(root).has(digest)).toBe(true);
    // ... and fsck's verify() always hashes, so it still finds it.
    expect(await new ContentStore(root).verify(digest)).toBe(false);
    // A change that moves the mtime invalidates the mark: has() hashes, finds it corrupt and drops it.
    await store.delete(digest);
    await new ContentStore(root).writeBytes(data);
    await writeFile(path, 'X'.repeat(data.length));
    expect(await new ContentStore(root).has(digest)).toBe(false);
    expect(await readdir(join(root, 'blobs', 'sha256'))).toEqual([]);
  });

  it('refuses malformed digests', async () => {
    expect(() => store.blobPath('sha256:../../etc/passwd')).toThrow(expect.objectContaining({ code: 'DIGEST_INVALID' }));
    await expect(store.has('md5:abc')).rejects.toMatchObject({ code: 'DIGEST_INVALID' });
  });

  it('an aborted write leaves nothing', async () => {
    const ac = new AbortController();
    async function* forever(): AsyncGenerator<Buffer> {
      for (;;) {
        yield Buffer.alloc(65536);
        await new Promise((r) => setTimeout(r, 5));
      }
    }
    const p = store.write(forever(), {}, ac.signal);
    setTimeout(() => ac.abort(), 30);
    await expect(p).rejects.toMatchObject({ code: 'ABORTED' });
    expect(await readdir(join(root, 'tmp'))).toEqual([]);
  });

  it('openWriter: pipe in, commit with an expectation', async () => {
    const w = store.openWriter();
    w.write(Buffer.from('ab'));
    w.write(Buffer.from('cd'));
    const info = await w.commit({ digest: sha(Buffer.from('abcd')), size: 4 });
    expect(info.size).toBe(4);
    expect((await store.readBytes(info.digest)).toString()).toBe('abcd');
    const aborted = store.openWriter();
    aborted.write(Buffer.from('zz'));
    await aborted.abort();
    expect(await readdir(join(root, 'tmp'))).toEqual([]);
  });
});

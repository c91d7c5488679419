import { execFile } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { lstat, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commitLayer } from '../../../src/layer/commitLayer.js';
import { extractLayer } from '../../../src/layer/extractLayer.js';
import { ContentStore } from '../../../src/store/contentStore.js';
import { makeUpperTree } from './fixtureTree.js';
import { describeTree } from './treeSnapshot.js';

const run = promisify(execFile);
const GZ = 'application/vnd.oci.image.layer.v1.tar+gzip';
const TAR = 'application/vnd.oci.image.layer.v1.tar';
const ZSTD = 'application/vnd.oci.image.layer.v1.tar+zstd';

/** Builds a tar with Python's tarfile, an independent writer that happily writes hostile names. */
async function pythonTar(file: string, program: string): Promise<Buffer> {
  const script = `
import tarfile, io, sys
t = tarfile.open(sys.argv[1], 'w', format=tarfile.PAX_FORMAT)
def f(name, data=b'x'):
    i = tarfile.TarInfo(name); i.size = len(data); t.addfile(i, io.BytesIO(data))
def d(name):
    i = tarfile.TarInfo(name); i.type = tarfile.DIRTYPE; i.mode = 0o755; t.addfile(i)
def sym(name, target):
    i = tarfile.TarInfo(name); i.type = tarfile.SYMTYPE; i.linkname = target; t.addfile(i)
def hard(name, target):
    i = tarfile.TarInfo(name); i.type = tarfile.LNKTYPE; i.linkname = target; t.addfile(i)
${program}
t.close()
`;
  await run('python3', ['-c', script, file]);
  return readFile(file);
}

describe('extractLayer', () => {
  let root: string;
  let store: ContentStore;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'tsbuild-extract-'));
    store = new ContentStore(join(root, 'store'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('round-trips a committed tree: whiteouts, opaque xattr, modes, owners, mtimes, hardlinks, devices', async () => {
    const upper = join(root, 'rt-upper');
    const dest = join(root, 'rt-dest');
    await mkdir(upper);
    await mkdir(dest);
    await makeUpperTree(upper);
    const info = await commitLayer(upper, store, { xattrFlavor: 'trusted' });
    const result = await extractLayer(store.read(info.digest), GZ, dest, { xattrFlavor: 'trusted' });
    expect(result.diffID).toBe(info.diffID);
    expect(result.skipped).toEqual({ owners: 0, devices: 0, xattrs: 0 });
    const want = await describeTree(upper);
    const got = await describeTree(dest);
    expect(got).toEqual(want);
    // spot checks of what the comparison covers
    expect(got['gone']).toMatch(/^mode=20000 .* rdev=0$/);
    expect(got['opq']).toContain('trusted.overlay.opaque=y');
    expect(got['bin/su']).toMatch(/^mode=104755 /);
    expect(got['bin/b']).toContain('hardlink-of=bin/a');
  });

  it('extracts an uncompressed tar and converts whiteouts to the user flavor', async () => {
    const upper = join(root, 'u-upper');
    await mkdir(upper);
    await makeUpperTree(upper, 'user');
    const info = await commitLayer(upper, store, { xattrFlavor: 'user' });
    const tarFile = join(root, 'u.tar');
    await run('sh', ['-c', `gzip -dc '${store.blobPath(info.digest)}' > '${tarFile}'`]);
    // OCI's and Docker's names for an uncompressed layer
    for (const [i, mediaType] of [TAR, 'application/vnd.docker.image.rootfs.diff.tar'].entries()) {
      const dest = join(root, `u-dest-${i}`);
      await mkdir(dest);
      const result = await extractLayer(createReadStream(tarFile), mediaType, dest, { xattrFlavor: 'user' });
      expect(result.diffID).toBe(info.diffID);
      expect((await describeTree(dest))['opq']).toContain('user.overlay.opaque=y');
    }
  });

  it('extracts a zstd layer (compression=zstd output, or another tool) to the same tree and diffID', async () => {
    const upper = join(root, 'z-upper');
    await mkdir(upper);
    await makeUpperTree(upper);
    const info = await commitLayer(upper, store, { xattrFlavor: 'trusted' });
    const zstFile = join(root, 'layer.tar.zst');
    await run('sh', ['-c', `gzip -dc '${store.blobPath(info.digest)}' | zstd -q -c > '${zstFile}'`]);
    const dest = join(root, 'z-dest');
    await mkdir(dest);
    const result = await extractLayer(createReadStream(zstFile), ZSTD, dest, { xattrFlavor: 'trusted' });
    expect(result.diffID).toBe(info.diffID);
    expect(await describeTree(dest)).toEqual(await describeTree(upper));
  });

  it('applies a whiteout over an entry of the same layer and extracts GNU tar output', async () => {
    const src = join(root, 'gnu-src');
    await mkdir(join(src, 'd'), { recursive: true });
    await writeFile(join(src, 'd/f'), 'data');
    await writeFile(join(src, 'd/.wh.f'), '');
    const tarFile = join(root, 'gnu.tar');
    await run('tar', ['--format=gnu', '-cf', tarFile, '-C', src, 'd/f', 'd/.wh.f']);
    const dest = join(root, 'gnu-dest');
    await mkdir(dest);
    const { diffID } = await extractLayer(createReadStream(tarFile), TAR, dest, { xattrFlavor: 'trusted' });
    const st = await stat(join(dest, 'd/f'));
    expect(st.isCharacterDevice() && st.rdev === 0).toBe(true);
    expect((await run('sha256sum', [tarFile])).stdout.split(' ')[0]).toBe(diffID.slice(7));
  });

  describe('refuses hostile layers with LAYER_INVALID and writes nothing outside dest', () => {
    const cases: Array<[string, string]> = [
      ['dot-dot', "f('../escaped')"],
      ['nested dot-dot', "d('a'); f('a/../../escaped')"],
      ['symlink parent', "sym('a', '/etc'); f('a/passwd', b'owned')"],
      ['relative symlink parent', "sym('a', '../..'); f('a/escaped')"],
      ['hardlink outside', "hard('shadow', '../../etc/shadow')"],
      ['hardlink to a missing entry', "hard('x', 'etc/shadow')"],
      ['symlink replacing a directory', "d('a'); f('a/x'); sym('a', '/etc'); f('a/passwd', b'owned')"],
      ['symlink replacing a file', "f('a'); sym('a', '/etc'); f('a/passwd', b'owned')"],
    ];
    for (const [name, program] of cases) {
      it(name, async () => {
        const base = await mkdtemp(join(root, 'hostile-'));
        const dest = join(base, 'a', 'b', 'dest');
        await mkdir(dest, { recursive: true });
        const tarBytes = await pythonTar(join(base, 'layer.tar'), program);
        await expect(extractLayer(Readable.from([gzipSync(tarBytes)]), GZ, dest, { xattrFlavor: 'trusted' })).rejects.toMatchObject({
          code: 'LAYER_INVALID',
        });
        expect((await readdir(base)).sort()).toEqual(['a', 'layer.tar']);
        expect(await readdir(join(base, 'a'))).toEqual(['b']);
        expect(await readdir(join(base, 'a', 'b'))).toEqual(['dest']);
        expect((await readFile('/etc/passwd', 'utf8')).includes('owned')).toBe(false);
      });
    }

    it('strips a leading / instead of writing to the host root', async () => {
      const base = await mkdtemp(join(root, 'abs-'));
      const dest = join(base, 'dest');
      await mkdir(dest);
      const marker = `tsbuild-abs-${process.pid}`;
      const tarBytes = await pythonTar(join(base, 'layer.tar'), `f('/tmp/${marker}', b'inside')`);
      await extractLayer(Readable.from([tarBytes]), TAR, dest, { xattrFlavor: 'trusted' });
      expect(await readFile(join(dest, 'tmp', marker), 'utf8')).toBe('inside');
      await expect(stat(join('/tmp', marker))).rejects.toMatchObject({ code: 'ENOENT' });
    });
  });

  it('lets a later entry of the same path win, never writing through a symlink, across many batches', async () => {
    const base = await mkdtemp(join(root, 'later-'));
    const dest = join(base, 'dest');
    await mkdir(dest);
    // 600 small files and ten of 900 KiB: more entries and more bytes than one native batch takes.
    const program = `
f('x', b'one'); f('x', b'two')
d('y'); f('y/z'); f('y', b'file')
sym('s', '/etc/passwd'); f('s', b'owned')
f('t'); d('t'); f('t/u', b'in t')
big = bytes(range(256)) * 8192
f('big', big); f('big2', b'a'); f('big2', big)
f('h1', b'linked'); hard('h2', 'h1')
i = tarfile.TarInfo('frac'); i.size = 0; i.mtime = 1234567890.25; t.addfile(i, io.BytesIO(b''))
d('many')
for k in range(600): f('many/%d' % k, b'file %d' % k)
for k in range(10): f('many/wide%d' % k, bytes([k]) * (900 * 1024))
`;
    const tarBytes = await pythonTar(join(base, 'layer.tar'), program);
    const { diffID } = await extractLayer(Readable.from([gzipSync(tarBytes)]), GZ, dest, { xattrFlavor: 'trusted' });
    expect(diffID).toBe(`sha256:${(await run('sha256sum', [join(base, 'layer.tar')])).stdout.split(' ')[0]}`);
    expect(await readFile(join(dest, 'x'), 'utf8')).toBe('two');
    expect(await readFile(join(dest, 'y'), 'utf8')).toBe('file');
    expect((await lstat(join(dest, 's'))).isFile()).toBe(true);
    expect(await readFile(join(dest, 's'), 'utf8')).toBe('owned');
    expect((await readFile('/etc/passwd', 'utf8')).includes('owned')).toBe(false);
    expect(await readFile(join(dest, 't/u'), 'utf8')).toBe('in t');
    const big = Buffer.alloc(256 * 8192);
    for (let k = 0; k < big.length; k++) big[k] = k % 256;
    expect((await readFile(join(dest, 'big'))).equals(big)).toBe(true);
    expect((await readFile(join(dest, 'big2'))).equals(big)).toBe(true);
    expect((await stat(join(dest, 'h2'))).ino).toBe((await stat(join(dest, 'h1'))).ino);
    expect((await stat(join(dest, 'frac'), { bigint: true })).mtimeNs).toBe(1234567890250000000n);
    expect((await readdir(join(dest, 'many'))).length).toBe(610);
    for (let k = 0; k < 600; k += 37) expect(await readFile(join(dest, `many/${k}`), 'utf8')).toBe(`file ${k}`);
    for (let k = 0; k < 10; k++) expect((await readFile(join(dest, `many/wide${k}`))).equals(Buffer.alloc(900 * 1024, k))).toBe(true);
  });

  it('refuses a truncated gzip stream', async () => {
    const upper = join(root, 'trunc-upper');
    await mkdir(upper);
    await makeUpperTree(upper);
    const info = await commitLayer(upper, store, { xattrFlavor: 'trusted' });
    const blob = await store.readBytes(info.digest);
    const dest = join(root, 'trunc-dest');
    await mkdir(dest);
    await expect(
      extractLayer(Readable.from([blob.subarray(0, blob.length - 20)]), GZ, dest, { xattrFlavor: 'trusted' }),
    ).rejects.toMatchObject({ code: 'LAYER_INVALID' });
  });

  it('refuses garbage, a bad checksum, broken zstd and unknown media types', async () => {
    const dest = join(root, 'garbage-dest');
    await mkdir(dest);
    const opts = { xattrFlavor: 'trusted' as const };
    await expect(extractLayer(Readable.from([Buffer.alloc(1024, 0x41)]), TAR, dest, opts)).rejects.toMatchObject({ code: 'LAYER_INVALID' });
    await expect(extractLayer(Readable.from([Buffer.from('not gzip')]), GZ, dest, opts)).rejects.toMatchObject({ code: 'LAYER_INVALID' });
    await expect(extractLayer(Readable.from([Buffer.from('not zstd')]), ZSTD, dest, opts)).rejects.toMatchObject({
      code: 'LAYER_INVALID',
      message: expect.stringContaining('extracting a zstd layer: zstd exited with 1'),
      hint: 'the blob is not valid zstd data, or is truncated',
    });
    await expect(extractLayer(Readable.from([]), 'text/plain', dest, opts)).rejects.toMatchObject({ code: 'LAYER_INVALID' });
  });
});

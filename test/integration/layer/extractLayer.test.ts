import { execFile } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
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
    const dest = join(root, 'u-dest');
    await mkdir(dest);
    const result = await extractLayer(createReadStream(tarFile), TAR, dest, { xattrFlavor: 'user' });
    expect(result.diffID).toBe(info.diffID);
    expect((await describeTree(dest))['opq']).toContain('user.overlay.opaque=y');
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

  it('refuses garbage, a bad checksum, zstd and unknown media types', async () => {
    const dest = join(root, 'garbage-dest');
    await mkdir(dest);
    const opts = { xattrFlavor: 'trusted' as const };
    await expect(extractLayer(Readable.from([Buffer.alloc(1024, 0x41)]), TAR, dest, opts)).rejects.toMatchObject({ code: 'LAYER_INVALID' });
    await expect(extractLayer(Readable.from([Buffer.from('not gzip')]), GZ, dest, opts)).rejects.toMatchObject({ code: 'LAYER_INVALID' });
    await expect(extractLayer(Readable.from([]), 'application/vnd.oci.image.layer.v1.tar+zstd', dest, opts)).rejects.toMatchObject({
      code: 'LAYER_INVALID',
      message: expect.stringContaining('zstd layers are not supported yet'),
    });
    await expect(extractLayer(Readable.from([]), 'text/plain', dest, opts)).rejects.toMatchObject({ code: 'LAYER_INVALID' });
  });
});

/**
 * The xattr store kind (a non-root user without user namespaces): a layer unpacked by an
 * unprivileged user, owners, whiteouts and devices recorded in user.* xattrs, archives back to
 * the very bytes the same layer gives when root unpacks it with real owners and device nodes.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { extractLayer } from '../../../src/layer/extractLayer.js';
import { layerTar } from '../../../src/layer/layerTar.js';
import { lgetxattrs } from '../../../src/util/fsx.js';
import { bundleForUnprivileged, openToAll } from '../../helpers/unprivilegedBundle.js';

const run = promisify(execFile);

async function tarSha(dir: string, storeKind: 'native' | 'xattr'): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of layerTar(dir, { xattrFlavor: 'user', storeKind })) h.update(chunk);
  return h.digest('hex');
}

describe('an xattr store unpacked and archived by an unprivileged user', () => {
  let root: string;

  beforeAll(async () => {
    root = await bundleForUnprivileged('tsbuild-xattrstore-', ['layer/extractLayer', 'layer/layerTar']);
    await run('python3', [
      '-c',
      `
import tarfile, io
t = tarfile.open('${root}/l.tar', 'w', format=tarfile.PAX_FORMAT)
def add(name, typ=tarfile.REGTYPE, data=b'', mode=0o644, uid=0, gid=None, **kw):
    i = tarfile.TarInfo(name); i.type = typ; i.size = len(data); i.mode = mode; i.uid = uid; i.gid = uid if gid is None else gid; i.mtime = 1600000000
    for k, v in kw.items(): setattr(i, k, v)
    t.addfile(i, io.BytesIO(data) if typ == tarfile.REGTYPE else None)
add('d', tarfile.DIRTYPE, mode=0o755, uid=1000)
add('d/owned', data=b'x', uid=1000)
add('d/other', data=b'y', uid=33, gid=44)
add('d/su', data=b'x', mode=0o4755)
add('d/readonly', data=b'r', mode=0o444, uid=7)
add('d/null', tarfile.CHRTYPE, mode=0o666, devmajor=1, devminor=3)
add('d/sda', tarfile.BLKTYPE, mode=0o660, uid=0, gid=6, devmajor=8, devminor=0)
add('d/fifo', tarfile.FIFOTYPE, mode=0o600)
add('d/link', tarfile.SYMTYPE, linkname='owned', mode=0o777)
add('d/hard', tarfile.LNKTYPE, linkname='d/other')
add('d/.wh.gone')
add('ro', tarfile.DIRTYPE, mode=0o555, uid=2)
add('ro/inside', data=b'z', uid=3)
add('ro/secret', data=b'shadow', mode=0)
add('closed', tarfile.DIRTYPE, mode=0)
add('closed/f', data=b'c')
add('o', tarfile.DIRTYPE, mode=0o755)
add('o/.wh..wh..opq')
t.close()
`,
    ]);
    await writeFile(
      join(root, 'run.mjs'),
      `import { createReadStream } from 'node:fs';
import { createHash } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { extractLayer } from './out/layer/extractLayer.js';
import { layerTar } from './out/layer/layerTar.js';
await mkdir('${root}/dest');
const r = await extractLayer(createReadStream('${root}/l.tar'), 'application/vnd.oci.image.layer.v1.tar', '${root}/dest', { xattrFlavor: 'user', storeKind: 'xattr' });
const h = createHash('sha256');
for await (const chunk of layerTar('${root}/dest', { xattrFlavor: 'user', storeKind: 'xattr' })) h.update(chunk);
console.log(JSON.stringify({ skipped: r.skipped, sha: h.digest('hex') }));
`,
    );
    await openToAll(root);
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('archives to the same bytes as root with real owners and devices, and refuses nothing', async () => {
    const { stdout } = await run('su', ['nobody', '-s', '/bin/sh', '-c', `${process.execPath} ${root}/run.mjs`]);
    const asUser = JSON.parse(stdout) as { skipped: unknown; sha: string };
    expect(asUser.skipped).toEqual({ owners: 0, devices: 0, xattrs: 0 });

    const native = join(root, 'asroot');
    await mkdir(native);
    await extractLayer(createReadStream(join(root, 'l.tar')), 'application/vnd.oci.image.layer.v1.tar', native, { xattrFlavor: 'user' });
    expect((await lstat(join(native, 'd/null'))).isCharacterDevice()).toBe(true);
    expect(asUser.sha).toBe(await tarSha(native, 'native'));

    // On disk: every entry is the real user's; owners and special files are xattrs.
    const nobody = Number((await run('id', ['-u', 'nobody'])).stdout.trim());
    const dest = join(root, 'dest');
    expect((await lstat(join(dest, 'd/other'))).uid).toBe(nobody);
    const xattrs = async (p: string): Promise<Record<string, string>> => Object.fromEntries((await lgetxattrs(join(dest, p))).map(([k, v]) => [k, v.toString('hex')]));
    expect(await xattrs('d/owned')).toEqual({ 'user.rootlesscontainers': '08e80710e807' });
    expect(await xattrs('d/other')).toEqual({ 'user.rootlesscontainers': '0821102c' });
    // 0:0 on an entry just created needs no record.
    expect(await xattrs('d/su')).toEqual({});
    expect((await lstat(join(dest, 'd/su'))).mode & 0o7777).toBe(0o4755);
    expect(await xattrs('d/null')).toEqual({ 'user.tsbuild.device': Buffer.from('c 1 3').toString('hex') });
    expect((await lstat(join(dest, 'd/null'))).isFile()).toBe(true);
    expect(await xattrs('d/gone')).toEqual({ 'user.overlay.whiteout': '' });
    expect(await xattrs('d')).toMatchObject({ 'user.overlay.whiteouts': '', 'user.rootlesscontainers': '08e80710e807' });
    expect(await xattrs('o')).toEqual({ 'user.overlay.opaque': Buffer.from('y').toString('hex') });
    // Modes that would lock the real user out are widened on disk and recorded.
    expect((await lstat(join(dest, 'ro'))).mode & 0o7777).toBe(0o755);
    expect(await xattrs('ro')).toMatchObject({ 'user.tsbuild.mode': Buffer.from('555 755').toString('hex') });
    expect((await lstat(join(dest, 'ro/secret'))).mode & 0o7777).toBe(0o600);
    expect(await xattrs('ro/secret')).toEqual({ 'user.tsbuild.mode': Buffer.from('0 600').toString('hex') });
    expect((await lstat(join(dest, 'closed'))).mode & 0o7777).toBe(0o700);
    expect((await lstat(join(dest, 'd/readonly'))).mode & 0o7777).toBe(0o644);
  });
});

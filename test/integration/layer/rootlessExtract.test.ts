import { execFile } from 'node:child_process';
import { lstat, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lgetxattrs } from '../../../src/util/fsx.js';
import { bundleForUnprivileged, openToAll } from '../../helpers/unprivilegedBundle.js';

const run = promisify(execFile);

// What a rootless build does with a base layer: an unprivileged user, in a user namespace
// with a one-id map, unpacks it for overlay with userxattr.
describe('extractLayer as an unprivileged user in a user namespace', () => {
  let root: string;

  beforeAll(async () => {
    root = await bundleForUnprivileged('tsbuild-rootless-', ['layer/extractLayer']);
    await run('python3', [
      '-c',
      `
import tarfile, io
t = tarfile.open('${root}/l.tar', 'w', format=tarfile.PAX_FORMAT)
def add(name, typ=tarfile.REGTYPE, data=b'', mode=0o644, uid=0, **kw):
    i = tarfile.TarInfo(name); i.type = typ; i.size = len(data); i.mode = mode; i.uid = uid; i.gid = uid; i.mtime = 1600000000
    for k, v in kw.items(): setattr(i, k, v)
    t.addfile(i, io.BytesIO(data) if typ == tarfile.REGTYPE else None)
add('d', tarfile.DIRTYPE, mode=0o755)
add('d/owned', data=b'x', uid=1000)
add('d/su', data=b'x', mode=0o4755)
add('d/null', tarfile.CHRTYPE, mode=0o666, devmajor=1, devminor=3)
add('d/.wh.gone')
add('o', tarfile.DIRTYPE, mode=0o755)
add('o/.wh..wh..opq')
t.close()
`,
    ]);
    await writeFile(
      join(root, 'run.mjs'),
      `import { createReadStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { extractLayer } from './out/layer/extractLayer.js';
await mkdir('${root}/dest');
const r = await extractLayer(createReadStream('${root}/l.tar'), 'application/vnd.oci.image.layer.v1.tar', '${root}/dest', { xattrFlavor: 'user' });
console.log(JSON.stringify(r.skipped));
`,
    );
    await openToAll(root);
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('creates whiteouts and user.overlay.opaque, keeps setuid, counts what the namespace refuses', async () => {
    const { stdout } = await run('su', ['nobody', '-s', '/bin/sh', '-c', `unshare -Ur ${process.execPath} ${root}/run.mjs`]);
    // uid 1000 has no mapping and devices need CAP_MKNOD in the initial namespace
    expect(JSON.parse(stdout)).toEqual({ owners: 1, devices: 1, xattrs: 0 });
    const gone = await lstat(join(root, 'dest/d/gone'));
    expect(gone.isCharacterDevice() && gone.rdev === 0).toBe(true);
    expect((await lstat(join(root, 'dest/d/su'))).mode & 0o7777).toBe(0o4755);
    expect(await lgetxattrs(join(root, 'dest/o'))).toEqual([['user.overlay.opaque', Buffer.from('y')]]);
    await expect(lstat(join(root, 'dest/d/null'))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import * as tar from 'tar';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commitLayer } from '../../../src/layer/commitLayer.js';
import { ContentStore } from '../../../src/store/contentStore.js';
import { LONG_NAME, makeUpperTree } from './fixtureTree.js';

const run = promisify(execFile);
const EPOCH = 1_700_000_000;

interface Listed {
  path: string;
  type: string;
  mode: number;
  uid: number;
  gid: number;
  uname: string;
  linkpath: string;
  mtime: number;
  size: number;
}

async function listWithNodeTar(file: string): Promise<Listed[]> {
  const out: Listed[] = [];
  await tar.t({
    file,
    onReadEntry: (e) => {
      out.push({
        path: e.path,
        type: e.type,
        mode: e.mode ?? -1,
        uid: e.uid ?? -1,
        gid: e.gid ?? -1,
        uname: e.uname ?? '',
        linkpath: e.linkpath ?? '',
        mtime: Math.floor((e.mtime?.getTime() ?? 0) / 1000),
        size: e.size ?? 0,
      });
    },
  });
  return out;
}

describe('commitLayer', () => {
  let root: string;
  let store: ContentStore;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'tsbuild-layer-'));
    store = new ContentStore(join(root, 'store'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('archives every kind of overlay entry as an OCI layer', async () => {
    const upper = join(root, 'upper1');
    await mkdir(upper);
    await makeUpperTree(upper);
    const info = await commitLayer(upper, store, { xattrFlavor: 'trusted', sourceDateEpoch: EPOCH });
    expect(info.mediaType).toBe('application/vnd.oci.image.layer.v1.tar+gzip');
    expect(info.empty).toBe(false);

    const blob = store.blobPath(info.digest);
    await run('gzip', ['-t', blob]);
    expect((await run('sha256sum', [blob])).stdout.split(' ')[0]).toBe(info.digest.slice(7));
    expect((await run('sh', ['-c', `gzip -dc '${blob}' | sha256sum`])).stdout.split(' ')[0]).toBe(info.diffID.slice(7));
    expect((await readFile(blob)).length).toBe(info.size);

    const entries = await listWithNodeTar(blob);
    const byPath = new Map(entries.map((e) => [e.path, e]));
    expect(entries.map((e) => e.path)).toEqual([
      'bin/',
      'bin/a',
      'bin/b',
      'bin/su',
      'deep/',
      `deep/${'d'.repeat(60)}/`,
      LONG_NAME,
      'etc/',
      'etc/hosts',
      'etc/hosts.link',
      '.wh.gone',
      'home/',
      'home/app/',
      'home/app/data',
      'opq/',
      'opq/.wh..wh..opq',
      'opq/only',
      'run/',
      'run/fifo',
      'run/null',
    ]);
    expect(byPath.get('bin/b')).toMatchObject({ type: 'Link', linkpath: 'bin/a', size: 0 });
    expect(byPath.get('bin/su')).toMatchObject({ type: 'File', mode: 0o4755, uid: 0, gid: 0 });
    expect(byPath.get('etc/hosts.link')).toMatchObject({ type: 'SymbolicLink', linkpath: 'hosts' });
    expect(byPath.get('.wh.gone')).toMatchObject({ type: 'File', size: 0 });
    expect(byPath.get('opq/.wh..wh..opq')).toMatchObject({ type: 'File', size: 0 });
    expect(byPath.get('home/app/')).toMatchObject({ type: 'Directory', mode: 0o1777, uid: 1000, gid: 1001 });
    expect(byPath.get('home/app/data')).toMatchObject({ uid: 1000, gid: 1001, size: 70_000 });
    expect(byPath.get('run/fifo')).toMatchObject({ type: 'FIFO', mode: 0o600 });
    expect(byPath.get('run/null')).toMatchObject({ type: 'CharacterDevice', mode: 0o666 });
    for (const e of entries) {
      expect(e.uname).toBe('');
      // files with a fixed old mtime keep it, fresh directories are clamped to the epoch
      expect(e.mtime).toBeLessThanOrEqual(EPOCH);
    }
    expect(byPath.get('etc/hosts')?.mtime).toBe(1_600_000_000);
    expect(byPath.get('etc/')?.mtime).toBe(EPOCH);

    // GNU tar agrees: numeric owners, device numbers, the hardlink
    const { stdout } = await run('tar', ['--numeric-owner', '-tvzf', blob]);
    expect(stdout).toMatch(/^-rwsr-xr-x 0\/0 +\d+ .* bin\/su$/m);
    expect(stdout).toMatch(/^hrw-r--r-- 0\/0 +0 .* bin\/b link to bin\/a$/m);
    expect(stdout).toMatch(/^crw-rw-rw- 0\/0 +1,3 .* run\/null$/m);
    expect(stdout).toMatch(/^drwxrwxrwt 1000\/1001 .* home\/app\/$/m);
    // the archive ends with exactly the two zero blocks after the last entry
    const raw = gunzipSync(await readFile(blob));
    // xattrs travel as pax records (node-tar's lister drops them, so look at the bytes);
    // overlayfs' own xattr never leaks into the layer
    expect(raw.includes('34 SCHILY.xattr.user.comment=kept\n')).toBe(true);
    expect(raw.includes('overlay.opaque')).toBe(false);
    expect(raw.length % 512).toBe(0);
    expect(raw.subarray(raw.length - 1024).every((b) => b === 0)).toBe(true);
  });

  it('is deterministic: equal trees made at different times give equal diffID and digest', async () => {
    const a = join(root, 'det-a');
    const b = join(root, 'det-b');
    await mkdir(a);
    await makeUpperTree(a);
    await new Promise((r) => setTimeout(r, 1100));
    await mkdir(b);
    await makeUpperTree(b);
    const la = await commitLayer(a, store, { xattrFlavor: 'trusted', sourceDateEpoch: EPOCH });
    const lb = await commitLayer(b, store, { xattrFlavor: 'trusted', sourceDateEpoch: EPOCH });
    expect(lb.diffID).toBe(la.diffID);
    expect(lb.digest).toBe(la.digest);
    // golden value: a change here changes every layer tsbuild has ever produced
    expect(la.diffID).toBe(GOLDEN_DIFF_ID);
    const again = await commitLayer(a, store, { xattrFlavor: 'trusted', sourceDateEpoch: EPOCH });
    expect(again).toEqual(la);
  });

  it('marks an empty upper dir as an empty layer', async () => {
    const empty = join(root, 'empty');
    await mkdir(empty);
    const info = await commitLayer(empty, store, { xattrFlavor: 'user' });
    expect(info.empty).toBe(true);
    // the well-known diffID of a tar with only the two end blocks
    expect(info.diffID).toBe('sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef');
  });

  it('archives the bytes of many files of every size around the small-file read-ahead (64 KiB) exactly', async () => {
    const upper = join(root, 'sizes');
    const sizes = [0, 1, 511, 512, 513, 65_535, 65_536, 65_537, 300_000, 1_200_000];
    const want = new Map<string, Buffer>();
    for (let d = 0; d < 3; d++) {
      await mkdir(join(upper, `d${d}`), { recursive: true });
      for (let i = 0; i < 40; i++) {
        const size = sizes[i % sizes.length] ?? 0;
        const bytes = Buffer.alloc(size, `${d}:${i};`);
        await writeFile(join(upper, `d${d}`, `f${i}`), bytes);
        want.set(`d${d}/f${i}`, bytes);
      }
    }
    const info = await commitLayer(upper, store, { xattrFlavor: 'user' });
    const out = join(root, 'sizes-out');
    await mkdir(out);
    await run('tar', ['-xzf', store.blobPath(info.digest), '-C', out]);
    for (const [rel, bytes] of want) expect((await readFile(join(out, rel))).equals(bytes), rel).toBe(true);
    // the diffID is the sha256 of what gzip -d gives back: the tar stream is well-formed and whole
    expect((await run('sh', ['-c', `gzip -dc '${store.blobPath(info.digest)}' | sha256sum`])).stdout.split(' ')[0]).toBe(info.diffID.slice(7));
  });

  it('reads the opaque marker of the configured flavor only', async () => {
    const upper = join(root, 'flavor');
    await mkdir(upper);
    await makeUpperTree(upper, 'user');
    const asTrusted = await commitLayer(upper, store, { xattrFlavor: 'trusted', sourceDateEpoch: EPOCH });
    const asUser = await commitLayer(upper, store, { xattrFlavor: 'user', sourceDateEpoch: EPOCH });
    const paths = async (digest: string) => (await listWithNodeTar(store.blobPath(digest))).map((e) => e.path);
    expect(await paths(asUser.digest)).toContain('opq/.wh..wh..opq');
    expect(await paths(asTrusted.digest)).not.toContain('opq/.wh..wh..opq');
  });
});

const GOLDEN_DIFF_ID = 'sha256:7d28a33d4de15a2401b25cb8e972be9e396726480340861bbd560f9f225d4774';

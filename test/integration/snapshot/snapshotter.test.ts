import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LayerInfo } from '../../../src/layer/commitLayer.js';
import { openStore, type Store } from '../../../src/snapshot/openStore.js';

const run = promisify(execFile);
const GZ = 'application/vnd.oci.image.layer.v1.tar+gzip';

async function mountOverlay(lowerdirs: string[], mountpoint: string, upper?: { upperdir: string; workdir: string }): Promise<void> {
  const opts = [`lowerdir=${lowerdirs.join(':')}`];
  if (upper) opts.push(`upperdir=${upper.upperdir}`, `workdir=${upper.workdir}`);
  await run('mount', ['-t', 'overlay', 'overlay', '-o', opts.join(','), mountpoint]);
}

async function listTree(dir: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const name of (await readdir(join(dir, rel))).sort()) {
    const r = rel ? `${rel}/${name}` : name;
    const st = await stat(join(dir, r));
    out.push(st.isDirectory() ? `${r}/` : `${r}=${await readFile(join(dir, r), 'utf8')}`);
    if (st.isDirectory()) out.push(...(await listTree(dir, r)));
  }
  return out;
}

// Real overlay mounts: needs root (the suite runs as root); the trusted flavor is root's.
describe('Snapshotter (real overlayfs)', () => {
  let root: string;
  let store: Store;
  let base: LayerInfo;
  let top: LayerInfo;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'tsbuild-snap-'));
    store = await openStore(join(root, 'store'), { xattrFlavor: 'trusted' });
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('commits a first snapshot into a blob and an unpacked layer', async () => {
    const snap = await store.snapshots.prepare([]);
    expect(snap.lowerdirs).toEqual([]);
    await mkdir(join(snap.upperdir, 'etc'));
    await writeFile(join(snap.upperdir, 'etc/a'), 'A');
    await writeFile(join(snap.upperdir, 'etc/b'), 'B');
    await mkdir(join(snap.upperdir, 'keep'));
    await writeFile(join(snap.upperdir, 'keep/old'), 'old');
    base = await store.snapshots.commit(snap, { sourceDateEpoch: 0 });
    expect(await store.content.has(base.digest)).toBe(true);
    expect(await store.snapshots.hasLayer(base.diffID)).toBe(true);
    expect(await readFile(join(store.snapshots.layerDir(base.diffID), 'etc/a'), 'utf8')).toBe('A');
    await expect(stat(snap.dir)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await readdir(store.tmpDir)).toEqual([]);
  });

  it('turns deletions in a mounted snapshot into whiteouts that a fresh store replays', async () => {
    const snap = await store.snapshots.prepare([base.diffID]);
    expect(snap.lowerdirs).toEqual([store.snapshots.layerDir(base.diffID)]);
    await mountOverlay(snap.lowerdirs, snap.mountpoint, snap);
    try {
      await rm(join(snap.mountpoint, 'etc/a'));
      await rm(join(snap.mountpoint, 'keep'), { recursive: true });
      await mkdir(join(snap.mountpoint, 'keep'));
      await writeFile(join(snap.mountpoint, 'keep/new'), 'new');
    } finally {
      await run('umount', [snap.mountpoint]);
    }
    top = await store.snapshots.commit(snap, { sourceDateEpoch: 0 });
    const { stdout } = await run('tar', ['-tzf', store.content.blobPath(top.digest)]);
    expect(stdout.split('\n').filter(Boolean).sort()).toEqual(['etc/', 'etc/.wh.a', 'keep/', 'keep/.wh..wh..opq', 'keep/new'].sort());

    // A second store pulls both blobs and unpacks them; the merged view is the build's result.
    const other = await openStore(join(root, 'other'), { xattrFlavor: 'trusted' });
    for (const l of [base, top]) {
      await mkdir(join(other.root, 'blobs', 'sha256'), { recursive: true });
      await copyFile(store.content.blobPath(l.digest), other.content.blobPath(l.digest));
      await other.snapshots.ensureLayer(l.diffID, GZ, async () => other.content.read(l.digest));
    }
    const view = await other.snapshots.prepare([base.diffID, top.diffID]);
    expect(view.lowerdirs).toEqual([other.snapshots.layerDir(top.diffID), other.snapshots.layerDir(base.diffID)]);
    await mountOverlay(view.lowerdirs, view.mountpoint);
    try {
      expect(await listTree(view.mountpoint)).toEqual(['etc/', 'etc/b=B', 'keep/', 'keep/new=new']);
    } finally {
      await run('umount', [view.mountpoint]);
    }
    await other.snapshots.abort(view);
    expect(await readdir(other.tmpDir)).toEqual([]);
  });

  it('dedupes concurrent ensureLayer calls and refuses a layer whose content does not match its diffID', async () => {
    const fresh = await openStore(join(root, 'fresh'), { xattrFlavor: 'trusted' });
    await mkdir(join(fresh.root, 'blobs', 'sha256'), { recursive: true });
    await copyFile(store.content.blobPath(top.digest), fresh.content.blobPath(top.digest));
    let opens = 0;
    const open = async () => {
      opens++;
      return fresh.content.read(top.digest);
    };
    await Promise.all([1, 2, 3].map(() => fresh.snapshots.ensureLayer(top.diffID, GZ, open)));
    expect(opens).toBe(1);
    await fresh.snapshots.ensureLayer(top.diffID, GZ, open);
    expect(opens).toBe(1);

    const lie = `sha256:${'0'.repeat(64)}`;
    await expect(fresh.snapshots.ensureLayer(lie, GZ, open)).rejects.toMatchObject({ code: 'DIGEST_MISMATCH' });
    expect(await fresh.snapshots.hasLayer(lie)).toBe(false);
    expect(await readdir(fresh.tmpDir)).toEqual([]);
  });

  it('re-archiving an unpacked layer reproduces its diffID', async () => {
    const fresh = await openStore(join(root, 'rearchive'), { xattrFlavor: 'trusted' });
    await mkdir(join(fresh.root, 'blobs', 'sha256'), { recursive: true });
    await copyFile(store.content.blobPath(top.digest), fresh.content.blobPath(top.digest));
    await fresh.snapshots.ensureLayer(top.diffID, GZ, async () => fresh.content.read(top.digest));
    const { commitLayer } = await import('../../../src/layer/commitLayer.js');
    const again = await commitLayer(fresh.snapshots.layerDir(top.diffID), fresh.content, { xattrFlavor: 'trusted' });
    expect(again.diffID).toBe(top.diffID);
  });

  it('refuses to prepare on a layer that is not unpacked, and abort removes a snapshot', async () => {
    await expect(store.snapshots.prepare([`sha256:${'1'.repeat(64)}`])).rejects.toMatchObject({ code: 'STORE_CORRUPT' });
    const snap = await store.snapshots.prepare([base.diffID]);
    await writeFile(join(snap.upperdir, 'scratch'), 'x');
    await store.snapshots.abort(snap);
    await expect(stat(snap.dir)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('committing an unchanged snapshot gives an empty layer', async () => {
    const snap = await store.snapshots.prepare([base.diffID]);
    const info = await store.snapshots.commit(snap);
    expect(info.empty).toBe(true);
  });
});

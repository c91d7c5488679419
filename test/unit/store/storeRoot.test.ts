import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { defaultStoreRoot, openStoreRoot } from '../../../src/store/storeRoot.js';

describe('storeRoot', () => {
  let root: string;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'tsbuild-root-'));
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('picks TSBUILD_ROOT, then XDG_DATA_HOME, then ~/.local/share', () => {
    expect(defaultStoreRoot({ TSBUILD_ROOT: '/r', XDG_DATA_HOME: '/x', HOME: '/h' })).toBe('/r');
    expect(defaultStoreRoot({ XDG_DATA_HOME: '/x', HOME: '/h' })).toBe('/x/tsbuild');
    expect(defaultStoreRoot({ HOME: '/h' })).toBe('/h/.local/share/tsbuild');
  });

  it('creates the layout and store.json, and refuses the other xattr flavor', async () => {
    const store = await openStoreRoot(join(root, 's'), { xattrFlavor: 'user' });
    for (const d of ['blobs/sha256', 'layers', 'tmp']) expect((await stat(join(store.root, d))).isDirectory()).toBe(true);
    expect(JSON.parse(await readFile(join(store.root, 'store.json'), 'utf8'))).toEqual({ version: 1, xattrFlavor: 'user' });
    const again = await openStoreRoot(join(root, 's'), { xattrFlavor: 'user' });
    expect(again.xattrFlavor).toBe('user');
    await expect(openStoreRoot(join(root, 's'), { xattrFlavor: 'trusted' })).rejects.toMatchObject({
      code: 'STORE_INCOMPATIBLE',
      hint: expect.stringContaining('--root'),
    });
  });

  it('records an xattr store\'s kind, which a build needing real owners refuses and other commands adopt', async () => {
    const store = await openStoreRoot(join(root, 'x'), { xattrFlavor: 'user', kind: 'xattr' });
    expect(store.kind).toBe('xattr');
    expect(JSON.parse(await readFile(join(store.root, 'store.json'), 'utf8'))).toEqual({ version: 1, xattrFlavor: 'user', kind: 'xattr' });
    await expect(openStoreRoot(join(root, 'x'), { xattrFlavor: 'user', kind: 'native' })).rejects.toMatchObject({
      code: 'STORE_INCOMPATIBLE',
      message: expect.stringContaining('it records owners and whiteouts in xattrs'),
    });
    expect((await openStoreRoot(join(root, 'x'), { xattrFlavor: 'user' })).kind).toBe('xattr');
    // A store from before kinds existed is native.
    await openStoreRoot(join(root, 'n'), { xattrFlavor: 'user' });
    await expect(openStoreRoot(join(root, 'n'), { xattrFlavor: 'user', kind: 'xattr' })).rejects.toMatchObject({ code: 'STORE_INCOMPATIBLE' });
  });

  it('two concurrent opens of a new store agree', async () => {
    const [a, b] = await Promise.allSettled([
      openStoreRoot(join(root, 'c'), { xattrFlavor: 'trusted' }),
      openStoreRoot(join(root, 'c'), { xattrFlavor: 'user' }),
    ]);
    expect([a.status, b.status].sort()).toEqual(['fulfilled', 'rejected']);
  });
});

import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BlobLocations } from '../../../src/store/blobLocations.js';
import { makeTempDir, removeTree } from '../../helpers/tmp.js';

const digest = `sha256:${'ab'.repeat(32)}`;

describe('BlobLocations', () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir) await removeTree(dir);
  });

  it('keeps the few most recent repositories per blob, on disk, and offers only other repositories of the same registry', async () => {
    dir = await makeTempDir('tsbuild-bloblocs-unit-');
    const path = join(dir, 'blob-locations.json');
    const locs = new BlobLocations(path);
    for (const r of ['r1', 'r2', 'r3', 'r4', 'r5', 'r6']) await locs.record(digest, { registry: 'reg:5000', repository: r });
    await locs.record(digest, { registry: 'other:5000', repository: 'r1' });
    const again = new BlobLocations(path);
    expect(await again.candidates(digest, 'reg:5000', 'r6')).toEqual([
      { registry: 'reg:5000', repository: 'r5' },
      { registry: 'reg:5000', repository: 'r4' },
    ]);
    expect(await again.candidates(`sha256:${'cd'.repeat(32)}`, 'reg:5000', 'x')).toEqual([]);
    expect(JSON.parse(await readFile(path, 'utf8')).blobs[digest]).toHaveLength(4);
  });

  it('reads a corrupt or malformed file as empty and drops bad entries', async () => {
    dir = await makeTempDir('tsbuild-bloblocs-unit-');
    const path = join(dir, 'blob-locations.json');
    await writeFile(path, JSON.stringify({ version: 1, blobs: { [digest]: [{ registry: 'reg', repository: 'ok' }, { registry: 3 }], bad: [] } }));
    expect(await new BlobLocations(path).candidates(digest, 'reg', 'x')).toEqual([{ registry: 'reg', repository: 'ok' }]);
    await writeFile(path, '\0garbage');
    const locs = new BlobLocations(path);
    expect(await locs.candidates(digest, 'reg', 'x')).toEqual([]);
    await locs.record(digest, { registry: 'reg', repository: 'new' });
    expect(await new BlobLocations(path).candidates(digest, 'reg', 'x')).toEqual([{ registry: 'reg', repository: 'new' }]);
  });
});

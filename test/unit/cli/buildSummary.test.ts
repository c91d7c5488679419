import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BuildRecorder, largestFiles, summarizeBuild } from '../../../src/cli/buildSummary.js';
import type { ImageConfig, ImageManifest } from '../../../src/image/types.js';
import { mknodChar } from '../../../src/util/fsx.js';
import { makeTempDir } from '../../helpers/tmp.js';

describe('the summary\'s biggest files', () => {
  it('finds the largest regular files of a layer dir, nested ones too, and no whiteouts or directories', async () => {
    const dir = await makeTempDir('tsbuild-summary');
    await mkdir(join(dir, 'a/b/c'), { recursive: true });
    await writeFile(join(dir, 'small'), 'x');
    await writeFile(join(dir, 'a/b/c/deep'), Buffer.alloc(5000));
    await writeFile(join(dir, 'a/mid'), Buffer.alloc(3000));
    await writeFile(join(dir, 'a/b/other'), Buffer.alloc(100));
    await mknodChar(join(dir, 'gone'), 0, 0);
    expect(await largestFiles(dir, 2)).toEqual([
      { path: '/a/b/c/deep', size: 5000 },
      { path: '/a/mid', size: 3000 },
    ]);
  });

  it('lists a path two steps wrote once, with its size in the later layer', async () => {
    const l1 = await makeTempDir('tsbuild-summary-l1');
    const l2 = await makeTempDir('tsbuild-summary-l2');
    await writeFile(join(l1, 'app'), Buffer.alloc(2000));
    await writeFile(join(l1, 'lib'), Buffer.alloc(1000));
    await writeFile(join(l2, 'app'), Buffer.alloc(2500));
    const recorder = new BuildRecorder(0);
    const step = { id: 1, name: 'COPY', stage: 'stage-0' };
    recorder.emit({ type: 'layer', step, digest: 'sha256:1', diffID: 'sha256:d1', size: 1, time: 0 } as never);
    recorder.emit({ type: 'layer', step, digest: 'sha256:2', diffID: 'sha256:d2', size: 1, time: 0 } as never);
    const manifest = { layers: [{ digest: 'sha256:1', size: 1 }, { digest: 'sha256:2', size: 1 }], config: { size: 1 } } as unknown as ImageManifest;
    const summary = await summarizeBuild({
      recorder,
      manifestDigest: 'sha256:m',
      manifest,
      config: { history: [] } as unknown as ImageConfig,
      configDigest: 'sha256:c',
      tags: [],
      layerDir: (diffID) => (diffID === 'sha256:d1' ? l1 : l2),
      now: 0,
    });
    expect(summary.biggestFiles).toEqual([
      { path: '/app', size: 2500 },
      { path: '/lib', size: 1000 },
    ]);
  });
});

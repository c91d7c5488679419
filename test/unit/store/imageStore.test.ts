import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImageStore } from '../../../src/store/imageStore.js';

const run = promisify(execFile);
const desc = (n: number) => ({
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  digest: `sha256:${n.toString(16).padStart(64, '0')}`,
  size: 100 + n,
});

describe('ImageStore', () => {
  let root: string;
  let bundle: string;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'tsbuild-img-'));
    // The child processes run the real module, bundled from source (no dist/ needed).
    bundle = join(root, 'imageStore.mjs');
    await build({
      entryPoints: [join(import.meta.dirname, '../../../src/store/imageStore.ts')],
      bundle: true,
      platform: 'node',
      format: 'esm',
      outfile: bundle,
      logLevel: 'silent',
    });
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('tags, gets, lists and untags', async () => {
    const dir = await mkdtemp(join(root, 'a-'));
    const images = new ImageStore(dir);
    expect(await images.list()).toEqual([]);
    await images.tag('docker.io/library/b:1', desc(1));
    await images.tag('docker.io/library/a:1', { ...desc(2), annotations: { x: 'y' } });
    expect(await images.get('docker.io/library/b:1')).toEqual(desc(1));
    expect((await images.list()).map((i) => i.name)).toEqual(['docker.io/library/a:1', 'docker.io/library/b:1']);
    await images.tag('docker.io/library/b:1', desc(3));
    expect(await images.get('docker.io/library/b:1')).toEqual(desc(3));
    expect(await images.untag('docker.io/library/b:1')).toBe(true);
    expect(await images.untag('docker.io/library/b:1')).toBe(false);
    expect(await images.get('docker.io/library/b:1')).toBeUndefined();
    expect(await images.get('constructor')).toBeUndefined();
    const onDisk = JSON.parse(await readFile(join(dir, 'images.json'), 'utf8'));
    expect(onDisk).toEqual({ version: 1, images: { 'docker.io/library/a:1': { ...desc(2), annotations: { x: 'y' } } } });
    expect((await readdir(dir)).sort()).toEqual(['images.json']);
  });

  it('loses no tag when two processes tag concurrently', async () => {
    const dir = await mkdtemp(join(root, 'b-'));
    const script = (prefix: string) => `
      import { ImageStore } from ${JSON.stringify(bundle)};
      const s = new ImageStore(${JSON.stringify(dir)});
      await Promise.all(Array.from({ length: 25 }, (_, i) =>
        s.tag('${prefix}' + i, { mediaType: 'm', digest: 'sha256:' + String(i).padStart(64, '0'), size: i })));
    `;
    await Promise.all(['p1/img:', 'p2/img:'].map((p) => run(process.execPath, ['--input-type=module', '-e', script(p)])));
    const names = (await new ImageStore(dir).list()).map((i) => i.name);
    expect(names).toHaveLength(50);
    expect(names).toContain('p1/img:24');
    expect(names).toContain('p2/img:0');
    expect((await readdir(dir)).sort()).toEqual(['images.json']);
  });

  it('breaks a stale lock left by a dead process', async () => {
    const dir = await mkdtemp(join(root, 'c-'));
    const { stdout } = await run(process.execPath, ['-e', 'console.log(process.pid)']);
    await writeFile(join(dir, 'images.json.lock'), `${stdout.trim()} deadbeef\n`);
    await new ImageStore(dir).tag('x:1', desc(1));
    expect(await new ImageStore(dir).get('x:1')).toEqual(desc(1));
  });

  it('reports a damaged tag file as STORE_CORRUPT', async () => {
    const dir = await mkdtemp(join(root, 'd-'));
    await writeFile(join(dir, 'images.json'), '{ not json');
    await expect(new ImageStore(dir).list()).rejects.toMatchObject({ code: 'STORE_CORRUPT' });
  });
});

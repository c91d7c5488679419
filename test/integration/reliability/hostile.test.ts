/**
 * Hostile inputs, end to end through the CLI: base images served by a lying registry, archives
 * and contexts that point outside, huge headers, a 10 MB Dockerfile, a 100,000-line
 * .dockerignore. Each is refused with one clear message (or, where Docker accepts it, contained),
 * and nothing is written outside the store and the build's own dirs.
 */
import { constants } from 'node:fs';
import { access, cp, lstat, mkdir, readFile, readdir, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { busyboxLayout } from '../../helpers/registry.js';
import { unpackOciImage } from '../../helpers/runImage.js';
import { makeTempDir } from '../../helpers/tmp.js';
import { runTsbuild } from '../../helpers/tsbuild.js';
import { ensureTestUser, runAs } from '../../helpers/users.js';
import { busyboxLayers, imageOf, rawHeader, sha256, startHostileRegistry, tarOf, type BaseLayer, type HostileRegistry } from './hostileRegistry.js';

describe('hostile inputs', () => {
  let reg: HostileRegistry;
  let store: string;
  let ctx: string;
  let outside: string;
  let busybox: BaseLayer[];

  beforeAll(async () => {
    reg = await startHostileRegistry();
    store = await makeTempDir('tsbuild-hostile-store');
    outside = await makeTempDir('tsbuild-hostile-outside');
    await writeFile(join(outside, 'secret'), 'host secret\n');
    ctx = await makeTempDir('tsbuild-hostile-ctx');
    await writeFile(join(ctx, 'ok.txt'), 'ok\n');
    busybox = await busyboxLayers();
  });
  afterAll(async () => {
    await reg?.stop();
  });

  async function buildFrom(name: string, extra = ''): Promise<{ code: number; stdout: string; stderr: string }> {
    const dir = await makeTempDir(`tsbuild-hostile-${name}`);
    await writeFile(join(dir, 'ok.txt'), 'ok\n');
    // COPY needs the base's layers unpacked, so the hostile bytes are really read.
    await writeFile(join(dir, 'Dockerfile'), `FROM ${reg.host}/hostile/${name}:1\nCOPY ok.txt /ok.txt\n${extra}`);
    return runTsbuild(['build', '--root', store, '-q', dir]);
  }

  /** Nothing but the store's own entries at its top, nothing new next to it, the outside dir untouched. */
  async function assertContained(): Promise<void> {
    const top = (await readdir(store)).filter((n) => !n.startsWith('.') && !n.endsWith('.lock'));
    const known = new Set(['blob-locations.json', 'blobs', 'cache', 'cache-mounts', 'images.json', 'layers', 'store.json', 'tmp']);
    expect(top.filter((n) => !known.has(n))).toEqual([]);
    expect(await readdir(outside)).toEqual(['secret']);
    expect(await readFile(join(outside, 'secret'), 'utf8')).toBe('host secret\n');
    const check = await runTsbuild(['fsck', '--root', store]);
    expect(check.code, check.stdout).toBe(0);
  }

  const refusedLayers: Array<[string, () => Buffer, RegExp]> = [
    ['dotdot', () => tarOf([{ path: '../../escaped', data: 'x' }]), /extracting layer: .*\.\./],
    ['symlink-chain', () => tarOf([{ path: 'a', type: 'symlink', linkpath: 'b' }, { path: 'b', type: 'symlink', linkpath: outside }, { path: 'a/owned', data: 'owned' }]), /extracting layer: /],
    ['hardlink-out', () => tarOf([{ path: 'h', type: 'link', linkpath: '../../../../../etc/passwd' }]), /extracting layer: /],
    ['pax-100mb', () => Buffer.concat([rawHeader('PaxHeader', 'x', 100 * 1024 * 1024), Buffer.alloc(4096)]), /metadata entry of 104857600 bytes/],
    ['gnu-longname-100mb', () => Buffer.concat([rawHeader('././@LongLink', 'L', 100 * 1024 * 1024), Buffer.alloc(4096)]), /metadata entry of 104857600 bytes/],
  ];
  for (const [name, tar, message] of refusedLayers) {
    it(`refuses a base image whose layer has ${name}`, async () => {
      reg.put(`hostile/${name}`, '1', imageOf([{ tar: tar() }]));
      const r = await buildFrom(name);
      expect(r.stderr).toMatch(/^error: /);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).not.toContain('internal error');
      expect(r.code).toBe(1);
      await assertContained();
    });
  }

  it('strips a leading / in a base layer (as Docker does): the file lands in the image, not on the host', async () => {
    const marker = `tsbuild-hostile-abs-${process.pid}`;
    reg.put('hostile/absolute', '1', imageOf([{ tar: tarOf([{ path: `/tmp/${marker}`, data: 'inside' }]) }]));
    const r = await buildFrom('absolute');
    expect(r.stderr).toBe('');
    await expect(stat(join('/tmp', marker))).rejects.toMatchObject({ code: 'ENOENT' });
    await assertContained();
  });

  it('refuses a truncated gzip layer, a manifest with a wrong size, a blob other than the one asked for, and a wrong diffID', async () => {
    const tar = tarOf([{ path: 'f', data: 'x'.repeat(100_000) }]);
    const gz = gzipSync(tar);
    reg.put('hostile/truncated', '1', imageOf([{ tar, served: gz.subarray(0, gz.length - 40) }]));
    reg.put('hostile/wrongsize', '1', imageOf([{ tar }], { tamper: (m) => void (m.layers[0]!.size += 7) }));
    const swapped = imageOf([{ tar }]);
    const layerDigest = JSON.parse(swapped.manifest.toString()).layers[0].digest as string;
    swapped.blobs.set(layerDigest, gzipSync(tarOf([{ path: 'evil', data: 'swapped' }])));
    reg.put('hostile/swapped', '1', swapped);
    const wrongDiff = imageOf([{ tar }]);
    const cfgDigest = JSON.parse(wrongDiff.manifest.toString()).config.digest as string;
    const cfg = JSON.parse(wrongDiff.blobs.get(cfgDigest)!.toString());
    cfg.rootfs.diff_ids = [sha256(Buffer.from('other'))];
    const cfgBytes = Buffer.from(JSON.stringify(cfg));
    const m = JSON.parse(wrongDiff.manifest.toString());
    m.config = { ...m.config, digest: sha256(cfgBytes), size: cfgBytes.length };
    wrongDiff.blobs.set(sha256(cfgBytes), cfgBytes);
    reg.put('hostile/wrongdiff', '1', { manifest: Buffer.from(JSON.stringify(m)), blobs: wrongDiff.blobs });

    const expected: Array<[string, RegExp]> = [
      ['truncated', /unexpected end of file|truncated/],
      ['wrongsize', /expected \d+ bytes, got \d+|size/],
      ['swapped', /verifying blob sha256:[0-9a-f]{64} of .*: got \d+ bytes, expected \d+|expected sha256:[0-9a-f]{64}, got sha256:/],
      ['wrongdiff', /hashes to sha256:|diff_ids/],
    ];
    for (const [name, message] of expected) {
      const r = await buildFrom(name);
      expect(r.stderr, name).toMatch(/^error: /);
      expect(r.stderr, name).toMatch(message);
      expect(r.stderr, name).not.toContain('internal error');
      expect(r.code, name).toBe(1);
    }
    await assertContained();
  });

  it('refuses an OCI layout base whose layer blob has bytes flipped or is cut short: the digest error, no blob, no layer, nothing in tmp/', async () => {
    const { dir } = await busyboxLayout();
    const [{ desc, diffID, bytes }] = busybox as [BaseLayer];
    const cases: Array<[string, Buffer, string]> = [
      ['flipped', Buffer.from(bytes).fill(0x5a, bytes.length / 2, bytes.length / 2 + 16), `got sha256:${sha256(Buffer.from(bytes).fill(0x5a, bytes.length / 2, bytes.length / 2 + 16)).slice(7)}, expected ${desc.digest}`],
      ['truncated', bytes.subarray(0, 600_000), `got 600000 bytes, expected ${desc.size}`],
    ];
    const layoutCtx = await makeTempDir('tsbuild-hostile-layout-ctx');
    await writeFile(join(layoutCtx, 'ok.txt'), 'ok\n');
    await writeFile(join(layoutCtx, 'Dockerfile'), 'FROM base\nCOPY ok.txt /ok.txt\n');
    for (const [name, served, detail] of cases) {
      const layout = join(await makeTempDir(`tsbuild-hostile-layout-${name}`), 'layout');
      await cp(dir, layout, { recursive: true });
      await writeFile(join(layout, 'blobs', 'sha256', desc.digest.slice(7)), served);
      const root = await makeTempDir(`tsbuild-hostile-layout-store-${name}`);
      const r = await runTsbuild(['build', '--root', root, '-q', '--build-context', `base=oci-layout://${layout}:latest`, layoutCtx]);
      // Word for word what the pull said when it stored the blob before unpacking it.
      expect(r.stderr, name).toBe(
        `error: Dockerfile:1:1: FROM base: verifying blob ${desc.digest} of oci:${layout}:latest: ${detail}\n` +
          '     1 | FROM base\n' +
          'hint: the content was corrupted in transit or by the server; retry, and report it if it persists\n',
      );
      expect(r.code, name).toBe(1);
      await expect(stat(join(root, 'blobs', 'sha256', desc.digest.slice(7))), name).rejects.toMatchObject({ code: 'ENOENT' });
      await expect(stat(join(root, 'layers', diffID.slice(7))), name).rejects.toMatchObject({ code: 'ENOENT' });
      expect(await readdir(join(root, 'tmp')), name).toEqual([]);
      const check = await runTsbuild(['fsck', '--root', root]);
      expect(check.stdout, name).toMatch(/\nconsistent\n$/);
      expect(check.code, name).toBe(0);
    }
  });

  it('refuses a manifest fetched by digest that hashes to something else', async () => {
    const img = imageOf([{ tar: tarOf([{ path: 'f', data: 'y' }]) }]);
    const claimed = sha256(Buffer.from('a different manifest'));
    reg.put('hostile/bydigest', claimed, img);
    const dir = await makeTempDir('tsbuild-hostile-bydigest');
    await writeFile(join(dir, 'Dockerfile'), `FROM ${reg.host}/hostile/bydigest@${claimed}\nCOPY Dockerfile /d\n`);
    const r = await runTsbuild(['build', '--root', store, '-q', dir]);
    expect(r.stderr).toMatch(/^error: .*sha256:/);
    expect(r.stderr).not.toContain('internal error');
    expect(r.code).toBe(1);
  });

  it('keeps device nodes and setuid files of a base image in the image, out of other host users\' reach', async () => {
    const extra = tarOf([
      { path: 'hostzero', type: 'char', mode: 0o666, devmajor: 1, devminor: 5 },
      { path: 'suid', data: '#!/bin/sh\nid -u\n', mode: 0o4755 },
    ]);
    reg.put('hostile/devices', '1', imageOf([{ tar: extra }], { base: { layers: busybox } }));
    const out = await makeTempDir('tsbuild-hostile-devout');
    const dir = await makeTempDir('tsbuild-hostile-devctx');
    await writeFile(
      join(dir, 'Dockerfile'),
      `FROM ${reg.host}/hostile/devices:1\nRUN echo ran > /ran\n`,
    );
    const r = await runTsbuild(['build', '--root', store, '-q', '-t', 'devices:1', '-o', `type=oci,dest=${join(out, 'l')},tar=false`, dir]);
    expect(r.stderr).toBe('');
    const rootfs = await unpackOciImage(join(out, 'l'), '1');
    // Kept in the image, as Docker keeps them.
    expect((await stat(join(rootfs, 'suid'))).mode & 0o7777).toBe(0o4755);
    expect((await lstat(join(rootfs, 'hostzero'))).isCharacterDevice()).toBe(true);
    // On the host, the unpacked layers (with the root-owned setuid file) are out of other users' reach.
    for (const d of ['layers', 'tmp']) expect((await stat(join(store, d))).mode & 0o077).toBe(0);
    const user = await ensureTestUser();
    const layerDirs = await readdir(join(store, 'layers'));
    const withSuid = [];
    for (const l of layerDirs) if (await lstat(join(store, 'layers', l, 'fs', 'suid')).catch(() => undefined)) withSuid.push(join(store, 'layers', l, 'fs', 'suid'));
    expect(withSuid.length).toBe(1);
    const tryRun = await runAs(user, withSuid[0]!, []);
    expect(tryRun.code).not.toBe(0);
    expect(tryRun.stderr).toMatch(/Permission denied/);
    await expect(access(withSuid[0]!, constants.X_OK)).resolves.toBeUndefined();
  });

  // The RUN rootfs is mounted nodev (rootless mounts are nodev by the kernel anyway), so a device
  // node shipped in a base image opens nothing of the host.
  it('a device node from a base image opens nothing of the host inside RUN (root builds)', async () => {
    const extra = tarOf([{ path: 'hostzero', type: 'char', mode: 0o666, devmajor: 1, devminor: 5 }]);
    reg.put('hostile/devrun', '1', imageOf([{ tar: extra }], { base: { layers: busybox } }));
    const out = await makeTempDir('tsbuild-hostile-devrun');
    const dir = await makeTempDir('tsbuild-hostile-devrunctx');
    await writeFile(join(dir, 'Dockerfile'), `FROM ${reg.host}/hostile/devrun:1\nRUN (head -c 1 /hostzero > /dev/null 2>&1 && echo opened || echo refused) > /device-result\n`);
    const r = await runTsbuild(['build', '--root', store, '-q', '-t', 'devrun:1', '-o', `type=oci,dest=${join(out, 'l')},tar=false`, dir]);
    expect(r.stderr).toBe('');
    const rootfs = await unpackOciImage(join(out, 'l'), '1');
    expect(await readFile(join(rootfs, 'device-result'), 'utf8')).toBe('refused\n');
  });

  it('refuses COPY ../x and context symlinks pointing outside, copying nothing from outside', async () => {
    const dir = await makeTempDir('tsbuild-hostile-ctxlinks');
    await symlink(outside, join(dir, 'linkdir'));
    await symlink(join(outside, 'secret'), join(dir, 'linkfile'));
    for (const [src, label] of [['../secret', 'dotdot'], ['linkdir/secret', 'linkdir'], ['linkfile', 'linkfile']] as const) {
      await writeFile(join(dir, 'Dockerfile'), `FROM scratch\nCOPY ${src} /x\n`);
      const r = await runTsbuild(['build', '--root', store, '-q', '-o', `type=oci,dest=${join(dir, `out-${label}`)},tar=false`, dir]);
      expect(r.stderr, label).toMatch(/^error: Dockerfile:2:1: COPY /);
      expect(r.stderr, label).not.toContain('internal error');
      expect(r.code, label).toBe(1);
    }
  });

  it('refuses `..` in an ADD archive and keeps absolute entries inside the image', async () => {
    const dir = await makeTempDir('tsbuild-hostile-add');
    await writeFile(join(dir, 'evil.tar'), tarOf([{ path: 'fine', data: 'fine' }, { path: '../../../../../../../../tmp/tsbuild-add-escape', data: 'x' }]));
    await writeFile(join(dir, 'abs.tar'), tarOf([{ path: `/tmp/tsbuild-add-abs-${process.pid}`, data: 'inside' }]));
    await writeFile(join(dir, 'Dockerfile'), 'FROM scratch\nADD evil.tar /unpacked/\n');
    const r = await runTsbuild(['build', '--root', store, '-q', dir]);
    expect(r.stderr).toMatch(/^error: Dockerfile:2:1: ADD .*\.\./);
    expect(r.code).toBe(1);
    await expect(stat('/tmp/tsbuild-add-escape')).rejects.toMatchObject({ code: 'ENOENT' });
    await writeFile(join(dir, 'Dockerfile'), 'FROM scratch\nADD abs.tar /unpacked/\n');
    const out = join(dir, 'out');
    const ok = await runTsbuild(['build', '--root', store, '-q', '-t', 'abs:1', '-o', `type=oci,dest=${out},tar=false`, dir]);
    expect(ok.stderr).toBe('');
    await expect(stat(`/tmp/tsbuild-add-abs-${process.pid}`)).rejects.toMatchObject({ code: 'ENOENT' });
    const rootfs = await unpackOciImage(out, '1');
    expect(await readFile(join(rootfs, 'unpacked', 'tmp', `tsbuild-add-abs-${process.pid}`), 'utf8')).toBe('inside');
  });

  // 10 MB of many real instructions: 2,000 LABELs of 2 KB (each a step, a cache entry and a
  // history entry: 4 MB of labels in the config, as much again in its history), a 1 MB one,
  // and comments. Built in bounded time; a rebuild is all cache hits and gives the same image.
  // (A config over 16 MB is refused when read back, so the labels are kept under that.)
  it('builds a 10 MB Dockerfile of 2,000 instructions in bounded time, and rebuilds it from the cache', async () => {
    const dir = await makeTempDir('tsbuild-hostile-bigdf');
    const labels = Array.from({ length: 2000 }, (_, i) => `LABEL l${i}="${String(i % 10).repeat(2048)}"\n`).join('');
    const text = `FROM scratch\n${`# ${'c'.repeat(1000)}\n`.repeat(5600)}${labels}LABEL big="${'v'.repeat(1024 * 1024)}"\nLABEL after=1\n`;
    expect(text.length).toBeGreaterThan(10 * 1024 * 1024);
    await writeFile(join(dir, 'Dockerfile'), text);
    const out = join(dir, 'out');
    const t0 = Date.now();
    const r = await runTsbuild(['build', '--root', store, '-q', '-t', 'bigdf:1', '-o', `type=oci,dest=${out},tar=false`, dir]);
    expect((Date.now() - t0) / 1000).toBeLessThan(120);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
    const index = JSON.parse(await readFile(join(out, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
    const manifest = JSON.parse(await readFile(join(out, 'blobs', 'sha256', index.manifests[0]!.digest.slice(7)), 'utf8')) as { config: { digest: string } };
    const config = JSON.parse(await readFile(join(out, 'blobs', 'sha256', manifest.config.digest.slice(7)), 'utf8')) as { config: { Labels: Record<string, string> }; history: unknown[] };
    expect(Object.keys(config.config.Labels)).toHaveLength(2002);
    expect(config.config.Labels.l1999).toBe('9'.repeat(2048));
    expect(config.history).toHaveLength(2002);
    const again = await runTsbuild(['build', '--root', store, '-q', dir]);
    expect(again.stderr).toBe('');
    expect(again.stdout).toBe(r.stdout);
  }, 300_000);


  it('handles a 100,000-line .dockerignore in bounded time and honours it', async () => {
    const dir = await makeTempDir('tsbuild-hostile-ignore');
    await mkdir(join(dir, 'src'));
    for (let i = 0; i < 50; i++) await writeFile(join(dir, 'src', `f${i}.txt`), `${i}\n`);
    const patterns = Array.from({ length: 100_000 }, (_, i) => (i % 3 === 0 ? `**/never-${i}/*.log` : i % 3 === 1 ? `src/nope${i}*` : `!keep${i}`));
    patterns.push('src/f1*.txt');
    await writeFile(join(dir, '.dockerignore'), `${patterns.join('\n')}\n`);
    await writeFile(join(dir, 'Dockerfile'), 'FROM scratch\nCOPY src /src\n');
    const out = join(dir, 'out');
    const t0 = Date.now();
    const r = await runTsbuild(['build', '--root', store, '-q', '-t', 'ignore:1', '-o', `type=oci,dest=${out},tar=false`, dir]);
    // ~10 s of CPU on this 2-core machine; the wall-clock bound leaves room for a loaded CI host.
    expect((Date.now() - t0) / 1000).toBeLessThan(150);
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.code).toBe(0);
    const rootfs = await unpackOciImage(out, '1');
    const copied = (await readdir(join(rootfs, 'src'))).sort();
    // f1.txt and f10..f19.txt are ignored; the 100,000 other patterns match nothing.
    expect(copied).toHaveLength(50 - 11);
    expect(copied).not.toContain('f1.txt');
    expect(copied).not.toContain('f12.txt');
  }, 240_000);
});

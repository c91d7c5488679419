import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chown, link, lstat, mkdir, mkdtemp, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TsbuildError } from '../../../src/errors.js';
import { layerTar, type LayerTarOptions } from '../../../src/layer/layerTar.js';
import { lsetxattr, mknodChar } from '../../../src/util/fsx.js';
import { makeUpperTree } from './fixtureTree.js';
import { referenceLayerTar } from './referenceLayerTar.js';

const run = promisify(execFile);

async function collect(gen: AsyncGenerator<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of gen) parts.push(chunk);
  return Buffer.concat(parts);
}

/** First differing byte, reported as the tar entry it falls in, so a mismatch is readable. */
function firstDifference(a: Buffer, b: Buffer): string | undefined {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    if (a[i] !== b[i]) return `byte ${i} (block ${Math.floor(i / 512)}): ${a.subarray(i - (i % 512), i - (i % 512) + 100).toString('latin1')}`;
  }
  return a.length === b.length ? undefined : `lengths ${a.length} and ${b.length}`;
}

async function expectSameAsReference(dir: string, opts: LayerTarOptions): Promise<Buffer> {
  const want = await collect(referenceLayerTar(dir, opts));
  const got = await collect(layerTar(dir, opts));
  expect(firstDifference(got, want)).toBeUndefined();
  return got;
}

/**
 * The batched native reads (scanDir/readFiles) against the per-file fs/promises path they
 * replaced (kept in referenceLayerTar.ts): the same tree must give the same bytes.
 */
describe('layerTar against the per-file reference', () => {
  let root: string;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'tsbuild-layertar-ref-'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('gives identical bytes for a tree with every kind of entry', async () => {
    const upper = join(root, 'kinds');
    await mkdir(upper);
    // hardlinks, a setuid file, symlink, xattrs, a fifo, devices, a whiteout, an opaque dir, a 100+ byte path
    await makeUpperTree(upper);
    // a hardlink whose second name sits in another directory, walked later
    await link(join(upper, 'bin/su'), join(upper, 'run/su-again'));
    // big files (streamed), one sparse, sizes around the inline limit, empty files
    await writeFile(join(upper, 'home/big'), Buffer.alloc(3 * 1024 * 1024 + 7, 'b'));
    await writeFile(join(upper, 'home/sparse'), 'head');
    await truncate(join(upper, 'home/sparse'), 64 * 1024 * 1024);
    for (const size of [0, 1, 512, 65_535, 65_536, 65_537]) await writeFile(join(upper, `home/s${size}`), Buffer.alloc(size, 's'));
    // non-ASCII names and link targets (pax records), a symlink with an absolute and a dangling target
    await writeFile(join(upper, 'home/ünïcödé'), 'u');
    await symlink('/nowhere/ü', join(upper, 'home/dangling'));
    // xattrs on a directory, a symlink and a file, binary values, and overlay ones that must not leak
    await lsetxattr(join(upper, 'home'), 'user.dir', Buffer.from([0, 1, 2, 255]));
    await lsetxattr(join(upper, 'home/s1'), 'security.capability', Buffer.from([1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]));
    await lsetxattr(join(upper, 'home/s512'), 'trusted.overlay.origin', Buffer.from('x'));
    await lsetxattr(join(upper, 'home/dangling'), 'trusted.note', Buffer.from('on the link itself'));
    // a whiteout and an opaque dir deeper down, nested directories several levels deep
    await mkdir(join(upper, 'a/b/c/d/e'), { recursive: true });
    await mknodChar(join(upper, 'a/b/.hidden'), 0, 0);
    await lsetxattr(join(upper, 'a/b/c'), 'trusted.overlay.opaque', Buffer.from('y'));
    await writeFile(join(upper, 'a/b/c/d/e/leaf'), 'leaf');
    // times before the epoch, with and without a fraction of a second (Node's utimes ignores
    // negative times, touch does not)
    await writeFile(join(upper, 'old'), 'old');
    await run('touch', ['-d', '@-1.5', join(upper, 'old')]);
    await run('touch', ['-h', '-d', '@-100', join(upper, 'home/dangling')]);

    expect((await lstat(join(upper, 'old'), { bigint: true })).mtimeNs).toBe(-1_500_000_000n);

    for (const opts of [{ xattrFlavor: 'trusted' as const }, { xattrFlavor: 'user' as const, sourceDateEpoch: 1_700_000_000 }]) {
      const tar = await expectSameAsReference(upper, opts);
      // and GNU tar can list it (a well-formed archive, not merely equal to another one)
      const file = join(root, 'kinds.tar');
      await writeFile(file, tar);
      const { stdout } = await run('tar', ['--numeric-owner', '-tvf', file]);
      expect(stdout).toMatch(/^hrwsr-xr-x 0\/0 +0 .* run\/su-again link to bin\/su$/m);
      expect(stdout).toMatch(/ home\/sparse$/m);
    }
  });

  it('gives identical bytes when small files exceed the read budget and directories are many', async () => {
    // ~12 MiB of files just under the inline limit in one directory: more than a scan may hold,
    // so the tail is read in batches; plus 300 directories of a few files for the scan-ahead.
    const upper = join(root, 'budget');
    await mkdir(join(upper, 'wide'), { recursive: true });
    for (let i = 0; i < 190; i++) {
      await writeFile(join(upper, 'wide', `f${String(i).padStart(3, '0')}`), createHash('sha256').update(String(i)).digest().toString('hex').repeat(1000));
    }
    // a directory among them ends a batch: its subtree comes before the files after it
    await mkdir(join(upper, 'wide/f100-dir'));
    await writeFile(join(upper, 'wide/f100-dir/x'), 'x');
    for (let d = 0; d < 300; d++) {
      await mkdir(join(upper, 'many', `d${d}`, 'sub'), { recursive: true });
      for (let f = 0; f < 3; f++) await writeFile(join(upper, 'many', `d${d}`, `f${f}`), `${d}/${f}\n`.repeat(f + 1));
      await writeFile(join(upper, 'many', `d${d}`, 'sub', 'g'), 'g');
    }
    // owners other than root (an xattr store archives those without an owner record as 0:0),
    // and a link target that is not UTF-8 among entries the scan archives itself
    await chown(join(upper, 'many/d1/f0'), 1234, 5678);
    await chown(join(upper, 'many/d2'), 1234, 5678);
    await symlink(Buffer.from('caf\xe9', 'latin1'), join(upper, 'many/d3/latin1-target'));
    await expectSameAsReference(upper, { xattrFlavor: 'user' });
    await expectSameAsReference(upper, { xattrFlavor: 'user', storeKind: 'xattr', sourceDateEpoch: 1_600_000_000 });
  });

  it('refuses a file name that is not UTF-8 with a message naming it', async () => {
    const upper = join(root, 'latin1');
    await mkdir(upper);
    await writeFile(Buffer.from(`${upper}/caf\xe9`, 'latin1'), 'x');
    const err = await collect(layerTar(upper, { xattrFlavor: 'user' })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TsbuildError);
    expect((err as TsbuildError).code).toBe('LAYER_INVALID');
    expect((err as TsbuildError).message).toContain(`archiving ${upper}: the name "caf\ufffd" is not UTF-8`);
  });

  it('fails with the path when a directory cannot be read', async () => {
    const err = await collect(layerTar(join(root, 'missing'), { xattrFlavor: 'user' })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TsbuildError);
    expect((err as TsbuildError).code).toBe('LAYER_INVALID');
    expect((err as TsbuildError).message).toContain(join(root, 'missing'));
  });
});

/**
 * COPY flags as BuildKit's Dockerfile reference describes them, checked on the unpacked OCI
 * output (umoci) and the layer tars: directories copy their contents, trailing-slash and WORKDIR
 * rules, --chmod (octal and symbolic), --chown, --parents (with a /./ pivot), --exclude,
 * --link, and COPY heredocs.
 */
import { execFile } from 'node:child_process';
import { mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { unpackOciImage } from '../../helpers/runImage.js';
import { makeTempDir } from '../../helpers/tmp.js';
import { runTsbuild } from '../../helpers/tsbuild.js';
import { withBusyboxRegistry } from '../../helpers/busyboxRegistry.js';

const run = promisify(execFile);

interface Manifest {
  layers: Array<{ digest: string }>;
}

async function manifestOf(layout: string): Promise<Manifest> {
  const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
  const digest = (index.manifests[0] as { digest: string }).digest;
  return JSON.parse(await readFile(join(layout, 'blobs/sha256', digest.slice(7)), 'utf8')) as Manifest;
}

async function layerEntries(layout: string, digest: string): Promise<string[]> {
  const { stdout } = await run('tar', ['-tzvf', join(layout, 'blobs/sha256', digest.slice(7))]);
  return stdout.trim().split('\n');
}

describe('COPY flags', () => {
  let base: string;
  let store: string;
  withBusyboxRegistry((f) => ({ base, store } = f));

  async function build(ctx: string, dockerfile: string, extra: string[] = []): Promise<{ layout: string; rootfs: string }> {
    await writeFile(join(ctx, 'Dockerfile'), dockerfile);
    const layout = join(await makeTempDir('tsbuild-out'), 'layout');
    const res = await runTsbuild(['build', '-q', '--root', store, ...extra, '-t', 'copy:1', '-o', `type=oci,dest=${layout},tar=false`, ctx]);
    expect(res.code, res.stderr).toBe(0);
    return { layout, rootfs: await unpackOciImage(layout, '1') };
  }

  it('copies directory contents, follows trailing-slash and WORKDIR rules, and applies octal and symbolic --chmod', async () => {
    const ctx = await makeTempDir('tsbuild-ctx');
    await mkdir(join(ctx, 'dir/sub'), { recursive: true });
    await writeFile(join(ctx, 'dir/a.txt'), 'a\n', { mode: 0o664 });
    await writeFile(join(ctx, 'dir/sub/run.sh'), '#!/bin/sh\n', { mode: 0o700 });
    await writeFile(join(ctx, 'f.txt'), 'f\n', { mode: 0o644 });
    const { rootfs } = await build(
      ctx,
      [
        `FROM ${base}`,
        'WORKDIR /app',
        'COPY dir /contents',
        'COPY f.txt rel/',
        'COPY f.txt renamed',
        'COPY f.txt /deep/er/',
        'COPY --chmod=0750 f.txt /octal',
        'COPY --chmod=u+x,g-w,o=r dir/a.txt /symbolic',
        'COPY --chmod=u=rwX,go=rX dir /tree/',
        'COPY --chown=1000:1000 --chmod=+x f.txt /owned',
        '',
      ].join('\n'),
    );
    // "The directory itself is not copied, just its contents."
    expect((await readdir(join(rootfs, 'contents'))).sort()).toEqual(['a.txt', 'sub']);
    expect(await readFile(join(rootfs, 'app/rel/f.txt'), 'utf8')).toBe('f\n');
    expect((await stat(join(rootfs, 'app/renamed'))).isFile()).toBe(true);
    expect(await readFile(join(rootfs, 'deep/er/f.txt'), 'utf8')).toBe('f\n');
    expect((await stat(join(rootfs, 'deep'))).mode & 0o7777).toBe(0o755);
    expect((await stat(join(rootfs, 'octal'))).mode & 0o7777).toBe(0o750);
    expect((await stat(join(rootfs, 'symbolic'))).mode & 0o7777).toBe(0o744);
    expect((await stat(join(rootfs, 'tree/a.txt'))).mode & 0o7777).toBe(0o644);
    expect((await stat(join(rootfs, 'tree/sub'))).mode & 0o7777).toBe(0o755);
    expect((await stat(join(rootfs, 'tree/sub/run.sh'))).mode & 0o7777).toBe(0o755);
    const owned = await stat(join(rootfs, 'owned'));
    expect([owned.uid, owned.gid, owned.mode & 0o7777]).toEqual([1000, 1000, 0o755]);
  });

  it('--parents keeps source paths (from a /./ pivot when given); --exclude drops matches by patternmatcher rules', async () => {
    const ctx = await makeTempDir('tsbuild-ctx');
    await mkdir(join(ctx, 'x/a'), { recursive: true });
    await mkdir(join(ctx, 'y/b'), { recursive: true });
    await writeFile(join(ctx, 'x/a/one.txt'), '1\n');
    await writeFile(join(ctx, 'y/b/two.txt'), '2\n');
    await writeFile(join(ctx, 'y/b/skip.md'), 'md\n');
    await writeFile(join(ctx, 'home.txt'), 'h\n');
    await writeFile(join(ctx, 'homer.sh'), 'h\n');
    await writeFile(join(ctx, 'homes.md'), 'h\n');
    const { rootfs } = await build(
      ctx,
      [
        `FROM ${base}`,
        'COPY --parents x/a/one.txt y/b/two.txt /kept/',
        'COPY --parents ./x/./a/one.txt /pivot/',
        'COPY --parents y/b /dirs/',
        'COPY --exclude=*.txt --exclude=*.md hom* /mydir/',
        'COPY --exclude=**/*.md y /ex/',
        'COPY --exclude=*.md y /shallow/',
        '',
      ].join('\n'),
    );
    expect(await readFile(join(rootfs, 'kept/x/a/one.txt'), 'utf8')).toBe('1\n');
    expect(await readFile(join(rootfs, 'kept/y/b/two.txt'), 'utf8')).toBe('2\n');
    expect(await readdir(join(rootfs, 'pivot'))).toEqual(['a']);
    expect(await readFile(join(rootfs, 'pivot/a/one.txt'), 'utf8')).toBe('1\n');
    expect((await readdir(join(rootfs, 'dirs/y/b'))).sort()).toEqual(['skip.md', 'two.txt']);
    // The Dockerfile reference's example: all files starting with "hom" but .txt and .md.
    expect(await readdir(join(rootfs, 'mydir'))).toEqual(['homer.sh']);
    expect(await readdir(join(rootfs, 'ex/b'))).toEqual(['two.txt']);
    // patternmatcher: `*` does not cross `/`, so *.md only matches at the top of the source.
    expect((await readdir(join(rootfs, 'shallow/b'))).sort()).toEqual(['skip.md', 'two.txt']);
  });

  it('--link builds the layer on an empty tree: the same layer whatever comes before it', async () => {
    const ctx = await makeTempDir('tsbuild-ctx');
    await writeFile(join(ctx, 'f.txt'), 'linked\n');
    const first = await build(ctx, `FROM ${base}\nRUN mkdir -m 700 /dst && echo x > /other\nCOPY --link --chown=app f.txt /dst/f.txt\n`, ['--source-date-epoch', '0']);
    const second = await build(ctx, `FROM ${base}\nCOPY --link --chown=app f.txt /dst/f.txt\n`, ['--source-date-epoch', '0']);
    const a = (await manifestOf(first.layout)).layers.at(-1)?.digest;
    const b = (await manifestOf(second.layout)).layers.at(-1)?.digest;
    expect(a).toBeDefined();
    expect(a).toBe(b);
    const entries = await layerEntries(first.layout, a as string);
    expect(entries.map((e) => e.split(/\s+/).pop())).toEqual(['dst/', 'dst/f.txt']);
    const f = await stat(join(first.rootfs, 'dst/f.txt'));
    expect([f.uid, f.gid]).toEqual([1000, 1000]);
    expect(await readFile(join(first.rootfs, 'other'), 'utf8')).toBe('x\n');
  });

  it('writes COPY heredocs, expanding variables unless the delimiter is quoted', async () => {
    const ctx = await makeTempDir('tsbuild-ctx');
    const dockerfile = [
      `FROM ${base}`,
      'ARG NAME=world',
      'COPY <<EOF /greeting',
      'hello "$NAME"',
      'EOF',
      "COPY <<'RAW' <<-TABS /docs/",
      'kept $NAME',
      'RAW',
      '\tstripped ${NAME}',
      '\tTABS',
      'COPY --chmod=755 <<EOF /bin/hello',
      '#!/bin/sh',
      'echo hi',
      'EOF',
      '',
    ].join('\n');
    const { rootfs } = await build(ctx, dockerfile);
    expect(await readFile(join(rootfs, 'greeting'), 'utf8')).toBe('hello "world"\n');
    expect(await readFile(join(rootfs, 'docs/RAW'), 'utf8')).toBe('kept $NAME\n');
    expect(await readFile(join(rootfs, 'docs/TABS'), 'utf8')).toBe('stripped world\n');
    expect((await stat(join(rootfs, 'greeting'))).mode & 0o7777).toBe(0o644);
    expect((await stat(join(rootfs, 'bin/hello'))).mode & 0o7777).toBe(0o755);
  });

  it('refuses a bad --chmod and several sources into a non-directory, with the line', async () => {
    const ctx = await makeTempDir('tsbuild-ctx');
    await writeFile(join(ctx, 'f.txt'), 'f\n');
    await writeFile(join(ctx, 'Dockerfile'), `FROM ${base}\nCOPY --chmod=u+q f.txt /x\n`);
    let res = await runTsbuild(['build', '-q', '--root', store, ctx]);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/Dockerfile:2:1: COPY .*invalid --chmod=u\+q/);
    await writeFile(join(ctx, 'Dockerfile'), `FROM ${base}\nCOPY f.txt Dockerfile /x\n`);
    res = await runTsbuild(['build', '-q', '--root', store, ctx]);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/Dockerfile:2:1: COPY .*the destination must be a directory and end with a \//);
  });
});

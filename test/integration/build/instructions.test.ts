/**
 * What each supported instruction leaves in the image, checked with skopeo and umoci (not with
 * tsbuild's own readers): FROM scratch, ADD of local archives, COPY globs and --chown by name,
 * ARG scoping, ENTRYPOINT/CMD, exec-form RUN, --target and an OCI layout tar.
 */
import { execFile } from 'node:child_process';
import { lstat, readFile, readdir, stat, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { execChecked } from '../../helpers/exec.js';
import { unpackOciImage } from '../../helpers/runImage.js';
import { makeTempDir } from '../../helpers/tmp.js';
import { runTsbuild } from '../../helpers/tsbuild.js';
import { withBusyboxRegistry } from '../../helpers/busyboxRegistry.js';

const run = promisify(execFile);

async function configOf(ref: string): Promise<{ config: Record<string, unknown>; history: Array<{ created_by?: string; empty_layer?: boolean }>; rootfs: { diff_ids: string[] } }> {
  const { stdout } = await execChecked('skopeo', ['inspect', '--config', ref]);
  return JSON.parse(stdout);
}

describe('instructions', () => {
  let base: string;
  let store: string;
  withBusyboxRegistry((f) => ({ base, store } = f));

  it('builds FROM scratch with COPY, ADD of local archives and files, and COPY globs', async () => {
    const ctx = await makeTempDir('tsbuild-ctx');
    const payload = join(ctx, 'payload');
    await mkdir(join(payload, 'dir'), { recursive: true });
    await writeFile(join(payload, 'dir', 'inner.txt'), 'inner\n');
    await writeFile(join(payload, 'top.txt'), 'top\n');
    await run('tar', ['-C', payload, '-czf', join(ctx, 'bundle.tar.gz'), '.']);
    await run('tar', ['-C', payload, '-cf', join(ctx, 'plain.tar'), 'top.txt']);
    await writeFile(join(ctx, 'a.conf'), 'a\n');
    await writeFile(join(ctx, 'b.conf'), 'b\n');
    await writeFile(join(ctx, 'c.txt'), 'c\n');
    await writeFile(join(ctx, 'notes.gz.txt'), 'not an archive\n');
    await writeFile(
      join(ctx, 'Dockerfile'),
      [
        'FROM scratch',
        'ADD bundle.tar.gz /unpacked/',
        'ADD plain.tar /plain',
        'ADD notes.gz.txt /notes/',
        'COPY *.conf /conf/',
        'COPY c.txt /single/renamed.txt',
        'CMD ["/nothing"]',
        '',
      ].join('\n'),
    );
    const out = join(await makeTempDir('tsbuild-out'), 'image.tar');
    const res = await runTsbuild(['build', '-q', '--root', store, '-t', 'scratchy:1', '-o', `type=oci,dest=${out}`, ctx]);
    expect(res.code, res.stderr).toBe(0);

    // -o type=oci without tar=false writes a single OCI layout tar.
    const cfg = await configOf(`oci-archive:${out}:1`);
    expect(cfg.rootfs.diff_ids).toHaveLength(5);
    expect(cfg.config['Cmd']).toEqual(['/nothing']);

    const layout = await makeTempDir('tsbuild-layout');
    await run('tar', ['-C', layout, '-xf', out]);
    const rootfs = await unpackOciImage(layout, '1');
    expect((await readdir(rootfs)).sort()).toEqual(['conf', 'notes', 'plain', 'single', 'unpacked']);
    expect(await readFile(join(rootfs, 'unpacked/dir/inner.txt'), 'utf8')).toBe('inner\n');
    expect(await readFile(join(rootfs, 'unpacked/top.txt'), 'utf8')).toBe('top\n');
    expect(await readFile(join(rootfs, 'plain/top.txt'), 'utf8')).toBe('top\n');
    expect(await readFile(join(rootfs, 'notes/notes.gz.txt'), 'utf8')).toBe('not an archive\n');
    expect((await readdir(join(rootfs, 'conf'))).sort()).toEqual(['a.conf', 'b.conf']);
    expect(await readFile(join(rootfs, 'single/renamed.txt'), 'utf8')).toBe('c\n');
  });

  it('scopes ARGs as BuildKit does, resolves --chown names in the image, and honours --target', async () => {
    const ctx = await makeTempDir('tsbuild-ctx');
    await writeFile(join(ctx, 'f.txt'), 'f\n');
    await writeFile(
      join(ctx, 'Dockerfile'),
      [
        'ARG BASE',
        'ARG VERSION=1.0',
        'FROM ${BASE} AS runtime',
        'ARG VERSION',
        'ARG ONLY_DEFAULT=dflt',
        'ENV APP_VERSION=${VERSION} FROM_DEFAULT=${ONLY_DEFAULT}',
        'RUN ["sh", "-c", "echo exec-form $VERSION > /exec.txt"]',
        'COPY --chown=app:app f.txt /home/app/f.txt',
        'ENTRYPOINT ["/bin/sh", "-c"]',
        'CMD ["echo runtime"]',
        '',
        'FROM runtime AS other',
        'ENTRYPOINT ["/bin/echo"]',
        'RUN exit 9',
        '',
      ].join('\n'),
    );
    const out = join(await makeTempDir('tsbuild-out'), 'layout');
    const res = await runTsbuild(
      ['build', '--progress', 'plain', '--root', store, '--target', 'runtime', '--build-arg', `BASE=${base}`, '--build-arg', 'VERSION=2.5', '-t', 'args:1', '-o', `type=oci,dest=${out},tar=false`, ctx],
    );
    expect(res.code, res.stderr).toBe(0);
    expect(res.stderr).not.toContain('exit 9');
    const cfg = await configOf(`oci:${out}:1`);
    const env = cfg.config['Env'] as string[];
    expect(env).toContain('APP_VERSION=2.5');
    expect(env).toContain('FROM_DEFAULT=dflt');
    expect(cfg.config['Entrypoint']).toEqual(['/bin/sh', '-c']);
    expect(cfg.config['Cmd']).toEqual(['echo runtime']);
    // Metadata steps leave history without layers.
    expect(cfg.history.filter((h) => h.empty_layer).map((h) => h.created_by?.split(' ')[0])).toEqual(['ENV', 'ENTRYPOINT', 'CMD']);

    const rootfs = await unpackOciImage(out, '1');
    expect(await readFile(join(rootfs, 'exec.txt'), 'utf8')).toBe('exec-form 2.5\n');
    const f = await stat(join(rootfs, 'home/app/f.txt'));
    expect([f.uid, f.gid]).toEqual([1000, 1000]);
    expect(await lstat(join(rootfs, 'bin/sh')).then((s) => s.isSymbolicLink())).toBe(true);
  });

  it('clears an inherited CMD when a stage sets ENTRYPOINT, as Docker does', async () => {
    const ctx = await makeTempDir('tsbuild-ctx');
    await writeFile(join(ctx, 'Dockerfile'), `FROM ${base}\nENTRYPOINT ["/bin/echo"]\n`);
    const out = join(await makeTempDir('tsbuild-out'), 'layout');
    const res = await runTsbuild(['build', '-q', '--root', store, '-t', 'ep:1', '-o', `type=oci,dest=${out},tar=false`, ctx]);
    expect(res.code, res.stderr).toBe(0);
    const cfg = await configOf(`oci:${out}:1`);
    expect(cfg.config['Entrypoint']).toEqual(['/bin/echo']);
    expect(cfg.config['Cmd']).toBeUndefined();
  });

  it('names the missing file when a COPY source does not exist', async () => {
    const ctx = await makeTempDir('tsbuild-ctx');
    await writeFile(join(ctx, 'Dockerfile'), `FROM ${base}\nCOPY missing.txt /x\n`);
    const res = await runTsbuild(['build', '-q', '--root', store, ctx]);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/Dockerfile:2:1: COPY .*"\/missing.txt": not found in the build context/);
  });

  it('keeps COPY from escaping the context or writing through a symlink out of the rootfs', async () => {
    const ctx = await makeTempDir('tsbuild-ctx');
    const outside = await makeTempDir('tsbuild-outside');
    await writeFile(join(outside, 'secret'), 'host secret\n');
    const { symlink } = await import('node:fs/promises');
    await symlink(join(outside, 'secret'), join(ctx, 'link-out'));
    await writeFile(join(ctx, 'ok.txt'), 'ok\n');
    await writeFile(
      join(ctx, 'Dockerfile'),
      `FROM ${base}\nRUN ln -s ${outside} /escape\nCOPY ok.txt /escape/written.txt\nCOPY link-out /copied\n`,
    );
    const res = await runTsbuild(['build', '-q', '--root', store, ctx]);
    // The symlinked source resolves inside the context (where it does not exist): refused.
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/Dockerfile:4:1: COPY .*not found in the build context/);
    // The write through /escape landed in the image's own /<outside path>, not on the host.
    expect(await readdir(outside)).toEqual(['secret']);
  });
});

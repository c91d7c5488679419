/**
 * MAINTAINER, VOLUME, STOPSIGNAL, SHELL, HEALTHCHECK and ONBUILD as Docker keeps them in the
 * image config (checked with skopeo on the OCI output), and ONBUILD triggers fired by a child.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execChecked } from '../../helpers/exec.js';
import { seedBusybox, startRegistry, type TestRegistry } from '../../helpers/registry.js';
import { unpackOciImage } from '../../helpers/runImage.js';
import { makeTempDir } from '../../helpers/tmp.js';
import { runTsbuild } from '../../helpers/tsbuild.js';
import { withBusyboxRegistry } from '../../helpers/busyboxRegistry.js';

interface Inspected {
  author?: string;
  config: Record<string, unknown>;
  history: Array<{ created_by?: string; empty_layer?: boolean }>;
}

async function configOf(ref: string): Promise<Inspected> {
  const { stdout } = await execChecked('skopeo', ['inspect', '--config', '--raw', ref]);
  return JSON.parse(stdout) as Inspected;
}

describe('config instructions', () => {
  let base: string;
  let store: string;
  withBusyboxRegistry((f) => ({ base, store } = f));

  it('keeps MAINTAINER, VOLUME, STOPSIGNAL, SHELL and HEALTHCHECK in the OCI config; SHELL drives later shell forms', async () => {
    const ctx = await makeTempDir('tsbuild-ctx');
    await writeFile(
      join(ctx, 'Dockerfile'),
      [
        `FROM ${base}`,
        'MAINTAINER Jane Doe <jane@example.com>',
        'ENV DATA=/data',
        'VOLUME ["/var/log", "$DATA"]',
        'VOLUME /cache /tmp/x',
        'STOPSIGNAL SIGQUIT',
        'HEALTHCHECK --interval=1m30s --timeout=500ms --start-period=2s --start-interval=1s --retries=4 CMD wget -q -O- http://localhost/ || exit 1',
        'SHELL ["/bin/sh", "-ec"]',
        'RUN case $- in *e*) echo errexit > /shell.txt;; esac',
        'CMD echo hi',
        '',
      ].join('\n'),
    );
    const out = join(await makeTempDir('tsbuild-out'), 'layout');
    const res = await runTsbuild(['build', '-q', '--root', store, '-t', 'meta:1', '-o', `type=oci,dest=${out},tar=false`, ctx]);
    expect(res.code, res.stderr).toBe(0);
    const cfg = await configOf(`oci:${out}:1`);
    expect(cfg.author).toBe('Jane Doe <jane@example.com>');
    expect(cfg.config['Volumes']).toEqual({ '/var/log': {}, '/data': {}, '/cache': {}, '/tmp/x': {} });
    expect(cfg.config['StopSignal']).toBe('SIGQUIT');
    expect(cfg.config['Healthcheck']).toEqual({
      Test: ['CMD-SHELL', 'wget -q -O- http://localhost/ || exit 1'],
      Interval: 90_000_000_000,
      Timeout: 500_000_000,
      StartPeriod: 2_000_000_000,
      StartInterval: 1_000_000_000,
      Retries: 4,
    });
    expect(cfg.config['Shell']).toEqual(['/bin/sh', '-ec']);
    // Docker: shell-form CMD after SHELL uses that shell.
    expect(cfg.config['Cmd']).toEqual(['/bin/sh', '-ec', 'echo hi']);
    const kinds = cfg.history.filter((h) => h.empty_layer).map((h) => h.created_by?.split(' ')[0]);
    expect(kinds).toEqual(['MAINTAINER', 'ENV', 'VOLUME', 'VOLUME', 'STOPSIGNAL', 'HEALTHCHECK', 'SHELL', 'CMD']);
    const rootfs = await unpackOciImage(out, '1');
    expect(await readFile(join(rootfs, 'shell.txt'), 'utf8')).toBe('errexit\n');
  });

  it('HEALTHCHECK NONE is Test ["NONE"]; exec form is CMD; bad options are refused with the line', async () => {
    const ctx = await makeTempDir('tsbuild-ctx');
    await writeFile(join(ctx, 'Dockerfile'), `FROM ${base} AS checked\nHEALTHCHECK CMD ["/bin/true"]\nFROM checked\nHEALTHCHECK NONE\n`);
    const out = join(await makeTempDir('tsbuild-out'), 'layout');
    let res = await runTsbuild(['build', '-q', '--root', store, '-t', 'hc:1', '-o', `type=oci,dest=${out},tar=false`, ctx]);
    expect(res.code, res.stderr).toBe(0);
    expect((await configOf(`oci:${out}:1`)).config['Healthcheck']).toEqual({ Test: ['NONE'] });
    res = await runTsbuild(['build', '-q', '--root', store, '--target', 'checked', '-t', 'hc:2', '-o', `type=oci,dest=${out},tar=false`, ctx]);
    expect(res.code, res.stderr).toBe(0);
    expect((await configOf(`oci:${out}:2`)).config['Healthcheck']).toEqual({ Test: ['CMD', '/bin/true'] });

    await writeFile(join(ctx, 'Dockerfile'), `FROM ${base}\nHEALTHCHECK --interval=10us CMD true\n`);
    res = await runTsbuild(['build', '-q', '--root', store, ctx]);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/Dockerfile:2:1: HEALTHCHECK .*--interval cannot be less than 1ms/);
    await writeFile(join(ctx, 'Dockerfile'), `FROM ${base}\nSTOPSIGNAL SIGNOPE\n`);
    res = await runTsbuild(['build', '-q', '--root', store, ctx]);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/Dockerfile:2:1: STOPSIGNAL .*invalid signal: SIGNOPE/);
  });

  it('stores ONBUILD triggers and fires them, in order, before a child build\'s own instructions', async () => {
    const parentCtx = await makeTempDir('tsbuild-ctx');
    await writeFile(
      join(parentCtx, 'Dockerfile'),
      [`FROM ${base}`, 'ONBUILD COPY app.txt /app/', 'ONBUILD RUN cat /app/app.txt > /app/seen.txt', 'ONBUILD ENV FIRED=yes', ''].join('\n'),
    );
    const parentOut = join(await makeTempDir('tsbuild-out'), 'layout');
    let res = await runTsbuild(['build', '-q', '--root', store, '-t', 'onbuild-parent:1', '-o', `type=oci,dest=${parentOut},tar=false`, parentCtx]);
    expect(res.code, res.stderr).toBe(0);
    const parent = await configOf(`oci:${parentOut}:1`);
    expect(parent.config['OnBuild']).toEqual(['COPY app.txt /app/', 'RUN cat /app/app.txt > /app/seen.txt', 'ENV FIRED=yes']);

    const childCtx = await makeTempDir('tsbuild-ctx');
    await writeFile(join(childCtx, 'app.txt'), 'from the child context\n');
    await writeFile(join(childCtx, 'Dockerfile'), 'FROM onbuild-parent:1\nRUN echo "$FIRED" > /app/own.txt\n');
    const childOut = join(await makeTempDir('tsbuild-out'), 'layout');
    res = await runTsbuild(['build', '-q', '--root', store, '-t', 'onbuild-child:1', '-o', `type=oci,dest=${childOut},tar=false`, childCtx]);
    expect(res.code, res.stderr).toBe(0);
    const child = await configOf(`oci:${childOut}:1`);
    // Triggers are not inherited by grandchildren.
    expect(child.config['OnBuild'] ?? null).toBeNull();
    expect(child.config['Env']).toContain('FIRED=yes');
    const rootfs = await unpackOciImage(childOut, '1');
    expect(await readFile(join(rootfs, 'app/seen.txt'), 'utf8')).toBe('from the child context\n');
    expect(await readFile(join(rootfs, 'app/own.txt'), 'utf8')).toBe('yes\n');
  });

  it('refuses ONBUILD ONBUILD, FROM and MAINTAINER triggers at parse time', async () => {
    const ctx = await makeTempDir('tsbuild-ctx');
    for (const trigger of ['ONBUILD RUN true', 'FROM scratch', 'MAINTAINER me']) {
      await writeFile(join(ctx, 'Dockerfile'), `FROM ${base}\nONBUILD ${trigger}\n`);
      const res = await runTsbuild(['build', '-q', '--root', store, ctx]);
      expect(res.code).toBe(1);
      expect(res.stderr).toMatch(/Dockerfile:2:\d+: .*isn't allowed as an ONBUILD trigger/);
    }
  });
});

describe('--label and --annotation', () => {
  let registry: TestRegistry;
  let base: string;
  let store: string;

  beforeAll(async () => {
    registry = await startRegistry();
    base = await seedBusybox(registry.host);
    store = await makeTempDir('tsbuild-store');
  });
  afterAll(async () => {
    await registry?.stop();
  });

  it('puts --label in config.Labels over the Dockerfile LABELs and --annotation on the manifest, as buildx does', async () => {
    const ctx = await makeTempDir('tsbuild-ctx');
    await writeFile(join(ctx, 'Dockerfile'), `FROM ${base}\nLABEL keep=dockerfile over=dockerfile\n`);
    const out = join(await makeTempDir('tsbuild-out'), 'layout');
    const res = await runTsbuild([
      'build', '-q', '--root', store, '-t', 'labels:1', '-o', `type=oci,dest=${out},tar=false`,
      '--label', 'over=flag', '--label', 'org.example.team=core',
      '--annotation', 'org.opencontainers.image.title=demo', '--annotation', 'manifest:org.example.note=a=b',
      ctx,
    ]);
    expect(res.code, res.stderr).toBe(0);
    const cfg = await configOf(`oci:${out}:1`);
    expect(cfg.config['Labels']).toEqual({ keep: 'dockerfile', over: 'flag', 'org.example.team': 'core' });
    // Command-line labels add no history entry.
    expect(cfg.history.filter((h) => h.created_by?.startsWith('LABEL'))).toHaveLength(1);
    const { stdout } = await execChecked('skopeo', ['inspect', '--raw', `oci:${out}:1`]);
    const manifest = JSON.parse(stdout) as { annotations?: Record<string, string> };
    expect(manifest.annotations).toEqual({ 'org.opencontainers.image.title': 'demo', 'org.example.note': 'a=b' });

    const bad = await runTsbuild(['build', '-q', '--root', store, '--annotation', 'index:x=y', ctx]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/--annotation index:x=y: index annotations are not supported yet/);
  });
});

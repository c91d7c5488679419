/**
 * The Dockerfile front end seen from the CLI: .dockerignore (the shared BuildKit scenarios are in
 * dockerignore.conformance.test.ts), `-f -`, platform and proxy ARGs, the unused --build-arg
 * warning, lint / --check.
 * Images are checked with skopeo and umoci, not with tsbuild's own readers.
 */
import { readFile, readdir, writeFile, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { execChecked } from '../../helpers/exec.js';
import { unpackOciImage } from '../../helpers/runImage.js';
import { makeTempDir } from '../../helpers/tmp.js';
import { runTsbuild } from '../../helpers/tsbuild.js';
import { withBusyboxRegistry } from '../../helpers/busyboxRegistry.js';

async function writeTree(dir: string, files: Record<string, string>): Promise<void> {
  for (const [name, content] of Object.entries(files)) {
    await mkdir(dirname(join(dir, name)), { recursive: true });
    await writeFile(join(dir, name), content);
  }
}

describe('Dockerfile front end', () => {
  let base: string;
  let store: string;
  withBusyboxRegistry((f) => ({ base, store } = f));

  const build = async (ctx: string, extra: string[], input?: string) => {
    const out = join(await makeTempDir('tsbuild-out'), 'layout');
    const res = await runTsbuild(['build', '--progress', 'plain', '--root', store, '-t', 'fe:1', '-o', `type=oci,dest=${out},tar=false`, ...extra, ctx], input === undefined ? {} : { input });
    return { res, out };
  };

  it('hides ignored files from COPY: directories, wildcards, explicit names; reads -f - from stdin', async () => {
    const ctx = await makeTempDir('tsbuild-ctx');
    await writeTree(ctx, {
      '.dockerignore': '# build junk\n**/*.log\nsecrets\ndocs\n!docs/keep.md\n',
      'app/main.sh': 'main\n',
      'app/debug.log': 'log\n',
      'app/deep/x.log': 'log\n',
      'secrets/key': 'k\n',
      'docs/keep.md': 'keep\n',
      'docs/drop.md': 'drop\n',
      'top.log': 'log\n',
      'top.txt': 'txt\n',
    });
    const dockerfile = ['FROM scratch', 'COPY app /app/', 'COPY docs /docs/', 'COPY top.* /top/', ''].join('\n');
    const { res, out } = await build(ctx, ['-f', '-'], dockerfile);
    expect(res.code, res.stderr).toBe(0);
    const rootfs = await unpackOciImage(out, '1');
    expect((await readdir(join(rootfs, 'app'))).sort()).toEqual(['deep', 'main.sh']);
    expect(await readdir(join(rootfs, 'app', 'deep'))).toEqual([]);
    expect(await readdir(join(rootfs, 'docs'))).toEqual(['keep.md']);
    expect(await readdir(join(rootfs, 'top'))).toEqual(['top.txt']);

    const named = await build(ctx, ['-f', '-'], 'FROM scratch\nCOPY secrets/key /key\n');
    expect(named.res.code).not.toBe(0);
    expect(named.res.stderr).toMatch(/Dockerfile:2:1: .*"\/secrets\/key": not found in the build context/);
    expect(named.res.stderr).toMatch(/excluded by \.dockerignore/);
  });

  it('gives FROM and declared ARGs the platform values, passes proxy args to RUN only, and warns about unused --build-arg', async () => {
    const ctx = await makeTempDir('tsbuild-ctx');
    const repo = base.slice(0, base.lastIndexOf(':'));
    await writeTree(ctx, {
      Dockerfile: [
        // The registry's busybox is tagged "latest"; TARGETOS is "linux", so this names it via a default.
        `FROM ${repo}:\${TARGETOS:+latest}`,
        'ARG TARGETARCH',
        'ARG TARGETPLATFORM',
        'RUN echo "$TARGETARCH $TARGETPLATFORM [$BUILDARCH] proxy=$HTTP_PROXY" > /args.txt',
        '',
      ].join('\n'),
    });
    const { res, out } = await build(ctx, ['--build-arg', 'HTTP_PROXY=http://proxy.invalid:3128', '--build-arg', 'NOT_USED=1']);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stderr).toMatch(/build argument NOT_USED was given but no stage uses it/);
    expect(res.stderr).not.toMatch(/HTTP_PROXY was given/);
    const rootfs = await unpackOciImage(out, '1');
    const arch = { x64: 'amd64', arm64: 'arm64' }[process.arch as string] ?? process.arch;
    expect(await readFile(join(rootfs, 'args.txt'), 'utf8')).toBe(`${arch} linux/${arch} [] proxy=http://proxy.invalid:3128\n`);
    const { stdout } = await execChecked('skopeo', ['inspect', '--config', `oci:${out}:1`]);
    expect(stdout).not.toContain('proxy.invalid');
  });

  it('lint and build --check report problems without building, exit 1 on errors', async () => {
    const ctx = await makeTempDir('tsbuild-ctx');
    await writeTree(ctx, { Dockerfile: 'FROM busybox AS a\nMAINTAINER me\nCMD echo hi\n' });
    const warn = await runTsbuild(['lint', ctx]);
    expect(warn.code, warn.stderr).toBe(0);
    expect(warn.stdout).toContain('Dockerfile:2:1: warning: MaintainerDeprecated');
    expect(warn.stdout).toContain('Dockerfile:3:1: warning: JSONArgsRecommended');
    expect(warn.stdout).toContain('2 warnings');

    const strict = await runTsbuild(['build', '--check', '-f', '-', ctx], { input: '# check=error=true\nFROM busybox\nCMD echo hi\n' });
    expect(strict.code).toBe(1);
    expect(strict.stdout).toContain('Dockerfile:3:1: error: JSONArgsRecommended');

    // A real build runs the same checks: warnings shown, and fatal under check=error=true.
    const built = await build(ctx, ['-f', '-'], 'FROM scratch\nCMD run me\n');
    expect(built.res.code, built.res.stderr).toBe(0);
    expect(built.res.stderr).toMatch(/Dockerfile:2: JSONArgsRecommended: JSON arguments recommended for CMD/);
    const refused = await build(ctx, ['-f', '-'], '# check=error=true\nFROM scratch\nCMD run me\n');
    expect(refused.res.code).not.toBe(0);
    expect(refused.res.stderr).toMatch(/1 Dockerfile check failed and # check=error=true is set/);

    const empty = await makeTempDir('tsbuild-store');
    const broken = await runTsbuild(['build', '--check', '--root', empty, '-f', '-', ctx], { input: 'FROM busybox\nCOPY --chwon=1 a b\n' });
    expect(broken.code).toBe(1);
    expect(broken.stdout).toMatch(/Dockerfile:2:1: error: .*--chown/);
    // Nothing was built, pulled or even set up.
    expect(await readdir(empty)).toEqual([]);
  });
});

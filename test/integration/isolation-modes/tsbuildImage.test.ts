/**
 * Issue 7's examples: "a container image of tsbuild itself (a Dockerfile that tsbuild can build)".
 * No registry outside 127.0.0.1 is reachable, so its base (node:20-bookworm-slim) is stood in for
 * by a Debian bookworm made with debootstrap plus this machine's node and npm, given through the
 * Dockerfile's NODE_IMAGE argument. tsbuild then builds examples/tsbuild/Dockerfile from the
 * repository (apt-get from the machine's mirror, npm ci from the npm registry), and the image runs
 * under runc: tsbuild in it answers, both as the `tsbuild` command and through the
 * self-contained /tsbuild launcher that `--isolation none` needs.
 */
import { cp, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { debianLayout } from '../../helpers/debianBase.js';
import { runOciImage } from '../../helpers/runImage.js';
import { makeTempDir } from '../../helpers/tmp.js';
import { repoRoot, runTsbuild } from '../../helpers/tsbuild.js';

const NODE_BASE = [
  'FROM debian',
  'COPY node /usr/local/bin/node',
  'COPY include/ /usr/local/include/node/',
  'COPY npm/ /usr/local/lib/node_modules/npm/',
  // This machine reaches the npm registry through a TLS proxy whose CA it trusts; so must the image.
  'COPY ca-certificates.crt /usr/local/share/tsbuild-test-ca.crt',
  'ENV NODE_EXTRA_CA_CERTS=/usr/local/share/tsbuild-test-ca.crt',
  'RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm && node --version && npm --version',
  '',
].join('\n');

describe("tsbuild's own image", () => {
  it('builds from examples/tsbuild/Dockerfile and runs tsbuild', async () => {
    const debian = await debianLayout();
    const store = await makeTempDir('tsbuild-selfimage-store');
    // A stand-in for node:20-bookworm-slim: the same Debian release and this machine's node.
    const ctx = await makeTempDir('tsbuild-selfimage-nodectx');
    await cp(process.execPath, join(ctx, 'node'));
    await cp('/usr/include/node', join(ctx, 'include'), { recursive: true });
    await cp(join(process.execPath, '..', '..', 'lib', 'node_modules', 'npm'), join(ctx, 'npm'), { recursive: true });
    await cp(process.env['NODE_EXTRA_CA_CERTS'] ?? '/etc/ssl/certs/ca-certificates.crt', join(ctx, 'ca-certificates.crt'));
    await writeFile(join(ctx, 'Dockerfile'), NODE_BASE);
    const out = await makeTempDir('tsbuild-selfimage-out');
    const nodeLayout = join(out, 'node');
    const base = await runTsbuild(
      ['build', '--progress', 'plain', '--root', store, '--build-context', `debian=oci-layout://${debian.dir}:${debian.tag}`, '-t', 'node:base', '-o', `type=oci,dest=${nodeLayout},tar=false`, ctx]
    );
    expect(base.code, base.stderr).toBe(0);

    const layout = join(out, 'tsbuild');
    const res = await runTsbuild(
      [
        'build', '--progress', 'plain', '--root', store,
        '-f', join(repoRoot(), 'examples', 'tsbuild', 'Dockerfile'),
        '--build-arg', 'NODE_IMAGE=nodebase',
        '--build-context', `nodebase=oci-layout://${nodeLayout}:base`,
        '-t', 'tsbuild:0.1', '-o', `type=oci,dest=${layout},tar=false`, repoRoot(),
      ]
    );
    expect(res.code, res.stderr.slice(-4000)).toBe(0);

    const version = await runOciImage(layout, '0.1', { args: ['tsbuild', '--version'] });
    expect(version.code, version.stderr).toBe(0);
    expect(version.stdout).toMatch(/^tsbuild\/\d+\.\d+\.\d+/m);
    // The launcher of --isolation none: node through its own loader and libraries under /tsbuild.
    const info = await runOciImage(layout, '0.1', { args: ['/tsbuild/bin/tsbuild-none', 'info'] });
    expect(info.code, info.stderr).toBe(0);
    expect(info.stdout).toMatch(/^allows: /m);
    // The fsx addon links libdeflate (layer gzip): that loader finds it under /tsbuild as well.
    const addon = await runOciImage(layout, '0.1', { args: ['/tsbuild/lib/ld.so', '--library-path', '/tsbuild/lib', '--list', '/tsbuild/app/native/build/fsx.node'] });
    expect(addon.code, addon.stderr).toBe(0);
    expect(addon.stdout).toMatch(/libdeflate\.so\.0 => \/tsbuild\/lib\/libdeflate\.so\.0/);
  }, 1_800_000);
});

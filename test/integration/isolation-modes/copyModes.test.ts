/**
 * The isolation modes without overlay (chroot, proot) against the spine's rootless default: the
 * same Dockerfile with SOURCE_DATE_EPOCH must give the same image, digest for digest, because
 * the copy snapshot's tree diff writes the same overlay-form layer the overlay upper dir holds.
 */
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { execChecked } from '../../helpers/exec.js';
import { withBusyboxRegistry } from '../../helpers/busyboxRegistry.js';
import { runOciImage } from '../../helpers/runImage.js';
import { SPINE_DOCKERFILE as SPINE } from '../../helpers/spineDockerfile.js';
import { manifestDigest } from '../../helpers/ociLayout.js';
import { makeTempDir } from '../../helpers/tmp.js';
import { runTsbuild } from '../../helpers/tsbuild.js';
import { ensureTestUser, makeReadableBy, type TestUser } from '../../helpers/users.js';


// A small build that reads and writes /etc/hosts: the copy modes show the host's over the image's.
const HOSTS = `ARG BASE
FROM \${BASE}
WORKDIR /work
COPY hello.txt .
RUN mkdir -p /data/x && echo one > /data/x/f && ln -s f /data/x/l && rm -rf /etc/hostname /usr/bin \\
 && echo "$(cat hello.txt) from $(pwd)" > /data/out && chmod 0600 /data/out \\
 && echo '10.9.9.9 fromimage' > /etc/hosts
RUN rm -rf /data/x && mkdir /data/x && echo two > /data/x/g && mv /data/out /data/moved \\
 && (cat /etc/hosts /etc/resolv.conf > /data/net 2>/dev/null || true) && (echo changed > /etc/hosts || true)
CMD ["cat", "/data/moved"]
`;

/**
 * A non-root user to build as, whose uid is not 1000: these Dockerfiles chown to 1000:1000, and
 * under proot -0 a chown to the builder's own uid cannot be told from a chown to root (proot
 * swaps 0 for it), a limitation the isolation line states.
 */
async function builderUser(): Promise<TestUser> {
  const user = await ensureTestUser();
  return user.uid !== 1000 ? user : ensureTestUser('tsbuild-test-b');
}

async function makeContext(dockerfile: string): Promise<string> {
  const dir = await makeTempDir('tsbuild-iso-ctx');
  await writeFile(join(dir, 'Dockerfile'), dockerfile);
  await writeFile(join(dir, 'hello.txt'), 'hello context\n');
  return dir;
}

/** Every layer's entries as tar lists them: on a mismatch, the diff names the entry. */
async function listing(layout: string): Promise<string> {
  const idx = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
  const m = JSON.parse(await readFile(join(layout, 'blobs/sha256', idx.manifests[0]!.digest.slice(7)), 'utf8')) as { layers: Array<{ digest: string }> };
  let out = '';
  for (const l of m.layers) out += `== ${l.digest}\n` + (await execChecked('tar', ['tzvvf', join(layout, 'blobs/sha256', l.digest.slice(7)), '--full-time', '--numeric-owner'])).stdout;
  return out;
}

async function diffIDs(layout: string): Promise<string[]> {
  const idx = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
  const m = JSON.parse(await readFile(join(layout, 'blobs/sha256', idx.manifests[0]!.digest.slice(7)), 'utf8')) as { config: { digest: string } };
  return (JSON.parse(await readFile(join(layout, 'blobs/sha256', m.config.digest.slice(7)), 'utf8')) as { rootfs: { diff_ids: string[] } }).rootfs.diff_ids;
}


describe('isolation modes without overlay', () => {
  let base: string;
  withBusyboxRegistry((f) => ({ base } = f));

  async function build(ctx: string, isolation: string | undefined, user?: TestUser): Promise<{ layout: string; stderr: string; store: string }> {
    const owner = user ? { owner: { uid: user.uid, gid: user.gid } } : {};
    const store = await makeTempDir('tsbuild-iso-store', owner);
    const layout = join(await makeTempDir('tsbuild-iso-out', owner), 'layout');
    const res = await runTsbuild(
      ['build', '--progress', 'plain', '--root', store, '-t', 'app:1', '--build-arg', `BASE=${base}`, '-o', `type=oci,dest=${layout},tar=false`, ...(isolation ? ['--isolation', isolation] : []), ctx],
      { env: { SOURCE_DATE_EPOCH: '1700000000' }, ...(user ? { user } : {}) },
    );
    expect(res.code, res.stderr).toBe(0);
    return { layout, stderr: res.stderr, store };
  }

  it('chroot builds the spine Dockerfile to the same digest as rootless, and says which isolation it used', async () => {
    const ctx = await makeContext(SPINE);
    const rootless = await build(ctx, undefined);
    expect(rootless.stderr).toContain('isolation: rootless (auto: namespaces and overlay work here)');
    const chroot = await build(ctx, 'chroot');
    expect(chroot.stderr).toContain('isolation: chroot (asked for with --isolation chroot)');
    expect(await listing(chroot.layout)).toBe(await listing(rootless.layout));
    expect(await manifestDigest(chroot.layout)).toBe(await manifestDigest(rootless.layout));
    const run = await runOciImage(chroot.layout, '1');
    expect(run.stdout).toBe('hi world\nbuilt from hello context\n/app\n1000\n');
  });

  it('as root, proot builds the spine Dockerfile (with its chown) to the same digest as rootless', async () => {
    const spine = await makeContext(SPINE);
    const rootless = await build(spine, 'rootless');
    const spineProot = await build(spine, 'proot');
    expect(spineProot.stderr).toContain('isolation: proot (asked for with --isolation proot)\n');
    expect(await listing(spineProot.layout)).toBe(await listing(rootless.layout));
    expect(await manifestDigest(spineProot.layout)).toBe(await manifestDigest(rootless.layout));
    expect((await runOciImage(spineProot.layout, '1', { args: ['stat', '-c', '%u:%g', '/etc/owned'] })).stdout).toBe('1000:1000\n');
  });

  it('proot shows a RUN the host\'s /etc/hosts and keeps its writes to it out of the layer', async () => {
    const ctx = await makeContext(HOSTS);
    const proot = await build(ctx, 'proot');
    expect(await manifestDigest(proot.layout)).toBe(await manifestDigest((await build(ctx, 'rootless')).layout));
    const run = await runOciImage(proot.layout, '1');
    expect(run.stdout).toBe('hello context from /work\n');
    // The second step saw the host's /etc/hosts over the image's, as the overlay sandbox shows it,
    // and its write to it stayed out of the layer.
    const net = await runOciImage(proot.layout, '1', { args: ['cat', '/data/net'] });
    expect(net.stdout).toContain((await readFile('/etc/hosts', 'utf8')).trim());
    expect((await runOciImage(proot.layout, '1', { args: ['cat', '/etc/hosts'] })).stdout).toBe('10.9.9.9 fromimage\n');
  });

  it('as a non-root user, proot builds the spine Dockerfile (with its chown) to the same digest as rootless, owners kept in xattrs', async () => {
    const user = await builderUser();
    const ctx = await makeContext(SPINE);
    const rootless = await build(ctx, 'rootless');
    const proot = await build(ctx, 'proot', user);
    expect(proot.stderr).toContain('isolation: proot (asked for with --isolation proot)');
    expect(JSON.parse(await readFile(join(proot.store, 'store.json'), 'utf8'))).toMatchObject({ kind: 'xattr', xattrFlavor: 'user' });
    expect(await listing(proot.layout)).toBe(await listing(rootless.layout));
    expect(await manifestDigest(proot.layout)).toBe(await manifestDigest(rootless.layout));
    // A rebuild into the same store comes from the cache, to the same image.
    const again = join(await makeTempDir('tsbuild-iso-out', { owner: { uid: user.uid, gid: user.gid } }), 'layout');
    const rebuild = await runTsbuild(['build', '--progress', 'plain', '--root', proot.store, '-t', 'app:1', '--build-arg', `BASE=${base}`, '-o', `type=oci,dest=${again},tar=false`, '--isolation', 'proot', ctx], { user, env: { SOURCE_DATE_EPOCH: '1700000000' } });
    expect(rebuild.code, rebuild.stderr).toBe(0);
    expect(rebuild.stderr).toContain('CACHED');
    expect(await manifestDigest(again)).toBe(await manifestDigest(rootless.layout));
    // The same store refuses a build that needs real owners, with what to do.
    const res = await runTsbuild(['build', '--root', proot.store, '--isolation', 'rootless', '--build-arg', `BASE=${base}`, ctx], { user });
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('it records owners and whiteouts in xattrs');
    expect(res.stderr).toContain('hint: use a different --root');
  });

  it('as a non-root user, proot records who created what and the modes that would lock it out: a RUN as USER 1000:1000, an ADDed archive, chmod 0 and 555', async () => {
    const user = await builderUser();
    // (No symlink made by USER 1000: in an xattr store a symlink cannot carry an owner, it is 0:0.)
    const ctx = await makeContext(`ARG BASE
FROM \${BASE}
RUN mkdir -p /home/u && chown 1000:1000 /home/u
USER 1000:1000
RUN mkdir /home/u/d && echo x > /home/u/d/f && touch /home/u/mine && chmod 4755 /home/u/mine
USER 0
ADD owned.tar /opt/
RUN echo s > /etc/secret && chmod 0 /etc/secret && mkdir -p /opt/ro/sub && echo r > /opt/ro/sub/f && chmod 555 /opt/ro/sub /opt \\
 && chmod 0 /home/u/d
RUN cat /etc/secret /opt/ro/sub/f && echo more >> /etc/secret && chmod 640 /etc/secret && rm /opt/ro/sub/f
`);
    await execChecked('tar', ['--owner=33', '--group=44', '-cf', join(ctx, 'owned.tar'), '-C', ctx, 'hello.txt']);
    const rootless = await build(ctx, 'rootless');
    const proot = await build(ctx, 'proot', user);
    expect(await listing(proot.layout)).toBe(await listing(rootless.layout));
    expect(await manifestDigest(proot.layout)).toBe(await manifestDigest(rootless.layout));
    // The builder can clean its own store, read-only directories and 0000 files included.
    const cli = async (args: string[]): Promise<void> => {
      const res = await runTsbuild([...args, '--root', proot.store], { user });
      expect(res.code, `${args.join(' ')}: ${res.stderr}`).toBe(0);
    };
    await cli(['rmi', 'app:1']);
    await cli(['cache', 'prune']);
    // Only the base image's layer stays (prune removes what the build cache made).
    expect(await readdir(join(proot.store, 'layers'))).toEqual([(await diffIDs(proot.layout))[0]!.slice('sha256:'.length)]);
    await cli(['fsck']);
  });

  it('as root on the host, a store used by chroot stays usable by the default mode', async () => {
    const ctx = await makeContext(HOSTS);
    const store = await makeTempDir('tsbuild-iso-store');
    for (const isolation of ['chroot', 'auto']) {
      const res = await runTsbuild(['build', '-q', '--root', store, '--isolation', isolation, '--build-arg', `BASE=${base}`, ctx], { env: { SOURCE_DATE_EPOCH: '1700000000' } });
      expect(res.code, `${isolation}: ${res.stderr}`).toBe(0);
    }
  });

  it('refuses what a copy mode cannot give instead of dropping it: RUN --network=none', async () => {
    const ctx = await makeContext('ARG BASE\nFROM ${BASE}\nRUN --network=none true\n');
    const res = await runTsbuild(['build', '--progress', 'plain', '--root', await makeTempDir('tsbuild-iso-store'), '--isolation', 'chroot', '--build-arg', `BASE=${base}`, ctx]);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('RUN --network=none (no network namespace) needs --isolation rootless; this build uses chroot');
  });

  it('refuses a mode that cannot work with the reason', async () => {
    const ctx = await makeContext(HOSTS);
    const user = await ensureTestUser();
    await makeReadableBy(ctx);
    const res = await runTsbuild(['build', '--isolation', 'chroot', '--root', '/nonexistent-store', '--build-arg', `BASE=${base}`, ctx], { user });
    expect(res.code).not.toBe(0);
    expect(res.stderr).toContain('error: --isolation chroot cannot work here: it needs root');
  });
});

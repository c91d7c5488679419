/**
 * The copy isolation modes (chroot, proot) against images whose /etc, /etc/hosts,
 * /etc/resolv.conf or /dev are absolute symlinks naming a host directory: tsbuild itself writes
 * there before the step starts (the host's hosts and resolv.conf, chroot's device nodes), and
 * none of it may land on the host. Each host target is a temp dir of the test's with sentinel
 * files, checked after the build for content, mtime and no new entries.
 */
import { chown, lstat, mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { withBusyboxRegistry } from '../../helpers/busyboxRegistry.js';
import { unpackOciImage } from '../../helpers/runImage.js';
import { makeTempDir } from '../../helpers/tmp.js';
import { runTsbuild } from '../../helpers/tsbuild.js';
import { ensureTestUser, makeReadableBy, type TestUser } from '../../helpers/users.js';

type Mode = { isolation: 'chroot' | 'proot'; user?: TestUser };

/** Every entry of a host dir with what a write would change: type, mode, size, mtime, content. */
async function hostState(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of (await readdir(dir)).sort()) {
    const st = await lstat(join(dir, name));
    const content = st.isFile() ? await readFile(join(dir, name), 'utf8') : '';
    out[name] = `${st.mode.toString(8)} ${st.size} ${st.mtimeMs} ${JSON.stringify(content)}`;
  }
  return out;
}

/** A host directory the image's symlinks point at: sentinel files as a real /etc or /dev holds them. */
async function hostTarget(user: TestUser | undefined): Promise<string> {
  const owner = user ? { owner: { uid: user.uid, gid: user.gid } } : {};
  const dir = await makeTempDir('tsbuild-host-target', owner);
  for (const name of ['hosts', 'resolv.conf', 'null', 'keep']) {
    await writeFile(join(dir, name), `sentinel ${name}\n`, { mode: 0o644 });
    if (user) await chown(join(dir, name), user.uid, user.gid);
  }
  return dir;
}

/**
 * A context whose `image/` tree is copied over a scratch image with busybox's /bin: `links`
 * become symlinks (absolute targets kept verbatim by COPY), `files` regular files.
 */
async function makeContext(run: string, links: Record<string, string>, files: Record<string, string> = {}): Promise<string> {
  const ctx = await makeTempDir('tsbuild-hostlink-ctx');
  const image = join(ctx, 'image');
  await mkdir(image);
  for (const [path, content] of Object.entries(files)) {
    await mkdir(dirname(join(image, path)), { recursive: true });
    await writeFile(join(image, path), content);
  }
  for (const [path, target] of Object.entries(links)) {
    await mkdir(dirname(join(image, path)), { recursive: true });
    await symlink(target, join(image, path));
  }
  await writeFile(join(ctx, 'Dockerfile'), `ARG BASE\nFROM \${BASE} AS base\nFROM scratch\nCOPY --from=base /bin /bin\nCOPY image/ /\n${run}\n`);
  await makeReadableBy(ctx);
  return ctx;
}

describe('copy isolation modes and image symlinks that point at the host', () => {
  let base: string;
  withBusyboxRegistry((f) => ({ base } = f));

  async function build(ctx: string, mode: Mode): Promise<{ code: number; stderr: string; layout: string }> {
    const owner = mode.user ? { owner: { uid: mode.user.uid, gid: mode.user.gid } } : {};
    const store = await makeTempDir('tsbuild-hostlink-store', owner);
    const layout = join(await makeTempDir('tsbuild-hostlink-out', owner), 'layout');
    const res = await runTsbuild(
      ['build', '--progress', 'plain', '--root', store, '-t', 'app:1', '--build-arg', `BASE=${base}`, '-o', `type=oci,dest=${layout},tar=false`, '--isolation', mode.isolation, ctx],
      mode.user ? { user: mode.user } : {},
    );
    return { code: res.code, stderr: res.stderr, layout };
  }

  const modes: Array<[string, () => Promise<Mode>]> = [
    ['chroot', async () => ({ isolation: 'chroot' })],
    ['proot as root', async () => ({ isolation: 'proot' })],
    ['proot as a non-root user', async () => ({ isolation: 'proot', user: await ensureTestUser() })],
  ];

  for (const [name, modeOf] of modes) {
    it(`${name}: an image whose /etc -> a host dir gets the host's hosts and resolv.conf inside its root, the host dir untouched`, async () => {
      const mode = await modeOf();
      const host = await hostTarget(mode.user);
      const before = await hostState(host);
      // The image has files at the symlink's target inside its root too: that is where they go.
      const ctx = await makeContext('RUN cat /etc/hosts /etc/resolv.conf > /seen', { etc: host }, { [`${host}/hosts`]: 'image hosts\n', [`${host}/resolv.conf`]: 'image resolv\n' });
      const res = await build(ctx, mode);
      expect(res.code, res.stderr).toBe(0);
      expect(await hostState(host)).toEqual(before);
      const rootfs = await unpackOciImage(res.layout, '1');
      // The step saw the host's files (shown as the overlay sandbox binds them) ...
      expect(await readFile(join(rootfs, 'seen'), 'utf8')).toBe((await readFile('/etc/hosts', 'utf8')) + (await readFile('/etc/resolv.conf', 'utf8')));
      // ... and the layer keeps the image's own.
      expect(await readFile(join(rootfs, host, 'hosts'), 'utf8')).toBe('image hosts\n');
      expect(await readFile(join(rootfs, host, 'resolv.conf'), 'utf8')).toBe('image resolv\n');
    });

    it(`${name}: an image whose /etc/hosts and /etc/resolv.conf -> host files leaves those files untouched`, async () => {
      const mode = await modeOf();
      const host = await hostTarget(mode.user);
      const before = await hostState(host);
      const ctx = await makeContext('RUN cat /etc/hosts /etc/resolv.conf > /seen', { 'etc/hosts': `${host}/hosts`, 'etc/resolv.conf': `${host}/resolv.conf` }, { [`${host}/hosts`]: 'image hosts\n', [`${host}/resolv.conf`]: 'image resolv\n' });
      const res = await build(ctx, mode);
      expect(res.code, res.stderr).toBe(0);
      expect(await hostState(host)).toEqual(before);
      // The links resolve inside the image, as the step's chroot or proot sees them.
      const rootfs = await unpackOciImage(res.layout, '1');
      expect(await readFile(join(rootfs, 'seen'), 'utf8')).toBe('image hosts\nimage resolv\n');
    });

    it(`${name}: an image whose /etc is a symlink loop fails with one clear message naming the Dockerfile line`, async () => {
      const mode = await modeOf();
      const ctx = await makeContext('RUN echo never', { etc: '/etc' });
      const res = await build(ctx, mode);
      expect(res.code).toBe(1);
      expect(res.stderr).toContain('error: Dockerfile:6:1: RUN echo never: /etc/hosts: a symlink loop (more than 255 links followed)');
      expect(res.stderr).toMatch(/\nhint: .*symlink/);
      expect(res.stderr).not.toMatch(/\n\s+at /);
    });
  }

  // The overlay runtime's helper refuses a /dev that is not a directory; chroot, which makes its
  // own nodes there too, does the same.
  for (const target of ['host dir', '/dev']) {
    it(`chroot: an image whose /dev -> ${target} fails with one clear message naming the Dockerfile line, the host untouched`, async () => {
      const host = await hostTarget(undefined);
      const before = await hostState(host);
      const link = target === '/dev' ? '/dev' : host;
      const ctx = await makeContext('RUN echo never', { dev: link });
      const res = await build(ctx, { isolation: 'chroot' });
      expect(await hostState(host)).toEqual(before);
      expect(res.code).toBe(1);
      expect(res.stderr).toContain(`error: Dockerfile:6:1: RUN echo never: setting up the RUN sandbox: /dev in the image is a symlink (to ${link})\n`);
      expect(res.stderr).toContain("hint: the sandbox makes its own /dev: make the image's /dev a directory");
      expect(res.stderr).not.toMatch(/\n\s+at /);
    });
  }

  it('proot: an image whose /dev -> a host dir runs with the host\'s devices bound, the host dir untouched', async () => {
    const host = await hostTarget(undefined);
    const before = await hostState(host);
    const ctx = await makeContext('RUN echo x > /dev/null && head -c 3 /dev/zero | wc -c > /zeros', { dev: host });
    const res = await build(ctx, { isolation: 'proot' });
    expect(res.code, res.stderr).toBe(0);
    expect(await hostState(host)).toEqual(before);
    const rootfs = await unpackOciImage(res.layout, '1');
    expect((await readFile(join(rootfs, 'zeros'), 'utf8')).trim()).toBe('3');
  });
});

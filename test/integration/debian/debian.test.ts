/**
 * Issue 5's "done when": a Debian bookworm base (debootstrap from the archive apt uses), built on
 * rootless by an unprivileged user with subordinate id ranges: apt-get drops to _apt (uid 42),
 * useradd and chown use other ids, and a cache mount on /var/cache/apt (docker-clean removed,
 * as BuildKit's docs show) is reused by the second build. The image then runs under runc with
 * the right owners. The RUN shares the host network (BuildKit's default), so apt reaches the mirror.
 */
import { describe, expect, it } from 'vitest';
import { debianLayout } from '../../helpers/debianBase.js';
import { runOciImage } from '../../helpers/runImage.js';
import { makeTempDir } from '../../helpers/tmp.js';
import { ensureTestUser } from '../../helpers/users.js';
import { buildOnBusybox, readIn } from '../run/buildWith.js';

const DOCKERFILE = [
  'FROM base',
  'RUN rm -f /etc/apt/apt.conf.d/docker-clean; echo \'Binary::apt::APT::Keep-Downloaded-Packages "true";\' > /etc/apt/apt.conf.d/keep-cache',
  'ARG BUILD_NO',
  'RUN --mount=type=cache,target=/var/cache/apt,sharing=locked \\',
  '    --mount=type=cache,target=/var/lib/apt/lists,sharing=locked \\',
  '    (ls /var/cache/apt/archives/ | grep -c "^hello_" || true) > /cached-before-$BUILD_NO && \\',
  '    apt-get update && apt-get install -y --no-install-recommends hello && \\',
  '    stat -c "%U" /var/cache/apt/archives/partial > /partial-owner',
  'RUN useradd -m builder && mkdir -p /srv/data && echo owned > /srv/data/file && chown -R builder:builder /srv/data && id -u builder > /builder-uid',
  'CMD ["hello"]',
  '',
].join('\n');

describe('Debian bookworm, rootless, with apt-get and a cache mount', () => {
  it('installs a package, adds a user, reuses the apt cache on the second build, and runs under runc', async () => {
    const base = await debianLayout();
    const user = await ensureTestUser();
    const store = await makeTempDir('tsbuild-debian-store', { owner: user });
    const opts = { user, store, base };

    const first = await buildOnBusybox(DOCKERFILE, { ...opts, args: ['--build-arg', 'BUILD_NO=1'] });
    expect(first.result.code, first.result.stderr).toBe(0);
    expect((await readIn(first.rootfs, 'cached-before-1')).trim()).toBe('0');
    expect((await readIn(first.rootfs, 'partial-owner')).trim()).toBe('_apt');
    // The cache mount never lands in a layer.
    await expect(readIn(first.rootfs, 'var/cache/apt/archives/partial')).rejects.toThrow();

    const second = await buildOnBusybox(DOCKERFILE, { ...opts, args: ['--build-arg', 'BUILD_NO=2'] });
    expect(second.result.code, second.result.stderr).toBe(0);
    // The .deb the first build downloaded was in the cache mount before apt-get ran again.
    expect((await readIn(second.rootfs, 'cached-before-2')).trim()).toBe('1');

    const uid = Number((await readIn(second.rootfs, 'builder-uid')).trim());
    expect(uid).toBe(1000);
    const ran = await runOciImage(second.layout, '1', { args: ['sh', '-c', 'hello && stat -c "%u:%g %U" /srv/data/file /home/builder'] });
    expect(ran.code, ran.stderr).toBe(0);
    expect(ran.stdout).toContain('Hello, world!');
    expect(ran.stdout).toContain('1000:1000 builder');
  }, 600_000);
});

import { createHash } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, readdir, rename, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execChecked } from './exec.js';
import { removeTree } from './tmp.js';

export interface DebianLayout {
  /** OCI image layout directory, shared between tests and runs: treat it as read-only. */
  dir: string;
  tag: 'bookworm';
  /** The archive debootstrap used (the one the machine's apt uses). */
  mirror: string;
}

/**
 * The Debian archive this machine's apt uses, read from /etc/apt/sources.list(.d): the test must
 * not reach any other host, and on a CI machine that is the one mirror known to be reachable.
 */
export async function aptMirror(): Promise<string> {
  const files = ['/etc/apt/sources.list'];
  const dir = '/etc/apt/sources.list.d';
  for (const name of await readdir(dir).catch(() => [] as string[])) files.push(join(dir, name));
  for (const file of files) {
    const text = await readFile(file, 'utf8').catch(() => '');
    // deb822 (`URIs: http://…`) or one-line (`deb http://… bookworm main`); security archives skipped.
    for (const m of text.matchAll(/^(?:URIs:\s*|deb\s+(?:\[[^\]]*\]\s+)?)(\S+)/gm)) {
      const uri = m[1] ?? '';
      if (/^https?:\/\//.test(uri) && !uri.includes('security')) return uri.replace(/\/$/, '');
    }
  }
  return 'http://deb.debian.org/debian';
}

/**
 * A Debian bookworm minbase image as an OCI layout, made with debootstrap from the machine's apt
 * mirror and cached on disk under os.tmpdir()/tsbuild-test-fixtures (debootstrap takes minutes;
 * the cache makes every later run instant). Built in a staging dir and renamed, like busyboxLayout,
 * so a concurrent reader never sees half a layout.
 */
export async function debianLayout(signal?: AbortSignal): Promise<DebianLayout> {
  const mirror = await aptMirror();
  const key = createHash('sha256').update(`bookworm minbase ${mirror} v1`).digest('hex').slice(0, 16);
  const cacheRoot = join(tmpdir(), 'tsbuild-test-fixtures');
  await mkdir(cacheRoot, { recursive: true, mode: 0o755 });
  const dir = join(cacheRoot, `debian-bookworm-${key}`);
  if (await stat(join(dir, 'index.json')).catch(() => undefined)) return { dir, tag: 'bookworm', mirror };

  const staging = await mkdtemp(join(cacheRoot, '.staging-debian-'));
  const opts = signal ? { signal } : {};
  try {
    const rootfs = join(staging, 'rootfs');
    await execChecked('debootstrap', ['--variant=minbase', 'bookworm', rootfs, mirror], opts);
    // Like the official image: no downloaded lists or debs in the base.
    await execChecked('sh', ['-c', `rm -rf "${rootfs}"/var/lib/apt/lists/* "${rootfs}"/var/cache/apt/archives/*.deb`], opts);
    const layout = join(staging, 'layout');
    const layerTar = join(staging, 'layer.tar');
    await execChecked('tar', ['--numeric-owner', '--xattrs', '-C', rootfs, '-cf', layerTar, '.'], opts);
    await execChecked('umoci', ['init', '--layout', layout], opts);
    await execChecked('umoci', ['new', '--image', `${layout}:bookworm`], opts);
    await execChecked('umoci', ['raw', 'add-layer', '--image', `${layout}:bookworm`, layerTar], opts);
    await execChecked('umoci', ['config', '--image', `${layout}:bookworm`, '--config.env', 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', '--config.cmd', 'bash'], opts);
    await execChecked('umoci', ['gc', '--layout', layout], opts);
    await writeFile(join(layout, 'mirror'), `${mirror}\n`);
    // The unprivileged test user reads this layout (FROM oci-layout://… run rootless).
    await execChecked('chmod', ['-R', 'a+rX', layout], opts);
    await chmod(layout, 0o755);
    try {
      await rename(layout, dir);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
    }
    return { dir, tag: 'bookworm', mirror };
  } finally {
    await removeTree(staging);
  }
}

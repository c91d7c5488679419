// The builders under test, each as the same five operations on a store of its own: build (cold,
// no-change, one file changed are all `build` on a store in a given state), export to an OCI
// layout, push to a registry, and wipe. Plus the measuring itself and the physical floor.
import { spawn, spawnSync } from 'node:child_process';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';

/** Runs argv under /usr/bin/time; wall time from our clock, peak RSS (largest process) from time's %M, and the end of its stdout. */
export async function measure(argv, { cwd, env, timeFile, user, signal } = {}) {
  signal?.throwIfAborted();
  const full = ['/usr/bin/time', '-f', '%M', '-o', timeFile, ...(user ? ['runuser', '-u', user, '--'] : []), ...argv];
  const started = process.hrtime.bigint();
  const { code, stderr, stdout } = await new Promise((resolve, reject) => {
    // Its own process group: an abort sends SIGINT to the tool itself (GNU time ignores SIGINT),
    // the tool cleans up after it, then main's finally wipes the stores.
    const child = spawn(full[0], full.slice(1), { cwd, env: env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const onAbort = () => { try { process.kill(-child.pid, 'SIGINT'); } catch { /* already gone */ } };
    signal?.addEventListener('abort', onAbort, { once: true });
    child.on('close', () => signal?.removeEventListener('abort', onAbort));
    let err = '';
    let out = '';
    child.stderr.on('data', (d) => { err = (err + d).slice(-4000); });
    child.stdout.on('data', (d) => { out = (out + d).slice(-4000); });
    child.on('error', reject);
    child.on('close', (c) => resolve({ code: c, stderr: err, stdout: out }));
  });
  signal?.throwIfAborted();
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const rssKiB = Number((await readFile(timeFile, 'utf8').catch(() => '')).trim().split('\n').pop());
  if (code !== 0) throw new Error(`${argv.join(' ')} exited ${code}:\n${stderr.trim()}`);
  return { seconds, rssMiB: Number.isFinite(rssKiB) ? rssKiB / 1024 : NaN, stdout };
}

export function tsbuildTool(repo, work, registry) {
  const store = join(work, 'tsbuild-store');
  // The command a user runs: the launcher, which enters the namespace before Node starts.
  const cli = [join(repo, 'bin/tsbuild')];
  return {
    name: 'tsbuild',
    store,
    async wipe() { await rm(store, { recursive: true, force: true }); },
    build: (c, base) => [...cli, 'build', '--root', store, '--progress', 'quiet', '--build-context', `base=oci-layout://${base.layout}:${base.tag}`, '-t', 'bench:1', '-f', c.dockerfile, c.ctx],
    exportOci: (dest) => [...cli, 'push', '--root', store, '-q', 'bench:1', `oci:${dest}:bench`],
    push: (repoName) => [...cli, 'push', '--root', store, '-q', '--insecure-registry', registry.host, 'bench:1', `docker://${registry.host}/${repoName}:1`],
  };
}

/** buildah as root with a private --root/--runroot, so nothing of the machine's storage is used. */
export function buildahTool(work, driver, registry) {
  const root = join(work, 'buildah-root');
  const runroot = join(work, 'buildah-runroot');
  const bh = ['buildah', '--root', root, '--runroot', runroot, '--storage-driver', driver];
  return {
    name: 'buildah',
    driver,
    async wipe() {
      spawnSync(bh[0], [...bh.slice(1), 'rm', '-a'], { stdio: 'ignore' });
      spawnSync(bh[0], [...bh.slice(1), 'rmi', '-a', '-f'], { stdio: 'ignore' });
      // the overlay driver leaves its home bind-mounted; a plain rm would fail with EBUSY
      spawnSync('umount', ['-R', join(root, 'overlay')], { stdio: 'ignore' });
      spawnSync('umount', ['-R', join(runroot)], { stdio: 'ignore' });
      await rm(root, { recursive: true, force: true });
      await rm(runroot, { recursive: true, force: true });
    },
    // --network host: no CNI/netavark set-up on the bench machine; --jobs 2: its parallel stages.
    build: (c) => [...bh, 'bud', '--layers', '--quiet', '--network', 'host', '--jobs', '2', '-f', c.buildahDockerfile, '-t', 'bench:1', c.ctx],
    exportOci: (dest) => [...bh, 'push', '--quiet', 'bench:1', `oci:${dest}:bench`],
    push: (repoName) => [...bh, 'push', '--quiet', '--tls-verify=false', 'bench:1', `docker://${registry.host}/${repoName}:1`],
  };
}

/** overlay if this kernel/filesystem takes it (needs a real fs under --root), else vfs. */
export async function probeBuildahDriver(work) {
  for (const driver of ['overlay', 'vfs']) {
    const root = join(work, `probe-${driver}`);
    await mkdir(root, { recursive: true });
    const r = spawnSync('buildah', ['--root', join(root, 'r'), '--runroot', join(root, 'rr'), '--storage-driver', driver, 'from', 'scratch'], { encoding: 'utf8' });
    spawnSync('buildah', ['--root', join(root, 'r'), '--runroot', join(root, 'rr'), '--storage-driver', driver, 'rm', '-a'], { stdio: 'ignore' });
    spawnSync('umount', ['-R', join(root, 'r', 'overlay')], { stdio: 'ignore' });
    await rm(root, { recursive: true, force: true });
    if (r.status === 0) return driver;
    console.error(`buildah --storage-driver ${driver} does not work here: ${(r.stderr ?? '').trim().split('\n').pop()}`);
  }
  throw new Error('buildah works with neither the overlay nor the vfs storage driver');
}

/** What the machine can do on the same bytes: archive+hash, +gzip -1, +pigz, and a plain copy. */
export function floorCommands(ctx, scratch) {
  const tar = `tar -C '${ctx}' -cf - .`;
  return [
    { name: 'tar | sha256sum', argv: ['bash', '-c', `set -o pipefail; ${tar} | sha256sum >/dev/null`] },
    { name: 'tar | gzip -1 | sha256sum', argv: ['bash', '-c', `set -o pipefail; ${tar} | gzip -1 | sha256sum >/dev/null`] },
    { name: 'tar | pigz -1 | sha256sum', argv: ['bash', '-c', `set -o pipefail; ${tar} | pigz -1 | sha256sum >/dev/null`] },
    { name: 'cp -a', argv: ['cp', '-a', ctx, scratch], scratch },
  ];
}

export function median(xs) {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

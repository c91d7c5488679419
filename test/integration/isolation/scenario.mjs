// Driven by enter.test.ts, run by plain node (possibly as another user):
//   node scenario.mjs outer BUNDLE HELPER LOWER WORK [single]
// re-executes itself through reexecInNamespace as `inner`, which runs RUN steps and overlay
// mounts inside the namespace and prints one JSON line of observations.
import { cp, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const [mode, bundle, helper, template, work, variant = ''] = process.argv.slice(2);
const iso = await import(bundle);

if (mode === 'outer') {
  let probe = await iso.probeIsolation();
  if (variant === 'single') probe = { ...probe, subuidRanges: [], subgidRanges: [] };
  const self = fileURLToPath(import.meta.url);
  const code = await iso.reexecInNamespace(
    [process.execPath, self, 'inner', bundle, helper, template, work, variant],
    process.env,
    { helperPath: helper, probe },
  );
  process.exit(code);
}

const probe = await iso.probeIsolation();
// A copy made inside the namespace is owned by container root, as an extracted layer would be
// (the template's host-root files are unmapped, hence read-only, in a user namespace).
const lower = join(work, 'lower');
await cp(template, lower, { recursive: true, verbatimSymlinks: true });
const runtime = new iso.NamespaceRuntime({ helperPath: helper });
let n = 0;

async function step(argv, over = {}) {
  const dir = join(work, `step-${n++}`);
  const [upper, workdir, mnt] = [join(dir, 'upper'), join(dir, 'work'), join(dir, 'mnt')];
  for (const d of [upper, workdir, mnt]) await mkdir(d, { recursive: true });
  const out = [];
  const err = [];
  try {
    const r = await runtime.run(
      {
        rootfs: { lowerdirs: [lower], upperdir: upper, workdir, userxattr: probe.overlayUserxattr, helperPath: helper },
        mountpoint: mnt,
        argv,
        env: ['PATH=/bin'],
        cwd: '/',
        user: '',
        hostname: 'scenario',
        network: 'host',
        ...over,
      },
      { onStdout: (c) => out.push(c), onStderr: (c) => err.push(c) },
      new AbortController().signal,
    );
    return { exitCode: r.exitCode, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString(), upper };
  } catch (e) {
    return { error: { code: e.code, message: e.message }, upper };
  }
}

const results = {
  inNamespace: iso.inNamespace(),
  uid: process.getuid(),
  uidMap: (await readFile('/proc/self/uid_map', 'utf8')).trim().split('\n').map((l) => l.trim().split(/\s+/).join(' ')),
  overlayUserxattr: probe.overlayUserxattr,
};

results.exit = (await step(['sh', '-c', 'exit 7'])).exitCode;
const chown = await step(['sh', '-c', 'touch /data/owned && chown 1000:1000 /data/owned && stat -c %u:%g /data/owned']);
results.chown = { exitCode: chown.exitCode, stdout: chown.stdout };
const owned = await stat(join(chown.upper, 'data', 'owned')).catch(() => undefined);
results.upperOwner = owned ? `${owned.uid}:${owned.gid}` : null;
const asUser = await step(['id', '-u'], { user: '1000:1000' });
results.idAsUser = asUser.error ?? asUser.stdout;

// COPY-style writes through a merged overlay view, then read-only views.
const m = join(work, 'mounts');
for (const d of ['upper', 'work', 'merged', 'view', 'stack']) await mkdir(join(m, d), { recursive: true });
await iso.mountOverlay({ lowerdirs: [lower], upperdir: join(m, 'upper'), workdir: join(m, 'work'), userxattr: probe.overlayUserxattr, helperPath: helper }, join(m, 'merged'));
await writeFile(join(m, 'merged', 'data', 'copied'), 'copied\n');
results.mergedSeesLower = (await readdir(join(m, 'merged', 'bin'))).includes('busybox');
await iso.unmount(join(m, 'merged'), { helperPath: helper });
results.mergedAfterUnmount = await readdir(join(m, 'merged'));
results.copiedInUpper = await readFile(join(m, 'upper', 'data', 'copied'), 'utf8');

await iso.mountOverlay({ lowerdirs: [lower], userxattr: probe.overlayUserxattr, readonly: true, helperPath: helper }, join(m, 'view'));
results.viewWrite = await writeFile(join(m, 'view', 'x'), 'x').then(() => 'ok', (e) => e.code);
await iso.unmount(join(m, 'view'), { helperPath: helper });
await iso.mountOverlay({ lowerdirs: [join(m, 'upper'), lower], userxattr: probe.overlayUserxattr, readonly: true, helperPath: helper }, join(m, 'stack'));
results.stackSees = [
  await readFile(join(m, 'stack', 'data', 'copied'), 'utf8').catch((e) => e.code),
  (await readdir(join(m, 'stack', 'bin'))).includes('sh'),
];
await iso.unmount(join(m, 'stack'), { helperPath: helper });
results.badMount = await iso
  .mountOverlay({ lowerdirs: [join(m, 'nope'), lower], userxattr: probe.overlayUserxattr, helperPath: helper }, join(m, 'view'))
  .then(() => 'mounted', (e) => ({ code: e.code, message: e.message }));

console.log(JSON.stringify(results));

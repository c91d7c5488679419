import { execFile } from 'node:child_process';
import { chmod, copyFile, mkdir, symlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const repoRoot = resolve(import.meta.dirname, '..', '..', '..');

/** Compiles native/tsbuild-helper.c as native/build.mjs does, into `dir` (tests the current source). */
export async function compileHelper(dir: string): Promise<string> {
  const out = join(dir, 'tsbuild-helper');
  await run(process.env['CC'] || 'cc', [
    '-O2', '-Wall', '-Wextra', '-Werror=implicit-function-declaration', '-D_GNU_SOURCE',
    join(repoRoot, 'native', 'tsbuild-helper.c'), '-o', out,
  ]);
  return out;
}

const APPLETS = [
  'sh', 'echo', 'id', 'ls', 'ps', 'cat', 'hostname', 'sleep', 'env', 'pwd', 'touch', 'rm',
  'chown', 'stat', 'mkdir', 'kill', 'grep', 'true', 'wc', 'sort', 'ln',
];

/** A tiny image rootfs: static busybox, a passwd with root and app (uid 1000), no resolv.conf. */
export async function makeBusyboxRootfs(root: string): Promise<void> {
  for (const d of ['bin', 'etc', 'proc', 'dev', 'sys', 'tmp', 'data']) await mkdir(join(root, d), { recursive: true });
  await copyFile('/bin/busybox', join(root, 'bin', 'busybox'));
  await chmod(join(root, 'bin', 'busybox'), 0o755);
  for (const a of APPLETS) await symlink('busybox', join(root, 'bin', a));
  await writeFile(join(root, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n');
  await writeFile(join(root, 'etc', 'group'), 'root:x:0:\napp:x:1000:\nextra:x:2000:app\n');
  await writeFile(join(root, 'etc', 'hosts'), '127.0.0.1 image-hosts\n');
  await writeFile(join(root, 'data', 'victim'), 'delete me\n');
  await writeFile(join(root, 'notexec'), 'not a program\n', { mode: 0o644 });
  await chmod(root, 0o755);
}

/** Bundles src/isolation into one ESM file that plain `node` (and another user) can import. */
export async function bundleIsolation(dir: string): Promise<string> {
  // Two levels under `dir`, as dist/ modules sit under the package root, with the addon beside
  // it at dir/native/build/fsx.node: mounts are made by fsx.node (src/util/fsx.ts finds it so).
  const outFile = join(dir, 'lib', 'isolation', 'isolation.mjs');
  await mkdir(join(dir, 'native', 'build'), { recursive: true });
  await copyFile(join(repoRoot, 'native', 'build', 'fsx.node'), join(dir, 'native', 'build', 'fsx.node'));
  await chmod(join(dir, 'native', 'build', 'fsx.node'), 0o755);
  const { build } = await import('esbuild');
  await build({
    stdin: {
      contents: [
        "export * from './src/isolation/enterNamespace.ts';",
        "export * from './src/isolation/runtime.ts';",
        "export * from './src/isolation/probe.ts';",
      ].join('\n'),
      resolveDir: repoRoot,
      loader: 'ts',
    },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outfile: outFile,
    logLevel: 'silent',
  });
  await chmod(outFile, 0o644);
  await run('chmod', ['-R', 'a+rX', join(dir, 'lib'), join(dir, 'native')]);
  return outFile;
}

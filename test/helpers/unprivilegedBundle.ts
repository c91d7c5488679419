import { execFile } from 'node:child_process';
import { chmod, copyFile, mkdir, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { build } from 'esbuild';

const repo = join(import.meta.dirname, '../..');

/**
 * A fresh directory (under the system temp dir, prefix `prefix`) holding `modules` (paths under
 * src/ without .ts, e.g. 'layer/extractLayer') bundled to out/<module>.js, with the native addon
 * where the bundle loads it (../../native/build, as from dist/), so a script run as another user
 * can import them without reading the repository.
 */
export async function bundleForUnprivileged(prefix: string, modules: string[]): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), prefix));
  await build({
    entryPoints: Object.fromEntries(modules.map((m) => [m, join(repo, 'src', `${m}.ts`)])),
    bundle: true,
    platform: 'node',
    format: 'esm',
    outdir: join(root, 'out'),
    logLevel: 'silent',
  });
  await mkdir(join(root, 'native/build'), { recursive: true });
  await copyFile(join(repo, 'native/build/fsx.node'), join(root, 'native/build/fsx.node'));
  return root;
}

/** Lets any user read everything under `root` and write in `root` itself. */
export async function openToAll(root: string): Promise<void> {
  await promisify(execFile)('chmod', ['-R', 'a+rX', root]);
  await chmod(root, 0o777);
}

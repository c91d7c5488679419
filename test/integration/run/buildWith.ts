/** Builds a Dockerfile on the busybox fixture (as an oci-layout build context) and unpacks the result. */
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { busyboxLayout } from '../../helpers/registry.js';
import { unpackOciImage } from '../../helpers/runImage.js';
import { makeTempDir } from '../../helpers/tmp.js';
import { runTsbuild } from '../../helpers/tsbuild.js';
import type { ExecResult } from '../../helpers/exec.js';
import type { TestUser } from '../../helpers/users.js';

export interface Built {
  result: ExecResult;
  /** The unpacked rootfs (undefined when the build failed). */
  rootfs?: string;
  layout: string;
  store: string;
}

export interface BuildOptions {
  files?: Record<string, string>;
  args?: string[];
  store?: string;
  env?: Record<string, string>;
  /** Build rootless as this user (the store and output then live in a dir the user owns). */
  user?: TestUser;
  /** Called with the context dir before the build (to add binary files). */
  prepare?: (ctx: string) => Promise<void>;
  /** The base layout (default: the busybox fixture). */
  base?: { dir: string; tag: string };
}

export async function buildOnBusybox(dockerfile: string, opts: BuildOptions = {}): Promise<Built> {
  const base = opts.base ?? (await busyboxLayout());
  const owner = opts.user ? { owner: opts.user } : {};
  const ctx = await makeTempDir('tsbuild-run-ctx', owner);
  await writeFile(join(ctx, 'Dockerfile'), dockerfile);
  for (const [name, content] of Object.entries(opts.files ?? {})) await writeFile(join(ctx, name), content);
  await opts.prepare?.(ctx);
  const store = opts.store ?? (await makeTempDir('tsbuild-run-store', owner));
  const layout = join(await makeTempDir('tsbuild-run-out', owner), 'oci');
  const result = await runTsbuild(
    ['build', '--root', store, '--progress', 'plain', '--build-context', `base=oci-layout://${base.dir}:${base.tag}`, '-t', 'run-test:1', '-o', `type=oci,dest=${layout},tar=false`, ...(opts.args ?? []), ctx],
    { ...(opts.env ? { env: opts.env } : {}), ...(opts.user ? { user: opts.user, cwd: ctx } : {}) },
  );
  if (result.code !== 0) return { result, layout, store };
  return { result, rootfs: await unpackOciImage(layout, '1'), layout, store };
}

export async function readIn(rootfs: string | undefined, path: string): Promise<string> {
  if (rootfs === undefined) throw new Error('the build failed');
  return readFile(join(rootfs, path), 'utf8');
}

/** Every file under `dir` (recursively) whose bytes, or gunzipped bytes, contain `needle`. */
export async function filesContaining(dir: string, needle: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const entry of await readdir(d, { withFileTypes: true }).catch(() => [])) {
      const p = join(d, entry.name);
      if (entry.isDirectory()) await walk(p);
      else if (entry.isFile()) {
        let bytes = await readFile(p).catch(() => Buffer.alloc(0));
        // Layer blobs are gzip: look inside them too.
        if (bytes[0] === 0x1f && bytes[1] === 0x8b) bytes = Buffer.concat([bytes, gunzipSync(bytes)]);
        if (bytes.includes(needle)) found.push(p);
      }
    }
  };
  await walk(dir);
  return found;
}

/** Paths in the image's last layer (tar -tz of the blob the manifest lists last). */
export async function lastLayerEntries(layout: string): Promise<string[]> {
  const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
  const blob = (d: string): string => join(layout, 'blobs', ...d.split(':'));
  const manifest = JSON.parse(await readFile(blob(index.manifests[0]?.digest ?? ''), 'utf8')) as { layers: Array<{ digest: string }> };
  const last = manifest.layers[manifest.layers.length - 1];
  const { execChecked } = await import('../../helpers/exec.js');
  const { stdout } = await execChecked('tar', ['-tzf', blob(last?.digest ?? '')]);
  return stdout.split('\n').filter(Boolean).map((e) => e.replace(/^\.\//, ''));
}

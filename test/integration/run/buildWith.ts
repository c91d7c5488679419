/** Builds a Dockerfile on the busybox fixture (as an oci-layout build context) and unpacks the result. */
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { busyboxLayout } from '../../helpers/registry.js';
import { unpackOciImage } from '../../helpers/runImage.js';
import { makeTempDir } from '../../helpers/tmp.js';
import { runTsbuild } from '../../helpers/tsbuild.js';
import type { ExecResult } from '../../helpers/exec.js';

export interface Built {
  result: ExecResult;
  /** The unpacked rootfs (undefined when the build failed). */
  rootfs?: string;
  layout: string;
  store: string;
}

export async function buildOnBusybox(dockerfile: string, opts: { files?: Record<string, string>; args?: string[]; store?: string; env?: Record<string, string> } = {}): Promise<Built> {
  const base = await busyboxLayout();
  const ctx = await makeTempDir('tsbuild-run-ctx');
  await writeFile(join(ctx, 'Dockerfile'), dockerfile);
  for (const [name, content] of Object.entries(opts.files ?? {})) await writeFile(join(ctx, name), content);
  const store = opts.store ?? (await makeTempDir('tsbuild-run-store'));
  const layout = join(await makeTempDir('tsbuild-run-out'), 'oci');
  const result = await runTsbuild(
    ['build', '--root', store, '--progress', 'plain', '--build-context', `base=oci-layout://${base.dir}:latest`, '-t', 'run-test:1', '-o', `type=oci,dest=${layout},tar=false`, ...(opts.args ?? []), ctx],
    opts.env ? { env: opts.env } : {},
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

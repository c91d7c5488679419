import { createWriteStream } from 'node:fs';
import { chmod, lchown, link, lstat, mkdir, readdir, rm, symlink, utimes } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { TsbuildError } from '../errors.js';
import type { Descriptor } from '../image/types.js';
import { readTar, type TarEntry } from '../layer/tarReader.js';
import { decompressLayer } from './layerDecompress.js';

export interface FlattenResult {
  /** Device nodes are not created (they need privileges a build output should not ask for). */
  skippedDevices: string[];
}

const WH_PREFIX = '.wh.';
const WH_OPAQUE = '.wh..wh..opq';

/** `./a/b/` → `a/b`; undefined for the root itself. Refuses `..`, which would leave `dest`. */
function cleanPath(raw: string): string | undefined {
  const p = posix.normalize(`/${raw}`).slice(1).replace(/\/$/, '');
  if (p === '') return undefined;
  if (p.split('/').includes('..')) throw new TsbuildError('LAYER_INVALID', `flattening layers: entry ${JSON.stringify(raw)} leaves the root`);
  return p;
}

/**
 * The image's final filesystem written to `dest` (an empty directory): layers applied in order,
 * whiteouts (`.wh.NAME`) deleting what lower layers made and opaque markers (`.wh..wh..opq`)
 * emptying a directory, so the result is what a container would see. Every parent of an entry
 * must be a real directory inside `dest` (an image's symlink can never redirect a write).
 */
export async function flattenLayers(
  layers: readonly Descriptor[],
  open: (desc: Descriptor) => NodeJS.ReadableStream,
  dest: string,
  signal?: AbortSignal,
): Promise<FlattenResult> {
  const skippedDevices: string[] = [];
  const canChown = process.getuid?.() === 0;
  for (const layer of layers) {
    const tar = decompressLayer(open(layer), layer.mediaType, signal);
    // Paths this layer wrote: its own opaque marker must not delete them.
    const written = new Set<string>();
    const dirTimes: Array<[string, number]> = [];
    for await (const entry of readTar(tar as Readable & AsyncIterable<Buffer>)) {
      signal?.throwIfAborted();
      const path = cleanPath(entry.path);
      if (path === undefined) {
        await drain(entry);
        continue;
      }
      const dir = posix.dirname(path);
      const base = posix.basename(path);
      await ensureRealDir(dest, dir === '.' ? '' : dir);
      const target = join(dest, path);
      if (base === WH_OPAQUE) {
        const parent = join(dest, dir === '.' ? '' : dir);
        for (const child of await readdir(parent)) {
          const rel = dir === '.' ? child : `${dir}/${child}`;
          if (!written.has(rel)) await rm(join(parent, child), { recursive: true, force: true });
        }
        await drain(entry);
        continue;
      }
      if (base.startsWith(WH_PREFIX)) {
        await rm(join(dest, dir === '.' ? '' : dir, base.slice(WH_PREFIX.length)), { recursive: true, force: true });
        await drain(entry);
        continue;
      }
      written.add(path);
      const existing = await lstat(target).catch(() => undefined);
      if (existing && !(existing.isDirectory() && entry.type === 'dir')) await rm(target, { recursive: true, force: true });
      switch (entry.type) {
        case 'dir':
          await mkdir(target, { recursive: true });
          dirTimes.push([target, entry.mtime]);
          break;
        case 'file':
          await pipeline(Readable.from(entry.body), createWriteStream(target, { mode: 0o600 }));
          await utimes(target, entry.mtime, entry.mtime);
          break;
        case 'symlink':
          await symlink(entry.linkpath, target);
          break;
        case 'link': {
          const from = cleanPath(entry.linkpath);
          if (from === undefined) throw new TsbuildError('LAYER_INVALID', `flattening layers: hard link ${path} to the root`);
          await ensureRealDir(dest, posix.dirname(from) === '.' ? '' : posix.dirname(from));
          await link(join(dest, from), target);
          break;
        }
        default:
          skippedDevices.push(path);
          await drain(entry);
          continue;
      }
      if (entry.type !== 'symlink' && entry.type !== 'link') await chmod(target, entry.mode & 0o7777);
      if (canChown && entry.type !== 'link') await lchown(target, entry.uid, entry.gid).catch(() => undefined);
      await drain(entry);
    }
    // Directory times last: writing into a directory changes its mtime.
    for (const [dir, mtime] of dirTimes.reverse()) await utimes(dir, mtime, mtime).catch(() => undefined);
  }
  return { skippedDevices };
}

async function drain(entry: TarEntry): Promise<void> {
  for await (const _ of entry.body) {
    // skipped
  }
}

/** Creates `rel` under `root` as real directories, refusing any component that is a symlink or a file. */
async function ensureRealDir(root: string, rel: string): Promise<void> {
  let cur = root;
  for (const part of rel === '' ? [] : rel.split('/')) {
    cur = join(cur, part);
    const st = await lstat(cur).catch(() => undefined);
    if (!st) {
      await mkdir(cur, { mode: 0o755 });
      continue;
    }
    if (st.isSymbolicLink() || !st.isDirectory()) {
      throw new TsbuildError('LAYER_INVALID', `flattening layers: ${rel} goes through ${st.isSymbolicLink() ? 'a symlink' : 'a file'} at ${cur.slice(root.length + 1)}`, {
        hint: 'the image writes through a symlink or under a file; its layers are inconsistent',
      });
    }
  }
}

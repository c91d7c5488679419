/**
 * Resolves a path inside a root directory the way the container would see it: symlinks are
 * followed, but absolute targets and `..` are taken relative to the root, never the host (the
 * same rule as Go's securejoin, used by runc, BuildKit and buildah). Without this, a base image
 * with `/app -> /etc` would let `COPY x /app/` write into the host's /etc.
 */
import { lstat, readlink } from 'node:fs/promises';
import { posix } from 'node:path';
import { TsbuildError } from '../errors.js';

const MAX_SYMLINKS = 255;

export async function resolveInRoot(root: string, path: string, opts: { followFinal?: boolean } = {}): Promise<string> {
  const followFinal = opts.followFinal ?? true;
  let pending = splitPath(path);
  const resolved: string[] = [];
  let hops = 0;
  while (pending.length > 0) {
    const part = pending.shift() as string;
    if (part === '.') continue;
    if (part === '..') {
      resolved.pop();
      continue;
    }
    const candidate = posix.join(root, ...resolved, part);
    const isLast = pending.length === 0;
    let target: string | undefined;
    try {
      const st = await lstat(candidate);
      if (st.isSymbolicLink() && (!isLast || followFinal)) target = await readlink(candidate);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' && (err as NodeJS.ErrnoException).code !== 'ENOTDIR') throw err;
    }
    if (target === undefined) {
      resolved.push(part);
      continue;
    }
    if (++hops > MAX_SYMLINKS) {
      // An image or context can hold a loop (`dev -> /dev`); it is its author's to fix.
      throw new TsbuildError('SYMLINK_LOOP', `${posix.resolve('/', path)}: a symlink loop (more than ${MAX_SYMLINKS} links followed)`, {
        hint: 'a symlink on this path leads back to itself (e.g. dev -> /dev): make it a directory or point it at a real path',
      });
    }
    if (target.startsWith('/')) resolved.length = 0;
    pending = [...splitPath(target), ...pending];
  }
  return posix.join(root, ...resolved);
}

function splitPath(p: string): string[] {
  return p.split('/').filter((s) => s.length > 0);
}

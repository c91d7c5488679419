import { createHash } from 'node:crypto';
import { lstat, readFile, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Every entry under `dir`, sorted, as `path mode uid:gid size mtime rdev what` (what: a file's
 * sha256, a symlink's target): two unpacks of one layer must list the same.
 */
export async function treeListing(dir: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const name of (await readdir(join(dir, rel))).sort()) {
    const r = `${rel}/${name}`;
    const st = await lstat(join(dir, r));
    const what = st.isSymbolicLink()
      ? `-> ${await readlink(join(dir, r))}`
      : st.isFile()
        ? createHash('sha256').update(await readFile(join(dir, r))).digest('hex')
        : '';
    out.push(`${r} ${st.mode.toString(8)} ${st.uid}:${st.gid} ${st.isDirectory() ? '-' : st.size} ${Math.floor(st.mtimeMs / 1000)} ${st.rdev} ${what}`);
    if (st.isDirectory()) out.push(...(await treeListing(dir, r)));
  }
  return out;
}

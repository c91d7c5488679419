import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { lgetxattrs } from '../../../src/util/fsx.js';

/** A comparable description of a tree: what a user would check with ls -la, getfattr, cmp. */
export async function describeTree(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const inodes = new Map<number, string>();
  async function walk(dir: string, rel: string): Promise<void> {
    for (const name of (await readdir(dir)).sort()) {
      const abs = join(dir, name);
      const r = rel ? `${rel}/${name}` : name;
      const st = await lstat(abs);
      const xattrs = (await lgetxattrs(abs)).map(([k, v]) => `${k}=${v.toString()}`).sort().join(',');
      let what = `mode=${st.mode.toString(8)} owner=${st.uid}:${st.gid} mtime=${Math.floor(st.mtimeMs / 1000)} xattrs=[${xattrs}]`;
      if (st.isFile()) {
        const first = inodes.get(st.ino);
        if (first !== undefined && st.nlink > 1) what += ` hardlink-of=${first}`;
        else {
          inodes.set(st.ino, r);
          what += ` size=${st.size} content=${(await readFile(abs)).toString('base64').slice(0, 40)}`;
        }
      } else if (st.isSymbolicLink()) what += ` -> ${await readlink(abs)}`;
      else if (st.isCharacterDevice() || st.isBlockDevice()) what += ` rdev=${st.rdev}`;
      out[r] = what;
      if (st.isDirectory()) await walk(abs, r);
    }
  }
  await walk(root, '');
  return out;
}

/**
 * `--chown=user[:group]` as Docker resolves it: numbers are taken as they are, names are looked
 * up in the destination image's /etc/passwd and /etc/group; a user alone also sets the group to
 * that user's primary group (a number alone sets the same number for the group).
 */
import { readFile } from 'node:fs/promises';
import { TsbuildError } from '../../errors.js';
import { resolveInRoot } from '../../util/scopedPath.js';
import type { Ownership } from './copyFiles.js';

export function parseIdFile(text: string): Array<{ name: string; id: number; gid?: number }> {
  const out: Array<{ name: string; id: number; gid?: number }> = [];
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 3 || !f[0]) continue;
    const id = Number(f[2]);
    if (!Number.isInteger(id)) continue;
    const gid = f.length >= 4 ? Number(f[3]) : NaN;
    out.push({ name: f[0], id, ...(Number.isInteger(gid) ? { gid } : {}) });
  }
  return out;
}

async function readEntries(root: string, file: string): Promise<ReturnType<typeof parseIdFile>> {
  try {
    return parseIdFile(await readFile(await resolveInRoot(root, file), 'utf8'));
  } catch {
    return [];
  }
}

export async function resolveOwner(spec: string, root: string): Promise<Ownership> {
  const [userPart = '', groupPart] = spec.split(':');
  const isNum = (s: string) => /^\d+$/.test(s);
  let uid: number;
  let primaryGid: number | undefined;
  if (isNum(userPart)) uid = Number(userPart);
  else {
    const entry = (await readEntries(root, '/etc/passwd')).find((e) => e.name === userPart);
    if (!entry) {
      throw new TsbuildError('COPY_SOURCE', `unable to convert uid/gid chown string to host mapping: can't find uid for user ${userPart}: no such user: ${userPart}`, {
        hint: 'use a numeric uid, or create the user in an earlier RUN step',
      });
    }
    uid = entry.id;
    primaryGid = entry.gid;
  }
  let gid: number;
  if (groupPart === undefined || groupPart === '') gid = primaryGid ?? uid;
  else if (isNum(groupPart)) gid = Number(groupPart);
  else {
    const entry = (await readEntries(root, '/etc/group')).find((e) => e.name === groupPart);
    if (!entry) {
      throw new TsbuildError('COPY_SOURCE', `unable to convert uid/gid chown string to host mapping: can't find gid for group ${groupPart}: no such group: ${groupPart}`, {
        hint: 'use a numeric gid, or create the group in an earlier RUN step',
      });
    }
    gid = entry.id;
  }
  return { uid, gid };
}

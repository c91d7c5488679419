/**
 * `--chown=user[:group]` as Docker resolves it: numbers are taken as they are, names are looked
 * up in the destination image's /etc/passwd and /etc/group; a user alone also sets the group to
 * that user's primary group (a number alone sets the same number for the group).
 */
import { readFile } from 'node:fs/promises';
import { TsbuildError } from '../../errors.js';
import { resolveInRoot } from '../../util/scopedPath.js';
import { parseIdFile, type IdEntry } from '../../util/parseIdFile.js';
import type { Ownership } from './copyFiles.js';

async function readEntries(root: string, file: string): Promise<IdEntry[]> {
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

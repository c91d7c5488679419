import { constants } from 'node:fs';
import { access, readFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { delimiter, join } from 'node:path';
import { findSubidRanges, parseSubidFile, type SubidRange } from './idmap.js';

export interface IsolationProbe {
  /** The real uid (inside a user namespace, the namespace's view: 0 after `enter`). */
  uid: number;
  gid: number;
  userName: string | undefined;
  /** The caller can create a user namespace (always true for real root). */
  userns: boolean;
  /** Already inside a user namespace (uid_map is not the identity map). */
  inUserNamespace: boolean;
  /** All subordinate ranges of the user, in file order; `subuid`/`subgid` is the first. */
  subuidRanges: SubidRange[];
  subgidRanges: SubidRange[];
  subuid?: SubidRange;
  subgid?: SubidRange;
  newuidmap: boolean;
  /** Overlay mounts need `userxattr`: true exactly when mounting from inside a user namespace. */
  overlayUserxattr: boolean;
}

export interface ProbeOptions {
  subuidPath?: string;
  subgidPath?: string;
  procRoot?: string;
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
}

async function readText(path: string, signal?: AbortSignal): Promise<string | undefined> {
  try {
    return await readFile(path, { encoding: 'utf8', ...(signal ? { signal } : {}) });
  } catch (err) {
    if (signal?.aborted) throw err;
    return undefined;
  }
}

async function onPath(name: string, env: NodeJS.ProcessEnv): Promise<boolean> {
  const dirs = (env['PATH'] ?? '/usr/local/bin:/usr/bin:/bin').split(delimiter).concat(['/usr/bin', '/usr/sbin']);
  for (const dir of dirs) {
    if (dir === '') continue;
    try {
      await access(join(dir, name), constants.X_OK);
      return true;
    } catch {
      // next candidate
    }
  }
  return false;
}

/** The identity map "0 0 4294967295" means the initial user namespace. */
function isIdentityMap(text: string | undefined): boolean {
  if (text === undefined) return true;
  const lines = text.trim().split('\n');
  return lines.length === 1 && /^0\s+0\s+4294967295$/.test((lines[0] ?? '').trim());
}

/**
 * What isolation this process can get. Reads a few small files, no processes; callers keep the
 * result rather than probing twice (there is deliberately no module-level cache).
 */
export async function probeIsolation(opts: ProbeOptions = {}): Promise<IsolationProbe> {
  const env = opts.env ?? process.env;
  const proc = opts.procRoot ?? '/proc';
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  let userName: string | undefined;
  try {
    userName = userInfo().username;
  } catch {
    userName = env['USER'] || undefined;
  }
  const [uidMap, maxUserns, legacyClone, apparmorRestrict, subuidText, subgidText, newuidmap] = await Promise.all([
    readText(join(proc, 'self', 'uid_map'), opts.signal),
    readText(join(proc, 'sys', 'user', 'max_user_namespaces'), opts.signal),
    // Debian/Ubuntu kernels before 6.x gate unprivileged user namespaces with this knob.
    readText(join(proc, 'sys', 'kernel', 'unprivileged_userns_clone'), opts.signal),
    // Ubuntu ≥ 23.10 lets only AppArmor-profiled programs create them.
    readText(join(proc, 'sys', 'kernel', 'apparmor_restrict_unprivileged_userns'), opts.signal),
    readText(opts.subuidPath ?? '/etc/subuid', opts.signal),
    readText(opts.subgidPath ?? '/etc/subgid', opts.signal),
    onPath('newuidmap', env),
  ]);
  const inUserNamespace = !isIdentityMap(uidMap);
  const usernsAllowed =
    (maxUserns === undefined || Number(maxUserns.trim()) > 0) &&
    (legacyClone === undefined || legacyClone.trim() !== '0') &&
    (apparmorRestrict === undefined || apparmorRestrict.trim() !== '1');
  const user = { uid, ...(userName !== undefined ? { name: userName } : {}) };
  const subuidRanges = subuidText === undefined ? [] : findSubidRanges(parseSubidFile(subuidText), user);
  const subgidRanges = subgidText === undefined ? [] : findSubidRanges(parseSubidFile(subgidText), user);
  const probe: IsolationProbe = {
    uid,
    gid,
    userName,
    userns: uid === 0 || usernsAllowed,
    inUserNamespace,
    subuidRanges,
    subgidRanges,
    newuidmap,
    overlayUserxattr: inUserNamespace,
  };
  if (subuidRanges[0]) probe.subuid = subuidRanges[0];
  if (subgidRanges[0]) probe.subgid = subgidRanges[0];
  return probe;
}

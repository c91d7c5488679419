import { readFile, stat, chmod } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { execChecked, execCommand, type ExecResult } from './exec.js';

export interface TestUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

/** Subordinate ids for the test user: 65536 ids, as useradd would hand out, at a fixed start. */
const SUBID_RANGE = '200000-265535';
const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

async function lookupUser(name: string): Promise<TestUser | undefined> {
  const { code, stdout } = await execCommand('getent', ['passwd', name]);
  if (code !== 0) return undefined;
  const [, , uid, gid, , home] = stdout.trim().split(':');
  if (uid === undefined || gid === undefined || home === undefined) {
    throw new Error(`reading passwd entry: unexpected line ${JSON.stringify(stdout)}`);
  }
  return { name, uid: Number(uid), gid: Number(gid), home };
}

export interface SubordinateRange {
  start: number;
  count: number;
}

/**
 * The user's first range in /etc/subuid or /etc/subgid, as newuidmap will use it; container
 * id N > 0 appears on the host as start + N - 1 (container root is the user itself).
 */
export async function subordinateRange(
  user: TestUser,
  file: '/etc/subuid' | '/etc/subgid' = '/etc/subuid',
): Promise<SubordinateRange | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  for (const line of text.split('\n')) {
    const [owner, start, count] = line.trim().split(':');
    // newuidmap accepts an entry under the login name or the numeric uid.
    if ((owner === user.name || owner === String(user.uid)) && start && count) {
      return { start: Number(start), count: Number(count) };
    }
  }
  return undefined;
}

/**
 * The unprivileged user that rootless tests run tsbuild as: created on first use (we are root
 * in CI), with /etc/subuid and /etc/subgid ranges so newuidmap can give it a full id map. A
 * user that already has ranges keeps them; read them with subordinateRange().
 */
export async function ensureTestUser(name = 'tsbuild-test'): Promise<TestUser> {
  let user = await lookupUser(name);
  if (!user) {
    // SUB_*_COUNT=0 stops useradd from picking its own range (100000+ on Debian), so the
    // user always gets SUBID_RANGE below and host-side owners are the same on every machine.
    const created = await execCommand('useradd', [
      '-m',
      '-s',
      '/bin/bash',
      '-K',
      'SUB_UID_COUNT=0',
      '-K',
      'SUB_GID_COUNT=0',
      name,
    ]);
    // Another test process may have created it between the lookup and useradd.
    user = await lookupUser(name);
    if (!user) throw new Error(`creating user ${name}: ${created.stderr.trim()}`);
  }
  const args: string[] = [];
  if (!(await subordinateRange(user, '/etc/subuid'))) args.push('--add-subuids', SUBID_RANGE);
  if (!(await subordinateRange(user, '/etc/subgid'))) args.push('--add-subgids', SUBID_RANGE);
  if (args.length > 0) await execChecked('usermod', [...args, name]);
  return user;
}

export interface RunAsOptions {
  /** Defaults to the user's home directory. */
  cwd?: string;
  /** Added to a clean login-like environment (HOME, USER, LOGNAME, SHELL, PATH). */
  env?: Record<string, string>;
  input?: string;
  signal?: AbortSignal;
  /**
   * A command setpriv itself runs under, as root (e.g. `strace -f -o FILE`: a root tracer keeps
   * setuid newuidmap working, which a tracer running as the user would not).
   */
  via?: readonly string[];
}

/**
 * Runs a command as `user` with a clean environment, so nothing of root's environment (HOME,
 * XDG_*, TSBUILD_*) leaks into a rootless run. setpriv instead of runuser/su: no PAM session,
 * which a container often cannot open, and no login shell re-parsing the arguments.
 */
export function runAs(user: TestUser, cmd: string, args: readonly string[], opts: RunAsOptions = {}): Promise<ExecResult> {
  // The node running the tests may live outside the system PATH (nvm, a CI tool cache).
  const nodeDir = dirname(process.execPath);
  const path = SYSTEM_PATH.split(':').includes(nodeDir) ? SYSTEM_PATH : `${nodeDir}:${SYSTEM_PATH}`;
  const env: Record<string, string> = {
    HOME: user.home,
    USER: user.name,
    LOGNAME: user.name,
    SHELL: '/bin/bash',
    PATH: path,
    LANG: 'C.UTF-8',
    ...opts.env,
  };
  const envArgs = Object.entries(env).map(([k, v]) => `${k}=${v}`);
  const setpriv = ['setpriv', `--reuid=${user.uid}`, `--regid=${user.gid}`, '--init-groups', '--', 'env', '-i', ...envArgs, cmd, ...args];
  const [first, ...rest] = [...(opts.via ?? []), ...setpriv] as [string, ...string[]];
  return execCommand(
    first,
    rest,
    {
      cwd: opts.cwd ?? user.home,
      ...(opts.input === undefined ? {} : { input: opts.input }),
      ...(opts.signal ? { signal: opts.signal } : {}),
    },
  );
}

/**
 * Gives "others" search (x) permission on every directory from / down to `path` (and `path`
 * itself when it is a directory), so the test user can reach the repository and node. CI
 * runners often clone under a root-only directory such as /root (mode 0700); without this the
 * unprivileged user gets EACCES on bin/run.js before tsbuild even starts. Only x is added: the
 * user can traverse these directories, not list them.
 */
export async function makeReadableBy(path: string): Promise<void> {
  const target = resolve(path);
  const dirs: string[] = [];
  for (let dir = target; ; dir = dirname(dir)) {
    dirs.push(dir);
    if (dir === dirname(dir)) break;
  }
  for (const dir of dirs.reverse()) {
    const st = await stat(dir);
    if (!st.isDirectory()) continue;
    if ((st.mode & 0o001) === 0) await chmod(dir, (st.mode & 0o7777) | 0o001);
  }
}

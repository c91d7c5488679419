/**
 * `tsbuild-helper chown-trap ROOT -- proot -0 -r ROOT ...`: chowns made under proot land in the
 * xattr user.rootlesscontainers of the file inside ROOT (umoci's format) instead of being faked
 * and lost, as root, as an unprivileged user, and inside an unprivileged container (Docker's
 * default seccomp profile and capabilities) as uid 1000, where proot is the only way to run a RUN.
 */
import { randomUUID } from 'node:crypto';
import { chmod, chown, copyFile, lstat, mkdir, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lgetxattrs } from '../../../src/util/fsx.js';
import { execChecked, execCommand, type ExecResult } from '../../helpers/exec.js';
import { makeTempDir } from '../../helpers/tmp.js';
import { ensureTestUser, runAs, type TestUser } from '../../helpers/users.js';
import { runInUnprivilegedContainer } from '../isolation-modes/unprivilegedContainer.js';
import { compileHelper } from './fixtures.js';

const isRoot = process.getuid?.() === 0;
const XATTR = 'user.rootlesscontainers';
/** A host file under proot's -b /dev: the trap must leave it alone (and the chown succeed). */
const shmFile = `/dev/shm/tsbuild-chowntrap-${randomUUID().slice(0, 8)}`;

/** What the RUN does; each step prints NAME=EXIT so a failing step is named in the diff. */
function script(id: number): string {
  return [
    `busybox chown ${id}:${id} /f; echo f=$?`,
    'busybox chown :7 /g; echo g=$?',
    `busybox chown ${id}:${id} /z && busybox chown 0:0 /z; echo z=$?`,
    'cd /d && busybox chown 3:4 r; echo rel=$?',
    // busybox sed -i gives its new file the old one's owner with fchown(fd, ...)
    'busybox sed -i s/a/b/ /sedt; echo sed=$?',
    'busybox chown -h 9:9 /lf; echo lchown=$?',
    'busybox chown 8:8 /lp; echo lp=$?',
    'busybox chown 9:9 /up; echo up=$?',
    `busybox chown 1:1 ${shmFile}; echo dev=$?`,
    'busybox chown 5:5 /nope; echo nope=$?',
    'exit 7',
  ].join('\n');
}

/** The tiny root of the RUN: static busybox as /bin/sh and the files the script chowns. */
async function makeRoot(dir: string, owner: { uid: number; gid: number }): Promise<void> {
  for (const d of ['bin', 'etc', 'd', 'dev', 'proc', 'sys', 'tmp']) await mkdir(join(dir, d), { recursive: true });
  await copyFile('/bin/busybox', join(dir, 'bin', 'busybox'));
  await chmod(join(dir, 'bin', 'busybox'), 0o755);
  await symlink('busybox', join(dir, 'bin', 'sh'));
  await writeFile(join(dir, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  await writeFile(join(dir, 'etc', 'group'), 'root:x:0:\n');
  for (const f of ['f', 'z']) await writeFile(join(dir, f), `${f}\n`);
  await writeFile(join(dir, 'g'), 'g\n', { mode: 0o444 }); // the owner needs write access for the xattr
  await writeFile(join(dir, 'd', 'r'), 'r\n');
  await chmod(join(dir, 'd', 'r'), 0o4755);
  await writeFile(join(dir, 'sedt'), 'a\n');
  await symlink('f', join(dir, 'lf'));
  await symlink('/etc/passwd', join(dir, 'lp'));
  await symlink('../../../../etc/group', join(dir, 'up'));
  await execChecked('chown', ['-R', '-h', `${owner.uid}:${owner.gid}`, dir]);
  // Owned by someone else, as a base image's file may be: proot shows this owner, sed keeps it.
  await chown(join(dir, 'sedt'), 1234, 1234);
}

async function ownerXattr(path: string): Promise<string | undefined> {
  const found = (await lgetxattrs(path)).find(([name]) => name === XATTR);
  return found?.[1].toString('hex');
}

/** path -> "uid:gid" of every entry under `dir`, not following symlinks. */
async function realOwners(dir: string, rel = ''): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const name of await readdir(join(dir, rel))) {
    const r = join(rel, name);
    const st = await lstat(join(dir, r));
    out.set(r, `${st.uid}:${st.gid}`);
    if (st.isDirectory()) for (const [k, v] of await realOwners(dir, r)) out.set(k, v);
  }
  return out;
}

async function hostState(path: string): Promise<string> {
  const st = await lstat(path);
  return JSON.stringify({ uid: st.uid, gid: st.gid, mode: st.mode, xattrs: (await lgetxattrs(path)).map(([k]) => k) });
}

function steps(res: ExecResult): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of res.stdout.matchAll(/^(\w+)=(\d+)$/gm)) out[m[1]!] = Number(m[2]);
  return out;
}

function trapArgs(root: string, id: number): string[] {
  // As CopyRuntime launches proot: fake root, the copy as /, the host's /dev, /proc and /sys bound.
  return ['chown-trap', root, '--', 'proot', '-0', '-r', root, '-b', '/dev', '-b', '/proc', '-b', '/sys', '-w', '/', '/bin/sh', '-c', script(id)];
}

const hex = (n: number): string => {
  const bytes: number[] = [];
  for (let v = n; ; v >>>= 7) {
    if (v < 0x80) {
      bytes.push(v);
      break;
    }
    bytes.push((v & 0x7f) | 0x80);
  }
  return Buffer.from(bytes).toString('hex');
};
/** The xattr value for uid:gid (proto3: zero fields are left out). */
const owner = (uid: number, gid: number): string => (uid ? `08${hex(uid)}` : '') + (gid ? `10${hex(gid)}` : '');

/** What every run must show; `id` is the uid:gid the script chowns /f to, `user` who ran it. */
async function expectRecorded(root: string, res: ExecResult, before: Map<string, string>, id: number, user: { uid: number; gid: number }): Promise<void> {
  expect(res.code, `${res.stdout}\n${res.stderr}`).toBe(7);
  expect(steps(res)).toEqual({ f: 0, g: 0, z: 0, rel: 0, sed: 0, lchown: 0, lp: 0, up: 0, dev: 0, nope: 1 });
  expect(res.stderr).toContain('chown: /nope: No such file or directory');
  expect(await ownerXattr(join(root, 'f'))).toBe(owner(id, id));
  expect(await ownerXattr(join(root, 'g'))).toBe(owner(0, 7));
  expect((await lstat(join(root, 'g'))).mode & 0o7777).toBe(0o444);
  expect(await ownerXattr(join(root, 'z'))).toBeUndefined();
  expect(await ownerXattr(join(root, 'd', 'r'))).toBe(owner(3, 4));
  // chown drops set-user-ID, as the kernel does
  expect((await lstat(join(root, 'd', 'r'))).mode & 0o7777).toBe(0o755);
  expect(await ownerXattr(join(root, 'sedt'))).toBe(owner(1234, 1234));
  // lchown of a symlink: nothing recorded, and not on its target either
  expect(await ownerXattr(join(root, 'lf'))).toBeUndefined();
  // symlinks to /etc/... and ../../.. resolve inside the root
  expect(await ownerXattr(join(root, 'etc', 'passwd'))).toBe(owner(8, 8));
  expect(await ownerXattr(join(root, 'etc', 'group'))).toBe(owner(9, 9));
  expect(res.stderr).toMatch(/chown-trap: 8 recorded, ignored: 1 outside \S+, 1 on symlinks, 0 on special files/);
  // No real owner changed; sed's new /sedt belongs to whoever ran it.
  const after = await realOwners(root);
  expect(after.get('sedt')).toBe(`${user.uid}:${user.gid}`);
  after.delete('sedt');
  before.delete('sedt');
  expect(after).toEqual(before);
}

describe.skipIf(!isRoot)('chown-trap: chowns under proot land in user.rootlesscontainers', () => {
  let helperDir: string;
  let helper: string;
  let user: TestUser;
  let hostFiles: string[];
  const hostBefore = new Map<string, string>();

  beforeAll(async () => {
    helperDir = await makeTempDir('tsbuild-chowntrap-helper');
    [helper, user] = await Promise.all([compileHelper(helperDir), ensureTestUser()]);
    await writeFile(shmFile, 'host\n', { mode: 0o644 });
    hostFiles = ['/etc/passwd', '/etc/group', shmFile];
    for (const f of hostFiles) hostBefore.set(f, await hostState(f));
  });
  afterAll(async () => {
    // The host files the RUNs pointed at are untouched, whoever ran them.
    if (hostFiles) for (const f of hostFiles) expect(await hostState(f)).toBe(hostBefore.get(f));
    await rm(shmFile, { force: true });
  });

  it('as root', async () => {
    const root = join(await makeTempDir('tsbuild-chowntrap'), 'root');
    await makeRoot(root, { uid: 0, gid: 0 });
    const before = await realOwners(root);
    const res = await execCommand(helper, trapArgs(root, 1000), { env: { ...process.env, TSBUILD_CHOWN_TRAP_DEBUG: '1' } });
    await expectRecorded(root, res, before, 1000, { uid: 0, gid: 0 });
  }, 60_000);

  it('as an unprivileged user', async () => {
    const root = join(await makeTempDir('tsbuild-chowntrap'), 'root');
    await makeRoot(root, user);
    const before = await realOwners(root);
    const res = await runAs(user, helper, trapArgs(root, 1000), { cwd: '/', env: { TSBUILD_CHOWN_TRAP_DEBUG: '1' } });
    await expectRecorded(root, res, before, 1000, user);
  }, 60_000);

  it('as uid 1000 in an unprivileged container (Docker default seccomp profile and capabilities)', async () => {
    const tmp = await makeTempDir('tsbuild-chowntrap-ctr');
    await chmod(tmp, 0o1777);
    const inner = await compileHelper(tmp);
    const root = join(tmp, 'root');
    const ids = { uid: 1000, gid: 1000 };
    await makeRoot(root, ids);
    const before = await realOwners(root);
    // Debian's proot (no seccomp acceleration) swaps a chown to 0 for one to its own uid before
    // the trap sees it, so inside, a chown to 1000 reads as one to root: use another id here.
    const args = trapArgs('/tmp/root', 2000);
    const res = await runInUnprivilegedContainer({
      args: [inner.replace(tmp, '/tmp'), ...args],
      user: ids,
      env: ['TSBUILD_CHOWN_TRAP_DEBUG=1'],
      readonlyBinds: ['/dev/shm'],
      tmpDir: tmp,
    });
    await expectRecorded(root, res, before, 2000, ids);
  }, 120_000);
});

/**
 * `--ssh ID=KEYFILE`: tsbuild starts a private ssh-agent with the key, the RUN sees it through
 * RUN --mount=type=ssh (checked with the real ssh-add, run by the host's dynamic loader from a
 * bind mount), and the private key never lands in the image, the store or the log.
 */
import { copyFile, readFile, readdir, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { execChecked } from '../../helpers/exec.js';
import { makeTempDir } from '../../helpers/tmp.js';
import { buildOnBusybox, filesContaining, readIn } from './buildWith.js';

/** ssh-add and every library it needs (from ldd), into `dir`, run as `dir/<loader> --library-path dir dir/ssh-add`. */
async function copySshAdd(dir: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  const { stdout } = await execChecked('ldd', ['/usr/bin/ssh-add']);
  let loader = '';
  for (const line of stdout.split('\n')) {
    const path = /(\/\S+)/.exec(line.includes('=>') ? (line.split('=>')[1] ?? '') : line)?.[1];
    if (path === undefined) continue;
    await copyFile(path, join(dir, basename(path)));
    if (!line.includes('=>')) loader = basename(path);
  }
  await copyFile('/usr/bin/ssh-add', join(dir, 'ssh-add'));
  if (!loader) throw new Error(`no dynamic loader in ldd output:\n${stdout}`);
  return loader;
}

async function agentDirs(): Promise<string[]> {
  return (await readdir(tmpdir())).filter((n) => n.startsWith('tsbuild-ssh-'));
}

/** Command lines of running ssh-agents serving a tsbuild socket. */
async function agentProcesses(): Promise<string[]> {
  const found: string[] = [];
  for (const pid of (await readdir('/proc')).filter((n) => /^\d+$/.test(n))) {
    const cmd = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0').join(' ');
    if (cmd.startsWith('ssh-agent') && cmd.includes('tsbuild-ssh-')) found.push(cmd);
  }
  return found;
}

describe('RUN --mount=type=ssh with --ssh ID=KEYFILE', () => {
  it('forwards a private agent holding the key, and keeps the key out of the image, store and log', async () => {
    const keys = await makeTempDir('tsbuild-sshkey');
    const key = join(keys, 'id_ed25519');
    await execChecked('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'tsbuild-forwarded-key', '-f', key]);
    const pub = (await readFile(`${key}.pub`, 'utf8')).trim();
    // A line from the middle of the private key: what a leak would contain.
    const secretLine = (await readFile(key, 'utf8')).split('\n')[2] ?? '';
    expect(secretLine.length).toBeGreaterThan(20);
    const before = new Set(await agentDirs());
    let loader = '';
    const sshAdd = (args: string) => `/sshbin/${loader} --library-path /sshbin /sshbin/ssh-add ${args}`;
    const built = await buildOnBusybox('', {
      args: ['--ssh', `default=${key}`],
      prepare: async (ctx) => {
        loader = await copySshAdd(join(ctx, 'sshbin'));
        const { writeFile } = await import('node:fs/promises');
        await writeFile(
          join(ctx, 'Dockerfile'),
          ['FROM base', `RUN --mount=type=ssh --mount=type=bind,source=sshbin,target=/sshbin sh -c '${sshAdd('-l')} > /listed; ${sshAdd('-L')} > /public'`, ''].join('\n'),
        );
      },
    });
    expect(built.result.code, built.result.stderr).toBe(0);
    expect(await readIn(built.rootfs, 'listed')).toContain('tsbuild-forwarded-key (ED25519)');
    expect((await readIn(built.rootfs, 'public')).trim()).toBe(pub);
    expect(await filesContaining(built.layout, secretLine)).toEqual([]);
    expect(await filesContaining(built.store, secretLine)).toEqual([]);
    expect(`${built.result.stdout}${built.result.stderr}`).not.toContain(secretLine);
    // The agent and its socket dir are gone once the build has ended.
    expect((await agentDirs()).filter((d) => !before.has(d))).toEqual([]);
    expect(await agentProcesses()).toEqual([]);
  });

  it('refuses a passphrase-protected key with a clear message instead of prompting', async () => {
    const keys = await makeTempDir('tsbuild-sshkey');
    const key = join(keys, 'id_locked');
    await execChecked('ssh-keygen', ['-q', '-t', 'ed25519', '-N', 'hunter2hunter2', '-C', 'locked', '-f', key]);
    const built = await buildOnBusybox(['FROM base', 'RUN --mount=type=ssh true', ''].join('\n'), { args: ['--ssh', `default=${key}`] });
    expect(built.result.code).not.toBe(0);
    expect(built.result.stderr).toContain(`--ssh default: the key ${key} is protected by a passphrase`);
    expect(built.result.stderr).toContain('ssh-add');
  });
});

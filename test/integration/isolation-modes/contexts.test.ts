/**
 * Build contexts for jobs without a checkout: a tar or tar.gz file, a tar on stdin, an http
 * tarball URL and a git URL with #ref:subdir, each checked by what the built image holds.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { readFile, readdir, writeFile, mkdir } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execChecked, execCommand } from '../../helpers/exec.js';
import { makeTempDir } from '../../helpers/tmp.js';
import { runTsbuild, tsbuildBin } from '../../helpers/tsbuild.js';

const DOCKERFILE = 'FROM scratch\nCOPY . /ctx/\n';

async function makeSource(marker: string): Promise<string> {
  const dir = await makeTempDir('tsbuild-ctxsrc');
  await writeFile(join(dir, 'Dockerfile'), DOCKERFILE);
  await mkdir(join(dir, 'sub'));
  await writeFile(join(dir, 'sub', 'file.txt'), `${marker}\n`);
  return dir;
}

async function builtFiles(args: string[]): Promise<{ files: string[]; sub: string }> {
  const out = await makeTempDir('tsbuild-ctxout');
  const res = await runTsbuild(['build', '-q', '--root', await makeTempDir('tsbuild-ctxstore'), '-o', `type=local,dest=${out}`, ...args]);
  expect(res.code, res.stderr).toBe(0);
  return { files: (await readdir(join(out, 'ctx'))).sort(), sub: await readFile(join(out, 'ctx', 'sub', 'file.txt'), 'utf8') };
}

describe('build contexts', () => {
  let server: Server;
  let tarball: Buffer;
  let daemon: ChildProcess;
  let gitPort: number;
  let gitBase: string;

  beforeAll(async () => {
    const src = await makeSource('from http');
    tarball = Buffer.from((await execChecked('sh', ['-c', `tar -C ${src} -czf - . | base64 -w0`])).stdout, 'base64');
    server = createServer((req, res) => {
      if (req.url === '/ctx.tar.gz') res.end(tarball);
      else res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));

    gitBase = await makeTempDir('tsbuild-gitbase');
    const work = await makeSource('from git');
    const git = (args: string[]) => execChecked('git', ['-C', work, '-c', 'user.name=t', '-c', 'user.email=t@example.invalid', ...args]);
    await git(['init', '-q', '-b', 'main']);
    await git(['add', '.']);
    await git(['commit', '-q', '-m', 'one']);
    // The context is a subdirectory on a tag: its Dockerfile and sub/ live under app/.
    await execChecked('sh', ['-c', `cd ${work} && mkdir app && git mv Dockerfile sub app/`]);
    await git(['commit', '-q', '-m', 'two']);
    await git(['tag', 'v2']);
    await execChecked('git', ['clone', '-q', '--bare', work, join(gitBase, 'repo.git')]);
    // git daemon cannot report a port it picked: take a free one.
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    gitPort = (probe.address() as AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    daemon = spawn('git', ['daemon', '--reuseaddr', '--export-all', `--base-path=${gitBase}`, '--listen=127.0.0.1', `--port=${gitPort}`, gitBase], { stdio: 'ignore' });
    for (let i = 0; i < 50; i++) {
      const ok = await execCommand('git', ['ls-remote', `git://127.0.0.1:${gitPort}/repo.git`]);
      if (ok.code === 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
  });
  afterAll(async () => {
    daemon?.kill();
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  });

  it('a tar.gz file and a plain tar on stdin', async () => {
    const src = await makeSource('from a file');
    const dir = await makeTempDir('tsbuild-ctxtar');
    await execChecked('tar', ['-C', src, '-czf', join(dir, 'ctx.tar.gz'), '.']);
    expect(await builtFiles([join(dir, 'ctx.tar.gz')])).toEqual({ files: ['Dockerfile', 'sub'], sub: 'from a file\n' });

    await execChecked('tar', ['-C', src, '-cf', join(dir, 'ctx.tar'), '.']);
    const out = await makeTempDir('tsbuild-ctxout');
    const res = await execCommand('sh', ['-c', `"${process.execPath}" "${tsbuildBin()}" build -q --root "${await makeTempDir('tsbuild-ctxstore')}" -o type=local,dest=${out} - < ${join(dir, 'ctx.tar')}`]);
    expect(res.code, res.stderr).toBe(0);
    expect(await readFile(join(out, 'ctx', 'sub', 'file.txt'), 'utf8')).toBe('from a file\n');
  });

  it('an http tarball URL', async () => {
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/ctx.tar.gz`;
    expect(await builtFiles([url])).toEqual({ files: ['Dockerfile', 'sub'], sub: 'from http\n' });
  });

  it('a git URL with #ref:subdir, cloned with the machine git', async () => {
    expect(await builtFiles([`git://127.0.0.1:${gitPort}/repo.git#v2:app`])).toEqual({ files: ['Dockerfile', 'sub'], sub: 'from git\n' });
  });

  it('a missing context and a garbage archive each get one clear error', async () => {
    const missing = await runTsbuild(['build', '/nonexistent/ctx.tar']);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain('error: reading Dockerfile /nonexistent/ctx.tar/Dockerfile: no such file');
    const dir = await makeTempDir('tsbuild-ctxbad');
    await writeFile(join(dir, 'bad.tar'), 'this is not a tar archive, not at all, no'.repeat(20));
    const bad = await runTsbuild(['build', join(dir, 'bad.tar')]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain(`error: unpacking the build context ${join(dir, 'bad.tar')}:`);
  });
});

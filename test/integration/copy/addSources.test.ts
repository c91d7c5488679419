/**
 * ADD's own sources, as the Dockerfile reference describes them: http(s) URLs (file name from
 * the URL, mode 0600, Last-Modified as mtime, --checksum, --unpack), git repositories served by
 * `git http-backend` on 127.0.0.1 (#ref:subdir, --keep-git-dir), and local archives in every
 * compression Docker unpacks (gzip, bzip2, xz, zstd), or kept with --unpack=false.
 */
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedBusybox, startRegistry, type TestRegistry } from '../../helpers/registry.js';
import { unpackOciImage } from '../../helpers/runImage.js';
import { makeTempDir } from '../../helpers/tmp.js';
import { runTsbuild } from '../../helpers/tsbuild.js';

const run = promisify(execFile);
const LAST_MODIFIED = 'Wed, 21 Oct 2015 07:28:00 GMT';

/** Static files under /files/, and git's smart http protocol under /git/ through git http-backend (CGI). */
async function startServer(filesDir: string, gitRoot: string): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (u.pathname.startsWith('/files/')) {
      readFile(join(filesDir, u.pathname.slice('/files/'.length))).then(
        (body) => {
          res.writeHead(200, { 'Last-Modified': LAST_MODIFIED, 'Content-Length': body.length });
          res.end(body);
        },
        () => {
          res.writeHead(404);
          res.end();
        },
      );
      return;
    }
    const cgi = spawn('git', ['http-backend'], {
      env: {
        PATH: process.env['PATH'] ?? '/usr/bin:/bin',
        GIT_PROJECT_ROOT: gitRoot,
        GIT_HTTP_EXPORT_ALL: '1',
        PATH_INFO: u.pathname.slice('/git'.length),
        QUERY_STRING: u.search.slice(1),
        REQUEST_METHOD: req.method ?? 'GET',
        CONTENT_TYPE: req.headers['content-type'] ?? '',
        HTTP_CONTENT_ENCODING: req.headers['content-encoding'] ?? '',
        REMOTE_ADDR: '127.0.0.1',
      },
    });
    req.pipe(cgi.stdin);
    const chunks: Buffer[] = [];
    cgi.stdout.on('data', (c: Buffer) => chunks.push(c));
    cgi.on('close', () => {
      const out = Buffer.concat(chunks);
      const split = out.indexOf('\r\n\r\n');
      const head = out.subarray(0, split).toString('latin1').split('\r\n');
      let status = 200;
      const headers: Record<string, string> = {};
      for (const line of head) {
        const [k, ...v] = line.split(':');
        if (!k) continue;
        if (k.toLowerCase() === 'status') status = Number.parseInt(v.join(':').trim(), 10);
        else headers[k] = v.join(':').trim();
      }
      res.writeHead(status, headers);
      res.end(out.subarray(split + 4));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

describe('ADD sources', () => {
  let registry: TestRegistry;
  let base: string;
  let store: string;
  let http: { url: string; server: Server };
  let payload: Buffer;

  beforeAll(async () => {
    registry = await startRegistry();
    base = await seedBusybox(registry.host);
    store = await makeTempDir('tsbuild-store');
    const files = await makeTempDir('tsbuild-http');
    payload = Buffer.from('downloaded payload\n');
    await writeFile(join(files, 'data.bin'), payload);
    const tree = await makeTempDir('tsbuild-tree');
    await writeFile(join(tree, 'inside.txt'), 'from the archive\n');
    await run('tar', ['-C', tree, '-czf', join(files, 'app.tar.gz'), 'inside.txt']);

    // A bare repository with a tag v1 (sub/ holds one file), then a later commit on main.
    const gitRoot = await makeTempDir('tsbuild-git');
    const work = await makeTempDir('tsbuild-gitwork');
    const git = (...args: string[]) => run('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], { cwd: work });
    await git('init', '-q', '-b', 'main');
    await mkdir(join(work, 'sub'));
    await writeFile(join(work, 'sub/lib.txt'), 'v1 lib\n');
    await writeFile(join(work, 'README'), 'v1 readme\n');
    await git('add', '.');
    await git('commit', '-q', '-m', 'v1');
    await git('tag', 'v1');
    await writeFile(join(work, 'sub/lib.txt'), 'v2 lib\n');
    await git('commit', '-q', '-am', 'v2');
    await run('git', ['clone', '-q', '--bare', work, join(gitRoot, 'repo.git')]);
    http = await startServer(files, gitRoot);
  });
  afterAll(async () => {
    await registry?.stop();
    await new Promise((resolve) => http?.server.close(resolve));
  });

  async function build(dockerfile: string, ctx?: string): Promise<{ code: number; stderr: string; rootfs?: string }> {
    const dir = ctx ?? (await makeTempDir('tsbuild-ctx'));
    await writeFile(join(dir, 'Dockerfile'), dockerfile);
    const layout = join(await makeTempDir('tsbuild-out'), 'layout');
    const res = await runTsbuild(['build', '-q', '--root', store, '-t', 'add:1', '-o', `type=oci,dest=${layout},tar=false`, dir]);
    if (res.code !== 0) return res;
    return { ...res, rootfs: await unpackOciImage(layout, '1') };
  }

  it('downloads a URL: name from the URL, mode 0600, Last-Modified as mtime, --checksum verified, archives kept unless --unpack', async () => {
    const sum = createHash('sha256').update(payload).digest('hex');
    const res = await build(
      [
        `FROM ${base}`,
        `ADD ${http.url}/files/data.bin /dl/`,
        `ADD --checksum=sha256:${sum} ${http.url}/files/data.bin /named.bin`,
        `ADD ${http.url}/files/app.tar.gz /kept/`,
        `ADD --unpack=true ${http.url}/files/app.tar.gz /unpacked/`,
        '',
      ].join('\n'),
    );
    expect(res.code, res.stderr).toBe(0);
    const rootfs = res.rootfs as string;
    const dl = await stat(join(rootfs, 'dl/data.bin'));
    expect(dl.mode & 0o7777).toBe(0o600);
    expect(dl.mtime.toISOString()).toBe(new Date(LAST_MODIFIED).toISOString());
    expect(await readFile(join(rootfs, 'named.bin'))).toEqual(payload);
    expect(await readdir(join(rootfs, 'kept'))).toEqual(['app.tar.gz']);
    expect(await readFile(join(rootfs, 'unpacked/inside.txt'), 'utf8')).toBe('from the archive\n');
  });

  it('fails with both digests when --checksum does not match, and on a 404', async () => {
    let res = await build(`FROM ${base}\nADD --checksum=sha256:${'0'.repeat(64)} ${http.url}/files/data.bin /x\n`);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(new RegExp(`Dockerfile:2:1: ADD .*checksum of .*data.bin does not match: expected sha256:0{64}, got sha256:[0-9a-f]{64}`));
    res = await build(`FROM ${base}\nADD ${http.url}/files/missing /x\n`);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/Dockerfile:2:1: ADD .*the server answered 404/);
  });

  it('adds a git repository at a tag and subdirectory, and keeps .git only with --keep-git-dir', async () => {
    const res = await build(
      [
        `FROM ${base}`,
        `ADD ${http.url}/git/repo.git#v1:sub /lib/`,
        `ADD ${http.url}/git/repo.git /head/`,
        `ADD --keep-git-dir=true ${http.url}/git/repo.git#main /withgit/`,
        '',
      ].join('\n'),
    );
    expect(res.code, res.stderr).toBe(0);
    const rootfs = res.rootfs as string;
    expect(await readdir(join(rootfs, 'lib'))).toEqual(['lib.txt']);
    expect(await readFile(join(rootfs, 'lib/lib.txt'), 'utf8')).toBe('v1 lib\n');
    expect((await readdir(join(rootfs, 'head'))).sort()).toEqual(['README', 'sub']);
    expect(await readFile(join(rootfs, 'head/sub/lib.txt'), 'utf8')).toBe('v2 lib\n');
    expect((await stat(join(rootfs, 'withgit/.git'))).isDirectory()).toBe(true);
  });

  it('unpacks local tar archives compressed with gzip, bzip2, xz and zstd; --unpack=false keeps them', async () => {
    const ctx = await makeTempDir('tsbuild-ctx');
    const tree = await makeTempDir('tsbuild-tree');
    await writeFile(join(tree, 'f.txt'), 'archived\n');
    await run('tar', ['-C', tree, '-cf', join(ctx, 'a.tar'), 'f.txt']);
    for (const [tool, ext] of [['gzip', 'gz'], ['bzip2', 'bz2'], ['xz', 'xz'], ['zstd', 'zst']] as const) {
      await run(tool, ['-k', '-q', join(ctx, 'a.tar')].filter((a) => !(tool === 'gzip' && a === '-q')));
      expect((await stat(join(ctx, `a.tar.${ext}`))).isFile()).toBe(true);
    }
    const res = await build(
      [`FROM ${base}`, 'ADD a.tar.gz /gz/', 'ADD a.tar.bz2 /bz2/', 'ADD a.tar.xz /xz/', 'ADD a.tar.zst /zst/', 'ADD --unpack=false a.tar.xz /raw/', ''].join('\n'),
      ctx,
    );
    expect(res.code, res.stderr).toBe(0);
    const rootfs = res.rootfs as string;
    for (const dir of ['gz', 'bz2', 'xz', 'zst']) expect(await readFile(join(rootfs, dir, 'f.txt'), 'utf8'), dir).toBe('archived\n');
    expect(await readdir(join(rootfs, 'raw'))).toEqual(['a.tar.xz']);
  });
});

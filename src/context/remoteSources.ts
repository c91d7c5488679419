/**
 * ADD sources BuildKit fetches itself: http(s) URLs and git repositories. Each is materialised
 * in a private temp directory, which copyFiles then treats like any other source root.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { chmod, readdir, rm, utimes } from 'node:fs/promises';
import { posix } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Agent as HttpsAgent } from 'node:https';
import { TsbuildError } from '../errors.js';
import { extraCaOptions } from '../transport/trustedRoots.js';

/** BuildKit's isGitRef, roughly: git@host:path, git://, ssh://, or an http(s) URL ending in .git. */
export function isGitSource(src: string): boolean {
  if (/^git@[^:]+:/.test(src) || /^(git|ssh):\/\//i.test(src)) return true;
  return /^https?:\/\//i.test(src) && /\.git(#.*)?$/.test(src.replace(/\/+(#|$)/, '$1'));
}

export function isUrlSource(src: string): boolean {
  return /^https?:\/\//i.test(src) && !isGitSource(src);
}

export interface FetchedUrl {
  /** File name under the temp dir. */
  name: string;
}

/** The file name Docker gives a download: Content-Disposition, else the URL path's last part, else "index". */
export function urlFileName(url: string, contentDisposition: string | null): string {
  const cd = contentDisposition ? /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(contentDisposition) : null;
  const fromHeader = cd?.[1] ? posix.basename(decodeURIComponent(cd[1])) : '';
  if (fromHeader && fromHeader !== '.' && fromHeader !== '..') return fromHeader;
  const base = posix.basename(decodeURIComponent(new URL(url).pathname));
  return base && base !== '/' && base !== '.' && base !== '..' ? base : 'index';
}

/**
 * Downloads `url` into `dir` as Docker does: mode 0600, mtime from Last-Modified (else the epoch
 * BuildKit uses), and, with `checksum` (`sha256:<hex>`), verified before anything is copied.
 */
export async function fetchUrl(url: string, dir: string, opts: { checksum?: string; signal: AbortSignal }): Promise<FetchedUrl> {
  const expected = opts.checksum !== undefined ? parseChecksum(opts.checksum) : undefined;
  let res;
  try {
    const { default: fetch } = await import('node-fetch');
    const { ca } = extraCaOptions();
    const agent = ca ? new HttpsAgent({ ca }) : undefined;
    res = await fetch(url, { signal: opts.signal, redirect: 'follow', ...(agent ? { agent: (u: URL) => (u.protocol === 'https:' ? agent : undefined) } : {}) });
  } catch (err) {
    if ((err as Error).name === 'AbortError') throw err;
    throw new TsbuildError('COPY_SOURCE', `downloading ${url}: ${(err as Error).message}`, { cause: err, hint: 'check the URL and that the host is reachable from this machine' });
  }
  if (!res.ok || !res.body) {
    throw new TsbuildError('COPY_SOURCE', `downloading ${url}: the server answered ${res.status} ${res.statusText}`.trim());
  }
  const name = urlFileName(res.url || url, res.headers.get('content-disposition'));
  const target = posix.join(dir, name);
  const hash = createHash('sha256');
  const tee = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      done(null, chunk);
    },
  });
  try {
    await pipeline(res.body as unknown as Readable, tee, createWriteStream(target, { mode: 0o600 }), { signal: opts.signal });
  } catch (err) {
    if ((err as Error).name === 'AbortError') throw err;
    throw new TsbuildError('COPY_SOURCE', `downloading ${url}: ${(err as Error).message}`, { cause: err });
  }
  const actual = `sha256:${hash.digest('hex')}`;
  if (expected !== undefined && actual !== expected) {
    throw new TsbuildError('DIGEST_MISMATCH', `checksum of ${url} does not match: expected ${expected}, got ${actual}`, {
      hint: 'the file changed on the server, or --checksum is wrong',
    });
  }
  await chmod(target, 0o600);
  const lastModified = res.headers.get('last-modified');
  const mtime = lastModified ? new Date(lastModified) : undefined;
  if (mtime && !Number.isNaN(mtime.getTime())) await utimes(target, mtime, mtime);
  else await utimes(target, new Date(0), new Date(0));
  return { name };
}

function parseChecksum(checksum: string): string {
  const m = /^sha256:([0-9a-f]{64})$/i.exec(checksum);
  if (!m) {
    throw new TsbuildError('DOCKERFILE_SYNTAX', `invalid --checksum=${checksum}: expected sha256:<64 hex digits>`, {
      hint: 'compute it with: sha256sum FILE',
    });
  }
  return `sha256:${(m[1] as string).toLowerCase()}`;
}

export interface GitSpec {
  remote: string;
  ref?: string;
  subdir?: string;
}

/** `URL#ref:subdir` as BuildKit splits it (the fragment is optional, as are both of its parts). */
export function parseGitSource(src: string): GitSpec {
  const hash = src.indexOf('#');
  const remote = hash < 0 ? src : src.slice(0, hash);
  const fragment = hash < 0 ? '' : src.slice(hash + 1);
  const colon = fragment.indexOf(':');
  const ref = colon < 0 ? fragment : fragment.slice(0, colon);
  const subdir = colon < 0 ? '' : fragment.slice(colon + 1);
  return { remote, ...(ref ? { ref } : {}), ...(subdir ? { subdir } : {}) };
}

/**
 * Clones a repository with the machine's git into `dir` and checks out `ref` (a branch, a tag or
 * a commit; the default branch when absent). Returns the path, relative to `dir`, to copy: the
 * subdirectory when one was given. The .git directory is removed unless `keepGitDir`.
 */
export async function cloneGit(src: string, dir: string, opts: { keepGitDir: boolean; signal: AbortSignal }): Promise<string> {
  const spec = parseGitSource(src);
  if (spec.remote.startsWith('-')) throw new TsbuildError('COPY_SOURCE', `invalid git source ${JSON.stringify(src)}`);
  await git(['clone', '--quiet', '--no-checkout', '--', spec.remote, dir], undefined, opts.signal, src);
  const ref = spec.ref ?? 'HEAD';
  // A branch or tag name is resolved on the remote's refs first, then as a commit.
  const candidates = spec.ref ? [`refs/remotes/origin/${ref}`, `refs/tags/${ref}`, ref] : ['HEAD'];
  let commit: string | undefined;
  for (const c of candidates) {
    commit = await git(['rev-parse', '--verify', '--quiet', `${c}^{commit}`], dir, opts.signal, src).catch(() => undefined);
    if (commit) break;
  }
  if (!commit) throw new TsbuildError('COPY_SOURCE', `git source ${spec.remote}: no branch, tag or commit named ${JSON.stringify(ref)}`);
  await git(['-c', 'advice.detachedHead=false', 'checkout', '--quiet', '--detach', commit.trim()], dir, opts.signal, src);
  if (!opts.keepGitDir) await rm(posix.join(dir, '.git'), { recursive: true, force: true });
  const sub = spec.subdir ? posix.normalize(`/${spec.subdir}`).slice(1) : '';
  if (sub) {
    const entries = await readdir(posix.join(dir, sub)).catch(() => undefined);
    if (!entries) throw new TsbuildError('COPY_SOURCE', `git source ${spec.remote}: no directory ${JSON.stringify(spec.subdir)} at ${ref}`);
  }
  return sub === '' ? '.' : sub;
}

function git(args: string[], cwd: string | undefined, signal: AbortSignal, src: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', args, {
      ...(cwd ? { cwd } : {}),
      signal,
      stdio: ['ignore', 'pipe', 'pipe'],
      // Never prompt for credentials and ignore the user's and the system's git config.
      env: { ...process.env, GIT_TERMINAL_PROMPT: '0', GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null', GIT_ASKPASS: 'true' },
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', (e) =>
      reject(e.name === 'AbortError' ? e : new TsbuildError('COPY_SOURCE', `git is not available to fetch ${src}: ${e.message}`, { hint: 'install git' })),
    );
    child.on('close', (code) => {
      if (code === 0) resolve(out);
      else reject(new TsbuildError('COPY_SOURCE', `fetching git source ${src}: git ${args[0]} failed: ${err.trim().split('\n').pop() ?? `exit ${code}`}`));
    });
  });
}

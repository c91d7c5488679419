/**
 * The build context for jobs without a checkout: a local directory, a tar or tar.gz file, `-`
 * (a tar on stdin, as `docker build - < ctx.tar`), an http(s) tarball URL, or a git URL
 * (`https://host/repo.git#ref:subdir`, `git@host:repo`, `git://`, `ssh://`; cloned with the
 * machine's git). Anything but a directory is unpacked into a private temp dir removed afterwards.
 */
import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { cloneGit, fetchUrl, isGitSource, isUrlSource } from './remoteSources.js';
import { TsbuildError } from '../errors.js';

export interface BuildContext {
  /** The directory COPY and ADD read from. */
  dir: string;
  /** What the user named, for messages. */
  source: string;
  /** Removes what was unpacked (a no-op for a local directory). */
  close(): Promise<void>;
}

export type ContextKind = 'dir' | 'tar' | 'stdin' | 'url' | 'git';

/** How `spec` is read; pure, so `-`, URLs and git remotes are told apart without touching anything. */
export function contextKind(spec: string): Exclude<ContextKind, 'dir' | 'tar'> | 'local' {
  if (spec === '-') return 'stdin';
  if (isGitSource(spec)) return 'git';
  if (isUrlSource(spec)) return 'url';
  return 'local';
}

/** Unpacks a tar, gzip-compressed or not (told by its magic bytes), into `dir` with the machine's tar. */
export async function extractTarStream(input: Readable, dir: string, what: string, signal?: AbortSignal): Promise<void> {
  // The first chunk tells gzip from plain tar; the rest follows it through the same iterator,
  // so an input that has already ended is never piped a second time.
  const chunks = input[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const first = await chunks.next();
  if (first.done || first.value.length === 0) throw new TsbuildError('CONTEXT', `reading the build context ${what}: it is empty`, { hint: 'pass a tar or tar.gz archive' });
  const gzip = first.value[0] === 0x1f && first.value[1] === 0x8b;
  const whole = Readable.from(
    (async function* () {
      yield first.value;
      for (let next = await chunks.next(); !next.done; next = await chunks.next()) yield next.value;
    })(),
  );
  const tar = spawn('tar', ['-x', '-f', '-', '-C', dir, '--no-same-owner', '--no-same-permissions'], { stdio: ['pipe', 'ignore', 'pipe'], ...(signal ? { signal } : {}) });
  let err = '';
  tar.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((res, rej) => {
    tar.on('error', (e) => rej(new TsbuildError('CONTEXT', `unpacking the build context ${what}: starting tar: ${e.message}`, { hint: 'install tar', cause: e })));
    tar.on('close', res);
  });
  try {
    await (gzip ? pipeline(whole, createGunzip(), tar.stdin) : pipeline(whole, tar.stdin));
  } catch (e) {
    if ((e as Error).name === 'AbortError') throw e;
    // tar stops reading at the archive's end-of-archive blocks; the rest (record padding) then
    // meets a closed pipe. That is no error when tar itself succeeded.
    if ((await exited.catch(() => null)) === 0) return;
    throw new TsbuildError('CONTEXT', `unpacking the build context ${what}: ${err.trim() || (e as Error).message}`, { hint: 'pass a tar or tar.gz archive', cause: e });
  }
  const code = await exited;
  if (code !== 0) throw new TsbuildError('CONTEXT', `unpacking the build context ${what}: ${err.trim() || `tar exited with ${code}`}`, { hint: 'pass a tar or tar.gz archive' });
}

/** Opens `spec` as a build context (see the module comment); `stdin` is called and read for `-` only. */
export async function openBuildContext(spec: string, opts: { stdin: () => Readable; signal: AbortSignal; tmpDir?: string }): Promise<BuildContext> {
  const kind = contextKind(spec);
  if (kind === 'local') {
    const path = resolve(spec);
    const st = await stat(path).catch(() => undefined);
    // A missing path stays a directory: reading its Dockerfile then fails with the usual message.
    if (st === undefined || st.isDirectory()) return { dir: path, source: spec, close: async () => undefined };
  }
  const work = await mkdtemp(join(opts.tmpDir ?? tmpdir(), 'tsbuild-context-'));
  const close = (): Promise<void> => rm(work, { recursive: true, force: true });
  try {
    const dir = join(work, 'context');
    if (kind === 'git') {
      const sub = await cloneGit(spec, dir, { keepGitDir: false, signal: opts.signal });
      return { dir: sub === '.' ? dir : join(dir, sub), source: spec, close };
    }
    await mkdir(dir);
    if (kind === 'stdin') await extractTarStream(opts.stdin(), dir, 'from stdin', opts.signal);
    else if (kind === 'local') await extractTarStream(createReadStream(resolve(spec)), dir, spec, opts.signal);
    else {
      const download = join(work, 'download');
      await mkdir(download);
      const { name } = await fetchUrl(spec, download, { signal: opts.signal });
      await extractTarStream(createReadStream(join(download, name)), dir, spec, opts.signal);
    }
    // As in docker build, the archive's root is the context (a tarball with one top directory needs -f DIR/Dockerfile).
    return { dir, source: spec, close };
  } catch (err) {
    await close();
    throw err;
  }
}

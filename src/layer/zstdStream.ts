/**
 * zstd through Debian's `zstd` program, streaming both ways (Node 20's zlib has no zstd): the one
 * place tsbuild starts it, for extracting zstd layers, decompressing them on export and writing
 * them with compression=zstd.
 */
import { spawn } from 'node:child_process';
import { PassThrough, pipeline, type Readable } from 'node:stream';
import { TsbuildError, type ErrorCode } from '../errors.js';

export const ZSTD_HINT = 'install zstd (Debian: apt-get install zstd)';

export interface ZstdJob {
  /** 'd': decompress; otherwise the compression level (1-22; above 19 adds --ultra). */
  mode: 'd' | number;
  /** What the error messages say tsbuild was doing, e.g. "decompressing a zstd layer". */
  doing: string;
  code: ErrorCode;
  /** For a missing program (and, compressing, a zstd failure). */
  hint: string;
  signal?: AbortSignal;
}

/** `source` through `zstd -d` or `zstd -LEVEL`; a missing program or a zstd failure errors the output. */
export function zstdStream(source: NodeJS.ReadableStream, job: ZstdJob): Readable {
  const args = job.mode === 'd' ? ['-d', '-c', '-q'] : ['-c', '-q', `-${job.mode}`, ...(job.mode > 19 ? ['--ultra'] : [])];
  const out = new PassThrough();
  const child = spawn('zstd', args, { stdio: ['pipe', 'pipe', 'pipe'], ...(job.signal ? { signal: job.signal } : {}) });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  child.on('error', (err: NodeJS.ErrnoException) => {
    out.destroy(new TsbuildError(job.code, `${job.doing}: ${err.code === 'ENOENT' ? 'the zstd program is not installed' : err.message}`, { hint: job.hint }));
  });
  pipeline(source, child.stdin, (err) => {
    // EPIPE: zstd stopped reading; its exit status (below) says why.
    if (err && (err as NodeJS.ErrnoException).code !== 'EPIPE') out.destroy(err);
  });
  // The output ends only once zstd has exited 0: a failing zstd closes its stdout first, and
  // letting that end the stream would hand on a truncated tar as if it were whole.
  child.stdout.pipe(out, { end: false });
  child.stdout.on('error', (err) => out.destroy(err));
  out.on('close', () => {
    if (child.exitCode === null && child.signalCode === null) child.kill();
  });
  child.on('close', (code) => {
    if (code === 0) {
      out.end();
      return;
    }
    const hint = job.mode === 'd' ? 'the blob is not valid zstd data, or is truncated' : job.hint;
    out.destroy(new TsbuildError(job.code, `${job.doing}: zstd exited with ${code}: ${stderr.trim()}`, { hint }));
  });
  return out;
}

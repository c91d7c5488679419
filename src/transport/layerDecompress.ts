import { spawn } from 'node:child_process';
import { PassThrough, pipeline, type Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { TsbuildError } from '../errors.js';
import { layerCompression } from '../image/mediaTypes.js';

/**
 * The layer's tar stream, decompressed on the fly: gzip with zlib, zstd with Debian's `zstd`
 * binary (Node 20's zlib has no zstd), both streaming, never the whole layer in memory.
 */
export function decompressLayer(source: NodeJS.ReadableStream, mediaType: string, signal?: AbortSignal): Readable {
  const kind = layerCompression(mediaType);
  const out = new PassThrough();
  if (kind === 'none') {
    pipeline(source, out, () => undefined);
    return out;
  }
  if (kind === 'gzip') {
    pipeline(source, createGunzip(), out, () => undefined);
    return out;
  }
  const child = spawn('zstd', ['-d', '-c', '-q'], { stdio: ['pipe', 'pipe', 'pipe'], ...(signal ? { signal } : {}) });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  child.on('error', (err: NodeJS.ErrnoException) => {
    out.destroy(new TsbuildError('LAYER_INVALID', `decompressing a zstd layer: ${err.code === 'ENOENT' ? 'the zstd program is not installed' : err.message}`, {
      hint: 'install zstd (Debian: apt-get install zstd)',
    }));
  });
  pipeline(source, child.stdin, (err) => {
    if (err) out.destroy(err);
  });
  pipeline(child.stdout, out, () => undefined);
  child.on('close', (code) => {
    if (code !== 0) out.destroy(new TsbuildError('LAYER_INVALID', `decompressing a zstd layer: zstd exited with ${code}: ${stderr.trim()}`));
  });
  return out;
}

import { PassThrough, pipeline, type Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { layerCompression } from '../image/mediaTypes.js';
import { ZSTD_HINT, zstdStream } from '../layer/zstdStream.js';

/**
 * The layer's tar stream, decompressed on the fly: gzip with zlib, zstd with Debian's `zstd`
 * binary (Node 20's zlib has no zstd), both streaming, never the whole layer in memory.
 */
export function decompressLayer(source: NodeJS.ReadableStream, mediaType: string, signal?: AbortSignal): Readable {
  const kind = layerCompression(mediaType);
  if (kind === 'zstd') {
    return zstdStream(source, { mode: 'd', doing: 'decompressing a zstd layer', code: 'LAYER_INVALID', hint: ZSTD_HINT, ...(signal ? { signal } : {}) });
  }
  const out = new PassThrough();
  if (kind === 'none') pipeline(source, out, () => undefined);
  else pipeline(source, createGunzip(), out, () => undefined);
  return out;
}

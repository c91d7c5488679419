import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { TsbuildError, wrapError } from '../errors.js';
import { isLayerMediaType, layerCompression } from '../image/mediaTypes.js';
import type { StoreKind, XattrFlavor } from '../store/storeRoot.js';
import { ownerWriterFor } from './ownerWriter.js';
import { readTar } from './tarReader.js';
import { TreeWriter, type ExtractSkipped } from './treeWriter.js';
import { ZSTD_HINT, zstdStream } from './zstdStream.js';

export type { ExtractSkipped } from './treeWriter.js';

/** Bigger gunzip output chunks than zlib's 16 KiB: fewer pieces per file. */
const GUNZIP_CHUNK = 256 * 1024;

export interface ExtractLayerOptions {
  xattrFlavor: XattrFlavor;
  /** native: real owners and device nodes; xattr: recorded in user.* xattrs (ownerXattrs.ts). */
  storeKind?: StoreKind;
  signal?: AbortSignal;
}

export interface ExtractResult {
  diffID: string;
  skipped: ExtractSkipped;
}

/**
 * Unpacks a layer blob into `dest` (an existing, empty directory) in overlay form: `.wh.x`
 * becomes a 0/0 char device `x`, `.wh..wh..opq` the `<flavor>.overlay.opaque=y` xattr on its
 * directory. Returns the diffID, hashed from the uncompressed bytes on the way through.
 * Entries never escape `dest`: `..` is refused, a leading `/` stripped, every parent must be a
 * real directory (never a symlink), hardlinks must point at entries already in `dest`.
 */
export async function extractLayer(
  blob: NodeJS.ReadableStream,
  mediaType: string,
  dest: string,
  opts: ExtractLayerOptions,
): Promise<ExtractResult> {
  const compression = layerCompression(mediaType);
  const gzip = compression === 'gzip';
  const zstd = compression === 'zstd';
  if (!isLayerMediaType(mediaType)) {
    throw new TsbuildError('LAYER_INVALID', `extracting layer: unsupported media type ${mediaType}`);
  }
  const hash = createHash('sha256');
  const writer = new TreeWriter(dest, opts.xattrFlavor, ownerWriterFor(opts.storeKind ?? 'native'));
  // pipeline() rejects as soon as gunzip fails, while the consumer may still be writing an
  // entry; the caller then removes `dest`, so it must not return before the writes have stopped.
  let consuming: Promise<void> | undefined;
  const consume = (source: AsyncIterable<Buffer>): Promise<void> => {
    async function* hashed(): AsyncGenerator<Buffer> {
      for await (const chunk of source) {
        hash.update(chunk);
        yield chunk;
      }
    }
    consuming = (async () => {
      try {
        for await (const entry of readTar(hashed())) {
          opts.signal?.throwIfAborted();
          await writer.write(entry);
        }
        await writer.finish();
      } catch (err) {
        await writer.stop();
        throw err;
      }
    })();
    return consuming;
  };
  const signalOpt = opts.signal ? { signal: opts.signal } : {};
  try {
    if (gzip) await pipeline(blob, createGunzip({ chunkSize: GUNZIP_CHUNK }), consume, signalOpt);
    else if (zstd) {
      const tar = zstdStream(blob, { mode: 'd', doing: 'extracting a zstd layer', code: 'LAYER_INVALID', hint: ZSTD_HINT, ...signalOpt });
      await pipeline(tar, consume, signalOpt);
    } else await pipeline(blob as Readable, consume, signalOpt);
  } catch (err) {
    await consuming?.catch(() => undefined);
    if (err instanceof TsbuildError) throw err;
    if ((err as Error).name === 'AbortError') throw new TsbuildError('ABORTED', 'extracting layer: aborted', { cause: err });
    const code = (err as NodeJS.ErrnoException).code ?? '';
    if (code.startsWith('Z_') || code === 'ERR_INVALID_ARG_VALUE') {
      throw new TsbuildError('LAYER_INVALID', `extracting layer: ${(err as Error).message}`, {
        cause: err,
        hint: 'the layer blob is corrupt or truncated',
      });
    }
    throw wrapError('LAYER_INVALID', `extracting layer into ${dest}`, err);
  }
  return { diffID: `sha256:${hash.digest('hex')}`, skipped: writer.skipped };
}

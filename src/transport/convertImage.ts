import { PassThrough, pipeline, type Readable } from 'node:stream';
import { constants as zlibConstants, createGzip } from 'node:zlib';
import { TsbuildError } from '../errors.js';
import { layerCompression, MediaType, type LayerCompression } from '../image/mediaTypes.js';
import type { Descriptor, ImageManifest } from '../image/types.js';
import type { ContentStore } from '../store/contentStore.js';
import { ZSTD_HINT, zstdStream } from '../layer/zstdStream.js';
import { decompressLayer } from './layerDecompress.js';

export interface ConvertOptions {
  /** Layer compression of the result; the layers' own when absent. */
  compression?: 'gzip' | 'zstd';
  /** gzip 0-9, zstd 1-19; the tool's default when absent. */
  level?: number;
  /** Media types: OCI (default) or Docker schema2. */
  format?: 'oci' | 'docker';
  signal?: AbortSignal;
}

/** gzip with zlib, zstd with Debian's `zstd` program: both streaming. */
export function compressStream(source: NodeJS.ReadableStream, kind: 'gzip' | 'zstd', level: number | undefined, signal?: AbortSignal): Readable {
  if (kind === 'gzip') {
    const out = new PassThrough();
    pipeline(source, createGzip({ level: level ?? zlibConstants.Z_DEFAULT_COMPRESSION }), out, (err) => {
      if (err) out.destroy(err);
    });
    return out;
  }
  return zstdStream(source, {
    mode: level ?? 3,
    doing: 'compressing a layer with zstd',
    code: 'OUTPUT_INVALID',
    hint: `${ZSTD_HINT}, or use compression=gzip`,
    ...(signal ? { signal } : {}),
  });
}

function layerMediaType(format: 'oci' | 'docker', compression: LayerCompression): string {
  if (format === 'docker') {
    if (compression === 'zstd') {
      throw new TsbuildError('USAGE', 'Docker media types have no zstd layers', { hint: 'use --format oci (oci-mediatypes=true) with compression=zstd' });
    }
    // Docker's uncompressed layer type is the same string without .gzip, rarely used; keep gzip.
    return compression === 'none' ? MediaType.dockerLayerTar : MediaType.dockerLayerGzip;
  }
  return compression === 'zstd' ? MediaType.ociLayerZstd : compression === 'gzip' ? MediaType.ociLayerGzip : MediaType.ociLayerTar;
}

/**
 * The same image with other layer compression and/or media types, written to the content
 * store: layers are recompressed only when the compression changes (streaming: decompress →
 * compress → store), the config bytes are kept (so the image ID is kept), and a new manifest is
 * written. Returns the manifest's descriptor; the input when nothing changes.
 */
export async function convertImage(content: ContentStore, top: Descriptor, options: ConvertOptions): Promise<Descriptor> {
  const format = options.format ?? (top.mediaType === MediaType.dockerManifest ? 'docker' : 'oci');
  const manifest = JSON.parse((await content.readBytes(top.digest, options.signal)).toString('utf8')) as ImageManifest;
  const layers: Descriptor[] = [];
  for (const layer of manifest.layers) {
    const current = layerCompression(layer.mediaType);
    const wanted = options.compression ?? current;
    const mediaType = layerMediaType(format, wanted);
    if (wanted === current && (options.level === undefined || options.compression === undefined)) {
      layers.push({ ...layer, mediaType });
      continue;
    }
    const tar = decompressLayer(content.read(layer.digest, options.signal), layer.mediaType, options.signal);
    const body = wanted === 'none' ? tar : compressStream(tar, wanted, options.level, options.signal);
    const info = await content.write(body, {}, options.signal);
    const { annotations } = layer;
    layers.push({ mediaType, digest: info.digest, size: info.size, ...(annotations ? { annotations } : {}) });
  }
  const configType = format === 'docker' ? MediaType.dockerConfig : MediaType.ociConfig;
  const manifestType = format === 'docker' ? MediaType.dockerManifest : MediaType.ociManifest;
  const next: ImageManifest = {
    schemaVersion: 2,
    mediaType: manifestType,
    config: { ...manifest.config, mediaType: configType },
    layers,
    ...(format === 'oci' && manifest.annotations ? { annotations: manifest.annotations } : {}),
  } as ImageManifest;
  const bytes = Buffer.from(JSON.stringify(next));
  const same = bytes.equals(await content.readBytes(top.digest, options.signal));
  if (same) return top;
  const info = await content.writeBytes(bytes, {}, options.signal);
  return { mediaType: manifestType, digest: info.digest, size: info.size };
}

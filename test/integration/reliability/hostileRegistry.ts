/**
 * A registry that serves exactly the bytes a test gives it, including lies: layers with hostile
 * entries, manifests whose digests or sizes are wrong, a blob other than the one asked for.
 * Only the read side of the distribution API a pull uses (GET/HEAD /v2/, manifests, blobs).
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { encodeTarHeader, padding, type TarHeaderFields } from '../../../src/layer/tarHeader.js';
import { busyboxLayout } from '../../helpers/registry.js';

export const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

export interface HostileImage {
  manifest: Buffer;
  /** digest → bytes actually served (may differ from what the digest names). */
  blobs: Map<string, Buffer>;
  /** digest → how many bytes of that blob are sent before the response stalls (until stop()). */
  stallAfter?: Map<string, number>;
}

export interface HostileRegistry {
  host: string;
  put(repo: string, tag: string, image: HostileImage): void;
  stop(): Promise<void>;
}

export async function startHostileRegistry(): Promise<HostileRegistry> {
  const images = new Map<string, HostileImage>();
  const server: Server = createServer((req, res) => {
    const url = req.url ?? '/';
    if (url === '/v2/' || url === '/v2') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      return;
    }
    const m = /^\/v2\/(.+)\/(manifests|blobs)\/([^/?]+)$/.exec(url);
    const repoImages = m ? [...images.entries()].filter(([k]) => k.startsWith(`${m[1]}:`)) : [];
    if (m && m[2] === 'manifests') {
      const img = images.get(`${m[1]}:${m[3]}`) ?? repoImages.find(([, i]) => sha256(i.manifest) === m[3])?.[1];
      if (img) {
        const body = img.manifest;
        res.writeHead(200, {
          'content-type': 'application/vnd.oci.image.manifest.v1+json',
          'content-length': body.length,
          'docker-content-digest': sha256(body),
        });
        res.end(req.method === 'HEAD' ? undefined : body);
        return;
      }
    }
    if (m && m[2] === 'blobs') {
      for (const [, img] of repoImages) {
        const digest = decodeURIComponent(m[3]!);
        const blob = img.blobs.get(digest);
        if (blob) {
          res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': blob.length });
          const stall = img.stallAfter?.get(digest);
          if (stall !== undefined && req.method !== 'HEAD') res.write(blob.subarray(0, stall));
          else res.end(req.method === 'HEAD' ? undefined : blob);
          return;
        }
      }
    }
    res.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[{"code":"NOT_FOUND","message":"not found"}]}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    host: `127.0.0.1:${port}`,
    put: (repo, tag, image) => images.set(`${repo}:${tag}`, image),
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export type BaseLayer = { desc: { digest: string; size: number; mediaType: string }; diffID: string; bytes: Buffer };

/** The busybox fixture's layers with their bytes, to serve as a base. */
export async function busyboxLayers(): Promise<BaseLayer[]> {
  const { dir, digest } = await busyboxLayout();
  const blob = (d: string): Promise<Buffer> => readFile(join(dir, 'blobs', 'sha256', d.slice(7)));
  const manifest = JSON.parse((await blob(digest)).toString()) as { config: { digest: string }; layers: Array<{ digest: string; size: number; mediaType: string }> };
  const config = JSON.parse((await blob(manifest.config.digest)).toString()) as { rootfs: { diff_ids: string[] } };
  return Promise.all(manifest.layers.map(async (desc, i) => ({ desc, diffID: config.rootfs.diff_ids[i]!, bytes: await blob(desc.digest) })));
}

export type Entry = Partial<TarHeaderFields> & { path: string; data?: string | Buffer };

/** A tar (no end blocks missing) of the given entries, with the repo's own encoder. */
export function tarOf(entries: Entry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const data = typeof e.data === 'string' ? Buffer.from(e.data) : (e.data ?? Buffer.alloc(0));
    const { data: _d, ...fields } = e;
    parts.push(encodeTarHeader({ type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 1_700_000_000, ...fields, size: data.length }), data, Buffer.alloc(padding(data.length)));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

/** A raw header block claiming `size` bytes with `typeflag` (for metadata entries encoders won't write). */
export function rawHeader(name: string, typeflag: string, size: number): Buffer {
  const h = encodeTarHeader({ path: name, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: 0 });
  const block = h.subarray(h.length - 512);
  block.write(size.toString(8).padStart(11, '0') + '\0', 124, 'latin1');
  block.write(typeflag, 156, 'latin1');
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of block) sum += b;
  block.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
  return Buffer.from(block);
}

export interface LayerSpec {
  /** Uncompressed tar bytes (the diffID is their hash). */
  tar: Buffer;
  /** The bytes served as the gzip layer; default gzip(tar). */
  served?: Buffer;
}

/**
 * An OCI image of `layers` (optionally on top of existing base layers); `tamper` may edit the
 * manifest JSON before it is serialised (wrong sizes, wrong digests).
 */
export function imageOf(
  layers: LayerSpec[],
  opts: { base?: { layers: BaseLayer[] }; tamper?: (m: ManifestJson) => void } = {},
): HostileImage {
  const blobs = new Map<string, Buffer>();
  const descs: ManifestJson['layers'] = [];
  const diffIDs: string[] = [];
  for (const b of opts.base?.layers ?? []) {
    blobs.set(b.desc.digest, b.bytes);
    descs.push(b.desc);
    diffIDs.push(b.diffID);
  }
  for (const l of layers) {
    const gz = l.served ?? gzipSync(l.tar);
    const digest = sha256(gz);
    blobs.set(digest, gz);
    descs.push({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest, size: gz.length });
    diffIDs.push(sha256(l.tar));
  }
  const config = Buffer.from(
    JSON.stringify({ architecture: process.arch === 'x64' ? 'amd64' : process.arch, os: 'linux', config: { Env: ['PATH=/bin:/usr/bin'] }, rootfs: { type: 'layers', diff_ids: diffIDs } }),
  );
  blobs.set(sha256(config), config);
  const manifest: ManifestJson = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
    layers: descs,
  };
  opts.tamper?.(manifest);
  return { manifest: Buffer.from(JSON.stringify(manifest)), blobs };
}

export interface ManifestJson {
  schemaVersion: 2;
  mediaType: string;
  config: { mediaType: string; digest: string; size: number };
  layers: Array<{ mediaType: string; digest: string; size: number }>;
}

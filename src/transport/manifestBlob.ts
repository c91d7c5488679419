import { TsbuildError } from '../errors.js';
import { MediaType } from '../image/mediaTypes.js';
import { sha256Digest } from './digestStream.js';
import type { ManifestBlob } from './types.js';

/** Registries put at most 4 MiB in a manifest; refusing more keeps a hostile server from filling memory. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

const genericTypes = new Set(['', 'application/json', 'text/plain', 'application/octet-stream']);

/**
 * A manifest's media type: the declared Content-Type unless it is generic, else the JSON's own
 * `mediaType`, else its shape (OCI allows manifests without the field).
 */
export function manifestMediaType(bytes: Buffer, declared?: string | null): string {
  const clean = (declared ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  if (!genericTypes.has(clean)) return clean;
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch {
    return clean;
  }
  if (json && typeof json === 'object') {
    const o = json as Record<string, unknown>;
    if (typeof o['mediaType'] === 'string' && o['mediaType'] !== '') return o['mediaType'];
    if (Array.isArray(o['manifests'])) return MediaType.ociIndex;
    if (o['config'] && Array.isArray(o['layers'])) return MediaType.ociManifest;
    if (o['schemaVersion'] === 1) return MediaType.dockerManifestV1;
  }
  return clean;
}

export function manifestBlobOf(bytes: Buffer, mediaType: string): ManifestBlob {
  return { bytes, mediaType, digest: sha256Digest(bytes) };
}

/** Parses a manifest or index JSON, with a MANIFEST_INVALID error naming where it came from. */
export function parseManifestJson(m: ManifestBlob, where: string): Record<string, unknown> {
  let json: unknown;
  try {
    json = JSON.parse(m.bytes.toString('utf8'));
  } catch (err) {
    throw new TsbuildError('MANIFEST_INVALID', `parsing manifest ${m.digest} of ${where}: ${(err as Error).message}`, { cause: err });
  }
  if (!json || typeof json !== 'object' || Array.isArray(json)) {
    throw new TsbuildError('MANIFEST_INVALID', `parsing manifest ${m.digest} of ${where}: not a JSON object`);
  }
  return json as Record<string, unknown>;
}

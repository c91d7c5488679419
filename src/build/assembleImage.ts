/**
 * Turns a finished stage into the blobs of an OCI image: config JSON and manifest. Pure; the
 * caller writes the bytes to the content store.
 */
import { createHash } from 'node:crypto';
import { MediaType } from '../image/mediaTypes.js';
import type { Descriptor, ImageConfig, ImageManifest } from '../image/types.js';
import type { LayerRef } from './stageState.js';

export interface AssembledImage {
  config: { bytes: Buffer; descriptor: Descriptor };
  manifest: { bytes: Buffer; descriptor: Descriptor };
}

export function assembleImage(config: ImageConfig, layers: readonly LayerRef[], annotations?: ReadonlyMap<string, string>): AssembledImage {
  const configBytes = Buffer.from(JSON.stringify(config));
  const configDesc: Descriptor = { mediaType: MediaType.ociConfig, digest: sha256Digest(configBytes), size: configBytes.length };
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    config: configDesc,
    layers: layers.map((l) => l.descriptor),
    ...(annotations && annotations.size > 0 ? { annotations: Object.fromEntries(annotations) } : {}),
  };
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  return {
    config: { bytes: configBytes, descriptor: configDesc },
    manifest: {
      bytes: manifestBytes,
      descriptor: { mediaType: MediaType.ociManifest, digest: sha256Digest(manifestBytes), size: manifestBytes.length },
    },
  };
}

function sha256Digest(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

import { TsbuildError } from '../errors.js';
import {
  MediaType,
  isConfigMediaType,
  isIndexMediaType,
  isLayerMediaType,
  isManifestMediaType,
} from '../image/mediaTypes.js';
import { formatPlatform, matchPlatform } from '../image/platform.js';
import type { Descriptor, ImageConfig, ImageIndex, ImageManifest, Platform } from '../image/types.js';
import { parseManifestJson } from './manifestBlob.js';
import { readWholeBlob } from './readWholeBlob.js';
import type { ImageSource, ManifestBlob } from './types.js';

export interface ResolvedImage {
  manifest: ImageManifest;
  manifestBlob: ManifestBlob;
  config: ImageConfig;
  configDescriptor: Descriptor;
  /** The index the manifest was chosen from, when the source's top level was one. */
  index?: { blob: ManifestBlob; index: ImageIndex };
}

const MAX_CONFIG_BYTES = 16 * 1024 * 1024;
const MAX_INDEX_DEPTH = 3;

/**
 * Reads an image down to its config: follows an index to the manifest for `platform`, then
 * checks that manifest and config describe a container image we can use.
 */
export async function resolveImage(source: ImageSource, platform: Platform, signal?: AbortSignal): Promise<ResolvedImage> {
  let blob = await source.getManifest(signal);
  let index: ResolvedImage['index'];
  for (let depth = 0; isIndexMediaType(blob.mediaType); depth++) {
    if (depth >= MAX_INDEX_DEPTH) {
      throw new TsbuildError('MANIFEST_INVALID', `resolving ${source.reference}: indexes nested deeper than ${MAX_INDEX_DEPTH}`);
    }
    const idx = parseIndex(blob, source.reference);
    index ??= { blob, index: idx };
    const chosen = pickManifest(idx, platform, source.reference);
    blob = await source.getManifestByDigest(chosen.digest, signal);
    if (blob.digest !== chosen.digest) {
      throw new TsbuildError('DIGEST_MISMATCH', `resolving ${source.reference}: manifest ${chosen.digest} came back as ${blob.digest}`);
    }
  }
  const manifest = parseManifest(blob, source.reference);
  const configDescriptor = manifest.config;
  const configBytes = await readWholeBlob(source, configDescriptor, MAX_CONFIG_BYTES, `config of ${source.reference}`, signal);
  const config = parseConfig(configBytes, source.reference);
  if (config.rootfs.diff_ids.length !== manifest.layers.length) {
    throw new TsbuildError(
      'MANIFEST_INVALID',
      `resolving ${source.reference}: the config lists ${config.rootfs.diff_ids.length} layer diff_ids but the manifest has ${manifest.layers.length} layers`,
    );
  }
  return { manifest, manifestBlob: blob, config, configDescriptor, ...(index ? { index } : {}) };
}

function isDescriptor(d: unknown): d is Descriptor {
  if (!d || typeof d !== 'object') return false;
  const o = d as Record<string, unknown>;
  return (
    typeof o['mediaType'] === 'string' &&
    typeof o['digest'] === 'string' &&
    /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/.test(o['digest']) &&
    typeof o['size'] === 'number' &&
    Number.isSafeInteger(o['size']) &&
    o['size'] >= 0
  );
}

export function parseIndex(blob: ManifestBlob, where: string): ImageIndex {
  const json = parseManifestJson(blob, where);
  const manifests = json['manifests'];
  if (json['schemaVersion'] !== 2 || !Array.isArray(manifests) || !manifests.every(isDescriptor)) {
    throw new TsbuildError('MANIFEST_INVALID', `parsing index ${blob.digest} of ${where}: not a valid image index`);
  }
  return json as unknown as ImageIndex;
}

export function parseManifest(blob: ManifestBlob, where: string): ImageManifest {
  if (blob.mediaType === MediaType.dockerManifestV1 || blob.mediaType === MediaType.dockerManifestV1Signed) {
    throw new TsbuildError('MANIFEST_INVALID', `reading ${where}: Docker schema 1 manifests are not supported`, {
      hint: 'rebuild or re-push the image with a current Docker or registry, which writes schema 2',
    });
  }
  if (!isManifestMediaType(blob.mediaType)) {
    throw new TsbuildError('MANIFEST_INVALID', `reading ${where}: unsupported manifest media type "${blob.mediaType}"`);
  }
  const json = parseManifestJson(blob, where);
  const layers = json['layers'];
  if (json['schemaVersion'] !== 2 || !isDescriptor(json['config']) || !Array.isArray(layers) || !layers.every(isDescriptor)) {
    throw new TsbuildError('MANIFEST_INVALID', `parsing manifest ${blob.digest} of ${where}: not a valid image manifest`);
  }
  const m = json as unknown as ImageManifest;
  if (!isConfigMediaType(m.config.mediaType)) {
    throw new TsbuildError('MANIFEST_INVALID', `reading ${where}: config media type "${m.config.mediaType}" is not a container image`, {
      hint: 'this looks like an OCI artifact (Helm chart, signature, …), not an image that can be run or built upon',
    });
  }
  for (const layer of m.layers) {
    if (!isLayerMediaType(layer.mediaType)) {
      throw new TsbuildError('MANIFEST_INVALID', `reading ${where}: unsupported layer media type "${layer.mediaType}" (${layer.digest})`);
    }
  }
  return m;
}

export function parseConfig(bytes: Buffer, where: string): ImageConfig {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new TsbuildError('MANIFEST_INVALID', `parsing image config of ${where}: ${(err as Error).message}`, { cause: err });
  }
  const c = json as Partial<ImageConfig> | null;
  if (
    !c ||
    typeof c !== 'object' ||
    typeof c.architecture !== 'string' ||
    typeof c.os !== 'string' ||
    !c.rootfs ||
    c.rootfs.type !== 'layers' ||
    !Array.isArray(c.rootfs.diff_ids) ||
    !c.rootfs.diff_ids.every((d) => typeof d === 'string')
  ) {
    throw new TsbuildError('MANIFEST_INVALID', `parsing image config of ${where}: missing architecture, os or rootfs.diff_ids`);
  }
  return c as ImageConfig;
}

/** Attestations and other non-image entries in an index carry `unknown/unknown` and are never picked. */
function isImageEntry(d: Descriptor): boolean {
  return d.annotations?.['vnd.docker.reference.type'] !== 'attestation-manifest' && d.platform?.os !== 'unknown';
}

function pickManifest(idx: ImageIndex, platform: Platform, where: string): Descriptor {
  const entries = idx.manifests.filter(isImageEntry);
  const i = matchPlatform(
    platform,
    entries.map((d) => d.platform),
  );
  const chosen = entries[i];
  if (chosen) return chosen;
  // An index with a single entry and no platform (as some tools write) means "this image".
  if (entries.length === 1 && !entries[0]?.platform) return entries[0] as Descriptor;
  const offered = entries.map((d) => (d.platform ? formatPlatform(d.platform) : 'unspecified'));
  throw new TsbuildError(
    'PLATFORM_NOT_FOUND',
    `resolving ${where}: no image for ${formatPlatform(platform)}; the index offers ${offered.length ? offered.join(', ') : 'nothing'}`,
    { hint: 'pick one of the offered platforms with --platform' },
  );
}

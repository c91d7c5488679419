/** The registry-related flags several commands share, and the client they configure. */
import * as Flags from '@oclif/core/flags';
import type { TsbuildConfig } from '../config/loadConfig.js';
import { join } from 'node:path';
import { BLOB_LOCATIONS_FILE, BlobLocations } from '../store/blobLocations.js';
import type { Store } from '../snapshot/openStore.js';
import { fileCredentialLookup } from '../transport/registryAuth.js';
import { RegistryClient, type RegistryClientOptions } from '../transport/registryClient.js';

export const registryFlags = {
  'insecure-registry': Flags.string({ description: 'HOST[:PORT] to reach over http or unverified TLS (repeatable)', multiple: true, multipleNonGreedy: true, default: [] }),
  'registry-mirror': Flags.string({
    description: 'HOST[:PORT] tried before Docker Hub for docker.io images (repeatable; default: $TSBUILD_REGISTRY_MIRRORS, comma-separated)',
    multiple: true,
    multipleNonGreedy: true,
    default: [],
  }),
};

export function registryClientFor(
  flags: { 'insecure-registry': string[]; 'registry-mirror'?: string[] },
  env: NodeJS.ProcessEnv = process.env,
  config?: Pick<TsbuildConfig, 'registries'>,
  extra: Pick<RegistryClientOptions, 'blobLocations'> = {},
): RegistryClient {
  const mirrors = registryMirrors({ flag: flags['registry-mirror'], env, config });
  return new RegistryClient({ insecureRegistries: [...flags['insecure-registry'], ...(config?.registries.insecure ?? [])], credentials: fileCredentialLookup(), mirrors, ...extra });
}

/** The names the config file may use for Docker Hub, the only registry pulls are mirrored for. */
const DOCKER_HUB_KEYS = ['docker.io', 'index.docker.io', 'registry-1.docker.io'];

/**
 * Docker Hub mirrors, the first source that names any winning whole: `--registry-mirror`, then
 * TSBUILD_REGISTRY_MIRRORS (comma-separated), then the config file's `registries.mirrors`.
 * Mirrors are HOST[:PORT]; a URL as docker's daemon.json writes it (https://mirror.gcr.io/) is accepted.
 */
export function registryMirrors(input: { flag?: readonly string[] | undefined; env: NodeJS.ProcessEnv; config?: Pick<TsbuildConfig, 'registries'> | undefined }): string[] {
  const clean = (list: readonly string[]) => list.map((m) => m.trim().replace(/^https?:\/\//, '').replace(/\/+$/, '')).filter(Boolean);
  if (input.flag?.length) return clean(input.flag);
  const fromEnv = clean((input.env['TSBUILD_REGISTRY_MIRRORS'] ?? '').split(','));
  if (fromEnv.length > 0) return fromEnv;
  const configured = input.config?.registries.mirrors ?? {};
  return clean(DOCKER_HUB_KEYS.flatMap((k) => configured[k] ?? []));
}

/**
 * TSBUILD_REGISTRY_MIRRORS (comma-separated HOST[:PORT]) applies to every command's docker.io pulls;
 * without it, the config file's `registries.mirrors` for docker.io does.
 */
export function makeRegistryClient(
  insecure: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
  config?: Pick<TsbuildConfig, 'registries'>,
  store?: Pick<Store, 'root'>,
): RegistryClient {
  const mirrors = registryMirrors({ env, config });
  return new RegistryClient({ insecureRegistries: insecure, credentials: fileCredentialLookup(), mirrors, ...storeBlobLocations(store) });
}

/** The store's record of where blobs were seen, for the registry client's cross-repository mounts. */
export function storeBlobLocations(store: Pick<Store, 'root'> | undefined): { blobLocations?: BlobLocations } {
  return store ? { blobLocations: new BlobLocations(join(store.root, BLOB_LOCATIONS_FILE)) } : {};
}

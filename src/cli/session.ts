/**
 * The effects a command needs, wired once: the store, the registry client, the sandbox. The
 * commands stay thin and the build core receives everything injected.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TsbuildConfig } from '../config/loadConfig.js';
import type { StoreKind } from '../layer/ownerXattrs.js';
import { openStore, defaultStoreRoot, type Store } from '../store/storeRoot.js';
import { BLOB_LOCATIONS_FILE, BlobLocations } from '../store/blobLocations.js';
import { RegistryClient } from '../transport/registryClient.js';
import { fileCredentialLookup } from '../transport/registryAuth.js';
import { registryMirrors } from './registryFlags.js';

/**
 * Overlay keeps its metadata in `trusted.*` xattrs in the initial user namespace and in `user.*`
 * ones (mount option userxattr) inside a user namespace. A full identity map means we are real root.
 */
export async function currentXattrFlavor(): Promise<'user' | 'trusted'> {
  // A non-root user builds in a user namespace even when this command (images, push) runs outside it.
  if (process.getuid?.() !== 0) return 'user';
  const map = (await readFile('/proc/self/uid_map', 'utf8')).trim().split(/\s+/);
  return map[0] === '0' && map[1] === '0' && map[2] === '4294967295' ? 'trusted' : 'user';
}

/** `kind`: what the command needs (a rootless build: native); without it, any store opens. */
export async function openSessionStore(rootFlag: string | undefined, kind?: StoreKind): Promise<Store> {
  const root = rootFlag ?? defaultStoreRoot(process.env);
  return openStore(root, { xattrFlavor: await currentXattrFlavor(), ...(kind ? { kind } : {}) });
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

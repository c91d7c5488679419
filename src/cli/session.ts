/**
 * The store a command opens, with the xattr flavor of where it runs (the registry client is
 * made in registryFlags.ts). The commands stay thin and the build core receives everything injected.
 */
import { readFileSync } from 'node:fs';
import { openStore, type Store } from '../snapshot/openStore.js';
import { defaultStoreRoot, type StoreKind } from '../store/storeRoot.js';

/**
 * Overlay keeps its metadata in `trusted.*` xattrs in the initial user namespace and in `user.*`
 * ones (mount option userxattr) inside a user namespace. A full identity map means we are real root.
 */
export async function currentXattrFlavor(): Promise<'user' | 'trusted'> {
  // A non-root user builds in a user namespace even when this command (images, push) runs outside it.
  if (process.getuid?.() !== 0) return 'user';
  // Synchronous: a few µs, where an async read is four thread-pool round trips on every command's start.
  const map = readFileSync('/proc/self/uid_map', 'utf8').trim().split(/\s+/);
  return map[0] === '0' && map[1] === '0' && map[2] === '4294967295' ? 'trusted' : 'user';
}

/** `kind`: what the command needs (a rootless build: native); without it, any store opens. */
export async function openSessionStore(rootFlag: string | undefined, kind?: StoreKind): Promise<Store> {
  const root = rootFlag ?? defaultStoreRoot(process.env);
  return openStore(root, { xattrFlavor: await currentXattrFlavor(), ...(kind ? { kind } : {}) });
}

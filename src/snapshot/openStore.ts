import { openStoreRoot, type StoreOpenOptions, type StoreRoot } from '../store/storeRoot.js';
import { Snapshotter } from './snapshotter.js';

/** A whole store: blobs, tags and the snapshotter over its unpacked layers. */
export interface Store extends StoreRoot {
  snapshots: Snapshotter;
}

/**
 * Opens (creating if needed) the store at `root` (see openStoreRoot for store.json and its
 * checks) with a snapshotter over its layers/. It lives here, not in store/, because the
 * snapshotter is built on store/ and layer/: store/ imports neither.
 */
export async function openStore(root: string, opts: StoreOpenOptions): Promise<Store> {
  const base = await openStoreRoot(root, opts);
  const { layersDir, tmpDir, xattrFlavor, kind: storeKind, content } = base;
  return { ...base, snapshots: new Snapshotter({ layersDir, tmpDir, xattrFlavor, storeKind, content }) };
}

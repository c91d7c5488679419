/**
 * Whether `tsbuild build` may first try the build outside its namespace (src/README.md, "Process
 * model"): a rebuild the cache serves whole then needs no second Node start-up. Only builds whose
 * try can be dropped without a trace qualify: their inputs can be read twice (no stdin, no
 * download or clone of the context) and the try fetches nothing (no --pull, no --cache-from);
 * a build that cannot hit the cache (--no-cache, a first build into a new store) goes straight in.
 * So does a non-root user's build with a local or tar output: it writes the image's files with
 * their container owners, which only the namespace's id map can give.
 */
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { contextKind } from '../context/openBuildContext.js';
import { storeXattrFlavor } from '../store/storeRoot.js';

export interface OutsideTryInputs {
  contextSpec: string;
  file: string | undefined;
  rootDir: string;
  pull: boolean;
  cache: boolean;
  noCacheFilter: readonly string[];
  cacheFrom: readonly string[];
  /** The -o types (local, tar, oci, ...). */
  outputTypes: readonly string[];
  uid: number;
}

export async function canTryOutsideNamespace(i: OutsideTryInputs): Promise<boolean> {
  if (i.file === '-' || i.pull || !i.cache || i.noCacheFilter.length > 0 || i.cacheFrom.length > 0) return false;
  if (i.uid !== 0 && i.outputTypes.some((t) => t === 'local' || t === 'tar')) return false;
  if (contextKind(i.contextSpec) !== 'local') return false;
  const context = await stat(resolve(i.contextSpec)).catch(() => undefined);
  if (!context?.isDirectory()) return false;
  return (await storeXattrFlavor(i.rootDir).catch(() => undefined)) !== undefined;
}

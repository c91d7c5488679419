import { chmodSync, mkdirSync, readFileSync } from 'node:fs';
import { link, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { TsbuildError } from '../errors.js';
import { writeFileAtomic } from '../util/atomicWrite.js';
import { ContentStore } from './contentStore.js';
import { ImageStore } from './imageStore.js';

/** Which overlay xattr namespace the store's unpacked layers use: user.overlay.* (rootless) or trusted.overlay.* (root). */
export type XattrFlavor = 'user' | 'trusted';

/**
 * `native`: owners and device nodes are real (root, or a user namespace with a full id map).
 * `xattr`: every file belongs to the real user; owners, whiteouts and devices live in xattrs.
 */
export type StoreKind = 'native' | 'xattr';

/** A store's directories, blobs and tags; snapshot/openStore.ts adds the snapshotter over its layers/. */
export interface StoreRoot {
  root: string;
  content: ContentStore;
  images: ImageStore;
  tmpDir: string;
  layersDir: string;
  xattrFlavor: XattrFlavor;
  kind: StoreKind;
}

export interface StoreOpenOptions {
  xattrFlavor: XattrFlavor;
  kind?: StoreKind;
}

interface StoreJson {
  version: 1;
  xattrFlavor: XattrFlavor;
  /** Absent in stores made before kinds existed: native. */
  kind?: StoreKind;
}

/** TSBUILD_ROOT, else $XDG_DATA_HOME/tsbuild, else ~/.local/share/tsbuild. */
export function defaultStoreRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env.TSBUILD_ROOT) return env.TSBUILD_ROOT;
  if (env.XDG_DATA_HOME) return join(env.XDG_DATA_HOME, 'tsbuild');
  return join(env.HOME || homedir(), '.local', 'share', 'tsbuild');
}

/**
 * Opens (creating if needed) the store at `root`. The xattr flavor is fixed at creation: layers
 * unpacked for rootless overlay (user.overlay.*) are wrong for root overlay (trusted.overlay.*)
 * and vice versa, so a mismatch is refused rather than silently mixed. So is the kind (real
 * owners, or owners recorded in xattrs by a non-root user without user namespaces): `kind` is
 * what the caller needs (a new store gets it); without it, the store's own is taken (native when new).
 */
export async function openStoreRoot(root: string, opts: StoreOpenOptions): Promise<StoreRoot> {
  const tmpDir = join(root, 'tmp');
  const layersDir = join(root, 'layers');
  // Synchronous: every command opens the store, and these few µs-long calls would each cost a
  // thread-pool round trip. Only creating store.json (once per store) stays async.
  mkdirSync(join(root, 'blobs', 'sha256'), { recursive: true });
  // Unpacked layers and snapshots hold images' setuid-root files and device nodes with their
  // real modes; other users of the host must not reach them (as Docker's overlay2 dir is 0710).
  mkdirSync(tmpDir, { recursive: true, mode: 0o700 });
  mkdirSync(layersDir, { recursive: true, mode: 0o700 });
  chmodSync(tmpDir, 0o700);
  chmodSync(layersDir, 0o700);
  const kind = await ensureStoreJson(root, tmpDir, opts.xattrFlavor, opts.kind);
  return {
    root,
    content: new ContentStore(root),
    images: new ImageStore(root),
    tmpDir,
    layersDir,
    xattrFlavor: opts.xattrFlavor,
    kind,
  };
}

async function ensureStoreJson(root: string, tmpDir: string, flavor: XattrFlavor, wanted: StoreKind | undefined): Promise<StoreKind> {
  const path = join(root, 'store.json');
  let existing = readStoreJson(path);
  if (existing === undefined) {
    // link() of a finished temp file creates store.json exclusively and completely: of two
    // processes creating a store at once, exactly one wins and the other reads its file.
    const tmp = join(tmpDir, `store.json.${process.pid}.${Date.now()}`);
    const json: StoreJson = { version: 1, xattrFlavor: flavor, ...(wanted === 'xattr' ? { kind: wanted } : {}) };
    await writeFileAtomic(tmp, `${JSON.stringify(json)}\n`);
    try {
      await link(tmp, path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    } finally {
      await rm(tmp, { force: true });
    }
    existing = readStoreJson(path);
  }
  if (existing === undefined || existing.version !== 1) {
    throw new TsbuildError('STORE_INCOMPATIBLE', `opening store ${root}: unsupported store.json version`, {
      hint: 'this store was written by another tsbuild version; use a different --root',
    });
  }
  const kind = existing.kind ?? 'native';
  if (wanted !== undefined && kind !== wanted) {
    throw new TsbuildError(
      'STORE_INCOMPATIBLE',
      kind === 'xattr'
        ? `opening store ${root}: it records owners and whiteouts in xattrs (made by a non-root build without user namespaces), this build needs real owners`
        : `opening store ${root}: it holds real owners and device nodes, which this build cannot write as a non-root user without user namespaces (it records them in xattrs)`,
      { hint: `use a different --root (or TSBUILD_ROOT) for ${wanted === 'xattr' ? 'non-root builds without user namespaces' : 'this build'}` },
    );
  }
  if (existing.xattrFlavor !== flavor) {
    throw new TsbuildError(
      'STORE_INCOMPATIBLE',
      `opening store ${root}: it holds layers for ${existing.xattrFlavor === 'user' ? 'rootless' : 'root'} overlay (${existing.xattrFlavor}.overlay.*), this build needs ${flavor}.overlay.*`,
      { hint: `use a different --root (or TSBUILD_ROOT) for ${flavor === 'user' ? 'rootless' : 'root'} builds` },
    );
  }
  return kind;
}

/** The kind of the store at `root`, or undefined when it has no store.json yet. */
export async function storeKind(root: string): Promise<StoreKind | undefined> {
  const json = readStoreJson(join(root, 'store.json'));
  return json === undefined ? undefined : (json.kind ?? 'native');
}

/** The xattr flavor a store at `root` was created with, or undefined when it has no store.json yet. */
export async function storeXattrFlavor(root: string): Promise<XattrFlavor | undefined> {
  return readStoreJson(join(root, 'store.json'))?.xattrFlavor;
}

function readStoreJson(path: string): StoreJson | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    return JSON.parse(text) as StoreJson;
  } catch (err) {
    throw new TsbuildError('STORE_CORRUPT', `reading ${path}: ${(err as Error).message}`, { cause: err });
  }
}

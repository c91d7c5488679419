import { randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import { mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { TsbuildError, wrapError } from '../errors.js';
import type { LayerInfo } from '../layer/commitLayer.js';
import type { ContentStore } from '../store/contentStore.js';
import { digestHex } from '../store/digest.js';
import type { StoreKind, XattrFlavor } from '../store/storeRoot.js';
import { testPausePoint } from '../util/testPause.js';

export interface ActiveSnapshot {
  id: string;
  /** The snapshot's own directory under tmp/ (holds the four below). */
  dir: string;
  upperdir: string;
  workdir: string;
  /** Top layer first, as overlayfs' lowerdir= wants them. */
  lowerdirs: string[];
  mountpoint: string;
  /** An empty directory for overlay mounts with no lower layer (overlayfs needs at least one). */
  emptyLowerdir: string;
}

export interface SnapshotterOptions {
  layersDir: string;
  tmpDir: string;
  xattrFlavor: XattrFlavor;
  /** How owners and special files are kept in layer dirs (default native). */
  storeKind?: StoreKind;
  content: ContentStore;
  /**
   * Called before a layer is unpacked; may throw to refuse (a build first tried outside tsbuild's
   * namespace leaves unpacking to the build inside it, where a non-root user's ids map).
   */
  beforeUnpack?: (diffID: string) => void;
}

/**
 * Layers unpacked in overlay form under `layers/<diffID hex>/fs`, and writable snapshots on
 * top of them. A layer dir appears only by rename from tmp/, so it is complete once it exists;
 * the isolation layer does the mounting.
 */
export class Snapshotter {
  private readonly layersDir: string;
  private readonly tmpDir: string;
  private readonly xattrFlavor: XattrFlavor;
  private readonly storeKind: StoreKind;
  private readonly content: ContentStore;
  private readonly opts: SnapshotterOptions;
  // In-flight extractions, so concurrent stages needing one base layer unpack it once.
  private readonly pending = new Map<string, Promise<void>>();

  constructor(opts: SnapshotterOptions) {
    this.layersDir = opts.layersDir;
    this.tmpDir = opts.tmpDir;
    this.xattrFlavor = opts.xattrFlavor;
    this.storeKind = opts.storeKind ?? 'native';
    this.content = opts.content;
    this.opts = opts;
  }

  /** The same layers and snapshots, with `beforeUnpack` asked before any layer is unpacked. */
  withUnpackGuard(beforeUnpack: (diffID: string) => void): Snapshotter {
    return new Snapshotter({ ...this.opts, beforeUnpack });
  }

  layerDir(diffID: string): string {
    return join(this.layersDir, digestHex(diffID), 'fs');
  }

  async hasLayer(diffID: string): Promise<boolean> {
    try {
      // Synchronous: every build asks this of each base layer; a stat is µs, an async one a thread-pool round trip.
      return statSync(this.layerDir(diffID)).isDirectory();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
  }

  /**
   * Unpacks the layer unless present; verifies the unpacked bytes hash to `diffID`. `open` is
   * called only when this call unpacks (not when the layer is there or another call of this
   * process is unpacking it). `beforeInstall` is awaited after a good unpack, before the layer
   * dir appears: a blob read while it is still being verified must pass first (fetchLayer.ts).
   */
  ensureLayer(
    diffID: string,
    mediaType: string,
    open: () => Promise<NodeJS.ReadableStream>,
    signal?: AbortSignal,
    beforeInstall?: () => Promise<unknown>,
  ): Promise<void> {
    const running = this.pending.get(diffID);
    if (running) return running;
    const job = this.extract(diffID, mediaType, open, signal, beforeInstall).finally(() => this.pending.delete(diffID));
    this.pending.set(diffID, job);
    return job;
  }

  private async extract(
    diffID: string,
    mediaType: string,
    open: () => Promise<NodeJS.ReadableStream>,
    signal?: AbortSignal,
    beforeInstall?: () => Promise<unknown>,
  ): Promise<void> {
    if (await this.hasLayer(diffID)) return;
    this.opts.beforeUnpack?.(diffID);
    const final = this.layerDir(diffID);
    await mkdir(this.tmpDir, { recursive: true });
    // The maker's pid in every tmp/ name lets `tsbuild fsck --repair` tell a dead build's leftovers from a live one's.
    const work = await mkdtemp(join(this.tmpDir, `layer-${process.pid}-${digestHex(diffID).slice(0, 12)}-`));
    try {
      const fs = join(work, 'fs');
      await mkdir(fs);
      // The tar and gzip code loads with the first layer to unpack or commit (a cached rebuild has none).
      const { extractLayer } = await import('../layer/extractLayer.js');
      const { diffID: got } = await extractLayer(await open(), mediaType, fs, {
        xattrFlavor: this.xattrFlavor,
        storeKind: this.storeKind,
        ...(signal ? { signal } : {}),
      });
      if (got !== diffID) {
        throw new TsbuildError('DIGEST_MISMATCH', `unpacking layer ${diffID}: its uncompressed content hashes to ${got}`, {
          hint: "the image config's rootfs.diff_ids do not match its layers; the image is corrupt",
        });
      }
      await beforeInstall?.();
      await this.install(fs, final);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }

  /** Creates tmp/snap-<id>/{upper,work,merged,empty}; the layers must already be present. */
  async prepare(lowerDiffIDs: string[]): Promise<ActiveSnapshot> {
    const lowerdirs: string[] = [];
    for (const diffID of [...lowerDiffIDs].reverse()) {
      if (!(await this.hasLayer(diffID))) {
        throw new TsbuildError('STORE_CORRUPT', `preparing snapshot: layer ${diffID} is not unpacked`, {
          hint: 'call ensureLayer for every parent layer first',
        });
      }
      lowerdirs.push(this.layerDir(diffID));
    }
    const id = randomBytes(8).toString('hex');
    const dir = join(this.tmpDir, `snap-${process.pid}-${id}`);
    const snap: ActiveSnapshot = {
      id,
      dir,
      upperdir: join(dir, 'upper'),
      workdir: join(dir, 'work'),
      lowerdirs,
      mountpoint: join(dir, 'merged'),
      emptyLowerdir: join(dir, 'empty'),
    };
    await mkdir(dir, { recursive: true, mode: 0o700 });
    for (const d of [snap.upperdir, snap.workdir, snap.mountpoint, snap.emptyLowerdir]) await mkdir(d, { mode: 0o755 });
    return snap;
  }

  /**
   * Archives the upper dir into a layer blob, then keeps the upper dir itself as the unpacked
   * layer (it already is in overlay form), so the next step's lowerdir costs no extraction.
   * The snapshot must be unmounted.
   */
  async commit(active: ActiveSnapshot, opts: { sourceDateEpoch?: number; signal?: AbortSignal; onProgress?: (bytes: number, done: boolean) => void } = {}): Promise<LayerInfo> {
    const { commitLayer } = await import('../layer/commitLayer.js');
    const info = await commitLayer(active.upperdir, this.content, { xattrFlavor: this.xattrFlavor, storeKind: this.storeKind, ...opts });
    await testPausePoint('layer-commit');
    try {
      await this.install(active.upperdir, this.layerDir(info.diffID));
    } finally {
      await this.abort(active);
    }
    return info;
  }

  async abort(active: ActiveSnapshot): Promise<void> {
    try {
      await rm(active.dir, { recursive: true, force: true });
    } catch (err) {
      throw wrapError('STORE_CORRUPT', `removing snapshot ${active.id}`, err, 'is it still mounted?');
    }
  }

  /** Renames `from` to `final` unless another process (or an earlier build) got there first. */
  private async install(from: string, final: string): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      await mkdir(dirname(final), { recursive: true });
      await testPausePoint('layer-install');
      try {
        await rename(from, final);
        return;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        // ENOTEMPTY/EEXIST: the layer is already there, complete (it too appeared by rename).
        if (code === 'ENOTEMPTY' || code === 'EEXIST') return;
        // ENOENT: `fsck --repair` removed the still-empty parent as a crash's leftover; make it again.
        if (code !== 'ENOENT' || attempt >= 2) throw err;
      }
    }
  }
}

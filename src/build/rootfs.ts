/**
 * Mounted views of a layer chain for filesystem steps (COPY, ADD, WORKDIR) that run in this
 * process rather than in the sandbox. Mounts live in the build's private mount namespace, so
 * even a crash cannot leave them on the host; we still unmount on every path.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { LayerInfo } from '../layer/commitLayer.js';
import type { BuildServices } from './stepContext.js';
import type { LayerRef } from './stageState.js';

/** Runs `fn` on a writable rootfs over `layers` and commits what it wrote as a layer. */
export async function withWritableRootfs(
  services: BuildServices,
  layers: readonly LayerRef[],
  signal: AbortSignal,
  fn: (root: string) => Promise<void>,
  onProgress?: (bytes: number, done: boolean) => void,
): Promise<LayerInfo> {
  const active = await services.snapshots.prepare(layers.map((l) => l.diffID));
  try {
    const lowerdirs = active.lowerdirs.length > 0 ? active.lowerdirs : [active.emptyLowerdir];
    await services.mounter.mountOverlay(
      { lowerdirs, upperdir: active.upperdir, workdir: active.workdir, userxattr: services.xattrFlavor === 'user' },
      active.mountpoint,
    );
    try {
      await fn(active.mountpoint);
    } finally {
      await services.mounter.unmount(active.mountpoint);
    }
    signal.throwIfAborted();
    return await services.snapshots.commit(active, { sourceDateEpoch: services.sourceDateEpoch, signal, ...(onProgress ? { onProgress } : {}) });
  } catch (err) {
    await services.snapshots.abort(active).catch(() => undefined);
    throw err;
  }
}

/** Runs `fn` on a read-only view of `layers` (a stage's or an image's filesystem). */
export async function withReadonlyRootfs<T>(services: BuildServices, layers: readonly LayerRef[], fn: (root: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(services.tmpDir, `view-${process.pid}-`));
  const target = join(dir, 'root');
  const empty = join(dir, 'empty');
  await mkdir(target);
  await mkdir(empty);
  const lowerdirs = [...layers].reverse().map((l) => services.snapshots.layerDir(l.diffID));
  try {
    await services.mounter.mountOverlay({ lowerdirs: lowerdirs.length > 0 ? lowerdirs : [empty], userxattr: services.xattrFlavor === 'user', readonly: true }, target);
    try {
      return await fn(target);
    } finally {
      await services.mounter.unmount(target);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

import { afterAll, beforeAll } from 'vitest';
import { seedBusybox, startRegistry, type TestRegistry } from './registry.js';
import { makeTempDir } from './tmp.js';

export interface BusyboxRegistry {
  registry: TestRegistry;
  /** e.g. 127.0.0.1:PORT/library/busybox:latest */
  base: string;
  /** A store shared by the tests of the file. */
  store: string;
}

/**
 * The usual set-up of a build test file: a local registry serving the busybox base, and a store;
 * the registry stops after the file. Call inside a describe; `receive` gets them in beforeAll.
 */
export function withBusyboxRegistry(receive: (fixture: BusyboxRegistry) => void): void {
  let registry: TestRegistry | undefined;
  beforeAll(async () => {
    registry = await startRegistry();
    receive({ registry, base: await seedBusybox(registry.host), store: await makeTempDir('tsbuild-store') });
  });
  afterAll(async () => {
    await registry?.stop();
  });
}

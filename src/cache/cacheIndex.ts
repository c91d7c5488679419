/**
 * The local cache index in the store: one small JSON file per key under cache/keys/, written
 * atomically (without fsync: an entry lost to a crash is a miss, a damaged one reads as absent,
 * and the layer it names is a blob, which is fsync'd), so a lookup is one read, concurrent builds never rewrite each other's entries and
 * a hit writes nothing. Next to it, cache/positions/ keeps, per step position, the inputs of the
 * last build of that step, which is what a miss is explained against.
 */
import { readFileSync } from 'node:fs';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Descriptor, HistoryEntry } from '../image/types.js';
import { digestHex } from '../store/digest.js';
import { writeFileAtomic } from '../util/atomicWrite.js';
import type { StepInputs } from './cacheKey.js';
import type { ConfigPatch } from './configPatch.js';

export interface CacheEntry {
  version: 1;
  key: string;
  /** ms since the epoch; `cache prune --filter until=` compares against it. */
  createdAt: number;
  /** The step as the progress showed it, for `cache du`. */
  step: string;
  /** The layer the step made; absent when it made none (metadata steps, empty RUN). */
  layer?: { diffID: string; descriptor: Descriptor };
  /**
   * What the step changed in the config (history and created excluded): applied to the parent
   * state's config on a hit. Constant-size for a metadata step, however long the config already is.
   */
  configPatch: ConfigPatch;
  /** The history entries the step added (zero or one). */
  history: HistoryEntry[];
  cmdSet: boolean;
}

export interface PositionRecord {
  version: 1;
  key: string;
  parent: string;
  inputs: StepInputs;
  /** Key inputs that are the build's rather than the step's. */
  build?: { platform: string; sourceDateEpoch?: number };
}

export class CacheIndex {
  readonly #dir: string;

  /** `dir`: ROOT/cache */
  constructor(dir: string) {
    this.#dir = dir;
  }

  get keysDir(): string {
    return join(this.#dir, 'keys');
  }

  async get(key: string): Promise<CacheEntry | undefined> {
    const entry = await readJson<CacheEntry>(this.keyPath(key));
    return entry?.version === 1 && entry.key === key && Array.isArray(entry.configPatch) ? entry : undefined;
  }

  async put(entry: CacheEntry, signal?: AbortSignal): Promise<void> {
    await mkdir(this.keysDir, { recursive: true });
    await writeFileAtomic(this.keyPath(entry.key), JSON.stringify(entry), signal, { durable: false });
  }

  async remove(key: string): Promise<void> {
    await rm(this.keyPath(key), { force: true });
  }

  async list(): Promise<CacheEntry[]> {
    const names = await readdir(this.keysDir).catch(() => [] as string[]);
    const out: CacheEntry[] = [];
    for (const name of names) {
      if (!name.endsWith('.json')) continue;
      const entry = await readJson<CacheEntry>(join(this.keysDir, name));
      if (entry?.version === 1) out.push(entry);
    }
    return out;
  }

  async position(id: string): Promise<PositionRecord | undefined> {
    const rec = await readJson<PositionRecord>(join(this.#dir, 'positions', `${digestHex(id)}.json`));
    return rec?.version === 1 ? rec : undefined;
  }

  async setPosition(id: string, rec: PositionRecord, signal?: AbortSignal): Promise<void> {
    await mkdir(join(this.#dir, 'positions'), { recursive: true });
    await writeFileAtomic(join(this.#dir, 'positions', `${digestHex(id)}.json`), JSON.stringify(rec), signal, { durable: false });
  }

  async clearPositions(): Promise<void> {
    await rm(join(this.#dir, 'positions'), { recursive: true, force: true });
  }

  /** The file of the entry for `key`. */
  keyPath(key: string): string {
    return join(this.keysDir, `${digestHex(key)}.json`);
  }
}

/**
 * A missing or damaged file reads as absent: the cache is only ever a shortcut. Synchronous: a
 * lookup reads two of these small files per step, each µs long, where an async read costs four
 * thread-pool round trips.
 */
async function readJson<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

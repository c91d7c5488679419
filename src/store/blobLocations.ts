import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../util/atomicWrite.js';

/** A registry repository known to hold a blob: where a cross-repository mount may take it from. */
export interface BlobLocation {
  readonly registry: string;
  readonly repository: string;
}

interface BlobLocationsJson {
  version: 1;
  /** Digest -> repositories, most recent first; digests in least-recently-recorded order. */
  blobs: Record<string, BlobLocation[]>;
}

const MAX_DIGESTS = 2048;
const MAX_PER_DIGEST = 4;

/**
 * containers/image's blob info cache, reduced to what a push needs: which repositories a blob
 * was last pushed to, mounted into or pulled from, so a push to a new repository of the same
 * registry can mount it instead of sending its bytes. Bounded (MAX_DIGESTS, MAX_PER_DIGEST).
 * Only registry hosts and repository names are kept, never credentials. A missing or corrupt
 * file reads as empty and a failed write is ignored: it is a hint, and a wrong hint costs one
 * refused mount. Concurrent processes may drop each other's records (last write wins).
 */
export class BlobLocations {
  readonly #path: string;
  #map: Promise<Map<string, BlobLocation[]>> | undefined;
  #writing: Promise<void> = Promise.resolve();
  #queued = false;

  constructor(path: string) {
    this.#path = path;
  }

  /** Repositories of `registry`, other than `exclude`, known to hold `digest`; most recent first. */
  async candidates(digest: string, registry: string, exclude: string): Promise<BlobLocation[]> {
    const list = (await this.#load()).get(digest) ?? [];
    return list.filter((l) => l.registry === registry && l.repository !== exclude);
  }

  /** Notes that `location` holds `digest`; never throws. */
  async record(digest: string, location: BlobLocation): Promise<void> {
    const map = await this.#load();
    const entry: BlobLocation = { registry: location.registry, repository: location.repository };
    const old = map.get(digest) ?? [];
    if (old[0]?.registry === entry.registry && old[0]?.repository === entry.repository) return;
    const list = [entry, ...old.filter((l) => l.registry !== entry.registry || l.repository !== entry.repository)].slice(0, MAX_PER_DIGEST);
    map.delete(digest);
    map.set(digest, list);
    for (const key of map.keys()) {
      if (map.size <= MAX_DIGESTS) break;
      map.delete(key);
    }
    await this.#flush(map);
  }

  #load(): Promise<Map<string, BlobLocation[]>> {
    this.#map ??= readFile(this.#path, 'utf8').then(parseLocations, () => new Map());
    return this.#map;
  }

  /** Writes the map once per burst of records: a write already queued will carry this one too. */
  #flush(map: Map<string, BlobLocation[]>): Promise<void> {
    if (this.#queued) return this.#writing;
    this.#queued = true;
    this.#writing = this.#writing.then(async () => {
      this.#queued = false;
      const json: BlobLocationsJson = { version: 1, blobs: Object.fromEntries(map) };
      await writeFileAtomic(this.#path, `${JSON.stringify(json)}\n`).catch(() => undefined);
    });
    return this.#writing;
  }
}

/** The file's records, dropping anything malformed; an unreadable file is an empty map. */
export function parseLocations(text: string): Map<string, BlobLocation[]> {
  const map = new Map<string, BlobLocation[]>();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return map;
  }
  const blobs = (json as Partial<BlobLocationsJson> | null)?.blobs;
  if ((json as Partial<BlobLocationsJson> | null)?.version !== 1 || typeof blobs !== 'object' || blobs === null) return map;
  for (const [digest, list] of Object.entries(blobs)) {
    if (!/^sha256:[0-9a-f]{64}$/.test(digest) || !Array.isArray(list)) continue;
    const ok = list
      .filter((l): l is BlobLocation => typeof l?.registry === 'string' && typeof l?.repository === 'string')
      .map((l) => ({ registry: l.registry, repository: l.repository }))
      .slice(0, MAX_PER_DIGEST);
    if (ok.length > 0) map.set(digest, ok);
  }
  while (map.size > MAX_DIGESTS) map.delete(map.keys().next().value as string);
  return map;
}

/** The record's file in a store. */
export const BLOB_LOCATIONS_FILE = 'blob-locations.json';

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TsbuildError } from '../errors.js';
import { writeFileAtomic } from '../util/atomicWrite.js';
import { withLockFile } from '../util/lockFile.js';
import { testPausePoint } from '../util/testPause.js';
import { isDigest } from './digest.js';

/**
 * The structural subset of an OCI descriptor the tag store needs. src/image owns the full type;
 * any descriptor with these fields can be stored, and extra fields are kept as written.
 */
export interface StoredDescriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  platform?: { architecture: string; os: string; variant?: string; 'os.version'?: string; 'os.features'?: string[] };
  [extra: string]: unknown;
}

export interface TaggedImage {
  name: string;
  descriptor: StoredDescriptor;
}

interface ImagesFile {
  version: 1;
  images: Record<string, StoredDescriptor>;
}

/**
 * Tags (full image names) → manifest descriptors in `<root>/images.json`. Readers read the
 * file as is (it is only ever replaced by rename); writers read-modify-write under a lock
 * file so concurrent `tsbuild` processes never lose each other's tags.
 */
export class ImageStore {
  readonly path: string;
  private readonly lockPath: string;

  constructor(root: string) {
    this.path = join(root, 'images.json');
    this.lockPath = join(root, 'images.json.lock');
  }

  async list(): Promise<TaggedImage[]> {
    const file = await this.load();
    return Object.keys(file.images)
      .sort()
      .map((name) => ({ name, descriptor: file.images[name]! }));
  }

  async get(name: string): Promise<StoredDescriptor | undefined> {
    const file = await this.load();
    return Object.hasOwn(file.images, name) ? file.images[name] : undefined;
  }

  async tag(name: string, descriptor: StoredDescriptor, signal?: AbortSignal): Promise<void> {
    if (!isDigest(descriptor.digest) || !Number.isSafeInteger(descriptor.size) || descriptor.size < 0) {
      throw new TsbuildError('INTERNAL', `tagging ${name}: invalid descriptor ${JSON.stringify(descriptor)}`);
    }
    await this.update((images) => {
      images[name] = descriptor;
    }, signal);
  }

  /** Removes a tag; returns whether it existed. */
  async untag(name: string, signal?: AbortSignal): Promise<boolean> {
    let existed = false;
    await this.update((images) => {
      existed = Object.hasOwn(images, name);
      delete images[name];
    }, signal);
    return existed;
  }

  private async update(change: (images: Record<string, StoredDescriptor>) => void, signal?: AbortSignal): Promise<void> {
    await withLockFile(
      this.lockPath,
      async () => {
        const file = await this.load();
        change(file.images);
        await testPausePoint('tag-update');
        const sorted: Record<string, StoredDescriptor> = {};
        for (const key of Object.keys(file.images).sort()) sorted[key] = file.images[key]!;
        await writeFileAtomic(this.path, `${JSON.stringify({ version: 1, images: sorted }, null, 2)}\n`, signal);
      },
      signal ? { signal } : {},
    );
  }

  private async load(): Promise<ImagesFile> {
    let text: string;
    try {
      // Synchronous: every build reads the tags; one small read, where an async one is four thread-pool round trips.
      text = readFileSync(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, images: Object.create(null) };
      throw err;
    }
    try {
      const parsed = JSON.parse(text) as Partial<ImagesFile>;
      if (parsed.version !== 1 || typeof parsed.images !== 'object' || parsed.images === null) throw new Error('unexpected shape');
      return { version: 1, images: Object.assign(Object.create(null), parsed.images) };
    } catch (err) {
      throw new TsbuildError('STORE_CORRUPT', `reading ${this.path}: ${(err as Error).message}`, {
        cause: err,
        hint: 'the tag file is damaged; move it aside to start with no tags (blobs are kept)',
      });
    }
  }
}

/**
 * Base images for FROM and COPY --from: from a named build context (oci-layout://), the local
 * store, or a registry. Layers are fetched into the content store (verified) and unpacked once
 * into layers/<diffID> (fetchLayer.ts: in one pass when both are missing); the same image named
 * twice in one build is resolved once.
 */
import pLimit from 'p-limit';
import { TsbuildError } from '../errors.js';
import { formatPlatform } from '../image/platform.js';
import { parseReference } from '../image/reference.js';
import type { Platform } from '../image/types.js';
import type { Snapshotter } from '../snapshot/snapshotter.js';
import type { ContentStore } from '../store/contentStore.js';
import type { ImageStore } from '../store/imageStore.js';
import { resolveImage } from '../transport/resolveImage.js';
import type { RegistryClient } from '../transport/registryClient.js';
import { StoreImageSource } from '../transport/storeSource.js';
import type { ImageSource } from '../transport/types.js';
import type { BuildInputObserver } from '../cache/buildInputObserver.js';
import type { ProgressSink } from './progress.js';
import { fetchLayer } from './fetchLayer.js';
import { countingSource } from './transferProgress.js';
import type { ImageRootfs } from './stepContext.js';

export interface ImageResolverDeps {
  content: ContentStore;
  images: ImageStore;
  snapshots: Snapshotter;
  /** Made on the first pull: a build the store serves never loads the registry client. */
  registry: () => Promise<RegistryClient>;
  /** `--build-context NAME=oci-layout://PATH[:TAG]` opened as a source. */
  openContext: (name: string) => ImageSource | undefined;
  platform: Platform;
  /** `--pull`: always ask the registry, even when the store has the tag. */
  pull: boolean;
  progress: ProgressSink;
  concurrency?: number;
  /**
   * Called before anything is fetched (a pull, a blob copied into the store); may throw to
   * refuse (a build first tried outside tsbuild's namespace leaves fetching to the one inside).
   */
  beforeFetch?: (what: string) => void;
  /** Told each image looked up in the store by name. */
  inputs?: Pick<BuildInputObserver, 'storeImage'>;
}

export class ImageResolver {
  readonly #deps: ImageResolverDeps;
  readonly #seen = new Map<string, Promise<ImageRootfs>>();

  constructor(deps: ImageResolverDeps) {
    this.#deps = deps;
  }

  /** A named build context (`FROM name` where `--build-context name=...` was given). */
  context(name: string, signal: AbortSignal, platform?: Platform): Promise<ImageRootfs> {
    const want = platform ?? this.#deps.platform;
    return this.#once(`context:${name}@${formatPlatform(want)}`, async () => {
      const source = this.#deps.openContext(name);
      if (!source) throw new TsbuildError('CONTEXT', `build context ${name} is not defined`, { hint: `pass --build-context ${name}=oci-layout://PATH` });
      return this.#fetch(source, signal, want);
    });
  }

  /** An image by reference; `platform` (FROM --platform) overrides the build's platform. */
  image(refText: string, signal: AbortSignal, platform?: Platform): Promise<ImageRootfs> {
    const ref = parseReference(refText);
    const name = ref.toString();
    const want = platform ?? this.#deps.platform;
    return this.#once(`image:${name}@${formatPlatform(want)}`, async () => {
      if (!this.#deps.pull) {
        const local = await this.#deps.images.get(name);
        this.#deps.inputs?.storeImage(name, local?.digest);
        if (local) return this.#fetch(new StoreImageSource(this.#deps.content, name, local), signal, want);
      }
      this.#deps.beforeFetch?.(`pulling ${name}`);
      this.#deps.progress.emit({ type: 'info', message: `pulling ${name}`, time: Date.now() });
      const { RegistrySource } = await import('../transport/registrySource.js');
      return this.#fetch(new RegistrySource(await this.#deps.registry(), ref), signal, want);
    });
  }

  #once(key: string, fn: () => Promise<ImageRootfs>): Promise<ImageRootfs> {
    let p = this.#seen.get(key);
    if (!p) {
      p = fn();
      this.#seen.set(key, p);
    }
    return p;
  }

  async #fetch(original: ImageSource, signal: AbortSignal, platform: Platform = this.#deps.platform): Promise<ImageRootfs> {
    const source = countingSource(original, this.#deps.progress, 'pull');
    try {
      const resolved = await resolveImage(source, platform, signal);
      const limit = pLimit(this.#deps.concurrency ?? 3);
      const layers = await Promise.all(
        resolved.manifest.layers.map((descriptor, i) =>
          limit(async () => {
            const diffID = resolved.config.rootfs.diff_ids[i] as string;
            await fetchLayer(this.#deps, source, descriptor, diffID, signal);
            return { diffID, descriptor: { mediaType: descriptor.mediaType, digest: descriptor.digest, size: descriptor.size } };
          }),
        ),
      );
      return { config: resolved.config, layers };
    } finally {
      await source.close();
    }
  }
}

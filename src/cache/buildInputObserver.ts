/**
 * Told what a build's result was made from, as the build reads it: the context digests its steps'
 * cache keys were made of, and the images it took from the store by name. The build record
 * (cli/buildMemo.ts) keeps them to tell later whether the same build would read the same.
 */
export interface BuildInputObserver {
  /** A step's cache key read these context sources, with these digests (cache/contextHasher.ts). */
  contextRead(sources: readonly string[], digests: Record<string, string>): void;
  /** A FROM or COPY --from found `name` in the store's images.json (digest), or not (undefined). */
  storeImage(name: string, digest: string | undefined): void;
}

import { Readable } from 'node:stream';

/**
 * Two readables that each get every chunk of `source`, which is read once. Nothing is buffered
 * beyond each branch's highWaterMark: when a branch is full the source is not read until that
 * branch wants more, so the slower consumer paces it (Web streams' tee() buffers without bound
 * for the slower branch instead).
 *
 * Destroying a branch (its consumer failed or stopped) detaches it and the other goes on alone;
 * once both are destroyed the source is destroyed too. An error of the source destroys both
 * branches with that error. A branch that may be destroyed before anyone reads it needs an
 * 'error' listener, as any readable does.
 */
export function teeStream(source: NodeJS.ReadableStream, highWaterMark = 1 << 20): [Readable, Readable] {
  const branches = [new Branch(highWaterMark, onDetach), new Branch(highWaterMark, onDetach)] as const;
  function onDetach(): void {
    if (branches.every((b) => b.destroyed)) (source as Readable).destroy?.();
  }
  void (async () => {
    try {
      for await (const chunk of source as AsyncIterable<Buffer>) {
        const live = branches.filter((b) => !b.destroyed);
        if (live.length === 0) return;
        await Promise.all(live.map((b) => b.offer(chunk)));
      }
      for (const b of branches) if (!b.destroyed) b.push(null);
    } catch (err) {
      for (const b of branches) b.destroy(err as Error);
    }
  })();
  return [branches[0], branches[1]];
}

class Branch extends Readable {
  #wake: (() => void) | undefined;
  readonly #onDetach: () => void;

  constructor(highWaterMark: number, onDetach: () => void) {
    super({ highWaterMark });
    this.#onDetach = onDetach;
  }

  /** Pushes `chunk`; resolves once this branch wants more (or is gone). */
  offer(chunk: Buffer): Promise<void> {
    if (this.push(chunk) || this.destroyed) return Promise.resolve();
    return new Promise((resolve) => {
      this.#wake = resolve;
    });
  }

  override _read(): void {
    this.#release();
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    this.#release();
    callback(err);
    this.#onDetach();
  }

  #release(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}

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
 *
 * Smaller chunks (a socket's 16-64 KiB) are gathered into chunks of up to `highWaterMark`:
 * each chunk costs each consumer a write or a zlib job, so fewer and bigger ones are cheaper.
 */
export function teeStream(source: NodeJS.ReadableStream, highWaterMark = 1 << 20): [Readable, Readable] {
  const branches = [new Branch(highWaterMark, onDetach), new Branch(highWaterMark, onDetach)] as const;
  function onDetach(): void {
    if (branches.every((b) => b.destroyed)) (source as Readable).destroy?.();
  }
  const offer = async (chunk: Buffer): Promise<boolean> => {
    const live = branches.filter((b) => !b.destroyed);
    await Promise.all(live.map((b) => b.offer(chunk)));
    return live.length > 0;
  };
  void (async () => {
    try {
      let gathered: Buffer[] = [];
      let size = 0;
      for await (const chunk of source as AsyncIterable<Buffer>) {
        gathered.push(chunk);
        size += chunk.length;
        if (size < highWaterMark) continue;
        const whole = gathered.length === 1 ? chunk : Buffer.concat(gathered, size);
        gathered = [];
        size = 0;
        if (!(await offer(whole))) return;
      }
      if (size > 0 && !(await offer(Buffer.concat(gathered, size)))) return;
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

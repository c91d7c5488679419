import { Transform, pipeline, type Readable } from 'node:stream';

/**
 * Aborts a request that makes no progress for `idleMs`: no response headers, no upload bytes
 * read, no body bytes received. A whole-request deadline would kill a slow but healthy 1 GiB
 * transfer; an idle deadline only kills a stalled one.
 */
export class IdleWatchdog {
  readonly #controller = new AbortController();
  readonly #idleMs: number;
  #timer: NodeJS.Timeout | undefined;

  constructor(idleMs: number) {
    this.#idleMs = idleMs;
    this.touch();
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** True once the watchdog itself aborted (as opposed to the caller's signal). */
  get fired(): boolean {
    return this.#controller.signal.aborted;
  }

  touch(): void {
    if (this.#controller.signal.aborted) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#controller.abort(new Error(`no data for ${this.#idleMs} ms`)), this.#idleMs);
    this.#timer.unref();
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** `source` passed through, touching the watchdog on every chunk. */
  watch(source: NodeJS.ReadableStream): Readable {
    const out = new Transform({
      transform: (chunk: Buffer, _enc, cb) => {
        this.touch();
        cb(null, chunk);
      },
    });
    pipeline(source, out, () => {
      // The error, if any, is on `out`, which the consumer reads.
    });
    return out;
  }
}

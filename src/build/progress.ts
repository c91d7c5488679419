/**
 * What the builder tells the outside world. The builder only emits events; the CLI decides how to
 * show them (plain lines for CI logs, a live tty view, JSON lines, quiet), so no build code ever
 * prints. The JSON form of these events is documented in src/cli/progress-events.schema.json.
 */
export interface StepRef {
  /** A build-wide sequence number, like BuildKit's `#N`. */
  id: number;
  /** e.g. `[build 2/5] RUN make` */
  name: string;
  stage: string;
}

export type ProgressEvent =
  | { type: 'info'; message: string; time: number }
  | { type: 'warning'; message: string; time: number }
  | { type: 'step-start'; step: StepRef; time: number }
  | { type: 'step-log'; step: StepRef; stream: 'stdout' | 'stderr'; data: Buffer; time: number }
  | {
      type: 'step-end';
      step: StepRef;
      time: number;
      durationMs: number;
      cached: boolean;
      error?: string;
      /** Why the cache was (not) used, e.g. "no earlier build of this step" or "COPY sources changed". */
      cacheReason?: string;
    }
  /** Bytes moving: a pulled or pushed blob, an exported layer, a layer being committed. */
  | { type: 'transfer'; id: string; label: string; current: number; total?: number; done: boolean; time: number }
  /** A step made a layer (emitted once per committed layer, before its step-end). */
  | { type: 'layer'; step: StepRef; digest: string; diffID: string; size: number; time: number };

export interface ProgressSink {
  emit(event: ProgressEvent): void;
}

export const silentProgress: ProgressSink = { emit() {} };

/** Sends every event to each sink, e.g. the display and the summary's recorder. */
export function teeProgress(...sinks: readonly ProgressSink[]): ProgressSink {
  return {
    emit(event) {
      for (const s of sinks) s.emit(event);
    },
  };
}

/**
 * Keeps events until the caller decides: `release` passes them on, in order, to `to` (and every
 * later event straight through); `drop` forgets them and ignores what still comes. A build tried
 * first outside tsbuild's namespace shows its steps only once it is kept.
 */
export class HeldProgress implements ProgressSink {
  #held: ProgressEvent[] | undefined = [];
  #to: ProgressSink | undefined;

  emit(event: ProgressEvent): void {
    if (this.#to) this.#to.emit(event);
    else this.#held?.push(event);
  }

  release(to: ProgressSink): void {
    if (this.#to || !this.#held) return;
    this.#to = to;
    for (const event of this.#held) to.emit(event);
    this.#held = undefined;
  }

  drop(): void {
    if (!this.#to) this.#held = undefined;
  }
}

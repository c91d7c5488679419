/**
 * `--progress plain`: one line per event for CI logs, BuildKit's `#N` prefix after a wall-clock
 * timestamp, so interleaved parallel stages can be told apart and timed:
 *   14:02:03.120 #3 [build 2/4] RUN make
 *   14:02:03.532 #3 0.412 compiling...
 *   14:02:04.320 #3 DONE 1.2s
 */
import type { ProgressEvent, ProgressSink } from '../build/progress.js';
import { humanSize } from './humanSize.js';

export class PlainProgress implements ProgressSink {
  readonly #out: NodeJS.WritableStream;
  readonly #started = new Map<number, number>();
  readonly #partial = new Map<string, string>();

  constructor(out: NodeJS.WritableStream) {
    this.#out = out;
  }

  #line(time: number, text: string): void {
    this.#out.write(`${clock(time)} ${text}\n`);
  }

  emit(e: ProgressEvent): void {
    switch (e.type) {
      case 'info':
        this.#line(e.time, e.message);
        break;
      case 'warning':
        this.#line(e.time, `WARNING: ${e.message}`);
        break;
      case 'step-start':
        this.#started.set(e.step.id, e.time);
        this.#line(e.time, `#${e.step.id} ${e.step.name}`);
        break;
      case 'step-log': {
        const key = `${e.step.id}:${e.stream}`;
        const text = (this.#partial.get(key) ?? '') + e.data.toString('utf8');
        const lines = text.split('\n');
        this.#partial.set(key, lines.pop() ?? '');
        const elapsed = ((e.time - (this.#started.get(e.step.id) ?? e.time)) / 1000).toFixed(3);
        for (const line of lines) this.#line(e.time, `#${e.step.id} ${elapsed} ${line}`);
        break;
      }
      case 'step-end': {
        for (const stream of ['stdout', 'stderr']) {
          const rest = this.#partial.get(`${e.step.id}:${stream}`);
          if (rest) this.#line(e.time, `#${e.step.id} ${rest}`);
          this.#partial.delete(`${e.step.id}:${stream}`);
        }
        const secs = (e.durationMs / 1000).toFixed(1);
        const reason = e.cacheReason ? ` (${e.cacheReason})` : '';
        if (e.error) this.#line(e.time, `#${e.step.id} ERROR: ${e.error}`);
        else this.#line(e.time, `#${e.step.id} ${e.cached ? `CACHED${reason}` : `DONE ${secs}s${reason}`}`);
        break;
      }
      case 'transfer':
        // Only the end of a transfer: CI logs want one line per blob, not a bar.
        if (e.done) this.#line(e.time, `${e.label} ${humanSize(e.current)} done`);
        break;
      case 'layer':
        this.#line(e.time, `#${e.step.id} layer ${e.digest} ${humanSize(e.size)}`);
        break;
    }
  }
}

/** HH:MM:SS.mmm in local time. */
export function clock(time: number): string {
  const d = new Date(time);
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

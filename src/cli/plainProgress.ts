/**
 * `--progress plain`: BuildKit's plain format, one line per event, for CI logs:
 *   #3 [build 2/4] RUN make
 *   #3 0.412 compiling...
 *   #3 DONE 1.2s
 */
import type { ProgressEvent, ProgressSink } from '../build/progress.js';

export class PlainProgress implements ProgressSink {
  readonly #out: NodeJS.WritableStream;
  readonly #started = new Map<number, number>();
  readonly #partial = new Map<string, string>();

  constructor(out: NodeJS.WritableStream) {
    this.#out = out;
  }

  emit(e: ProgressEvent): void {
    switch (e.type) {
      case 'info':
        this.#out.write(`${e.message}\n`);
        break;
      case 'warning':
        this.#out.write(`WARNING: ${e.message}\n`);
        break;
      case 'step-start':
        this.#started.set(e.step.id, e.time);
        this.#out.write(`#${e.step.id} ${e.step.name}\n`);
        break;
      case 'step-log': {
        const key = `${e.step.id}:${e.stream}`;
        const text = (this.#partial.get(key) ?? '') + e.data.toString('utf8');
        const lines = text.split('\n');
        this.#partial.set(key, lines.pop() ?? '');
        const elapsed = ((e.time - (this.#started.get(e.step.id) ?? e.time)) / 1000).toFixed(3);
        for (const line of lines) this.#out.write(`#${e.step.id} ${elapsed} ${line}\n`);
        break;
      }
      case 'step-end': {
        for (const stream of ['stdout', 'stderr']) {
          const rest = this.#partial.get(`${e.step.id}:${stream}`);
          if (rest) this.#out.write(`#${e.step.id} ${rest}\n`);
          this.#partial.delete(`${e.step.id}:${stream}`);
        }
        const secs = (e.durationMs / 1000).toFixed(1);
        if (e.error) this.#out.write(`#${e.step.id} ERROR: ${e.error}\n`);
        else this.#out.write(`#${e.step.id} ${e.cached ? 'CACHED' : `DONE ${secs}s`}\n`);
        break;
      }
    }
  }
}

/**
 * `--progress tty`: a live view redrawn in place. Finished steps collapse to one line printed
 * above the live area; each running step shows its elapsed time and the last lines of its
 * output; transfers show a bar with bytes and rate. A failed step keeps its output tail on screen
 * so the error below it has its context.
 */
import type { ProgressEvent, ProgressSink, StepRef } from '../build/progress.js';
import { humanDuration, humanSize } from './humanSize.js';

const TAIL_LINES = 6;
const KEEP_ON_ERROR = 20;
const REDRAW_MS = 100;

interface Running {
  step: StepRef;
  start: number;
  lines: string[];
  partial: string;
}

interface Transfer {
  label: string;
  current: number;
  total: number | undefined;
  start: number;
}

export interface TtyOptions {
  color: boolean;
  columns: () => number;
  /** Injected so tests can drive time; defaults to Date.now. */
  now?: () => number;
}

export class TtyProgress implements ProgressSink {
  readonly #out: NodeJS.WritableStream;
  readonly #opts: TtyOptions;
  readonly #running = new Map<number, Running>();
  readonly #transfers = new Map<string, Transfer>();
  #liveLines = 0;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(out: NodeJS.WritableStream, opts: TtyOptions) {
    this.#out = out;
    this.#opts = opts;
  }

  emit(e: ProgressEvent): void {
    if (this.#closed) return;
    switch (e.type) {
      case 'info':
        this.#print(e.message);
        break;
      case 'warning':
        this.#print(this.#c('33', `WARNING: ${e.message}`));
        break;
      case 'step-start':
        this.#running.set(e.step.id, { step: e.step, start: e.time, lines: [], partial: '' });
        break;
      case 'step-log': {
        const r = this.#running.get(e.step.id);
        if (!r) break;
        const parts = (r.partial + e.data.toString('utf8')).split(/\r?\n|\r/);
        r.partial = parts.pop() ?? '';
        r.lines.push(...parts);
        if (r.lines.length > KEEP_ON_ERROR) r.lines.splice(0, r.lines.length - KEEP_ON_ERROR);
        break;
      }
      case 'step-end': {
        const r = this.#running.get(e.step.id);
        this.#running.delete(e.step.id);
        const name = e.step.name;
        if (e.error) {
          const tail = r ? [...r.lines, ...(r.partial ? [r.partial] : [])] : [];
          this.#print([this.#c('31', `✗ ${name}  ${humanDuration(e.durationMs)}`), ...tail.map((l) => this.#c('2', `  │ ${l}`)), this.#c('31', `  ERROR: ${e.error}`)].join('\n'));
        } else if (e.cached) {
          this.#print(this.#c('36', `✓ ${name}  CACHED${e.cacheReason ? ` (${e.cacheReason})` : ''}`));
        } else {
          this.#print(`${this.#c('32', '✓')} ${name}  ${this.#c('2', humanDuration(e.durationMs))}`);
        }
        break;
      }
      case 'transfer':
        if (e.done) this.#transfers.delete(e.id);
        else {
          const t = this.#transfers.get(e.id);
          this.#transfers.set(e.id, { label: e.label, current: e.current, total: e.total, start: t?.start ?? e.time });
        }
        break;
      case 'layer':
        break;
    }
    this.#schedule();
  }

  /** Final redraw: whatever still runs is shown once more, then the live area is left as is. */
  close(): void {
    if (this.#closed) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#redraw();
    this.#closed = true;
    this.#liveLines = 0;
  }

  #schedule(): void {
    if (this.#timer) return;
    // Coalesce bursts of events into one redraw; keep ticking while something runs so elapsed times move.
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#redraw();
      if (this.#running.size > 0 || this.#transfers.size > 0) this.#schedule();
    }, REDRAW_MS);
    this.#timer.unref();
  }

  #print(text: string): void {
    this.#out.write(`${this.#clear()}${text}\n`);
    this.#liveLines = 0;
    this.#schedule();
  }

  #clear(): string {
    // Cursor up over the live area and erase to the end of the screen.
    return this.#liveLines > 0 ? `\x1b[${this.#liveLines}F\x1b[J` : '';
  }

  #redraw(): void {
    const lines = liveLines([...this.#running.values()], [...this.#transfers.values()], (this.#opts.now ?? Date.now)());
    const width = Math.max(20, this.#opts.columns());
    const shown = lines.map((l) => this.#style(l, width));
    this.#out.write(`${this.#clear()}${shown.map((l) => `${l}\n`).join('')}`);
    this.#liveLines = shown.length;
  }

  #style(l: LiveLine, width: number): string {
    const text = l.text.length > width - 1 ? `${l.text.slice(0, width - 2)}…` : l.text;
    return l.kind === 'log' ? this.#c('2', text) : l.kind === 'step' ? this.#c('34', text) : text;
  }

  #c(code: string, text: string): string {
    return this.#opts.color ? `\x1b[${code}m${text}\x1b[0m` : text;
  }
}

export interface LiveLine {
  kind: 'step' | 'log' | 'transfer';
  text: string;
}

/** The live area as plain text lines (pure, so tests can check the layout). */
export function liveLines(running: readonly Running[], transfers: readonly Transfer[], now: number): LiveLine[] {
  const out: LiveLine[] = [];
  for (const r of running) {
    out.push({ kind: 'step', text: `=> ${r.step.name}  ${humanDuration(now - r.start)}` });
    const tail = [...r.lines, ...(r.partial ? [r.partial] : [])].slice(-TAIL_LINES);
    for (const line of tail) out.push({ kind: 'log', text: `   │ ${line}` });
  }
  for (const t of transfers) out.push({ kind: 'transfer', text: transferLine(t, now) });
  return out;
}

export function transferLine(t: Transfer, now: number): string {
  const secs = Math.max(0.001, (now - t.start) / 1000);
  const rate = `${humanSize(Math.round(t.current / secs))}/s`;
  if (t.total === undefined || t.total <= 0) return `   ${t.label} ${humanSize(t.current)} ${rate}`;
  const frac = Math.min(1, t.current / t.total);
  const width = 20;
  const filled = Math.round(frac * width);
  const bar = `${'='.repeat(Math.max(0, filled - 1))}${filled > 0 ? '>' : ''}${' '.repeat(width - filled)}`;
  return `   ${t.label} [${bar}] ${humanSize(t.current)}/${humanSize(t.total)} ${rate}`;
}

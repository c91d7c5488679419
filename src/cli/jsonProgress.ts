/**
 * `--progress json`: one JSON object per line on stderr, for tools and CI dashboards. The shape
 * of every line is documented in progress-events.schema.json (kept next to this file); adding a
 * field is compatible, renaming one is not.
 */
import type { ProgressEvent, ProgressSink } from '../build/progress.js';

export const JSON_PROGRESS_VERSION = 1;

/** The build's outcome, written by the CLI after the last step (not a builder event). */
export interface ResultEvent {
  type: 'result';
  time: number;
  /** The manifest digest (what a registry calls the image digest). */
  digest: string;
  /** The config digest, docker's image ID. */
  imageId: string;
  tags: string[];
  size: number;
  durationMs: number;
}

export class JsonProgress implements ProgressSink {
  readonly #out: NodeJS.WritableStream;

  constructor(out: NodeJS.WritableStream) {
    this.#out = out;
  }

  emit(e: ProgressEvent | ResultEvent): void {
    this.#out.write(`${JSON.stringify(toJson(e))}\n`);
  }
}

export function toJson(e: ProgressEvent | ResultEvent): Record<string, unknown> {
  switch (e.type) {
    case 'step-log': {
      // Output is bytes; UTF-8 text stays readable, anything else travels as base64.
      const text = e.data.toString('utf8');
      const utf8 = Buffer.from(text, 'utf8').equals(e.data);
      return { v: JSON_PROGRESS_VERSION, type: e.type, time: e.time, step: e.step, stream: e.stream, encoding: utf8 ? 'utf8' : 'base64', data: utf8 ? text : e.data.toString('base64') };
    }
    case 'step-end':
      return { v: JSON_PROGRESS_VERSION, ...e, cache: e.cached ? 'hit' : 'miss' };
    default:
      return { v: JSON_PROGRESS_VERSION, ...e };
  }
}

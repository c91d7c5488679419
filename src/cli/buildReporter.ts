/**
 * One build's output, wired once: the chosen progress display, a recorder for the summary, and
 * the closing lines (summary for people, a `result` event for `--progress json`, nothing for quiet).
 */
import { teeProgress, type ProgressSink } from '../build/progress.js';
import type { ContentStore } from '../store/contentStore.js';
import type { ImageConfig, ImageManifest } from '../image/types.js';
import { BuildRecorder, formatSummary, summarizeBuild } from './buildSummary.js';
import { JsonProgress } from './jsonProgress.js';
import type { ProgressDisplay, ProgressMode } from './progressMode.js';

export interface FinishedBuild {
  manifest: { digest: string };
  config: { digest: string };
  tags: string[];
}

/** What the summary reads from the store: the image's manifest and config, a built layer's files. */
export interface SummaryStore {
  content: Pick<ContentStore, 'readBytes'>;
  layerDir(diffID: string): string;
}

export class BuildReporter {
  readonly mode: ProgressMode;
  readonly progress: ProgressSink;
  readonly #display: ProgressDisplay;
  readonly #recorder = new BuildRecorder();
  readonly #err: NodeJS.WritableStream;

  /** `also`: one more sink for every event (the build record's recorder, cli/buildMemo.ts). */
  constructor(mode: ProgressMode, display: ProgressDisplay, err: NodeJS.WritableStream, also?: ProgressSink) {
    this.mode = mode;
    this.#display = display;
    this.#err = err;
    this.progress = also ? teeProgress(display, this.#recorder, also) : teeProgress(display, this.#recorder);
  }

  /** A line for people (exported to ..., naming to ...); an `info` event in json mode. */
  info(message: string): void {
    this.progress.emit({ type: 'info', message, time: Date.now() });
  }

  /** Closes the display, then prints the summary (tty, plain) or the result event (json). */
  async finish(result: FinishedBuild, store: SummaryStore, signal?: AbortSignal): Promise<void> {
    this.#display.close();
    if (this.mode === 'quiet') return;
    const manifest = JSON.parse((await store.content.readBytes(result.manifest.digest, signal)).toString('utf8')) as ImageManifest;
    const config = JSON.parse((await store.content.readBytes(result.config.digest, signal)).toString('utf8')) as ImageConfig;
    const summary = await summarizeBuild({
      recorder: this.#recorder,
      manifestDigest: result.manifest.digest,
      manifest,
      config,
      configDigest: result.config.digest,
      tags: result.tags,
      layerDir: (diffID) => store.layerDir(diffID),
      ...(signal ? { signal } : {}),
    });
    if (this.mode === 'json') {
      new JsonProgress(this.#err).emit({
        type: 'result',
        time: Date.now(),
        digest: summary.digest,
        imageId: summary.imageId,
        tags: summary.tags,
        size: summary.size,
        durationMs: summary.totalMs,
      });
      return;
    }
    this.#err.write(formatSummary(summary));
  }

  close(): void {
    this.#display.close();
  }
}

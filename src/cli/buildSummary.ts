/**
 * The few lines after a build that answer "what did I just make?": digest, size, each layer with
 * the step that made it, the biggest files this build added (like dive), time per stage, cache hits.
 */
import { constants } from 'node:fs';
import { join } from 'node:path';
import type { ProgressEvent, ProgressSink } from '../build/progress.js';
import type { ImageConfig, ImageManifest } from '../image/types.js';
import { scanDir, type ScannedEntry } from '../util/fsx.js';
import { humanDuration, humanSize } from './humanSize.js';

const { S_IFDIR, S_IFMT, S_IFREG } = constants;

const TOP_FILES = 5;
/** A layer with more entries than this is not walked for the file list; the summary stays cheap. */
const MAX_WALK = 50_000;

/** Listens to the build's events and keeps what the summary needs. */
export class BuildRecorder implements ProgressSink {
  readonly startedAt: number;
  readonly stages = new Map<string, { start: number; end: number }>();
  /** Layer digest → the step that committed it in this build. */
  readonly layers = new Map<string, { step: string; diffID: string }>();
  steps = 0;
  cached = 0;

  constructor(now = Date.now()) {
    this.startedAt = now;
  }

  emit(e: ProgressEvent): void {
    if (e.type === 'step-start') {
      const s = this.stages.get(e.step.stage);
      this.stages.set(e.step.stage, { start: Math.min(s?.start ?? e.time, e.time), end: Math.max(s?.end ?? e.time, e.time) });
    } else if (e.type === 'step-end') {
      const s = this.stages.get(e.step.stage);
      if (s) s.end = Math.max(s.end, e.time);
      this.steps++;
      if (e.cached) this.cached++;
    } else if (e.type === 'layer') {
      this.layers.set(e.digest, { step: e.step.name, diffID: e.diffID });
    }
  }
}

export interface BuildSummary {
  digest: string;
  imageId: string;
  tags: string[];
  size: number;
  layers: Array<{ digest: string; size: number; createdBy: string; built: boolean }>;
  biggestFiles: Array<{ path: string; size: number }>;
  totalMs: number;
  stages: Array<{ name: string; ms: number }>;
  steps: number;
  cached: number;
}

export async function summarizeBuild(opts: {
  recorder: BuildRecorder;
  manifestDigest: string;
  manifest: ImageManifest;
  config: ImageConfig;
  configDigest: string;
  tags: string[];
  /** Where an unpacked layer lives (the snapshotter's layer dir). */
  layerDir: (diffID: string) => string;
  now?: number;
  signal?: AbortSignal;
}): Promise<BuildSummary> {
  const { recorder, manifest, config } = opts;
  const history = (config.history ?? []).filter((h) => !h.empty_layer);
  const layers = manifest.layers.map((l, i) => {
    const mine = recorder.layers.get(l.digest);
    return { digest: l.digest, size: l.size, createdBy: mine?.step ?? history[i]?.created_by ?? '(base image)', built: mine !== undefined };
  });
  // A path two steps wrote (COPY, then a RUN touching it) is one file, as the later layer has it.
  const byPath = new Map<string, { path: string; size: number }>();
  for (const l of manifest.layers) {
    const mine = recorder.layers.get(l.digest);
    if (mine) for (const f of await largestFiles(opts.layerDir(mine.diffID), TOP_FILES, opts.signal)) byPath.set(f.path, f);
  }
  const files = [...byPath.values()];
  files.sort((a, b) => b.size - a.size || a.path.localeCompare(b.path));
  return {
    digest: opts.manifestDigest,
    imageId: opts.configDigest,
    tags: opts.tags,
    size: manifest.config.size + manifest.layers.reduce((n, l) => n + l.size, 0),
    layers,
    biggestFiles: files.slice(0, TOP_FILES),
    totalMs: (opts.now ?? Date.now()) - recorder.startedAt,
    stages: [...recorder.stages].map(([name, s]) => ({ name, ms: s.end - s.start })),
    steps: recorder.steps,
    cached: recorder.cached,
  };
}

/** The `n` largest regular files under `dir`, by apparent size; whiteouts are not files. */
export async function largestFiles(dir: string, n: number, signal?: AbortSignal): Promise<Array<{ path: string; size: number }>> {
  const top: Array<{ path: string; size: number }> = [];
  let seen = 0;
  const walk = async (abs: string, rel: string): Promise<void> => {
    signal?.throwIfAborted();
    let entries: ScannedEntry[];
    try {
      // One job per directory with every entry's size, not an lstat per file.
      entries = await scanDir(abs, { inlineMax: 0, budget: 0, xattrs: false });
    } catch {
      return; // a layer dir we cannot read (another user's store) just has no file list
    }
    for (const e of entries) {
      if (++seen > MAX_WALK) return;
      const childRel = `${rel}/${e.name}`;
      const type = e.mode & S_IFMT;
      if (type === S_IFDIR) await walk(join(abs, e.name), childRel);
      else if (type === S_IFREG) {
        top.push({ path: childRel, size: e.size });
        top.sort((a, b) => b.size - a.size);
        if (top.length > n) top.pop();
      }
    }
  };
  await walk(dir, '');
  return top;
}

export function formatSummary(s: BuildSummary): string {
  const out: string[] = [];
  const short = (d: string) => d.slice(7, 19);
  const built = s.layers.filter((l) => l.built).length;
  out.push('');
  out.push(`image    ${s.digest}${s.tags.length ? `  (${s.tags.join(', ')})` : ''}`);
  out.push(`id       ${s.imageId}`);
  out.push(`size     ${humanSize(s.size)} in ${s.layers.length} layer${s.layers.length === 1 ? '' : 's'} (${built} built by this build)`);
  if (s.layers.length) {
    out.push('layers');
    for (const l of s.layers) out.push(`  ${short(l.digest)}  ${humanSize(l.size).padStart(8)}  ${l.built ? '' : '(base) '}${oneLine(l.createdBy)}`);
  }
  if (s.biggestFiles.length) {
    out.push('biggest files added');
    for (const f of s.biggestFiles) out.push(`  ${humanSize(f.size).padStart(8)}  ${f.path}`);
  }
  const stages = s.stages.map((st) => `${st.name} ${humanDuration(st.ms)}`).join(', ');
  out.push(`time     ${humanDuration(s.totalMs)}${stages ? ` (${stages})` : ''}`);
  out.push(`cache    ${s.cached} of ${s.steps} steps cached`);
  return `${out.join('\n')}\n`;
}

function oneLine(text: string): string {
  const t = text.replace(/\s+/g, ' ').trim();
  return t.length > 72 ? `${t.slice(0, 71)}…` : t;
}

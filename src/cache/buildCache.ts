/**
 * The cache as the step loop uses it: compute the step's key, reuse a recorded result on a hit,
 * otherwise run the step and record what it made. A hit writes nothing and unpacks nothing:
 * layers are unpacked (from the content store) only when a later step that runs needs them.
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import pLimit from 'p-limit';
import type { BuildInputObserver } from './buildInputObserver.js';
import type { Instruction } from '../dockerfile/instructions.js';
import type { Descriptor, ImageConfig, Platform } from '../image/types.js';
import type { Snapshotter } from '../snapshot/snapshotter.js';
import type { ContentStore } from '../store/contentStore.js';
import { digestOf } from './canonicalJson.js';
import { CacheIndex, type CacheEntry } from './cacheIndex.js';
import { cacheKey, chainedStateDigest, stateDigest } from './cacheKey.js';
import { applyConfigPatch, diffConfig } from './configPatch.js';
import { ContextHasher, statCachePath } from './contextHasher.js';
import { explainMiss } from './explainMiss.js';
import type { RemoteCache } from './remoteCache.js';
import { stepInputs, type InputView } from './stepInputs.js';

export interface CacheableState {
  config: ImageConfig;
  layers: readonly { diffID: string; descriptor: Descriptor }[];
  cmdSet: boolean;
}

export interface BuildCacheOptions {
  storeRoot: string;
  content: ContentStore;
  snapshots: Snapshotter;
  platform: Platform;
  contextDir: string;
  /** Names this build's step positions apart from other projects' (e.g. context dir + Dockerfile path). */
  scope: string;
  /** SOURCE_DATE_EPOCH of this build, if any. */
  sourceDateEpoch?: number;
  /** --no-cache: never reuse, still record. */
  noCache: boolean;
  /** --no-cache-filter: stages (by name or index) that never reuse. */
  noCacheStages: ReadonlySet<string>;
  /** .dockerignore: context paths COPY never sees (true = hidden). */
  contextFilter?: (relPath: string, isDir: boolean) => boolean;
  /** A cache imported with --cache-from: consulted after the local index; its layers fetched on demand. */
  remote?: RemoteCache;
  /**
   * Called before a step that missed runs; may throw to refuse (a build first tried outside
   * tsbuild's namespace serves hits only, so an abandoned try has recorded nothing).
   */
  beforeMiss?: (step: string) => void;
  /** Told each context read a step's key was made from. */
  inputs?: Pick<BuildInputObserver, 'contextRead'>;
}

export interface StepRequest<S extends CacheableState> {
  instr: Instruction;
  state: S;
  /** Stage name or `stage-N`, and its index, for --no-cache-filter and positions. */
  stage: { label: string; index: number };
  /** The step's position in its stage (its ordinal among the stage's steps). */
  position: string;
  /** The step as shown, e.g. `COPY . /app`. */
  display: string;
  view: Omit<InputView, 'hashContext'>;
  signal: AbortSignal;
}

export interface StepOutcome<S> {
  state: S;
  cached: boolean;
  /** Why it missed (undefined on a hit). */
  reason?: string;
}

export class BuildCache {
  readonly index: CacheIndex;
  readonly #opts: BuildCacheOptions;
  readonly #hasher: ContextHasher;
  /** Every entry this build used or made, with its stage, for --cache-to. */
  readonly #used = new Map<string, { entry: CacheEntry; stage: number }>();
  #targetStage: number | undefined;
  /** The identity of each state this cache made, chained from its parent's (see chainedStateDigest). */
  readonly #digests = new WeakMap<object, string>();
  /**
   * Index writes run beside the steps, a few at a time, and finish() waits for them: each is
   * fsync'd, and one after the other they made a stage of thousands of metadata steps wait on
   * the disk for most of its time. No step of this build reads what an earlier one wrote.
   */
  readonly #writes = pLimit(8);
  readonly #pending = new Set<Promise<void>>();
  #writeError: unknown;

  constructor(opts: BuildCacheOptions) {
    this.#opts = opts;
    this.index = new CacheIndex(join(opts.storeRoot, 'cache'));
    this.#hasher = new ContextHasher(statCachePath(opts.storeRoot));
  }

  async run<S extends CacheableState>(req: StepRequest<S>, execute: () => Promise<S>): Promise<StepOutcome<S>> {
    const { state, signal, instr } = req;
    const parent = this.#digests.get(state) ?? stateDigest(state);
    const view: InputView = {
      ...req.view,
      hashContext: async (sources, s) => {
        const digests = await this.#hasher.hash(this.#opts.contextDir, sources, s, this.#opts.contextFilter);
        this.#opts.inputs?.contextRead(sources, digests);
        return digests;
      },
    };
    const inputs = await stepInputs(instr, view, signal);
    const key = cacheKey(parent, inputs, this.#opts.platform, this.#opts.sourceDateEpoch);
    const positionId = digestOf({ scope: this.#opts.scope, stage: req.stage.label, position: req.position });
    const previous = await this.index.position(positionId);
    const { platform, sourceDateEpoch } = this.#opts;
    const buildInputs = { platform: [platform.os, platform.architecture, platform.variant].filter(Boolean).join('/'), ...(sourceDateEpoch !== undefined ? { sourceDateEpoch } : {}) };
    const record = { version: 1 as const, key, parent, inputs, build: buildInputs };
    const disabled = this.#opts.noCache || this.#opts.noCacheStages.has(req.stage.label) || this.#opts.noCacheStages.has(String(req.stage.index));

    const entry = disabled ? undefined : await this.#usable((await this.index.get(key)) ?? this.#opts.remote?.get(key));
    if (entry) {
      this.#used.set(key, { entry, stage: req.stage.index });
      const next = instr.kind === 'ARG' ? await execute() : applyEntry(state, entry);
      this.#digests.set(next, digestAfter(parent, state, entry));
      if (previous?.key !== key) this.#write(() => this.index.setPosition(positionId, record, signal));
      return { state: next, cached: true };
    }
    const reason = disabled
      ? `cache disabled (${this.#opts.noCache ? '--no-cache' : '--no-cache-filter'})`
      : explainMiss(previous, { firstInStage: req.position === '2', parent, inputs, build: buildInputs });
    this.#opts.beforeMiss?.(req.display);
    await this.materialize(state.layers, signal);
    const next = await execute();
    const made = entryFor(key, req.display, state, next);
    this.#digests.set(next, digestAfter(parent, state, made));
    this.#used.set(key, { entry: made, stage: req.stage.index });
    this.#write(async () => {
      await this.index.put(made, signal);
      await this.index.setPosition(positionId, record, signal);
    });
    return { state: next, cached: false, reason };
  }

  /** Unpacks the layers a running step (or a COPY --from) needs, from the content store. */
  async materialize(layers: CacheableState['layers'], signal: AbortSignal): Promise<void> {
    for (const layer of layers) {
      if (await this.#opts.snapshots.hasLayer(layer.diffID)) continue;
      await this.#ensureBlob(layer.descriptor, signal);
      await this.#opts.snapshots.ensureLayer(layer.diffID, layer.descriptor.mediaType, async () => this.#opts.content.read(layer.descriptor.digest, signal), signal);
    }
  }

  /**
   * Called once the stages are done: fetches the final image's layers that came from a remote
   * cache (and only those), and saves the context stat cache (only if it changed).
   */
  async finish(signal: AbortSignal, final?: { targetStage: number; layers: CacheableState['layers'] }): Promise<void> {
    if (final) {
      this.#targetStage = final.targetStage;
      for (const layer of final.layers) await this.#ensureBlob(layer.descriptor, signal);
    }
    await this.flush();
    await this.#hasher.save(signal);
  }

  /** Waits for the index writes still running; throws the first that failed. */
  async flush(): Promise<void> {
    while (this.#pending.size > 0) await Promise.all([...this.#pending]);
    if (this.#writeError !== undefined) throw this.#writeError;
  }

  #write(task: () => Promise<void>): void {
    const p: Promise<void> = this.#writes(task).then(
      () => void this.#pending.delete(p),
      (err: unknown) => {
        this.#writeError ??= err;
        this.#pending.delete(p);
      },
    );
    this.#pending.add(p);
  }

  /** The entries to export: `max` every step of this build, `min` the target stage's steps. */
  usedEntries(mode: 'min' | 'max'): CacheEntry[] {
    return [...this.#used.values()].filter((u) => mode === 'max' || this.#targetStage === undefined || u.stage === this.#targetStage).map((u) => u.entry);
  }

  async #ensureBlob(desc: Descriptor, signal: AbortSignal): Promise<void> {
    if (this.#opts.remote && !(await blobExists(this.#opts.content, desc.digest))) await this.#opts.remote.fetch(desc, signal);
  }

  /** An entry whose layer blob is gone (and cannot be fetched) is a miss, not a broken build. */
  async #usable(entry: CacheEntry | undefined): Promise<CacheEntry | undefined> {
    if (!entry?.layer) return entry;
    const digest = entry.layer.descriptor.digest;
    // Existence only: verifying (re-hashing) every layer on every rebuild would cost what the cache saves;
    // the blob is verified when it is read (unpacked or exported).
    if (await blobExists(this.#opts.content, digest)) return entry;
    return this.#opts.remote?.get(entry.key) ? entry : undefined;
  }
}

function applyEntry<S extends CacheableState>(state: S, entry: CacheEntry): S {
  return {
    ...state,
    config: { ...applyConfigPatch(state.config, entry.configPatch), history: [...(state.config.history ?? []), ...entry.history] },
    layers: entry.layer ? [...state.layers, entry.layer] : state.layers,
    cmdSet: entry.cmdSet,
  };
}

function entryFor(key: string, step: string, before: CacheableState, after: CacheableState): CacheEntry {
  const history = after.config.history;
  const added = after.layers.length > before.layers.length ? after.layers[after.layers.length - 1] : undefined;
  return {
    version: 1,
    key,
    createdAt: Date.now(),
    step,
    ...(added ? { layer: { diffID: added.diffID, descriptor: { mediaType: added.descriptor.mediaType, digest: added.descriptor.digest, size: added.descriptor.size } } } : {}),
    configPatch: diffConfig(before.config, after.config),
    history: (history ?? []).slice(before.config.history?.length ?? 0),
    cmdSet: after.cmdSet,
  };
}

/** A step that changed nothing (ARG, an empty RUN) keeps its parent's identity, hit or miss alike. */
function digestAfter(parent: string, before: CacheableState, entry: CacheEntry): string {
  if (entry.configPatch.length === 0 && !entry.layer && entry.cmdSet === before.cmdSet) return parent;
  return chainedStateDigest(parent, { patch: entry.configPatch, ...(entry.layer ? { diffID: entry.layer.diffID } : {}), cmdSet: entry.cmdSet });
}

/** Synchronous: one stat per cached step, a few µs, where an async one is a thread-pool round trip. */
async function blobExists(content: ContentStore, digest: string): Promise<boolean> {
  try {
    return statSync(content.blobPath(digest)).isFile();
  } catch {
    return false;
  }
}

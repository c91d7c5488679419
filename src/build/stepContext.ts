/**
 * Everything a step handler may use, injected by the builder. Handlers reach the outside world
 * (store, sandbox, mounts, other stages) only through this, so tests can hand them fakes.
 */
import type { ContextFilter } from '../context/dockerignore.js';
import type { Instruction } from '../dockerfile/instructions.js';
import type { ResolvedStage } from '../graph/buildGraph.js';
import type { Runtime } from '../isolation/runtime.js';
import type { OwnerWriter } from '../layer/ownerWriter.js';
import type { ContentStore } from '../store/contentStore.js';
import type { Snapshotter } from '../snapshot/snapshotter.js';
import type { ImageConfig } from '../image/types.js';
import type { ProgressSink, StepRef } from './progress.js';
import type { RunSandboxOptions } from './mounts/runOptions.js';
import type { LayerRef, StageState } from './stageState.js';

export interface ImageRootfs {
  config: ImageConfig;
  layers: readonly LayerRef[];
}

export interface OverlayMounter {
  mountOverlay(opts: { lowerdirs: string[]; upperdir?: string; workdir?: string; userxattr: boolean; readonly?: boolean }, target: string): Promise<void>;
  unmount(target: string): Promise<void>;
}

export interface BuildServices {
  content: ContentStore;
  snapshots: Snapshotter;
  runtime: Runtime;
  mounter: OverlayMounter;
  xattrFlavor: 'user' | 'trusted';
  /** Gives files their owners in the store's way (lchown, or xattrs in a non-root user's store). */
  owners: OwnerWriter;
  tmpDir: string;
  contextDir: string;
  /** .dockerignore of the build context: true hides a path from COPY/ADD. */
  contextFilter?: ContextFilter;
  buildArgs: ReadonlyMap<string, string>;
  /** Values of the global ARGs (before the first FROM), for `ARG NAME` re-declared in a stage. */
  globalArgs: ReadonlyMap<string, string>;
  /** ISO time used for `created` fields; SOURCE_DATE_EPOCH when given. */
  created: string;
  sourceDateEpoch: number | undefined;
  progress: ProgressSink;
  /** Secrets, ssh agents and sandbox options for RUN (absent: none, Docker's defaults). */
  run?: RunSandboxOptions;
  /** The result of another stage (waits for it). */
  stageResult(index: number): Promise<ImageRootfs>;
  /** An image by reference, pulled and unpacked if needed (COPY --from=image). */
  image(ref: string, signal: AbortSignal): Promise<ImageRootfs>;
  /** A `--build-context NAME=...` image (COPY --from=NAME). */
  namedContext(name: string, signal: AbortSignal): Promise<ImageRootfs>;
}

export interface StepContext {
  services: BuildServices;
  stage: ResolvedStage;
  step: StepRef;
  signal: AbortSignal;
}

export interface StepHandler<I extends Instruction> {
  execute(instruction: I, state: StageState, ctx: StepContext): Promise<StageState>;
}

/** One handler per instruction kind: adding a kind without a handler fails to compile. */
export type StepHandlers = { [K in Instruction['kind']]: StepHandler<Extract<Instruction, { kind: K }>> };

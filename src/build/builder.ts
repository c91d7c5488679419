/**
 * The stage scheduler: parses, resolves the stage graph, runs each needed stage once (independent
 * stages in parallel, bounded by `jobs`), and writes the target stage as an image in the store.
 */
import pLimit from 'p-limit';
import type { BuildCache } from '../cache/buildCache.js';
import type { ContextFilter } from '../context/dockerignore.js';
import { DockerfileError } from '../dockerfile/dockerfileError.js';
import type { DockerfileAst, Instruction } from '../dockerfile/instructions.js';
import { parseDockerfile } from '../dockerfile/parseDockerfile.js';
import { unsupportedReason } from '../dockerfile/unsupported.js';
import { TsbuildError } from '../errors.js';
import { resolveBuildGraph, type ResolvedStage } from '../graph/buildGraph.js';
import { lintDockerfile } from '../graph/lintDockerfile.js';
import { platformArgs } from '../graph/platformArgs.js';
import { hostPlatform, parsePlatform } from '../image/platform.js';
import { parseReference } from '../image/reference.js';
import type { Descriptor, ImageConfig, Platform } from '../image/types.js';
import type { Runtime } from '../isolation/runtime.js';
import { ownerWriterFor } from '../layer/ownerWriter.js';
import type { StoreKind } from '../store/storeRoot.js';
import type { Snapshotter } from '../snapshot/snapshotter.js';
import type { ContentStore } from '../store/contentStore.js';
import type { ImageStore } from '../store/imageStore.js';
import { assembleImage } from './assembleImage.js';
import { finalizeConfig, inheritConfig, scratchConfig, withLabels, withoutOnBuild } from './imageConfig.js';
import { onbuildTriggers } from './onbuildTriggers.js';
import { assertRunnable } from './platformCheck.js';
import type { ImageResolver } from './imageResolver.js';
import type { ProgressSink, StepRef } from './progress.js';
import type { StageState } from './stageState.js';
import type { RunSandboxOptions } from './mounts/runOptions.js';
import type { BuildServices, ImageRootfs, OverlayMounter } from './stepContext.js';
import { handlerFor } from './steps/handlers.js';
import { stepCacheView } from './stepCacheView.js';

export interface BuildRequest {
  dockerfile: { text: string; name: string };
  contextDir: string;
  /** The context's .dockerignore (see src/context): true hides a path from COPY/ADD. */
  contextFilter?: ContextFilter;
  tags: readonly string[];
  target?: string;
  buildArgs: ReadonlyMap<string, string>;
  namedContexts: ReadonlySet<string>;
  platform: Platform;
  sourceDateEpoch?: number;
  jobs: number;
  /** `--label K=V`: set in the image config over the Dockerfile's LABELs. */
  labels?: ReadonlyMap<string, string>;
  /** `--annotation K=V`: set on the image manifest. */
  annotations?: ReadonlyMap<string, string>;
  /** RUN secrets, ssh agents, --cap-add, --security-opt, --allow (default: none, Docker's defaults). */
  run?: RunSandboxOptions;
}

export interface BuilderDeps {
  content: ContentStore;
  images: ImageStore;
  snapshots: Snapshotter;
  runtime: Runtime;
  mounter: OverlayMounter;
  resolver: ImageResolver;
  xattrFlavor: 'user' | 'trusted';
  /** The store's kind (default native: real owners). */
  storeKind?: StoreKind;
  tmpDir: string;
  progress: ProgressSink;
  /** The build cache; absent: every step runs. */
  cache?: BuildCache;
}

export interface BuildResult {
  manifest: Descriptor;
  config: Descriptor;
  /** Full names written to the store, e.g. docker.io/library/app:1. */
  tags: string[];
  layers: number;
  /**
   * Whether the same build again, with nothing changed, makes this same image: a target whose
   * steps the cache serves keeps its `created`, or SOURCE_DATE_EPOCH fixes it. A target stage
   * with no steps of its own gets a new `created` each build.
   */
  stable: boolean;
}

export async function build(req: BuildRequest, deps: BuilderDeps, signal: AbortSignal): Promise<BuildResult> {
  const ast = parseDockerfile(req.dockerfile.text, { file: req.dockerfile.name });
  const graph = resolveBuildGraph(ast, {
    target: req.target,
    buildArgs: req.buildArgs,
    namedContexts: req.namedContexts,
    builtinArgs: platformArgs(req.platform, hostPlatform()),
  });
  refuseUnsupported(ast, graph.stages);
  for (const name of graph.unusedBuildArgs) {
    deps.progress.emit({ type: 'warning', message: `build argument ${name} was given but no stage uses it`, time: Date.now() });
  }
  checkDockerfile(req, deps.progress);
  // Refuse bad tags before doing any work.
  const tags = req.tags.map((t) => parseReference(t).toString());
  const created = new Date(req.sourceDateEpoch !== undefined ? req.sourceDateEpoch * 1000 : Date.now()).toISOString().replace('.000Z', 'Z');

  const results = new Map<number, Promise<ImageRootfs>>();
  // Stages none of whose steps ran: a fully cached target keeps its earlier `created`, so a
  // rebuild with no change gives the same image digest and writes nothing.
  const allCached = new Set(graph.stages.map((s) => s.index));
  const limit = pLimit(Math.max(1, req.jobs));
  let nextStepId = 1;
  const services: BuildServices = {
    content: deps.content,
    snapshots: deps.snapshots,
    runtime: deps.runtime,
    mounter: deps.mounter,
    xattrFlavor: deps.xattrFlavor,
    owners: ownerWriterFor(deps.storeKind ?? 'native'),
    tmpDir: deps.tmpDir,
    contextDir: req.contextDir,
    ...(req.contextFilter ? { contextFilter: req.contextFilter } : {}),
    buildArgs: req.buildArgs,
    globalArgs: graph.globalArgs,
    created,
    sourceDateEpoch: req.sourceDateEpoch,
    progress: deps.progress,
    ...(req.run ? { run: req.run } : {}),
    stageResult: (index) => {
      const r = results.get(index);
      if (!r) throw new TsbuildError('INTERNAL', `stage ${index} was not scheduled`);
      // A stage served from the cache has its layers in the store but maybe not unpacked yet.
      const cache = deps.cache;
      return cache ? r.then(async (res) => (await cache.materialize(res.layers, signal), res)) : r;
    },
    image: (ref, s) => deps.resolver.image(ref, s),
    namedContext: (name, s) => deps.resolver.context(name, s),
  };

  // Services whose stageResult does not unpack: a FROM or a cache key needs a stage's layer list, not its files.
  const unpackless: BuildServices = { ...services, stageResult: (index) => results.get(index) ?? services.stageResult(index) };

  const runStage = async (stage: ResolvedStage): Promise<ImageRootfs> => {
    const label = stage.name ?? `stage-${stage.index}`;
    const total = stage.ast.instructions.length + 1;
    const stepName = (i: number, instr: Instruction) => `[${label} ${i}/${total}] ${instr.original}`;
    const fromStep: StepRef = { id: nextStepId++, name: `[${label} 1/${total}] FROM ${describeBase(stage, graph.stages)}`, stage: label };
    const started = Date.now();
    deps.progress.emit({ type: 'step-start', step: fromStep, time: started });
    let state: StageState;
    let triggers: Instruction[] = [];
    try {
      // FROM --platform overrides the build's target platform for this stage (BuildKit).
      const stagePlatform = stage.platform ? parsePlatform(stage.platform) : req.platform;
      const base = await baseOf(stage, unpackless, deps.resolver, stagePlatform, signal);
      state = { config: base ? inheritConfig(base.config) : scratchConfig(stagePlatform), layers: base?.layers ?? [], args: new Map(), cmdSet: false };
      // Docker runs the base's ONBUILD triggers before the stage's own instructions; they are not inherited further.
      triggers = onbuildTriggers(state.config.config?.OnBuild, describeBase(stage, graph.stages));
      if (state.config.config?.OnBuild) state = { ...state, config: withoutOnBuild(state.config) };
    } catch (err) {
      deps.progress.emit({ type: 'step-end', step: fromStep, time: Date.now(), durationMs: Date.now() - started, cached: false, error: messageOf(err) });
      throw atInstruction(err, stage.ast.from, ast.file);
    }
    deps.progress.emit({ type: 'step-end', step: fromStep, time: Date.now(), durationMs: Date.now() - started, cached: false });

    const steps = [
      ...triggers.map((instr) => ({ instr, at: stage.ast.from as Instruction, name: `[${label} ONBUILD] ${instr.original}` })),
      ...stage.ast.instructions.map((instr, i) => ({ instr, at: instr, name: stepName(i + 2, instr) })),
    ];
    for (const [stepIndex, { instr, at, name }] of steps.entries()) {
      signal.throwIfAborted();
      const step: StepRef = { id: nextStepId++, name, stage: label };
      const t0 = Date.now();
      deps.progress.emit({ type: 'step-start', step, time: t0 });
      let cached = false;
      let cacheReason: string | undefined;
      try {
        const before = state;
        const execute = async () => {
          // A RUN for a foreign platform needs emulation: say so instead of "exec format error".
          if (instr.kind === 'RUN') await assertRunnable(before.config, hostPlatform());
          return handlerFor(instr).execute(instr, before, { services, stage, step, signal });
        };
        if (deps.cache) {
          const outcome = await deps.cache.run(
            { instr, state, stage: { label, index: stage.index }, position: String(stepIndex + 2), display: instr.original.trim(), view: stepCacheView(state, stage, unpackless), signal },
            execute,
          );
          ({ state, cached, reason: cacheReason } = outcome);
        } else state = await execute();
      } catch (err) {
        deps.progress.emit({ type: 'step-end', step, time: Date.now(), durationMs: Date.now() - t0, cached: false, error: messageOf(err) });
        throw atInstruction(err, at, ast.file);
      }
      if (!cached) allCached.delete(stage.index);
      deps.progress.emit({ type: 'step-end', step, time: Date.now(), durationMs: Date.now() - t0, cached, ...(cacheReason ? { cacheReason } : {}) });
    }
    return { config: state.config, layers: state.layers };
  };

  for (const stage of graph.stages) {
    const deps_ = stage.deps.map((d) => results.get(d));
    results.set(
      stage.index,
      (async () => {
        // Wait for dependencies outside the limiter, so a waiting stage never holds a slot.
        await Promise.all(deps_);
        return limit(() => runStage(stage));
      })(),
    );
  }
  // Surface the first failure; the others are aborted with the build's signal by the caller.
  await Promise.all([...results.values()]).catch(async (err: unknown) => {
    // The index writes of the steps that did run still land (they run beside the steps).
    await deps.cache?.flush().catch(() => undefined);
    throw err;
  });
  const final = await (results.get(graph.target.index) as Promise<ImageRootfs>);

  await deps.cache?.finish(signal, { targetStage: graph.target.index, layers: final.layers });
  const lastCreated = final.config.history?.at(-1)?.created;
  const reuseCreated = req.sourceDateEpoch === undefined && allCached.has(graph.target.index) && stageHasSteps(graph.target) && lastCreated !== undefined;
  const config: ImageConfig = finalizeConfig(withLabels(final.config, req.labels), reuseCreated ? lastCreated : created);
  const image = assembleImage(config, final.layers, req.annotations);
  // A fully cached rebuild makes the same config and manifest: verify them and leave the store untouched.
  // Both at once: each waits for its fsyncs, and the two overlap.
  await Promise.all(
    [image.config, image.manifest].map(async (blob) => {
      if (!(await deps.content.has(blob.descriptor.digest, signal))) await deps.content.writeBytes(blob.bytes, { digest: blob.descriptor.digest });
    }),
  );
  for (const tag of tags) {
    // Re-tagging to the same manifest would rewrite images.json for nothing.
    if ((await deps.images.get(tag))?.digest !== image.manifest.descriptor.digest) await deps.images.tag(tag, { ...image.manifest.descriptor }, signal);
  }
  const stable = req.sourceDateEpoch !== undefined || stageHasSteps(graph.target);
  return { manifest: image.manifest.descriptor, config: image.config.descriptor, tags, layers: final.layers.length, stable };
}

async function baseOf(stage: ResolvedStage, services: BuildServices, resolver: ImageResolver, platform: Platform, signal: AbortSignal): Promise<ImageRootfs | undefined> {
  const base = stage.base;
  switch (base.kind) {
    case 'scratch':
      return undefined;
    case 'stage':
      return services.stageResult(base.index);
    case 'context':
      return resolver.context(base.name, signal, platform);
    case 'image':
      return resolver.image(base.ref, signal, platform);
  }
}

/** FROM as BuildKit shows it: with ARGs expanded and the image name normalised. */
function describeBase(stage: ResolvedStage, stages: readonly ResolvedStage[]): string {
  const base = stage.base;
  switch (base.kind) {
    case 'scratch':
      return 'scratch';
    case 'stage': {
      const from = stages.find((s) => s.index === base.index);
      return from?.name ?? `stage-${base.index}`;
    }
    case 'context':
      return `${base.name} (build context)`;
    case 'image':
      try {
        return parseReference(base.ref).toString();
      } catch {
        return base.ref;
      }
  }
}

function refuseUnsupported(ast: DockerfileAst, stages: readonly ResolvedStage[]): void {
  for (const stage of stages) {
    for (const instr of [stage.ast.from, ...stage.ast.instructions]) {
      const reason = unsupportedReason(instr);
      if (reason) {
        throw new DockerfileError(reason, instr.range, {
          code: 'DOCKERFILE_UNSUPPORTED',
          file: ast.file,
          line: instr.original,
          hint: 'see README.md for what this version of tsbuild supports',
        });
      }
    }
  }
}

function stageHasSteps(stage: ResolvedStage): boolean {
  return stage.ast.instructions.length > 0;
}

/** BuildKit's checks run on every build: warnings are shown, and fail it under `# check=error=true`. */
function checkDockerfile(req: BuildRequest, progress: ProgressSink): void {
  const checks = lintDockerfile(req.dockerfile.text, {
    file: req.dockerfile.name,
    ...(req.target !== undefined ? { target: req.target } : {}),
    buildArgs: req.buildArgs,
    builtinArgs: platformArgs(req.platform, hostPlatform()),
    namedContexts: req.namedContexts,
  });
  const warnings = checks.problems.filter((p) => p.level === 'warning' && p.rule !== 'UnusedBuildArg');
  for (const w of warnings) {
    const at = w.range ? `${req.dockerfile.name}:${w.range.start.line}: ` : '';
    progress.emit({ type: 'warning', message: `${at}${w.rule}: ${w.message}`, time: Date.now() });
  }
  if (checks.warningsAreErrors && warnings.length > 0) {
    throw new TsbuildError('DOCKERFILE_CHECK', `${warnings.length} Dockerfile check${warnings.length === 1 ? '' : 's'} failed and # check=error=true is set`, {
      hint: 'see the warnings above (or run tsbuild lint); skip a rule with # check=skip=RULE',
    });
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Attaches the instruction's location once, at the step boundary, keeping the error's code. */
function atInstruction(err: unknown, instr: Instruction, file: string): unknown {
  if (err instanceof DockerfileError) return err;
  if (err instanceof TsbuildError) {
    return new DockerfileError(`${instr.kind} ${stepSummary(instr)}: ${err.message}`, instr.range, {
      code: err.code,
      file,
      line: instr.original,
      ...(err.hint ? { hint: err.hint } : {}),
      cause: err,
    });
  }
  if (err instanceof Error && err.name === 'AbortError') return err;
  return new DockerfileError(`${instr.kind} failed: ${messageOf(err)}`, instr.range, { code: 'INTERNAL', file, line: instr.original, cause: err });
}

function stepSummary(instr: Instruction): string {
  const text = instr.original.replace(/^\s*\S+\s*/, '');
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

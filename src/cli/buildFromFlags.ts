/**
 * `tsbuild build` once its argv is parsed: the whole run, shared by the oclif command (cli/buildCommand.ts)
 * and the lean start-up path (cli/leanBuild.ts), which parse against the same table (cli/buildFlags.ts).
 */
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { parseAnnotationFlags } from '../build/buildAnnotations.js';
import type { CacheSpec } from '../cache/remoteCache.js';
import { HeldProgress, teeProgress, type ProgressSink } from '../build/progress.js';
import { countingSource } from '../build/transferProgress.js';
import { configPath, loadConfig } from '../config/loadConfig.js';
import { TsbuildError } from '../errors.js';
import { hostPlatform, parsePlatform } from '../image/platform.js';
import { inNamespace, needsNamespace, reexecInNamespace } from '../isolation/enterNamespace.js';
import { NONE_WARNING, copyStoreOptions, isolationLine, isolationRequest, pickIsolation, reexecEnv } from '../isolation/pickIsolation.js';
import { openStore } from '../snapshot/openStore.js';
import { defaultStoreRoot } from '../store/storeRoot.js';
import type { BuildArgs, BuildFlags } from './buildFlags.js';
import { registryHostsOf } from './registryHostsOf.js';
import { BuildReporter } from './buildReporter.js';
import { BuildMemoRecorder, memoEligible, type MemoIdentity } from './buildMemo.js';
import { canTryOutsideNamespace } from './canTryOutsideNamespace.js';
import { openRunSandbox, type RunSandbox } from './runSandboxFlags.js';
import { readDockerfile } from '../context/readDockerfile.js';
import { openBuildContext } from '../context/openBuildContext.js';
import { writeBuildOutputs } from './buildOutputs.js';
import { parseKeyValues } from './parseKeyValues.js';
import { parseOutputSpec } from './outputSpec.js';
import { createProgressDisplay, resolveProgressMode } from './progressMode.js';
import { openSessionStore } from './session.js';
import { withSignals } from './signals.js';
import { lazy } from '../util/lazy.js';
import { ociLayoutPaths, openOciLayoutContext, runBuild } from './runBuild.js';

export interface BuildFromFlagsOptions {
  /** The invocation, when a build that the cache serves whole may leave its record (cli/buildMemo.ts). */
  memo?: MemoIdentity;
}

/** Runs a build from parsed flags and args; sets process.exitCode, throws expected failures as TsbuildError. */
export async function buildFromFlags(flags: BuildFlags, args: BuildArgs, opts: BuildFromFlagsOptions = {}): Promise<void> {
  if (flags.check) {
    // Checking needs no namespace and no store.
    const { runCheck } = await import('./runCheck.js');
    process.exitCode = await runCheck(
      { context: flags.context ?? args.context, file: flags.file, target: flags.target, buildArgs: flags['build-arg'], platform: flags.platform },
      process.stdout,
    );
    return;
  }
  // What the build reads is noted for its record before it is read (cli/buildMemo.ts).
  const memo = opts.memo ? new BuildMemoRecorder(opts.memo) : undefined;
  memo?.noteFile(configPath(process.env));
  const config = await loadConfig(process.env);
  const isolation = await pickIsolation(isolationRequest(flags.isolation, config.isolation));
  const contextSpec = flags.context ?? args.context;
  const rootDir = flags.root ?? config.root ?? defaultStoreRoot(process.env);
  // Re-run this very command inside the build's own namespace (see src/README.md), unless it
  // may first be tried here: a rebuild the cache serves whole then needs no second start-up.
  const reexec = async (): Promise<void> => {
    process.exitCode = await reexecInNamespace([process.execPath, ...process.argv.slice(1)], reexecEnv(isolation));
  };
  const outputs = flags.output.map(parseOutputSpec);
  const outside = isolation.mode === 'rootless' && !inNamespace();
  if (
    outside &&
    !(await canTryOutsideNamespace({
      contextSpec, file: flags.file, rootDir, pull: flags.pull, cache: flags.cache, noCacheFilter: flags['no-cache-filter'], cacheFrom: flags['cache-from'],
      outputTypes: outputs.map((o) => o.type), uid: process.getuid?.() ?? 0,
    }))
  ) {
    await reexec();
    return;
  }
  if (contextSpec === '-' && flags.file === '-') throw new TsbuildError('USAGE', 'the context and the Dockerfile cannot both come from stdin', { hint: 'pass the Dockerfile inside the context tar, or -f PATH' });
  // A tar, a URL or a git remote is unpacked into a temp dir, removed in the finally below.
  const buildContext = await openBuildContext(contextSpec, { stdin: () => process.stdin, signal: new AbortController().signal });
  const contextDir = buildContext.dir;
  // `-f -` reads stdin, which the namespace re-exec above passes through.
  const dockerfile = await readDockerfile(flags.file, contextDir, () => process.stdin);
  const buildArgs = parseKeyValues(flags['build-arg'], '--build-arg', true);
  const labels = parseKeyValues(flags.label, '--label', false);
  const annotations = parseAnnotationFlags(flags.annotation);
  const namedContexts = parseKeyValues(flags['build-context'], '--build-context', false);
  for (const dir of ociLayoutPaths(namedContexts.values())) for (const name of ['oci-layout', 'index.json']) memo?.noteFile(join(dir, name));
  const sourceDateEpoch = flags['source-date-epoch'] ?? envEpoch();
  const mode = resolveProgressMode({ flag: flags.progress, quiet: flags.quiet, env: process.env, config: config.progress, isTTY: process.stderr.isTTY === true });
  if (dockerfile.path !== undefined) memo?.noteText(dockerfile.path, dockerfile.text);
  const reporter = new BuildReporter(mode, createProgressDisplay(mode, process.stderr, process.env), process.stderr, memo);
  // A try outside the namespace shows its events only once it is kept (never twice).
  const held = outside ? new HeldProgress() : undefined;
  const progress = held ?? reporter.progress;
  const platform = flags.platform ? parsePlatform(flags.platform) : hostPlatform();

  progress.emit({ type: 'info', message: isolationLine(isolation), time: Date.now() });
  if (isolation.mode === 'none') process.stderr.write(`${NONE_WARNING}\n`);
  const store = isolation.mode === 'rootless' ? await openSessionStore(rootDir, 'native') : await openStore(rootDir, await copyStoreOptions(rootDir));
  // Made on first use: a build the store serves whole never loads the registry client.
  const registry = lazy(async () => {
    const insecureHosts = flags['tls-verify']
      ? []
      : registryHostsOf(dockerfile.text, { buildArgs, namedContexts: new Set(namedContexts.keys()), refs: [...flags.tag, ...flags.destination], ...(flags.target ? { target: flags.target } : {}) });
    const { makeRegistryClient } = await import('./registryFlags.js');
    return makeRegistryClient([...flags['insecure-registry'], ...config.registries.insecure, ...insecureHosts], process.env, config, store);
  });
  let sandbox: RunSandbox | undefined;
  let enter = false;
  try {
    // Private ssh agents (--ssh ID=KEYFILE) live until the build ends, however it ends.
    sandbox = await openRunSandbox(flags, (message) => process.stderr.write(`${message}\n`));
    const run = sandbox.options;
    enter = await withSignals(async (interrupted) => {
      // A dropped try stops its other stages at once, before the build goes in.
      const dropTry = new AbortController();
      const signal = held ? AbortSignal.any([interrupted, dropTry.signal]) : interrupted;
      const { from: cacheFromSpec, to: cacheTo } = await cacheSpecs(flags['cache-from'], flags['cache-to']);
      const remote = cacheFromSpec
        ? await (await import('../cache/cacheTransfer.js')).openCacheFrom(cacheFromSpec, {
            registry: await registry.get(), content: store.content, signal, warn: (m) => progress.emit({ type: 'warning', message: m, time: Date.now() }),
          })
        : undefined;
      // Exported cache mounts are restored before the build, so the first RUN finds them filled.
      if (remote) await remote.restoreMounts(join(store.root, 'cache-mounts'), signal);
      const misses: string[] = [];
      const buildProgress = flags['explain-cache'] ? teeProgress(progress, missRecorder(misses)) : progress;
      const built = await runBuild(
        {
          dockerfile: { text: dockerfile.text, name: dockerfile.name, ...(dockerfile.path !== undefined ? { path: dockerfile.path } : {}) },
          contextDir,
          tags: flags.tag,
          ...(flags.target ? { target: flags.target } : {}),
          buildArgs,
          namedContexts: new Set(namedContexts.keys()),
          openContext: (name) => {
            const spec = namedContexts.get(name);
            return spec === undefined ? undefined : openOciLayoutContext(spec, `--build-context ${name}`);
          },
          platform,
          ...(sourceDateEpoch !== undefined ? { sourceDateEpoch } : {}),
          labels,
          annotations,
          run,
          jobs: flags.jobs ?? config.jobs ?? Math.max(1, availableParallelism()),
          pull: flags.pull,
          noCache: !flags.cache,
          noCacheStages: new Set(flags['no-cache-filter']),
          ...(remote ? { remoteCache: remote } : {}),
        },
        {
          store, registry: registry.get, progress: buildProgress, signal, isolation: isolation.mode, chownTrap: isolation.chownTrap === true, keep: keptInputs(namedContexts, cacheFromSpec),
          outsideNamespace: held !== undefined,
          ...(memo ? { inputs: memo } : {}),
        },
      ).catch((err: unknown) => {
        if (held && needsNamespace(err)) {
          held.drop();
          dropTry.abort();
          return undefined;
        }
        held?.release(reporter.progress);
        throw err;
      });
      if (!built) return true;
      held?.release(reporter.progress);
      const { result, cache } = built;
      await remote?.close();
      for (const spec of cacheTo) {
        const { exportCacheTo } = await import('../cache/cacheTransfer.js');
        reporter.info(await exportCacheTo(spec, cache, { registry: await registry.get(), content: store.content, storeRoot: store.root, tmpDir: store.tmpDir, signal }));
      }
      if (flags['explain-cache']) reporter.info(misses.length === 0 ? 'cache: every step was reused' : `cache misses:\n${misses.map((m) => `  ${m}`).join('\n')}`);
      await writeBuildOutputs({
        outputs, flags, content: store.content, registry: registry.get, result, signal,
        wrapSource: (source, action) => countingSource(source, progress, action),
        info: (message) => reporter.info(message),
      });
      for (const ref of flags.destination) {
        // kaniko's --destination: push what was just built, under that name.
        const [{ StoreImageSource }, { openDestination }, { copyImage }] = await Promise.all([
          import('../transport/storeSource.js'),
          import('../transport/openDestination.js'),
          import('../transport/copyImage.js'),
        ]);
        const source = new StoreImageSource(store.content, result.tags[0] ?? result.manifest.digest, result.manifest);
        const dest = openDestination(`docker://${ref}`, { registry: await registry.get() });
        await copyImage(countingSource(source, progress, 'push'), dest, { signal });
        reporter.info(`pushed ${ref}`);
      }
      for (const tag of result.tags) reporter.info(`naming to ${tag}`);
      await reporter.finish(result, { content: store.content, layerDir: (diffID) => store.snapshots.layerDir(diffID) }, signal);
      process.stdout.write(`${result.config.digest}\n`);
      if (memo && dockerfile.path !== undefined && registry.made() === undefined && memoEligible(flags, contextSpec, contextDir)) {
        await memo.save({
          storeRoot: store.root, mode, contextDir, dockerfilePath: dockerfile.path, result, stdout: `${result.config.digest}\n`,
          cacheEntries: cache.usedEntries('max').map((entry) => ({ path: cache.index.keyPath(entry.key), entry })),
        });
      }
      return false;
    });
  } finally {
    await sandbox?.close();
    reporter.close();
    await registry.made()?.then((client) => client.close());
    await buildContext.close();
  }
  if (enter) await reexec();
}

/** --cache-from (one at most) and --cache-to, parsed; the cache transfer code loads only when one is given. */
async function cacheSpecs(from: readonly string[], to: readonly string[]): Promise<{ from: CacheSpec | undefined; to: CacheSpec[] }> {
  if (from.length === 0 && to.length === 0) return { from: undefined, to: [] };
  const { parseCacheSpec } = await import('../cache/remoteCache.js');
  const cacheTo = to.map((t) => parseCacheSpec(t, 'to'));
  const [cacheFrom, ...more] = from.map((t) => parseCacheSpec(t, 'from'));
  if (more.length > 0) throw new TsbuildError('USAGE', 'only one --cache-from is supported yet');
  return { from: cacheFrom, to: cacheTo };
}

/** What isolation none must keep under `/` besides store and context: named contexts and local caches read during the build. */
function keptInputs(namedContexts: ReadonlyMap<string, string>, cacheFrom: CacheSpec | undefined): string[] {
  return [...ociLayoutPaths(namedContexts.values()), ...(cacheFrom?.type === 'local' && cacheFrom.dir !== undefined ? [cacheFrom.dir] : [])];
}

/** Collects the reason of every step that ran instead of coming from the cache. */
function missRecorder(into: string[]): ProgressSink {
  return {
    emit(e) {
      if (e.type === 'step-end' && !e.cached && !e.error && e.cacheReason) into.push(`${e.step.name}: ${e.cacheReason}`);
    },
  };
}

/** SOURCE_DATE_EPOCH from the environment (build and bake), validated. */
export function envEpoch(): number | undefined {
  const raw = process.env['SOURCE_DATE_EPOCH'];
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new TsbuildError('USAGE', `SOURCE_DATE_EPOCH=${raw} is not a non-negative integer`);
  return n;
}

import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { Args, Command, Flags } from '@oclif/core';
import pLimit from 'p-limit';
import type { BuildResult } from '../build/builder.js';
import type { ProgressEvent, ProgressSink } from '../build/progress.js';
import { countingSource } from '../build/transferProgress.js';
import { exportCacheTo, openCacheFrom } from '../cache/cacheTransfer.js';
import { parseCacheSpec, type CacheSpec } from '../cache/remoteCache.js';
import { loadConfig } from '../config/loadConfig.js';
import { parseDockerfile } from '../dockerfile/parseDockerfile.js';
import { TsbuildError } from '../errors.js';
import { resolveBuildGraph } from '../graph/buildGraph.js';
import { hostPlatform } from '../image/platform.js';
import { parseReference } from '../image/reference.js';
import { ISOLATION_REQUESTS, type IsolationMode } from '../isolation/chooseIsolation.js';
import { inNamespace, reexecInNamespace } from '../isolation/enterNamespace.js';
import { NONE_WARNING, copyStoreOptions, isolationLine, isolationRequest, pickIsolation, reexecEnv } from '../isolation/pickIsolation.js';
import type { RunSandboxOptions } from '../build/mounts/runOptions.js';
import { openStore, type Store } from '../snapshot/openStore.js';
import { defaultStoreRoot } from '../store/storeRoot.js';
import { copyImage } from '../transport/copyImage.js';
import { openDestination } from '../transport/openDestination.js';
import type { RegistryClient } from '../transport/registryClient.js';
import { StoreImageSource } from '../transport/storeSource.js';
import type { ServiceBuild } from './composeProject.js';
import { humanDuration } from './humanSize.js';
import { JsonProgress } from './jsonProgress.js';
import { createProgressDisplay, resolveProgressMode } from './progressMode.js';
import { makeRegistryClient } from './registryFlags.js';
import { openSessionStore } from './session.js';
import { envEpoch } from './buildFromFlags.js';
import { ociLayoutPaths, openOciLayoutContext, runBuild } from './runBuild.js';
import { RUN_SANDBOX_FLAGS } from './buildFlags.js';
import { openRunSandbox, type RunSandbox } from './runSandboxFlags.js';
import { withSignals } from './signals.js';

export class BakeCommand extends Command {
  static override summary = 'Build every service of a Docker Compose file, in parallel where they are independent';
  static override description =
    'Reads the build: sections (context, dockerfile, args, target, tags, image, additional_contexts, cache_from, cache_to, secrets) of compose.yaml and builds them in one process sharing one store; a service whose additional_contexts or FROM names another service is built after it.';
  static override examples = ['<%= config.bin %> bake', '<%= config.bin %> bake -f examples/compose/compose.yaml web db', '<%= config.bin %> bake --push'];
  static override strict = false;
  static override args = {
    service: Args.string({ description: 'services to build (default: all with a build section)' }),
  };
  static override flags = {
    file: Flags.string({ char: 'f', description: 'compose file (default: compose.yaml, compose.yml, docker-compose.yaml or docker-compose.yml)' }),
    push: Flags.boolean({ description: 'push every image to its registry after the builds', default: false }),
    progress: Flags.string({ description: 'progress output (default: $TSBUILD_PROGRESS or auto)', options: ['auto', 'tty', 'plain', 'json', 'quiet'] }),
    quiet: Flags.boolean({ char: 'q', description: 'print only service=image ID lines', default: false }),
    jobs: Flags.integer({ description: 'services to build at once (default: all)', min: 1 }),
    pull: Flags.boolean({ description: 'always fetch base images from their registry', default: false }),
    'insecure-registry': Flags.string({ description: 'HOST[:PORT] to reach over http or unverified TLS (repeatable)', multiple: true, multipleNonGreedy: true, default: [] }),
    root: Flags.string({ description: 'store directory (default: $TSBUILD_ROOT or ~/.local/share/tsbuild)', env: 'TSBUILD_ROOT' }),
    isolation: Flags.string({ description: 'how RUN is isolated, as for tsbuild build: auto, rootless, chroot, proot, none (default: $TSBUILD_ISOLATION, the config file, or auto)', options: [...ISOLATION_REQUESTS], env: 'TSBUILD_ISOLATION' }),
    // --secret adds to every service's compose secrets (a service's own secret of the same id wins).
    ...RUN_SANDBOX_FLAGS,
  };

  async run(): Promise<void> {
    const { argv, flags } = await this.parse(BakeCommand);
    const config = await loadConfig(process.env);
    // Chosen as tsbuild build chooses, so a bad or impossible mode fails with the same message.
    const isolation = await pickIsolation(isolationRequest(flags.isolation, config.isolation));
    if (isolation.mode === 'rootless' && !inNamespace()) {
      // One re-exec for the whole project: every service builds in the same namespace and store.
      process.exitCode = await reexecInNamespace([process.execPath, ...process.argv.slice(1)], reexecEnv(isolation));
      return;
    }
    const file = flags.file ? resolve(flags.file) : await findComposeFile(process.cwd());
    const text = await readFile(file, 'utf8').catch((err: Error) => {
      throw new TsbuildError('COMPOSE_INVALID', `reading ${file}: ${err.message}`, { hint: 'pass -f compose.yaml' });
    });
    // Loaded here, with its YAML parser, so that other commands never load them.
    const { parseComposeProject } = await import('./composeProject.js');
    const project = parseComposeProject(text, file, process.env);
    const wanted = argv as string[];
    for (const w of wanted) {
      if (!project.services.some((s) => s.service === w)) throw new TsbuildError('USAGE', `service ${w} has no build section in ${file}`);
    }
    const selected = withDependencies(project.services, wanted);
    if (selected.length === 0) throw new TsbuildError('COMPOSE_INVALID', `${file}: no service has a build section`);
    const dockerfiles = new Map<string, string>();
    for (const s of selected) {
      dockerfiles.set(s.service, 'inline' in s.dockerfile ? s.dockerfile.inline : await readFile(s.dockerfile.path, 'utf8'));
    }
    const deps = dependencies(selected, dockerfiles);
    // Bad cache specs fail before anything is built, naming the service.
    const caches = new Map(selected.map((s) => [s.service, serviceCacheSpecs(s, file)]));

    const mode = resolveProgressMode({ flag: flags.progress, quiet: flags.quiet, env: process.env, config: config.progress, isTTY: process.stderr.isTTY === true });
    const display = createProgressDisplay(mode, process.stderr, process.env);
    if (mode !== 'quiet') display.emit({ type: 'info', message: isolationLine(isolation), time: Date.now() });
    if (isolation.mode === 'none') process.stderr.write(`${NONE_WARNING}\n`);
    // Isolation none keeps every service's inputs under `/`, whichever service's step runs.
    const keep = selected.flatMap((s) => [
      s.contextDir,
      ...('path' in s.dockerfile ? [s.dockerfile.path] : []),
      ...ociLayoutPaths(s.additionalContexts.values()),
      ...[caches.get(s.service)?.from].flatMap((c) => (c?.type === 'local' && c.dir !== undefined ? [c.dir] : [])),
    ]);
    const rootDir = flags.root ?? config.root ?? defaultStoreRoot(process.env);
    const store = isolation.mode === 'rootless' ? await openSessionStore(rootDir, 'native') : await openStore(rootDir, await copyStoreOptions(rootDir));
    const registry = makeRegistryClient([...flags['insecure-registry'], ...config.registries.insecure], process.env, config, store);
    const started = Date.now();
    const results = new Map<string, Promise<BuildResult>>();
    const ids = { next: 1 };
    // Two services restoring the same exported cache mounts would unpack into the same directory.
    const restoreOne = pLimit(1);
    let sandbox: RunSandbox | undefined;
    try {
      // Private ssh agents (--ssh ID=KEYFILE) live until the last service is built, however it ends.
      sandbox = await openRunSandbox(flags, (message) => process.stderr.write(`${message}\n`));
      const run = sandbox.options;
      await withSignals(async (signal) => {
        const limit = pLimit(flags.jobs ?? selected.length);
        for (const s of selected) {
          const waitFor = (deps.get(s.service) ?? []).map((d) => results.get(d));
          results.set(
            s.service,
            (async () => {
              await Promise.all(waitFor);
              const cache = caches.get(s.service) ?? { from: undefined, to: [] };
              const progress = serviceProgress(display, s.service, ids);
              return limit(() => this.#buildService(s, dockerfiles.get(s.service) ?? '', { store, registry, results, signal, pull: flags.pull, jobs: config.jobs, progress, cache, restoreOne, run, isolation: isolation.mode, chownTrap: isolation.chownTrap === true, keep }));
            })(),
          );
        }
        await Promise.all(results.values());
        if (flags.push) {
          for (const s of selected) {
            const r = await (results.get(s.service) as Promise<BuildResult>);
            for (const tag of r.tags) {
              const source = new StoreImageSource(store.content, tag, r.manifest);
              await copyImage(countingSource(source, display, 'push'), openDestination(`docker://${tag}`, { registry }), { signal });
              display.emit({ type: 'info', message: `${s.service}: pushed ${tag}`, time: Date.now() });
            }
          }
        }
      });
    } finally {
      await sandbox?.close();
      display.close();
      await registry.close();
    }
    const json = mode === 'json' ? new JsonProgress(process.stderr) : undefined;
    for (const s of selected) {
      const r = await (results.get(s.service) as Promise<BuildResult>);
      json?.emit({ type: 'result', time: Date.now(), digest: r.manifest.digest, imageId: r.config.digest, tags: r.tags, size: 0, durationMs: Date.now() - started, ...{ service: s.service } });
      if (mode === 'tty' || mode === 'plain') process.stderr.write(`${s.service.padEnd(12)} ${r.config.digest.slice(7, 19)}  ${r.tags.join(', ')}\n`);
      process.stdout.write(`${s.service}=${r.config.digest}\n`);
    }
    if (mode === 'tty' || mode === 'plain') process.stderr.write(`baked ${selected.length} image${selected.length === 1 ? '' : 's'} in ${humanDuration(Date.now() - started)}\n`);
  }

  async #buildService(
    s: ServiceBuild,
    dockerfileText: string,
    ctx: {
      store: Store;
      registry: RegistryClient;
      results: Map<string, Promise<BuildResult>>;
      signal: AbortSignal;
      pull: boolean;
      jobs: number | undefined;
      progress: ProgressSink;
      cache: { from: CacheSpec | undefined; to: CacheSpec[] };
      restoreOne: <T>(fn: () => Promise<T>) => Promise<T>;
      run: RunSandboxOptions;
      isolation: IsolationMode;
      keep: string[];
      chownTrap: boolean;
    },
  ): Promise<BuildResult> {
    const { store, registry, progress, signal } = ctx;
    const info = (message: string) => progress.emit({ type: 'info', message, time: Date.now() });
    const remote = ctx.cache.from
      ? await openCacheFrom(ctx.cache.from, { registry, content: store.content, signal, warn: (m) => progress.emit({ type: 'warning', message: m, time: Date.now() }) })
      : undefined;
    // As in tsbuild build: exported cache mounts are restored first, so the first RUN finds them filled.
    if (remote) await ctx.restoreOne(() => remote.restoreMounts(join(store.root, 'cache-mounts'), signal));
    const platform = hostPlatform();
    // As tsbuild build (and buildx bake): reproducible timestamps for every service.
    const sourceDateEpoch = envEpoch();
    // `service:NAME` contexts resolve to images built earlier in this bake (already awaited).
    const built = new Map<string, BuildResult>();
    for (const [, v] of s.additionalContexts) {
      if (v.startsWith('service:')) built.set(v, await (ctx.results.get(v.slice(8)) as Promise<BuildResult>));
    }
    const { result, cache } = await runBuild(
      {
        dockerfile: {
          text: dockerfileText,
          ...('path' in s.dockerfile ? { name: s.dockerfile.path, path: s.dockerfile.path } : { name: `${s.service}/Dockerfile` }),
        },
        contextDir: s.contextDir,
        tags: s.tags,
        ...(s.target ? { target: s.target } : {}),
        buildArgs: s.args,
        run: { ...ctx.run, secrets: new Map([...ctx.run.secrets, ...s.secrets]) },
        namedContexts: new Set(s.additionalContexts.keys()),
        openContext: (name) => {
          const spec = s.additionalContexts.get(name);
          if (spec === undefined) return undefined;
          const dep = built.get(spec);
          if (dep) return new StoreImageSource(store.content, dep.tags[0] ?? dep.manifest.digest, dep.manifest);
          return openOciLayoutContext(spec, `service ${s.service}: additional_contexts ${name}`);
        },
        platform,
        ...(sourceDateEpoch !== undefined ? { sourceDateEpoch } : {}),
        jobs: ctx.jobs ?? Math.max(1, availableParallelism()),
        pull: ctx.pull,
        noCache: false,
        noCacheStages: new Set(),
        ...(remote ? { remoteCache: remote } : {}),
      },
      { store, registry: async () => registry, progress, signal, isolation: ctx.isolation, keep: ctx.keep, chownTrap: ctx.chownTrap },
    ).finally(() => remote?.close());
    for (const spec of ctx.cache.to) info(await exportCacheTo(spec, cache, { registry, content: store.content, storeRoot: store.root, tmpDir: store.tmpDir, signal }));
    return result;
  }
}

/**
 * A service's cache_from/cache_to as --cache-from/--cache-to specs. Compose also allows a bare
 * image reference in cache_from, which buildx reads as a registry cache.
 */
export function serviceCacheSpecs(s: ServiceBuild, file: string): { from: CacheSpec | undefined; to: CacheSpec[] } {
  const parse = (text: string, direction: 'from' | 'to'): CacheSpec => {
    try {
      return parseCacheSpec(direction === 'from' && !text.includes('=') ? `type=registry,ref=${text}` : text, direction);
    } catch (err) {
      throw new TsbuildError('COMPOSE_INVALID', `${file}: services.${s.service}.build.cache_${direction}: ${(err as Error).message.replace(/^--cache-(from|to) /, '')}`, {
        hint: 'e.g. type=registry,ref=REPO:TAG or type=local,src=DIR (dest=DIR for cache_to)',
      });
    }
  };
  const [from, ...more] = s.cacheFrom.map((t) => parse(t, 'from'));
  if (more.length > 0) throw new TsbuildError('COMPOSE_INVALID', `${file}: services.${s.service}.build.cache_from: only one cache source per service is supported yet`, {
    hint: `keep a single cache_from entry for ${s.service}`,
  });
  return { from, to: s.cacheTo.map((t) => parse(t, 'to')) };
}

async function findComposeFile(dir: string): Promise<string> {
  for (const name of ['compose.yaml', 'compose.yml', 'docker-compose.yaml', 'docker-compose.yml']) {
    const p = resolve(dir, name);
    if (await readFile(p).then(() => true, () => false)) return p;
  }
  throw new TsbuildError('COMPOSE_INVALID', `no compose.yaml in ${dir}`, { hint: 'pass -f PATH to the compose file' });
}

/** The wanted services and everything they need, in file order; all when none are named. */
function withDependencies(all: readonly ServiceBuild[], wanted: readonly string[]): ServiceBuild[] {
  if (wanted.length === 0) return [...all];
  const need = new Set<string>();
  const add = (name: string) => {
    if (need.has(name)) return;
    need.add(name);
    for (const d of all.find((s) => s.service === name)?.dependsOn ?? []) add(d);
  };
  wanted.forEach(add);
  return all.filter((s) => need.has(s.service));
}

/** service → services it waits for: `service:` contexts and FROM lines naming another service's image. */
export function dependencies(services: readonly ServiceBuild[], dockerfiles: ReadonlyMap<string, string>): Map<string, string[]> {
  const byImage = new Map<string, string>();
  for (const s of services) for (const t of s.tags) byImage.set(normalize(t), s.service);
  const out = new Map<string, string[]>();
  for (const s of services) {
    const deps = new Set(s.dependsOn);
    try {
      const graph = resolveBuildGraph(parseDockerfile(dockerfiles.get(s.service) ?? '', { file: 'Dockerfile' }), {
        target: s.target,
        buildArgs: s.args,
        namedContexts: new Set(s.additionalContexts.keys()),
      });
      for (const st of graph.stages) {
        const other = st.base.kind === 'image' ? byImage.get(normalize(st.base.ref)) : undefined;
        if (other && other !== s.service) deps.add(other);
      }
    } catch {
      // The build reports a broken Dockerfile with its location.
    }
    out.set(s.service, [...deps]);
  }
  const visiting = new Set<string>();
  const done = new Set<string>();
  const visit = (n: string) => {
    if (done.has(n)) return;
    if (visiting.has(n)) throw new TsbuildError('COMPOSE_INVALID', `services depend on each other in a cycle through ${n}`);
    visiting.add(n);
    for (const d of out.get(n) ?? []) visit(d);
    visiting.delete(n);
    done.add(n);
  };
  for (const s of services) visit(s.service);
  return out;
}

function normalize(ref: string): string {
  try {
    return parseReference(ref).toString();
  } catch {
    return ref;
  }
}

/** Gives each service's steps build-wide unique ids and names prefixed with the service. */
function serviceProgress(sink: ProgressSink, service: string, ids: { next: number }): ProgressSink {
  const map = new Map<number, number>();
  const ref = (step: { id: number; name: string; stage: string }) => {
    let id = map.get(step.id);
    if (id === undefined) {
      id = ids.next++;
      map.set(step.id, id);
    }
    return { id, name: `${service} ${step.name}`, stage: `${service}/${step.stage}` };
  };
  return {
    emit(e: ProgressEvent) {
      if ('step' in e) sink.emit({ ...e, step: ref(e.step) } as ProgressEvent);
      else if (e.type === 'info' || e.type === 'warning') sink.emit({ ...e, message: `${service}: ${e.message}` });
      else sink.emit(e);
    },
  };
}

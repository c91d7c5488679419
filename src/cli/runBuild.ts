/**
 * One build, wired: image resolver, .dockerignore, build cache and the GC lease around the build
 * core. `tsbuild build` and `tsbuild bake` both go through here, so a feature added to the build
 * (cache, ignore files, sandbox options) reaches every service of a bake too.
 */
import { resolve } from 'node:path';
import { build, type BuildRequest, type BuildResult } from '../build/builder.js';
import type { BuildServices } from '../build/stepContext.js';
import type { BuildInputObserver } from '../cache/buildInputObserver.js';
import { ImageResolver } from '../build/imageResolver.js';
import type { ProgressSink } from '../build/progress.js';
import { BuildCache } from '../cache/buildCache.js';
import { withBuildLease } from '../cache/cacheGc.js';
import type { RemoteCache } from '../cache/remoteCache.js';
import { loadDockerignore } from '../context/dockerignore.js';
import { TsbuildError } from '../errors.js';
import { mountOverlay, namespaceNeeded, unmount } from '../isolation/enterNamespace.js';
import type { IsolationMode } from '../isolation/chooseIsolation.js';
import type { Store } from '../snapshot/openStore.js';
import { OciLayoutSource } from '../transport/ociLayoutSource.js';
import type { RegistryClient } from '../transport/registryClient.js';
import type { ImageSource } from '../transport/types.js';

export interface BuildJob extends Omit<BuildRequest, 'contextFilter' | 'dockerfile'> {
  /** `path` is where the Dockerfile lives (for `<Dockerfile>.dockerignore`); absent for stdin or inline text. */
  dockerfile: { text: string; name: string; path?: string };
  /** Opens a `--build-context NAME=...` (or compose additional_contexts) source. */
  openContext: (name: string) => ImageSource | undefined;
  pull: boolean;
  noCache: boolean;
  noCacheStages: ReadonlySet<string>;
  remoteCache?: RemoteCache;
}

export interface BuildEnv {
  store: Store;
  /** Asked for only when the build pulls. */
  registry: () => Promise<RegistryClient>;
  progress: ProgressSink;
  signal: AbortSignal;
  /** How RUN is isolated and snapshots are made (default rootless: namespaces and overlay). */
  isolation?: IsolationMode;
  /** Isolation none: paths the build reads or writes besides its store and context, kept under `/`. */
  keep?: readonly string[];
  /** proot under the helper's chown-trap (IsolationChoice.chownTrap). */
  chownTrap?: boolean;
  /**
   * A first try outside tsbuild's namespace, for rebuilds the cache serves whole: a step that
   * misses, a mount, a RUN, a pull or unpacking a layer fails it with NAMESPACE_NEEDED (see
   * needsNamespace) before it prints or records anything, and the caller re-runs inside.
   */
  outsideNamespace?: boolean;
  /** Told what the result is made from (the build record, cli/buildMemo.ts). */
  inputs?: BuildInputObserver;
}

export async function runBuild(job: BuildJob, env: BuildEnv): Promise<{ result: BuildResult; cache: BuildCache }> {
  const { store, registry, progress, signal } = env;
  const outside = env.outsideNamespace === true;
  const snapshots = outside ? store.snapshots.withUnpackGuard((diffID) => namespaceNeeded(`unpacking layer ${diffID}`)) : store.snapshots;
  // The Dockerfile is read whatever .dockerignore says; the patterns only hide files from COPY/ADD.
  const ignore = await loadDockerignore(job.contextDir, job.dockerfile.path);
  const resolver = new ImageResolver({
    content: store.content,
    images: store.images,
    snapshots,
    registry,
    openContext: job.openContext,
    platform: job.platform,
    pull: job.pull,
    progress,
    ...(outside ? { beforeFetch: namespaceNeeded } : {}),
    ...(env.inputs ? { inputs: env.inputs } : {}),
  });
  const cache = new BuildCache({
    ...(job.remoteCache ? { remote: job.remoteCache } : {}),
    storeRoot: store.root,
    content: store.content,
    snapshots,
    platform: job.platform,
    contextDir: job.contextDir,
    scope: `${job.contextDir}\0${job.dockerfile.path ?? job.dockerfile.name}`,
    ...(job.sourceDateEpoch !== undefined ? { sourceDateEpoch: job.sourceDateEpoch } : {}),
    noCache: job.noCache,
    noCacheStages: job.noCacheStages,
    ...(ignore.filter ? { contextFilter: ignore.filter } : {}),
    ...(outside ? { beforeMiss: (step: string) => namespaceNeeded(`running ${step}`) } : {}),
    ...(env.inputs ? { inputs: env.inputs } : {}),
  });
  const { openContext: _open, pull: _pull, noCache: _nc, noCacheStages: _ncs, remoteCache: _rc, ...request } = job;
  const runner = await runnerFor(env, job);
  const result = await withBuildLease(
    store.root,
    () =>
      build(
        { ...request, dockerfile: { text: job.dockerfile.text, name: job.dockerfile.name }, ...(ignore.filter ? { contextFilter: ignore.filter } : {}) },
        {
          content: store.content,
          images: store.images,
          snapshots,
          ...runner,
          resolver,
          xattrFlavor: store.xattrFlavor,
          storeKind: store.kind,
          tmpDir: store.tmpDir,
          progress,
          cache,
        },
        signal,
      ),
    signal,
  );
  return { result, cache };
}

/**
 * What runs RUN and mounts snapshots for this isolation; only its own module is loaded, and a try
 * outside the namespace loads none (a step that needs one re-runs the build inside).
 */
async function runnerFor(env: BuildEnv, job: BuildJob): Promise<Pick<BuildServices, 'runtime' | 'mounter'>> {
  const { store } = env;
  if (env.outsideNamespace === true) {
    return { runtime: { run: () => namespaceNeeded('RUN') }, mounter: { mountOverlay: () => namespaceNeeded('a mount'), unmount: () => namespaceNeeded('a mount') } };
  }
  if (env.isolation === 'none') {
    const [{ NoneRuntime }, { CopyMounter }] = await Promise.all([import('../isolation/noneRuntime.js'), import('../isolation/copyRuntime.js')]);
    // The working directory too: relative paths (outputs written after the build) resolve against it.
    const none = new NoneRuntime({ flavor: store.xattrFlavor, keep: [store.root, job.contextDir, process.cwd(), ...(job.dockerfile.path !== undefined ? [job.dockerfile.path] : []), ...(env.keep ?? [])] });
    // Fails before the first step when tsbuild itself would not survive `/` being replaced.
    await none.keptPaths();
    return { runtime: none, mounter: new CopyMounter(store.xattrFlavor, store.kind) };
  }
  if (env.isolation === 'chroot' || env.isolation === 'proot') {
    const { CopyMounter, CopyRuntime } = await import('../isolation/copyRuntime.js');
    return {
      runtime: new CopyRuntime({ launcher: env.isolation, flavor: store.xattrFlavor, storeKind: store.kind, chownTrap: env.chownTrap === true && store.kind === 'xattr' }),
      mounter: new CopyMounter(store.xattrFlavor, store.kind),
    };
  }
  const { NamespaceRuntime } = await import('../isolation/runtime.js');
  return { runtime: new NamespaceRuntime({}), mounter: { mountOverlay, unmount } };
}

/** The directories of the `oci-layout://` specs among `specs` (what isolation none must keep). */
export function ociLayoutPaths(specs: Iterable<string>): string[] {
  const out: string[] = [];
  for (const spec of specs) {
    if (!spec.startsWith('oci-layout://')) continue;
    out.push(parseOciLayoutSpec(spec, 'context').path);
  }
  return out;
}

/**
 * `oci-layout://PATH[:TAG]` or `oci-layout://PATH@sha256:...`, BuildKit's spelling for a named
 * context; `what` names the flag or compose key in the error.
 */
export function openOciLayoutContext(spec: string, what: string): ImageSource {
  return new OciLayoutSource(parseOciLayoutSpec(spec, what));
}

function parseOciLayoutSpec(spec: string, what: string): { path: string; tag?: string; digest?: string } {
  const prefix = 'oci-layout://';
  if (!spec.startsWith(prefix)) {
    throw new TsbuildError('USAGE', `${what}=${spec}: only oci-layout://PATH[:TAG] is supported yet`, {
      hint: 'write it as oci-layout://PATH, oci-layout://PATH:TAG or oci-layout://PATH@sha256:DIGEST, PATH an OCI image layout directory',
    });
  }
  const rest = spec.slice(prefix.length);
  // A colon inside the path is rare enough to follow BuildKit's split at the last one.
  const at = rest.lastIndexOf('@');
  const colon = rest.lastIndexOf(':');
  if (at > 0) return { path: resolve(rest.slice(0, at)), digest: rest.slice(at + 1) };
  if (colon > 0 && !rest.slice(colon).includes('/')) return { path: resolve(rest.slice(0, colon)), tag: rest.slice(colon + 1) };
  return { path: resolve(rest) };
}

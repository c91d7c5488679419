/**
 * The compatibility side of `tsbuild build`: buildah and kaniko spellings of docker's flags,
 * help groups, and the registries `--tls-verify=false` applies to. Kept out of buildCommand.ts so
 * the command itself stays a short wiring of parse → build → outputs.
 */
import { Flags } from '@oclif/core';
import { parseDockerfile } from '../dockerfile/parseDockerfile.js';
import { resolveBuildGraph } from '../graph/buildGraph.js';
import { DOCKER_HUB, DOCKER_HUB_API, parseReference } from '../image/reference.js';

export const BUILD_COMPAT_FLAGS = {
  context: Flags.string({ description: 'build context directory (kaniko, buildah: same as the CONTEXT argument)' }),
  destination: Flags.string({
    description: 'push the image to this registry reference after the build (kaniko; repeatable)',
    multiple: true,
    multipleNonGreedy: true,
    default: [],
  }),
  'tls-verify': Flags.boolean({
    description: 'verify TLS of the registries this build talks to; --tls-verify=false makes them all insecure (buildah)',
    allowNo: true,
    default: true,
  }),
  load: Flags.boolean({ description: 'tag the image into the local store (always done; accepted for buildx)', default: false }),
  layers: Flags.boolean({ description: 'keep one layer per step (always done; accepted for buildah)', allowNo: true, default: true }),
  cache: Flags.boolean({ description: 'reuse earlier builds of unchanged steps; --no-cache (docker) or --cache=false (kaniko) runs every step', allowNo: true, default: true }),
};

/** Flag name → help section; flags not listed land in "OTHER" (so new flags still show up). */
const GROUPS: Record<string, string> = {
  tag: 'IMAGE',
  file: 'INPUT',
  context: 'INPUT',
  target: 'INPUT',
  'build-arg': 'INPUT',
  'build-context': 'INPUT',
  secret: 'INPUT',
  ssh: 'INPUT',
  label: 'IMAGE',
  annotation: 'IMAGE',
  platform: 'IMAGE',
  'source-date-epoch': 'IMAGE',
  output: 'OUTPUT',
  push: 'OUTPUT',
  load: 'OUTPUT',
  destination: 'OUTPUT',
  iidfile: 'OUTPUT',
  'metadata-file': 'OUTPUT',
  progress: 'DISPLAY',
  quiet: 'DISPLAY',
  check: 'DISPLAY',
  'no-cache': 'CACHE',
  'no-cache-filter': 'CACHE',
  'explain-cache': 'CACHE',
  'cap-add': 'RUN',
  'security-opt': 'RUN',
  allow: 'RUN',
  memory: 'RUN',
  cpus: 'RUN',
  'pids-limit': 'RUN',
  'cache-from': 'CACHE',
  'cache-to': 'CACHE',
  cache: 'CACHE',
  layers: 'CACHE',
  pull: 'REGISTRY',
  'insecure-registry': 'REGISTRY',
  'tls-verify': 'REGISTRY',
  network: 'RUN',
  jobs: 'RUN',
  root: 'STORE',
};

/** Other tools' names for the same flag. */
const ALIASES: Record<string, string[]> = {
  file: ['dockerfile'],
};

/** Sets oclif's helpGroup (so `tsbuild build --help` reads in sections) and the aliases on each flag. */
export function withHelpGroups<T extends Record<string, object>>(flags: T): T {
  const out: Record<string, object> = {};
  for (const [name, flag] of Object.entries(flags)) {
    const aliases = ALIASES[name];
    // oclif's help does not list aliases, so the description names them.
    const described = aliases ? { aliases, description: `${(flag as { description?: string }).description ?? ''} (also --${aliases.join(', --')})` } : {};
    out[name] = { ...flag, helpGroup: GROUPS[name] ?? 'OTHER', ...described };
  }
  return out as T;
}

/**
 * The registry API hosts a build reaches: its FROM images, its tags and --destination refs.
 * `--tls-verify=false` marks exactly these insecure (the registry client keys on host:port).
 */
export function registryHostsOf(dockerfileText: string, opts: { buildArgs: ReadonlyMap<string, string>; target?: string; namedContexts: ReadonlySet<string>; refs: readonly string[] }): string[] {
  const refs = [...opts.refs];
  try {
    const graph = resolveBuildGraph(parseDockerfile(dockerfileText, { file: 'Dockerfile' }), {
      target: opts.target,
      buildArgs: opts.buildArgs,
      namedContexts: opts.namedContexts,
    });
    for (const stage of graph.stages) if (stage.base.kind === 'image') refs.push(stage.base.ref);
  } catch {
    // The build itself reports a bad Dockerfile with its location; here it just has no hosts.
  }
  const hosts = new Set<string>();
  for (const r of refs) {
    try {
      const reg = parseReference(r).registry;
      hosts.add(reg === DOCKER_HUB ? DOCKER_HUB_API : reg);
    } catch {
      // a bad reference fails later with its own message
    }
  }
  return [...hosts];
}

import { parseDockerfile } from '../dockerfile/parseDockerfile.js';
import { resolveBuildGraph } from '../graph/buildGraph.js';
import { DOCKER_HUB, DOCKER_HUB_API, parseReference } from '../image/reference.js';

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

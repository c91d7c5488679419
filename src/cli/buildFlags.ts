/**
 * Every flag and argument of `tsbuild build`, in one table that both the oclif command (help,
 * completion) and the lean start-up path (cli/leanBuild.ts) parse against. It imports only
 * oclif's light flags/args modules, never the `@oclif/core` index, so parsing a build's argv does
 * not load oclif's Config. Also the compatibility side: buildah and kaniko spellings of docker's
 * flags and the help groups.
 */
import * as Args from '@oclif/core/args';
import * as Flags from '@oclif/core/flags';
import type { InferredArgs, InferredFlags } from '@oclif/core/interfaces';
import { ISOLATION_REQUESTS } from '../isolation/chooseIsolation.js';

const many = { multiple: true as const, multipleNonGreedy: true, default: [] as string[] };

/** `tsbuild build` flags for RUN steps: secrets, ssh agents and the sandbox's security options (bake shares them). */
export const RUN_SANDBOX_FLAGS = {
  secret: Flags.string({ description: 'secret for RUN --mount=type=secret: id=ID,src=FILE or id=ID,env=VAR (repeatable)', ...many }),
  ssh: Flags.string({ description: 'ssh agent for RUN --mount=type=ssh: default, ID=SOCKET or ID=KEYFILE[,KEYFILE] (repeatable)', ...many }),
  'cap-add': Flags.string({ description: "add a capability to RUN steps' default set (repeatable)", ...many }),
  'security-opt': Flags.string({ description: 'seccomp=unconfined or no-new-privileges (repeatable)', ...many }),
  memory: Flags.string({ description: 'memory limit for each RUN step, e.g. 512m (needs cgroups: root, or cgroup v2 delegation)' }),
  cpus: Flags.string({ description: 'CPU limit for each RUN step, e.g. 1.5' }),
  'pids-limit': Flags.integer({ description: 'process limit for each RUN step', min: 1 }),
  allow: Flags.string({ description: 'grant an entitlement: security.insecure (for RUN --security=insecure)', ...many }),
};

/** What happens after a build besides -o: `--push`, `--iidfile`, `--metadata-file` (buildx's keys), `--format`. */
export const OUTPUT_FLAGS = {
  push: Flags.boolean({ description: 'push the image to the registry of each -t name (same as -o type=registry)', default: false }),
  iidfile: Flags.string({ description: 'write the image ID (config digest) to this file' }),
  'metadata-file': Flags.string({ description: 'write build metadata as buildx does (containerimage.digest, …) to this JSON file' }),
  format: Flags.string({ description: 'media types of image outputs: oci (default) or docker (Docker schema2)', options: ['oci', 'docker'] }),
};

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

export const BUILD_ARGS = {
  context: Args.string({ description: 'build context: a directory, a tar or tar.gz file, - (a tar on stdin), an http(s) tarball URL, or a git URL (https://host/repo.git#ref:subdir)', default: '.' }),
};

export const BUILD_FLAGS = withHelpGroups({
  tag: Flags.string({ char: 't', description: 'name and tag for the image (repeatable)', multiple: true, multipleNonGreedy: true, default: [] }),
  file: Flags.string({ char: 'f', description: 'path to the Dockerfile, or - to read it from stdin (default: CONTEXT/Dockerfile)' }),
  check: Flags.boolean({ description: 'check the Dockerfile (parse, resolve stages, lint) and build nothing', default: false }),
  target: Flags.string({ description: 'build this stage and what it needs' }),
  'build-arg': Flags.string({ description: 'set a build argument: NAME=VALUE (repeatable)', multiple: true, multipleNonGreedy: true, default: [] }),
  'build-context': Flags.string({ description: 'named context: NAME=oci-layout://PATH[:TAG] (repeatable)', multiple: true, multipleNonGreedy: true, default: [] }),
  output: Flags.string({ char: 'o', description: 'output: type=oci|docker|tar|local,dest=PATH, type=registry (repeatable; see README)', multiple: true, multipleNonGreedy: true, default: [] }),
  ...OUTPUT_FLAGS,
  progress: Flags.string({ description: 'progress output: auto (tty on a terminal, else plain), tty, plain, json, quiet (default: $TSBUILD_PROGRESS or auto)', options: ['auto', 'tty', 'plain', 'json', 'quiet'] }),
  quiet: Flags.boolean({ char: 'q', description: 'print only the image ID', default: false }),
  platform: Flags.string({ description: 'target platform (only the host platform can run RUN steps)' }),
  label: Flags.string({ description: 'set a label in the image config: KEY=VALUE (repeatable)', multiple: true, multipleNonGreedy: true, default: [] }),
  annotation: Flags.string({ description: 'set an annotation on the image manifest: [manifest:]KEY=VALUE (repeatable)', multiple: true, multipleNonGreedy: true, default: [] }),
  pull: Flags.boolean({ description: 'always fetch base images from their registry', default: false }),
  jobs: Flags.integer({ description: 'stages to build at once', min: 1 }),
  'source-date-epoch': Flags.integer({ description: 'timestamp for reproducible images (default: $SOURCE_DATE_EPOCH)', min: 0 }),
  'insecure-registry': Flags.string({ description: 'HOST[:PORT] to reach over http or unverified TLS (repeatable)', multiple: true, multipleNonGreedy: true, default: [] }),
  root: Flags.string({ description: 'store directory (default: $TSBUILD_ROOT or ~/.local/share/tsbuild)', env: 'TSBUILD_ROOT' }),
  'no-cache-filter': Flags.string({ description: 'do not reuse the cache for this stage (name or index; repeatable)', multiple: true, multipleNonGreedy: true, default: [] }),
  'cache-to': Flags.string({ description: 'export the build cache: type=registry,ref=REPO[:TAG][,mode=min|max][,mounts=true] or type=local,dest=DIR (repeatable)', multiple: true, multipleNonGreedy: true, default: [] }),
  'cache-from': Flags.string({ description: 'use a build cache exported with --cache-to: type=registry,ref=REPO[:TAG] or type=local,src=DIR', multiple: true, multipleNonGreedy: true, default: [] }),
  isolation: Flags.string({ description: 'how RUN is isolated: auto (the best that works here), rootless, chroot, proot, none (default: $TSBUILD_ISOLATION, the config file, or auto)', options: [...ISOLATION_REQUESTS], env: 'TSBUILD_ISOLATION' }),
  'explain-cache': Flags.boolean({ description: 'after the build, say for every step that missed the cache which input changed', default: false }),
  ...RUN_SANDBOX_FLAGS,
  ...BUILD_COMPAT_FLAGS,
});

export type BuildFlags = Omit<InferredFlags<typeof BUILD_FLAGS>, 'json'>;
export type BuildArgs = InferredArgs<typeof BUILD_ARGS>;

/**
 * The part of a Docker Compose file `tsbuild bake` reads: services with a `build:` section.
 * Pure: the YAML text in, typed build plans out (paths resolved, variables interpolated, the
 * order of builds from `service:` contexts and FROM lines naming another service's image).
 */
import { basename, dirname, isAbsolute, resolve } from 'node:path';
import { parse } from 'yaml';
import type { SecretSource } from '../build/mounts/runOptions.js';
import { TsbuildError } from '../errors.js';

export interface ServiceBuild {
  service: string;
  contextDir: string;
  /** Path of the Dockerfile, or its text for `dockerfile_inline`. */
  dockerfile: { path: string } | { inline: string };
  args: Map<string, string>;
  target?: string;
  /** `image:` first, then `build.tags`. */
  tags: string[];
  /** NAME → `oci-layout://PATH[:TAG]`, or `service:OTHER` for another service's image. */
  additionalContexts: Map<string, string>;
  cacheFrom: string[];
  cacheTo: string[];
  /** RUN --mount=type=secret id → where its value comes from (top-level `secrets:`), as `--secret` gives. */
  secrets: Map<string, SecretSource>;
  /** Services whose images this one uses, built first. */
  dependsOn: string[];
}

export interface ComposeProject {
  name: string;
  dir: string;
  services: ServiceBuild[];
}

export function parseComposeProject(text: string, file: string, env: NodeJS.ProcessEnv): ComposeProject {
  const bad = (what: string) => new TsbuildError('COMPOSE_INVALID', `${file}: ${what}`, { hint: 'see https://docs.docker.com/reference/compose-file/build/' });
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    throw bad((err as Error).message.split('\n')[0] ?? 'not YAML');
  }
  doc = interpolate(doc, env, bad);
  if (!isRecord(doc) || !isRecord(doc['services'])) throw bad('no services: mapping');
  const dir = dirname(resolve(file));
  const name = typeof doc['name'] === 'string' ? doc['name'] : env['COMPOSE_PROJECT_NAME'] || basename(dir).toLowerCase().replace(/[^a-z0-9_-]/g, '');
  const secretSources = topLevelSecrets(doc['secrets'], dir, bad);
  const services: ServiceBuild[] = [];
  for (const [service, def] of Object.entries(doc['services'])) {
    if (!isRecord(def)) throw bad(`services.${service} must be a mapping`);
    const b = def['build'];
    if (b === undefined) continue;
    const build: Record<string, unknown> = typeof b === 'string' ? { context: b } : isRecord(b) ? b : {};
    if (!isRecord(b) && typeof b !== 'string') throw bad(`services.${service}.build must be a path or a mapping`);
    const contextDir = resolve(dir, str(build['context'] ?? '.', `services.${service}.build.context`, bad));
    const dockerfile =
      build['dockerfile_inline'] !== undefined
        ? { inline: str(build['dockerfile_inline'], `services.${service}.build.dockerfile_inline`, bad) }
        : { path: resolve(contextDir, str(build['dockerfile'] ?? 'Dockerfile', `services.${service}.build.dockerfile`, bad)) };
    const image = def['image'] === undefined ? `${name}-${service}` : str(def['image'], `services.${service}.image`, bad);
    const additionalContexts = mapOrList(build['additional_contexts'], `services.${service}.build.additional_contexts`, bad);
    for (const [k, v] of additionalContexts) {
      // Relative paths are relative to the build context, as the compose spec says.
      if (!v.includes('://') && !v.startsWith('service:')) additionalContexts.set(k, `oci-layout://${isAbsolute(v) ? v : resolve(contextDir, v)}`);
    }
    const target = build['target'] === undefined ? undefined : str(build['target'], `services.${service}.build.target`, bad);
    services.push({
      service,
      contextDir,
      dockerfile,
      args: mapOrList(build['args'], `services.${service}.build.args`, bad, env),
      ...(target !== undefined ? { target } : {}),
      tags: [image, ...list(build['tags'], `services.${service}.build.tags`, bad)],
      additionalContexts,
      cacheFrom: list(build['cache_from'], `services.${service}.build.cache_from`, bad),
      cacheTo: list(build['cache_to'], `services.${service}.build.cache_to`, bad),
      secrets: serviceSecrets(build['secrets'], `services.${service}.build.secrets`, secretSources, bad),
      dependsOn: [...additionalContexts.values()].filter((v) => v.startsWith('service:')).map((v) => v.slice('service:'.length)),
    });
  }
  const known = new Set(services.map((s) => s.service));
  for (const s of services) {
    for (const d of s.dependsOn) if (!known.has(d)) throw bad(`services.${s.service}.build.additional_contexts names service:${d}, which has no build section`);
  }
  return { name, dir, services };
}

/** Top-level `secrets: {NAME: {file: PATH} | {environment: VAR}}`; relative files are relative to the compose file. */
function topLevelSecrets(v: unknown, dir: string, bad: (w: string) => Error): Map<string, SecretSource> {
  const out = new Map<string, SecretSource>();
  if (v === undefined || v === null) return out;
  if (!isRecord(v)) throw bad('secrets must be a mapping');
  for (const [name, def] of Object.entries(v)) {
    if (isRecord(def) && def['file'] !== undefined) out.set(name, { file: resolve(dir, str(def['file'], `secrets.${name}.file`, bad)) });
    else if (isRecord(def) && def['environment'] !== undefined) out.set(name, { env: str(def['environment'], `secrets.${name}.environment`, bad) });
    // `external:` and `name:` secrets live in a swarm, which a build cannot read.
    else throw bad(`secrets.${name} needs file: or environment: (the only kinds a build can read)`);
  }
  return out;
}

/** `build.secrets`: names of top-level secrets, or `{source, target}` where target is the RUN mount's id. */
function serviceSecrets(v: unknown, key: string, sources: ReadonlyMap<string, SecretSource>, bad: (w: string) => Error): Map<string, SecretSource> {
  const out = new Map<string, SecretSource>();
  if (v === undefined || v === null) return out;
  if (!Array.isArray(v)) throw bad(`${key} must be a list`);
  for (const item of v) {
    const source = isRecord(item) ? str(item['source'], `${key}[].source`, bad) : str(item, key, bad);
    const id = isRecord(item) && item['target'] !== undefined ? str(item['target'], `${key}[].target`, bad) : source;
    const from = sources.get(source);
    if (from === undefined) throw bad(`${key} names secret ${source}, which the top-level secrets: does not define`);
    out.set(id, from);
  }
  return out;
}

/** Compose's `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `$VAR` and `$$` in every string. */
function interpolate(v: unknown, env: NodeJS.ProcessEnv, bad: (w: string) => Error): unknown {
  if (typeof v === 'string') {
    return v.replace(/\$(\$|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?)-([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))/g, (_m, dollar: string, braced?: string, colon?: string, dflt?: string, bare?: string) => {
      if (dollar === '$') return '$';
      const key = braced ?? bare ?? '';
      const value = env[key];
      if (dflt !== undefined && (value === undefined || (colon === ':' && value === ''))) return dflt;
      return value ?? '';
    });
  }
  if (Array.isArray(v)) return v.map((x) => interpolate(x, env, bad));
  if (isRecord(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, interpolate(x, env, bad)]));
  return v;
}

function str(v: unknown, key: string, bad: (w: string) => Error): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  throw bad(`${key} must be a string`);
}

function list(v: unknown, key: string, bad: (w: string) => Error): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw bad(`${key} must be a list`);
  return v.map((x) => str(x, key, bad));
}

/** `{A: 1}` or `["A=1", "B"]`; a bare name takes its value from the environment, as compose does. */
function mapOrList(v: unknown, key: string, bad: (w: string) => Error, env?: NodeJS.ProcessEnv): Map<string, string> {
  const out = new Map<string, string>();
  if (v === undefined || v === null) return out;
  if (Array.isArray(v)) {
    for (const item of v) {
      const s = str(item, key, bad);
      const eq = s.indexOf('=');
      if (eq > 0) out.set(s.slice(0, eq), s.slice(eq + 1));
      else if (env?.[s] !== undefined) out.set(s, env[s] as string);
    }
  } else if (isRecord(v)) {
    for (const [k, x] of Object.entries(v)) {
      if (x === null || x === undefined) {
        if (env?.[k] !== undefined) out.set(k, env[k] as string);
      } else out.set(k, str(x, `${key}.${k}`, bad));
    }
  } else throw bad(`${key} must be a mapping or a list`);
  return out;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

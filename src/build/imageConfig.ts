/**
 * The image config as Docker writes it, built up step by step. Pure: every function returns a
 * new config and never touches the one it was given, so a stage's history is easy to reason about.
 */
import type { ContainerConfig, ImageConfig, Platform } from '../image/types.js';

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export type { ContainerConfig };

export function scratchConfig(platform: Platform): ImageConfig {
  return {
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant ? { variant: platform.variant } : {}),
    config: {},
    rootfs: { type: 'layers', diff_ids: [] },
    history: [],
  };
}

/** A stage starting FROM another image inherits its config but neither its `created` nor `author`. */
export function inheritConfig(base: ImageConfig): ImageConfig {
  const copy = structuredClone(base);
  delete copy.created;
  delete copy.author;
  copy.config ??= {};
  copy.history ??= [];
  copy.rootfs = { type: 'layers', diff_ids: [...(base.rootfs?.diff_ids ?? [])] };
  return copy;
}

export function withContainerConfig(config: ImageConfig, patch: Partial<ContainerConfig>): ImageConfig {
  return { ...config, config: { ...(config.config ?? {}), ...patch } };
}

/** `--label K=V` from the command line: set over the Dockerfile's LABELs, with no history entry (as buildx). */
export function withLabels(config: ImageConfig, labels: ReadonlyMap<string, string> | undefined): ImageConfig {
  if (!labels || labels.size === 0) return config;
  return withContainerConfig(config, { Labels: { ...(config.config?.Labels ?? {}), ...Object.fromEntries(labels) } });
}

export function withoutOnBuild(config: ImageConfig): ImageConfig {
  const inner = { ...(config.config ?? {}) };
  delete inner.OnBuild;
  return { ...config, config: inner };
}

/** Env is an ordered KEY=VALUE list; setting a key replaces it in place, as Docker does. */
export function envToMap(env: readonly string[] | undefined): Map<string, string> {
  const map = new Map<string, string>();
  for (const entry of env ?? []) {
    const eq = entry.indexOf('=');
    if (eq < 0) map.set(entry, '');
    else map.set(entry.slice(0, eq), entry.slice(eq + 1));
  }
  return map;
}

export function setEnv(env: readonly string[] | undefined, key: string, value: string): string[] {
  const out = [...(env ?? [])];
  const at = out.findIndex((e) => e === key || e.startsWith(`${key}=`));
  if (at >= 0) out[at] = `${key}=${value}`;
  else out.push(`${key}=${value}`);
  return out;
}

export interface HistoryInput {
  createdBy: string;
  emptyLayer: boolean;
  created: string;
}

export function addHistory(config: ImageConfig, entry: HistoryInput): ImageConfig {
  const history = [...(config.history ?? [])];
  history.push({
    created: entry.created,
    created_by: entry.createdBy,
    comment: 'tsbuild.dockerfile.v0',
    ...(entry.emptyLayer ? { empty_layer: true } : {}),
  });
  return { ...config, history };
}

export function addLayer(config: ImageConfig, diffID: string): ImageConfig {
  return { ...config, rootfs: { type: 'layers', diff_ids: [...(config.rootfs?.diff_ids ?? []), diffID] } };
}

/** The final config: `created` set, empty container fields dropped so digests match Docker's shape. */
export function finalizeConfig(config: ImageConfig, created: string): ImageConfig {
  const inner: Record<string, unknown> = { ...(config.config ?? {}) };
  for (const [k, v] of Object.entries(inner)) {
    if (v === undefined || (v !== null && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 0 && k !== 'ExposedPorts')) {
      delete inner[k];
    }
  }
  return { ...config, created, config: inner as ContainerConfig };
}

/** The RUN environment: the image's Env, plus the build args in scope that Env does not shadow. */
export function runEnvironment(config: ImageConfig, buildArgs: ReadonlyMap<string, string>): string[] {
  const env = envToMap(config.config?.Env);
  if (!env.has('PATH')) env.set('PATH', DEFAULT_PATH);
  for (const [k, v] of buildArgs) if (!env.has(k)) env.set(k, v);
  return [...env].map(([k, v]) => `${k}=${v}`);
}

/**
 * What a step changed in the image config, as a short list of path operations (pure). A cache
 * entry stores this instead of the whole config, so a Dockerfile of thousands of LABELs writes
 * entries of constant size rather than ever larger copies of every label so far; and a state's
 * identity is chained from its parent's and this patch, so it costs the change, not the config.
 */
import type { ImageConfig } from '../image/types.js';
import { canonicalJson, type Json } from './canonicalJson.js';

/** `[path, value]` sets, `[path]` deletes. Sorted by path, so equal changes give equal bytes. */
export type ConfigPatch = Array<[string[]] | [string[], Json]>;

/** The members `history` and `created` are not part of a state's identity and never patched. */
const UNPATCHED = new Set(['history', 'created']);

export function diffConfig(before: ImageConfig, after: ImageConfig): ConfigPatch {
  const out: ConfigPatch = [];
  diff(before as unknown as Record<string, unknown>, after as unknown as Record<string, unknown>, [], out, true);
  return out.map((op) => [JSON.stringify(op[0]), op] as const).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(([, op]) => op);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function diff(a: Record<string, unknown>, b: Record<string, unknown>, path: string[], out: ConfigPatch, top: boolean): void {
  for (const key of Object.keys(b)) {
    if (top && UNPATCHED.has(key)) continue;
    const bv = b[key];
    if (bv === undefined) continue;
    const av = a[key];
    if (av === bv) continue;
    if (isObject(av) && isObject(bv)) diff(av, bv, [...path, key], out, false);
    else if (av === undefined || canonicalJson(av) !== canonicalJson(bv)) out.push([[...path, key], bv as Json]);
  }
  for (const key of Object.keys(a)) {
    if (top && UNPATCHED.has(key)) continue;
    if (a[key] !== undefined && b[key] === undefined) out.push([[...path, key]]);
  }
}

/** `config` with `patch` applied; untouched members are shared, touched objects copied once. */
export function applyConfigPatch(config: ImageConfig, patch: ConfigPatch): ImageConfig {
  const copied = new Set<object>();
  const root: Record<string, unknown> = { ...(config as unknown as Record<string, unknown>) };
  copied.add(root);
  for (const op of patch) {
    const path = op[0];
    let node = root;
    for (const key of path.slice(0, -1)) {
      const child = node[key];
      let next: Record<string, unknown>;
      if (isObject(child) && copied.has(child)) next = child;
      else {
        next = isObject(child) ? { ...child } : {};
        copied.add(next);
        node[key] = next;
      }
      node = next;
    }
    const last = path[path.length - 1];
    if (last === undefined) continue;
    // Values are shared, not copied: states are never mutated.
    if (op.length === 2) node[last] = op[1];
    else delete node[last];
  }
  return root as unknown as ImageConfig;
}

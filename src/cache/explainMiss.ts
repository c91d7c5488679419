/**
 * Why a step missed (the step itself is named by whoever shows it), said against the last recorded build of the same step position: which
 * input changed ("1 file changed: src/main.ts", "build arg VERSION changed"). Pure.
 */
import { canonicalJson } from './canonicalJson.js';
import type { StepInputs } from './cacheKey.js';
import type { PositionRecord } from './cacheIndex.js';

export interface MissContext {
  /** The first step of a stage: its parent is the stage's base. */
  firstInStage: boolean;
  parent: string;
  inputs: StepInputs;
  build?: PositionRecord['build'];
}

const MAX_NAMED = 5;

export function explainMiss(previous: PositionRecord | undefined, now: MissContext): string {
  if (!previous) return 'no earlier build of this step';
  const reasons: string[] = [];
  const a = previous.inputs;
  const b = now.inputs;
  if (canonicalJson(a.instruction) !== canonicalJson(b.instruction)) reasons.push('the instruction changed');
  for (const name of changedKeys(a.args ?? {}, b.args ?? {})) reasons.push(`build arg ${name} changed`);
  const files = changedKeys(a.files ?? {}, b.files ?? {});
  if (files.length > 0) {
    const shown = files.slice(0, MAX_NAMED).join(', ') + (files.length > MAX_NAMED ? `, and ${files.length - MAX_NAMED} more` : '');
    reasons.push(`${files.length} file${files.length === 1 ? '' : 's'} changed: ${shown}`);
  }
  for (const name of changedKeys(a.sources ?? {}, b.sources ?? {})) reasons.push(`the content of ${name} changed`);
  if (canonicalJson(a.mounts ?? []) !== canonicalJson(b.mounts ?? [])) reasons.push('the mounts changed');
  const was = previous.build;
  const is = now.build;
  if (was && is && was.platform !== is.platform) reasons.push(`the platform changed (${was.platform} → ${is.platform})`);
  if (was && is && was.sourceDateEpoch !== is.sourceDateEpoch) reasons.push('SOURCE_DATE_EPOCH changed');
  if (previous.parent !== now.parent) reasons.push(now.firstInStage ? 'the base image changed' : 'an earlier step changed the image');
  if (reasons.length === 0) return 'its cache entry is gone (pruned?) or was made for another platform';
  return reasons.join('; ');
}

/** Keys added, removed or with a different value, sorted. */
function changedKeys(a: Record<string, unknown>, b: Record<string, unknown>): string[] {
  const out: string[] = [];
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
    if (canonicalJson(a[k] ?? null) !== canonicalJson(b[k] ?? null)) out.push(k);
  }
  return out.sort();
}

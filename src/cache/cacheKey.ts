/**
 * Cache keys (pure). A step's key is the digest of canonical JSON built from explicitly listed
 * inputs: the key format version, the parent (the identity of the state the step starts from),
 * the step's own inputs (see stepInputs.ts) and the platform. Nothing else goes in: no mtimes,
 * no file locations, no times.
 */
import type { ImageConfig, Platform } from '../image/types.js';
import { digestOf, type Json } from './canonicalJson.js';
import type { ConfigPatch } from './configPatch.js';

/** Bump when the meaning of any input changes: every old entry then simply misses. */
export const CACHE_KEY_VERSION = 2;

/** What a step's result depends on besides its parent; every member is optional and explicit. */
export interface StepInputs {
  /** The instruction after variable expansion, without its location in the Dockerfile. */
  instruction: Json;
  /** Build args the step can see (RUN: all ARGs in scope; others: none, expansion is in `instruction`). */
  args?: Record<string, string>;
  /** Context files a COPY/ADD or a bind mount reads: path → digest of (type, mode, content | link target). */
  files?: Record<string, string>;
  /** Another stage's or image's filesystem a step reads: its layer diffIDs. */
  sources?: Record<string, string[]>;
  /** RUN --mount specs as written (expanded). */
  mounts?: string[];
}

/** The part of a stage's state a step's result depends on (history times excluded). */
export interface StateIdentity {
  config: ImageConfig;
  layers: readonly { diffID: string }[];
  cmdSet: boolean;
}

/**
 * The parent of a step is the identity of the state it starts from, not the key of the step
 * before: so a step re-run with an identical result (same layer, same config) lets the steps
 * after it hit again, and a stage FROM an image chains on that image's layers and config.
 */
export function stateDigest(state: StateIdentity): string {
  const { history: _history, created: _created, ...config } = state.config;
  return digestOf({ v: CACHE_KEY_VERSION, config: config as unknown as Json, diffIDs: state.layers.map((l) => l.diffID), cmdSet: state.cmdSet });
}

/**
 * `sourceDateEpoch` is part of the key because it changes the result (clamped mtimes, history
 * times): a layer made without it must not be reused by a build that promises reproducibility.
 */
export function cacheKey(parent: string, inputs: StepInputs, platform: Platform, sourceDateEpoch?: number): string {
  return digestOf({
    v: CACHE_KEY_VERSION,
    parent,
    sourceDateEpoch,
    inputs: inputs as unknown as Json,
    platform: { os: platform.os, architecture: platform.architecture, variant: platform.variant },
  });
}

/**
 * The identity of the state a step made, from the identity of the state it started from and what
 * it changed (config patch, layer, cmdSet): equal to any other state reached by the same changes
 * from the same parent, and costing the size of the change, not of the whole config, so a stage of
 * thousands of steps is not quadratic. (A stage's first state uses stateDigest.)
 */
export function chainedStateDigest(parent: string, change: { patch: ConfigPatch; diffID?: string; cmdSet: boolean }): string {
  return digestOf({ v: CACHE_KEY_VERSION, parent, patch: change.patch as unknown as Json, diffID: change.diffID, cmdSet: change.cmdSet });
}

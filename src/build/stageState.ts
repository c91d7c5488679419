/**
 * What one stage carries from step to step. Handlers never mutate it: each returns the next
 * state, so the step loop is a fold and a failed step leaves the previous state untouched.
 */
import type { Descriptor, ImageConfig } from '../image/types.js';
import { envToMap } from './imageConfig.js';

export interface LayerRef {
  diffID: string;
  descriptor: Descriptor;
}

export interface StageState {
  config: ImageConfig;
  layers: readonly LayerRef[];
  /** ARGs declared in this stage so far, with their values (unset ones are absent). */
  args: ReadonlyMap<string, string>;
  /** CMD set in this stage: ENTRYPOINT then keeps it, else ENTRYPOINT clears an inherited CMD. */
  cmdSet: boolean;
}

/** Variables visible to expansion: ENV wins over ARG, as in BuildKit. */
export function expansionEnv(state: StageState): Map<string, string> {
  const env = new Map(state.args);
  for (const [k, v] of envToMap(state.config.config?.Env)) env.set(k, v);
  return env;
}

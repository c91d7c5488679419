/**
 * Per instruction kind, the explicit list of what a step's result depends on besides its parent
 * state. A mapped type over `Instruction['kind']`: a new instruction kind without an entry here
 * fails to compile, so no step can silently be cached on too little.
 *
 * The extraction is kept out of the step handlers on purpose: handlers say how to run a step,
 * this file says what may change its result, and the two are reviewed separately.
 */
import { expandInstruction, expandWord } from '../dockerfile/expand.js';
import type { CopyInstruction, Instruction } from '../dockerfile/instructions.js';
import type { Json } from './canonicalJson.js';
import type { StepInputs } from './cacheKey.js';

/** What input extraction may look at; the effects (hashing, other stages) are injected. */
export interface InputView {
  /** Variables visible to expansion (ENV over ARG), as the handler will see them. */
  env: ReadonlyMap<string, string>;
  /** ARGs declared in this stage so far, with their values. */
  args: ReadonlyMap<string, string>;
  buildArgs: ReadonlyMap<string, string>;
  globalArgs: ReadonlyMap<string, string>;
  /** Content digests of context paths (patterns allowed), keyed by path relative to the context. */
  hashContext(sources: readonly string[], signal: AbortSignal): Promise<Record<string, string>>;
  /** The layer diffIDs of the filesystem a `COPY --from` or a `RUN --mount=...,from=` reads. */
  copySourceLayers(instr: Instruction, from: string, signal: AbortSignal): Promise<string[]>;
}

type Extractor<I extends Instruction> = (instr: I, view: InputView, signal: AbortSignal) => Promise<StepInputs>;
export type StepInputExtractors = { [K in Instruction['kind']]: Extractor<Extract<Instruction, { kind: K }>> };

/** The instruction without its place in the file: adding a comment above a step must not miss. */
function located(instr: Instruction): Json {
  const { range: _range, ...rest } = instr as Instruction & { range: unknown };
  return rest as unknown as Json;
}

const expanded: Extractor<Instruction> = async (instr, view) => ({ instruction: located(expandInstruction(instr, view.env)) });
const asWritten: Extractor<Instruction> = async (instr) => ({ instruction: located(instr) });

export const stepInputExtractors: StepInputExtractors = {
  FROM: asWritten,
  // ARG changes no file and no config: only the values it binds matter (and only to later steps
  // that read them, which list them in their own inputs).
  ARG: async (instr, view) => {
    const env = new Map(view.env);
    const values: Record<string, string> = {};
    for (const arg of instr.args) {
      const value = view.buildArgs.get(arg.name) ?? (arg.defaultValue !== undefined ? expandWord(arg.defaultValue, env) : view.globalArgs.get(arg.name));
      if (value !== undefined) {
        values[arg.name] = value;
        env.set(arg.name, value);
      }
    }
    return { instruction: located(instr), args: values };
  },
  // Each pair sees the ones before it on the same line.
  ENV: async (instr, view) => {
    const env = new Map(view.env);
    const pairs: Json[] = [];
    for (const pair of instr.pairs) {
      const key = expandWord(pair.key, env);
      const value = expandWord(pair.value, env);
      env.set(key, value);
      pairs.push({ key, value });
    }
    return { instruction: { kind: 'ENV', pairs } };
  },
  LABEL: expanded,
  WORKDIR: expanded,
  USER: expanded,
  EXPOSE: expanded,
  STOPSIGNAL: expanded,
  VOLUME: expanded,
  MAINTAINER: asWritten,
  SHELL: asWritten,
  HEALTHCHECK: asWritten,
  ONBUILD: asWritten,
  CMD: asWritten,
  ENTRYPOINT: asWritten,
  // RUN sees every ARG in scope (as environment) and ENV (part of the parent state).
  RUN: async (instr, view, signal) => {
    const inputs: StepInputs = { instruction: located(instr), args: Object.fromEntries(view.args) };
    if (instr.flags.mounts.length > 0) {
      const mounts = instr.flags.mounts.map((m) => expandWord(m, view.env));
      inputs.mounts = mounts;
      const binds = mounts.map(contextBindSource).filter((s): s is string => s !== undefined);
      if (binds.length > 0) inputs.files = await view.hashContext(binds, signal);
      // A bind (or a cache seeded) from a stage or an image depends on that filesystem's content.
      const froms = [...new Set(mounts.map((m) => mountFields(m).get('from')).filter((f): f is string => f !== undefined && f !== ''))];
      if (froms.length > 0) {
        inputs.sources = {};
        for (const from of froms) inputs.sources[from] = await view.copySourceLayers(instr, from, signal);
      }
    }
    return inputs;
  },
  COPY: copyInputs,
  ADD: copyInputs,
};

async function copyInputs(instr: CopyInstruction, view: InputView, signal: AbortSignal): Promise<StepInputs> {
  const exp = expandInstruction(instr, view.env);
  if (exp.from === undefined) return { instruction: located(exp), files: await view.hashContext(exp.sources, signal) };
  return { instruction: located(exp), sources: { [exp.from]: await view.copySourceLayers(instr, exp.from, signal) } };
}

/** `type=bind` (the default type) with no `from`: the context path it mounts. */
export function contextBindSource(spec: string): string | undefined {
  const fields = mountFields(spec);
  if ((fields.get('type') ?? 'bind') !== 'bind' || fields.has('from')) return undefined;
  return fields.get('source') ?? fields.get('src') ?? '.';
}

function mountFields(spec: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const field of spec.split(',')) {
    const eq = field.indexOf('=');
    fields.set((eq < 0 ? field : field.slice(0, eq)).trim().toLowerCase(), eq < 0 ? '' : field.slice(eq + 1));
  }
  return fields;
}

export function stepInputs<I extends Instruction>(instr: I, view: InputView, signal: AbortSignal): Promise<StepInputs> {
  const extract = (stepInputExtractors as unknown as Record<string, Extractor<I>>)[instr.kind] as Extractor<I>;
  return extract(instr, view, signal);
}

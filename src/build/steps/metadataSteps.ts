/**
 * Instructions that only change the image config. Each adds a history entry with
 * `empty_layer: true` (except ARG, which BuildKit does not record either).
 */
import type {
  ArgInstruction,
  CmdInstruction,
  CommandForm,
  EntrypointInstruction,
  EnvInstruction,
  ExposeInstruction,
  LabelInstruction,
  UserInstruction,
} from '../../dockerfile/instructions.js';
import { expandInstruction, expandWord } from '../../dockerfile/expand.js';
import { addHistory, setEnv, withContainerConfig } from '../imageConfig.js';
import { expansionEnv, type StageState } from '../stageState.js';
import type { StepContext, StepHandler } from '../stepContext.js';

function recordMeta(state: StageState, ctx: StepContext, createdBy: string): StageState {
  return { ...state, config: addHistory(state.config, { createdBy, emptyLayer: true, created: ctx.services.created }) };
}

export const argStep: StepHandler<ArgInstruction> = {
  async execute(instr, state, ctx) {
    const args = new Map(state.args);
    const env = expansionEnv(state);
    for (const arg of instr.args) {
      const given = ctx.services.buildArgs.get(arg.name);
      let value: string | undefined;
      if (given !== undefined) value = given;
      else if (arg.defaultValue !== undefined) value = expandWord(arg.defaultValue, env);
      else value = ctx.services.globalArgs.get(arg.name);
      if (value === undefined) args.delete(arg.name);
      else {
        args.set(arg.name, value);
        env.set(arg.name, value);
      }
    }
    return { ...state, args };
  },
};

export const envStep: StepHandler<EnvInstruction> = {
  async execute(instr, state, ctx) {
    // Each pair sees the ones before it on the same line, as in BuildKit.
    let next = state;
    const shown: string[] = [];
    for (const pair of instr.pairs) {
      const expanded = expandInstruction({ ...instr, pairs: [pair] }, expansionEnv(next));
      const { key, value } = expanded.pairs[0] as { key: string; value: string };
      next = { ...next, config: withContainerConfig(next.config, { Env: setEnv(next.config.config?.Env, key, value) }) };
      shown.push(`${key}=${value}`);
    }
    return recordMeta(next, ctx, `ENV ${shown.join(' ')}`);
  },
};

export const labelStep: StepHandler<LabelInstruction> = {
  async execute(instr, state, ctx) {
    const expanded = expandInstruction(instr, expansionEnv(state));
    const labels = { ...(state.config.config?.Labels ?? {}) };
    for (const { key, value } of expanded.pairs) labels[key] = value;
    const next = { ...state, config: withContainerConfig(state.config, { Labels: labels }) };
    return recordMeta(next, ctx, `LABEL ${expanded.pairs.map((p) => `${p.key}=${p.value}`).join(' ')}`);
  },
};

export const userStep: StepHandler<UserInstruction> = {
  async execute(instr, state, ctx) {
    const { user } = expandInstruction(instr, expansionEnv(state));
    return recordMeta({ ...state, config: withContainerConfig(state.config, { User: user }) }, ctx, `USER ${user}`);
  },
};

export const exposeStep: StepHandler<ExposeInstruction> = {
  async execute(instr, state, ctx) {
    const { ports } = expandInstruction(instr, expansionEnv(state));
    const exposed = { ...(state.config.config?.ExposedPorts ?? {}) };
    const added: string[] = [];
    for (const spec of ports) {
      for (const port of expandPortSpec(spec)) {
        exposed[port] = {};
        added.push(port);
      }
    }
    return recordMeta({ ...state, config: withContainerConfig(state.config, { ExposedPorts: exposed }) }, ctx, `EXPOSE ${added.join(' ')}`);
  },
};

/** `80`, `80/udp`, `8000-8002/tcp` → Docker's `port/proto` keys, ranges expanded. */
export function expandPortSpec(spec: string): string[] {
  const [range = '', proto = 'tcp'] = spec.split('/');
  const [lo, hi] = range.split('-');
  const from = Number(lo);
  const to = hi === undefined ? from : Number(hi);
  if (!Number.isInteger(from) || !Number.isInteger(to) || from < 0 || to > 65535 || to < from) return [`${range}/${proto.toLowerCase()}`];
  const out: string[] = [];
  for (let p = from; p <= to; p++) out.push(`${p}/${proto.toLowerCase()}`);
  return out;
}

export function commandArgv(command: CommandForm, shell: readonly string[] | undefined): string[] {
  return command.form === 'exec' ? [...command.argv] : [...(shell ?? ['/bin/sh', '-c']), command.script];
}

export const cmdStep: StepHandler<CmdInstruction> = {
  async execute(instr, state, ctx) {
    const cmd = commandArgv(instr.command, state.config.config?.Shell);
    const next = { ...state, cmdSet: true, config: withContainerConfig(state.config, { Cmd: cmd }) };
    return recordMeta(next, ctx, `CMD ${JSON.stringify(cmd)}`);
  },
};

export const entrypointStep: StepHandler<EntrypointInstruction> = {
  async execute(instr, state, ctx) {
    const entrypoint = commandArgv(instr.command, state.config.config?.Shell);
    // Docker: an ENTRYPOINT clears a CMD inherited from the base image, not one set in this stage.
    const patch = state.cmdSet ? { Entrypoint: entrypoint } : { Entrypoint: entrypoint, Cmd: null };
    return recordMeta({ ...state, config: withContainerConfig(state.config, patch) }, ctx, `ENTRYPOINT ${JSON.stringify(entrypoint)}`);
  },
};

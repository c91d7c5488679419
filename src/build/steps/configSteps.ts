/**
 * MAINTAINER, VOLUME, STOPSIGNAL, SHELL, HEALTHCHECK and ONBUILD: instructions that only change
 * the image config, kept in the same fields Docker and BuildKit write (OCI output included).
 */
import type {
  HealthcheckInstruction,
  MaintainerInstruction,
  OnbuildInstruction,
  ShellInstruction,
  StopsignalInstruction,
  VolumeInstruction,
} from '../../dockerfile/instructions.js';
import { expandInstruction } from '../../dockerfile/expand.js';
import { TsbuildError } from '../../errors.js';
import type { HealthcheckConfig } from '../../image/types.js';
import { addHistory, withContainerConfig } from '../imageConfig.js';
import { expansionEnv, type StageState } from '../stageState.js';
import type { StepContext, StepHandler } from '../stepContext.js';

function recordMeta(state: StageState, ctx: StepContext, createdBy: string): StageState {
  return { ...state, config: addHistory(state.config, { createdBy, emptyLayer: true, created: ctx.services.created }) };
}

export const maintainerStep: StepHandler<MaintainerInstruction> = {
  async execute(instr, state, ctx) {
    // Docker keeps the (deprecated) maintainer as the image's top-level `author`.
    return recordMeta({ ...state, config: { ...state.config, author: instr.maintainer } }, ctx, `MAINTAINER ${instr.maintainer}`);
  },
};

export const volumeStep: StepHandler<VolumeInstruction> = {
  async execute(instr, state, ctx) {
    const { paths } = expandInstruction(instr, expansionEnv(state));
    const volumes = { ...(state.config.config?.Volumes ?? {}) };
    for (const p of paths) {
      if (p.trim() === '') throw new TsbuildError('DOCKERFILE_SYNTAX', 'VOLUME specified can not be an empty string');
      volumes[p] = {};
    }
    return recordMeta({ ...state, config: withContainerConfig(state.config, { Volumes: volumes }) }, ctx, `VOLUME [${paths.join(' ')}]`);
  },
};

/** Signal names Linux knows, as accepted by moby's signal.ParseSignal (with or without SIG). */
const SIGNALS = new Set([
  'ABRT', 'ALRM', 'BUS', 'CHLD', 'CLD', 'CONT', 'FPE', 'HUP', 'ILL', 'INT', 'IO', 'IOT', 'KILL', 'PIPE', 'POLL', 'PROF', 'PWR',
  'QUIT', 'SEGV', 'STKFLT', 'STOP', 'SYS', 'TERM', 'TRAP', 'TSTP', 'TTIN', 'TTOU', 'URG', 'USR1', 'USR2', 'VTALRM', 'WINCH',
  'XCPU', 'XFSZ',
]);

export function validStopSignal(signal: string): boolean {
  if (/^\d+$/.test(signal)) return Number(signal) > 0 && Number(signal) <= 64;
  const name = signal.toUpperCase().replace(/^SIG/, '');
  if (SIGNALS.has(name)) return true;
  const rt = /^RTM(IN|AX)([+-]\d+)?$/.exec(name);
  return rt !== null;
}

export const stopsignalStep: StepHandler<StopsignalInstruction> = {
  async execute(instr, state, ctx) {
    const { signal } = expandInstruction(instr, expansionEnv(state));
    if (!validStopSignal(signal)) {
      throw new TsbuildError('DOCKERFILE_SYNTAX', `invalid signal: ${signal}`, { hint: 'use a signal name such as SIGTERM or SIGQUIT, or its number' });
    }
    return recordMeta({ ...state, config: withContainerConfig(state.config, { StopSignal: signal }) }, ctx, `STOPSIGNAL ${signal}`);
  },
};

export const shellStep: StepHandler<ShellInstruction> = {
  async execute(instr, state, ctx) {
    // Later shell-form RUN, CMD and ENTRYPOINT read config.Shell (see commandArgv).
    return recordMeta({ ...state, config: withContainerConfig(state.config, { Shell: [...instr.argv] }) }, ctx, `SHELL [${instr.argv.join(' ')}]`);
  },
};

const UNITS: Record<string, number> = { ns: 1, us: 1e3, µs: 1e3, μs: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

/** Go's time.ParseDuration, in nanoseconds: `30s`, `1m30s`, `1.5h`, `500ms`, `0`. */
export function parseGoDuration(text: string): number | undefined {
  if (text === '0') return 0;
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;
  let total = 0;
  let at = 0;
  if (text.length === 0) return undefined;
  while (at < text.length) {
    re.lastIndex = at;
    const m = re.exec(text);
    if (!m) return undefined;
    total += Number(m[1]) * (UNITS[m[2] as string] as number);
    at = re.lastIndex;
  }
  return Math.round(total);
}

const DURATION_FLAGS: Array<[string, keyof HealthcheckConfig]> = [
  ['interval', 'Interval'],
  ['timeout', 'Timeout'],
  ['start-period', 'StartPeriod'],
  ['start-interval', 'StartInterval'],
];

/** The HEALTHCHECK options as Docker stores them: durations in ns, zero values left out. */
export function healthcheckConfig(instr: HealthcheckInstruction): HealthcheckConfig {
  if (instr.test.type === 'NONE') return { Test: ['NONE'] };
  const command = instr.test.command;
  const hc: HealthcheckConfig = {
    Test: command.form === 'exec' ? ['CMD', ...command.argv] : ['CMD-SHELL', command.script],
  };
  for (const [flag, field] of DURATION_FLAGS) {
    const raw = instr.options[flag];
    if (raw === undefined || raw === '') continue;
    const ns = parseGoDuration(raw);
    if (ns === undefined) throw new TsbuildError('DOCKERFILE_SYNTAX', `HEALTHCHECK --${flag}: invalid duration ${JSON.stringify(raw)}`, { hint: 'write durations as Go does: 30s, 1m30s, 500ms' });
    // BuildKit: a duration of 0 means "use the default"; anything else must be at least 1ms.
    if (ns !== 0 && ns < 1e6) throw new TsbuildError('DOCKERFILE_SYNTAX', `HEALTHCHECK --${flag} cannot be less than 1ms`);
    if (ns !== 0) (hc as Record<string, unknown>)[field] = ns;
  }
  const retries = instr.options['retries'];
  if (retries !== undefined && retries !== '') {
    if (!/^-?\d+$/.test(retries)) throw new TsbuildError('DOCKERFILE_SYNTAX', `HEALTHCHECK --retries: invalid number ${JSON.stringify(retries)}`);
    const n = Number(retries);
    if (n < 0) throw new TsbuildError('DOCKERFILE_SYNTAX', `HEALTHCHECK --retries cannot be negative (${n})`);
    if (n !== 0) hc.Retries = n;
  }
  return hc;
}

export const healthcheckStep: StepHandler<HealthcheckInstruction> = {
  async execute(instr, state, ctx) {
    const hc = healthcheckConfig(instr);
    const shown = instr.original.replace(/^\s*\S+\s*/, '');
    return recordMeta({ ...state, config: withContainerConfig(state.config, { Healthcheck: hc }) }, ctx, `HEALTHCHECK ${shown}`);
  },
};

export const onbuildStep: StepHandler<OnbuildInstruction> = {
  async execute(instr, state, ctx) {
    // Stored as written; a child build that uses this image as its base runs it (see onbuildTriggers).
    const onBuild = [...(state.config.config?.OnBuild ?? []), instr.expression];
    return recordMeta({ ...state, config: withContainerConfig(state.config, { OnBuild: onBuild }) }, ctx, `ONBUILD ${instr.expression}`);
  },
};

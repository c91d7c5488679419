import { closestMatch } from './suggest.js';

export type FlagType = 'bool' | 'string' | 'strings';

/**
 * Every flag BuildKit knows per instruction. Knowing a flag is not supporting it: RUN --mount or
 * COPY --link parse here and the builder rejects them (unsupportedReason), so a user sees
 * "not supported yet" rather than a misleading "unknown flag".
 */
export const KNOWN_FLAGS: Readonly<Record<string, Readonly<Record<string, FlagType>>>> = {
  from: { platform: 'string' },
  run: { mount: 'strings', network: 'string', security: 'string', device: 'strings' },
  copy: {
    from: 'string',
    chown: 'string',
    chmod: 'string',
    link: 'bool',
    parents: 'bool',
    exclude: 'strings',
  },
  add: {
    chown: 'string',
    chmod: 'string',
    link: 'bool',
    'keep-git-dir': 'bool',
    checksum: 'string',
    exclude: 'strings',
    unpack: 'bool',
  },
  healthcheck: {
    interval: 'string',
    timeout: 'string',
    'start-period': 'string',
    'start-interval': 'string',
    retries: 'string',
  },
};

export interface ParsedFlags {
  bools: Map<string, boolean>;
  strings: Map<string, string>;
  lists: Map<string, string[]>;
}

/** A flag problem; the caller adds the instruction's location. */
export class FlagError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}

/** BuildKit's BFlags.Parse: `--name=value`, bools may omit the value, lists may repeat. */
export function parseFlags(cmd: string, keyword: string, raw: readonly string[]): ParsedFlags {
  const spec = KNOWN_FLAGS[cmd] ?? {};
  const out: ParsedFlags = { bools: new Map(), strings: new Map(), lists: new Map() };
  const seen = new Set<string>();
  for (const arg of raw) {
    if (!arg.startsWith('--')) throw new FlagError(`arg should start with -- : ${arg}`);
    if (arg === '--') break;
    const eq = arg.indexOf('=');
    const name = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
    const value = eq >= 0 ? arg.slice(eq + 1) : '';
    const type = spec[name];
    if (type === undefined) {
      const known = Object.keys(spec);
      const guess = closestMatch(name, known);
      const hint = guess
        ? `did you mean --${guess}?`
        : known.length > 0
          ? `${keyword.toUpperCase()} accepts ${known.map((k) => `--${k}`).join(', ')}`
          : `${keyword.toUpperCase()} takes no flags`;
      throw new FlagError(`unknown flag --${name} for ${keyword.toUpperCase()}`, hint);
    }
    if (seen.has(name) && type !== 'strings') throw new FlagError(`duplicate flag specified: --${name}`);
    seen.add(name);
    if (type === 'bool') {
      if (eq >= 0 && value === '') throw new FlagError(`missing a value on flag: --${name}`);
      const v = value.toLowerCase();
      if (v !== 'true' && v !== '' && v !== 'false') {
        throw new FlagError(`expecting boolean value for flag --${name}, not: ${value}`);
      }
      out.bools.set(name, v !== 'false');
    } else {
      if (eq < 0) throw new FlagError(`missing a value on flag: --${name}`, `write --${name}=<value>`);
      if (type === 'string') out.strings.set(name, value);
      else out.lists.set(name, [...(out.lists.get(name) ?? []), value]);
    }
  }
  return out;
}

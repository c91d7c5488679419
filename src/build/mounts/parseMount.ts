/**
 * `RUN --mount=…` specs, parsed as BuildKit's instructions/commands_runmount.go does: a CSV list
 * of key[=value] fields, option names and defaults as BuildKit spells them. Pure: the values are
 * already expanded; errors are TsbuildErrors the builder places at the RUN's file:line:col.
 */
import { posix } from 'node:path';
import { TsbuildError } from '../../errors.js';

export type MountType = 'bind' | 'cache' | 'tmpfs' | 'secret' | 'ssh';
export type CacheSharing = 'shared' | 'private' | 'locked';

export interface BindMount {
  type: 'bind';
  target: string;
  /** Path inside `from` (or the build context), "/" by default. */
  source: string;
  /** A stage name or index, an image reference or a named context; absent: the build context. */
  from?: string;
  readonly: boolean;
}

export interface CacheMount {
  type: 'cache';
  target: string;
  /** Defaults to the target, as BuildKit. */
  id: string;
  sharing: CacheSharing;
  /** Seeds an empty cache from this stage/image (with `source`). */
  from?: string;
  source?: string;
  readonly: boolean;
  mode: number;
  uid: number;
  gid: number;
}

export interface TmpfsMount {
  type: 'tmpfs';
  target: string;
  /** Bytes; absent: the kernel's default (half the RAM). */
  size?: number;
}

export interface SecretMount {
  type: 'secret';
  id: string;
  /** Absent when only `env` was given (BuildKit then mounts no file). */
  target?: string;
  env?: string;
  required: boolean;
  mode: number;
  uid: number;
  gid: number;
}

export interface SshMount {
  type: 'ssh';
  id: string;
  target: string;
  required: boolean;
  mode: number;
  uid: number;
  gid: number;
}

export type RunMount = BindMount | CacheMount | TmpfsMount | SecretMount | SshMount;

const KEYS: Record<MountType, readonly string[]> = {
  bind: ['type', 'target', 'source', 'from', 'readonly', 'readwrite'],
  cache: ['type', 'target', 'source', 'from', 'readonly', 'readwrite', 'id', 'sharing', 'mode', 'uid', 'gid'],
  tmpfs: ['type', 'target', 'size'],
  secret: ['type', 'target', 'id', 'env', 'required', 'mode', 'uid', 'gid'],
  ssh: ['type', 'target', 'id', 'required', 'mode', 'uid', 'gid'],
};

const ALIASES: Record<string, string> = {
  dst: 'target',
  destination: 'target',
  src: 'source',
  ro: 'readonly',
  rw: 'readwrite',
};

function bad(message: string, hint?: string): TsbuildError {
  return new TsbuildError('DOCKERFILE_SYNTAX', message, hint ? { hint } : {});
}

/** Splits like Go's encoding/csv (BuildKit reads the flag with it): commas, "quoted" fields. */
export function splitCsv(spec: string): string[] {
  const fields: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < spec.length; i++) {
    const c = spec[i] as string;
    if (quoted) {
      if (c === '"' && spec[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cur += c;
    } else if (c === '"' && cur === '') quoted = true;
    else if (c === ',') {
      fields.push(cur);
      cur = '';
    } else cur += c;
  }
  if (quoted) throw bad(`invalid mount ${JSON.stringify(spec)}: unterminated quote`);
  fields.push(cur);
  return fields;
}

function parseBool(key: string, value: string | undefined): boolean {
  if (value === undefined) return true;
  const v = value.toLowerCase();
  if (['1', 't', 'true'].includes(v)) return true;
  if (['0', 'f', 'false'].includes(v)) return false;
  throw bad(`invalid value for ${key}: ${value}`, `${key} takes true or false`);
}

function parseOctal(key: string, value: string): number {
  if (!/^[0-7]{1,4}$/.test(value)) throw bad(`invalid value ${value} for ${key}`, `${key} is an octal permission, e.g. 0755`);
  return Number.parseInt(value, 8);
}

function parseId(key: string, value: string): number {
  if (!/^\d+$/.test(value) || Number(value) > 0xfffffffe) throw bad(`invalid value ${value} for ${key}`, `${key} is a numeric id`);
  return Number(value);
}

const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, kb: 1024, ki: 1024, kib: 1024, m: 1024 ** 2, mb: 1024 ** 2, mi: 1024 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3, gi: 1024 ** 3, gib: 1024 ** 3 };

/** Docker's RAMInBytes: "64m", "1g", "1048576". */
function parseSize(value: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(value);
  const unit = SIZE_UNITS[(m?.[2] ?? '').toLowerCase()];
  if (!m || unit === undefined) throw bad(`invalid value ${value} for size`, 'size is bytes with an optional unit, e.g. 64m');
  return Math.floor(Number(m[1]) * unit);
}

function absTarget(target: string | undefined, type: MountType): string {
  if (target === undefined || target === '') throw bad(`mount type=${type} requires a target`, 'add target=/path/in/container');
  // BuildKit resolves a relative target against / (not WORKDIR) and cleans it.
  return posix.resolve('/', target);
}

/**
 * One `--mount` value. `sshIndex` numbers the ssh mounts of one RUN, for BuildKit's default
 * socket path /run/buildkit/ssh_agent.N.
 */
export function parseMount(spec: string, sshIndex = 0): RunMount {
  const values = new Map<string, string | undefined>();
  for (const field of splitCsv(spec)) {
    if (field === '') continue;
    const eq = field.indexOf('=');
    const rawKey = (eq < 0 ? field : field.slice(0, eq)).trim().toLowerCase();
    const key = ALIASES[rawKey] ?? rawKey;
    values.set(key, eq < 0 ? undefined : field.slice(eq + 1));
  }
  const typeValue = (values.get('type') ?? 'bind').toLowerCase();
  if (!(typeValue in KEYS)) {
    throw bad(`unsupported mount type ${JSON.stringify(typeValue)}`, 'type is one of bind, cache, tmpfs, secret, ssh');
  }
  const type = typeValue as MountType;
  for (const [key, value] of values) {
    if (!KEYS[type].includes(key)) throw bad(`unexpected key '${key}' in '${spec}'`, `type=${type} takes ${KEYS[type].filter((k) => k !== 'type').join(', ')}`);
    if (value === undefined && !['readonly', 'readwrite', 'required'].includes(key)) throw bad(`invalid field '${key}' must be a key=value pair`);
  }
  const str = (key: string): string | undefined => values.get(key);
  const readonly = (dflt: boolean): boolean => {
    if (values.has('readwrite')) return !parseBool('readwrite', str('readwrite'));
    if (values.has('readonly')) return parseBool('readonly', str('readonly'));
    return dflt;
  };
  const num = (key: string, dflt: number, parse: (k: string, v: string) => number): number => {
    const v = str(key);
    return v === undefined ? dflt : parse(key, v);
  };

  switch (type) {
    case 'bind': {
      const from = str('from');
      return { type, target: absTarget(str('target'), type), source: str('source') ?? '/', ...(from ? { from } : {}), readonly: readonly(true) };
    }
    case 'cache': {
      const target = absTarget(str('target'), type);
      const sharing = (str('sharing') ?? 'shared').toLowerCase();
      if (sharing !== 'shared' && sharing !== 'private' && sharing !== 'locked') {
        throw bad(`unsupported sharing value ${JSON.stringify(sharing)}`, 'sharing is shared, private or locked');
      }
      const from = str('from');
      const source = str('source');
      return {
        type,
        target,
        id: str('id') || target,
        sharing,
        ...(from ? { from } : {}),
        ...(source !== undefined ? { source } : {}),
        readonly: readonly(false),
        mode: num('mode', 0o755, parseOctal),
        uid: num('uid', 0, parseId),
        gid: num('gid', 0, parseId),
      };
    }
    case 'tmpfs': {
      const size = str('size');
      return { type, target: absTarget(str('target'), type), ...(size !== undefined ? { size: parseSize(size) } : {}) };
    }
    case 'secret': {
      const env = str('env');
      const rawTarget = str('target');
      let id = str('id') ?? '';
      if (id === '' && rawTarget) id = posix.basename(rawTarget);
      if (id === '' && env) id = env;
      if (id === '') throw bad('secret mount requires an id or a target', 'e.g. --mount=type=secret,id=npmrc');
      if (env !== undefined && !/^[A-Za-z_][A-Za-z0-9_]*$/.test(env)) throw bad(`invalid env name ${JSON.stringify(env)} for a secret`);
      // With only env=, BuildKit exposes the secret as a variable and mounts no file.
      const target = rawTarget ? posix.resolve('/', rawTarget) : env === undefined ? `/run/secrets/${id}` : undefined;
      return {
        type,
        id,
        ...(target !== undefined ? { target } : {}),
        ...(env !== undefined ? { env } : {}),
        required: values.has('required') ? parseBool('required', str('required')) : false,
        mode: num('mode', 0o400, parseOctal),
        uid: num('uid', 0, parseId),
        gid: num('gid', 0, parseId),
      };
    }
    case 'ssh': {
      const rawTarget = str('target');
      return {
        type,
        id: str('id') || 'default',
        target: rawTarget ? posix.resolve('/', rawTarget) : `/run/buildkit/ssh_agent.${sshIndex}`,
        required: values.has('required') ? parseBool('required', str('required')) : false,
        mode: num('mode', 0o600, parseOctal),
        uid: num('uid', 0, parseId),
        gid: num('gid', 0, parseId),
      };
    }
  }
}

/** Every mount of one RUN, refusing two mounts on the same target as BuildKit does. */
export function parseMounts(specs: readonly string[]): RunMount[] {
  let ssh = 0;
  const mounts = specs.map((s) => {
    const m = parseMount(s, ssh);
    if (m.type === 'ssh') ssh++;
    return m;
  });
  const seen = new Set<string>();
  for (const m of mounts) {
    const target = 'target' in m ? m.target : undefined;
    if (target === undefined) continue;
    if (seen.has(target)) throw bad(`mount target ${target} is used twice`, 'give each --mount its own target');
    seen.add(target);
  }
  return mounts;
}

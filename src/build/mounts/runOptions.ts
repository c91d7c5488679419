/** What `tsbuild build` tells RUN steps about secrets, ssh agents and the sandbox's limits. */
import { TsbuildError } from '../../errors.js';
import type { ResourceLimits } from '../../isolation/cgroups.js';

/** `--secret id=ID,src=FILE` or `--secret id=ID,env=VAR`: read when a RUN mounts it, never stored. */
export type SecretSource = { file: string } | { env: string };

export interface RunSandboxOptions {
  secrets: ReadonlyMap<string, SecretSource>;
  /** `--ssh ID[=SOCKET]`: an ssh-agent socket per id. */
  ssh: ReadonlyMap<string, string>;
  /** Capability numbers from `--cap-add`. */
  capAdd: readonly number[];
  /** False with `--security-opt seccomp=unconfined`. */
  seccomp: boolean;
  noNewPrivileges: boolean;
  /** `--allow security.insecure`. */
  allowInsecure: boolean;
  /** `--memory`, `--cpus`, `--pids-limit`; only set when this machine can apply them. */
  limits?: ResourceLimits;
}

export const defaultRunOptions: RunSandboxOptions = {
  secrets: new Map(),
  ssh: new Map(),
  capAdd: [],
  seccomp: true,
  noNewPrivileges: false,
  allowInsecure: false,
};

const CAPS = [
  'CHOWN', 'DAC_OVERRIDE', 'DAC_READ_SEARCH', 'FOWNER', 'FSETID', 'KILL', 'SETGID', 'SETUID', 'SETPCAP',
  'LINUX_IMMUTABLE', 'NET_BIND_SERVICE', 'NET_BROADCAST', 'NET_ADMIN', 'NET_RAW', 'IPC_LOCK', 'IPC_OWNER',
  'SYS_MODULE', 'SYS_RAWIO', 'SYS_CHROOT', 'SYS_PTRACE', 'SYS_PACCT', 'SYS_ADMIN', 'SYS_BOOT', 'SYS_NICE',
  'SYS_RESOURCE', 'SYS_TIME', 'SYS_TTY_CONFIG', 'MKNOD', 'LEASE', 'AUDIT_WRITE', 'AUDIT_CONTROL', 'SETFCAP',
  'MAC_OVERRIDE', 'MAC_ADMIN', 'SYSLOG', 'WAKE_ALARM', 'BLOCK_SUSPEND', 'AUDIT_READ', 'PERFMON', 'BPF',
  'CHECKPOINT_RESTORE',
];

/** `--cap-add` names as Docker takes them: `SYS_ADMIN`, `CAP_SYS_ADMIN`, any case; `ALL`. */
export function parseCapabilities(names: readonly string[]): number[] {
  const out = new Set<number>();
  for (const raw of names) {
    const name = raw.toUpperCase().replace(/^CAP_/, '');
    if (name === 'ALL') CAPS.forEach((_, i) => out.add(i));
    else {
      const n = CAPS.indexOf(name);
      if (n < 0) throw new TsbuildError('USAGE', `unknown capability ${JSON.stringify(raw)}`, { hint: 'e.g. --cap-add SYS_ADMIN' });
      out.add(n);
    }
  }
  return [...out].sort((a, b) => a - b);
}

/** `--secret id=ID[,src=FILE|,env=VAR]` (BuildKit: a bare id reads the env var of that name... or file). */
export function parseSecretFlag(value: string): [string, SecretSource] {
  const fields = new Map<string, string>();
  for (const part of value.split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new TsbuildError('USAGE', `invalid --secret ${JSON.stringify(value)}: expected id=ID,src=FILE or id=ID,env=VAR`);
    fields.set(part.slice(0, eq).trim().toLowerCase(), part.slice(eq + 1));
  }
  const id = fields.get('id');
  if (!id) throw new TsbuildError('USAGE', `invalid --secret ${JSON.stringify(value)}: id is required`);
  const src = fields.get('src') ?? fields.get('source');
  const env = fields.get('env');
  if (src !== undefined) return [id, { file: src }];
  if (env !== undefined) return [id, { env }];
  // Like buildx: with neither, an env var named ID when set, else a file named ID.
  return [id, process.env[id] !== undefined ? { env: id } : { file: id }];
}

/**
 * `--ssh default` (the $SSH_AUTH_SOCK agent), `--ssh ID=SOCKET` or `--ssh ID=KEY[,KEY...]`:
 * the id and its paths; which are sockets and which key files is decided when they are opened
 * (sshAgent.ts).
 */
export function parseSshFlag(value: string, env: NodeJS.ProcessEnv): [string, string[]] {
  const eq = value.indexOf('=');
  const id = eq < 0 ? value : value.slice(0, eq);
  const raw = eq < 0 ? env['SSH_AUTH_SOCK'] : value.slice(eq + 1);
  if (!id) throw new TsbuildError('USAGE', `invalid --ssh ${JSON.stringify(value)}: expected ID[=SOCKET|KEY[,KEY...]]`, { hint: 'write it as --ssh default, --ssh ID=SOCKET or --ssh ID=KEY[,KEY...]' });
  if (!raw) throw new TsbuildError('USAGE', `--ssh ${id}: SSH_AUTH_SOCK is not set`, { hint: 'start an agent (eval $(ssh-agent)), or pass --ssh ID=/path/to/agent.sock or --ssh ID=/path/to/private_key' });
  const paths = raw.split(',').filter((p) => p !== '');
  if (paths.length === 0) throw new TsbuildError('USAGE', `invalid --ssh ${JSON.stringify(value)}: no socket or key file`, { hint: 'write it as --ssh default, --ssh ID=SOCKET or --ssh ID=KEY[,KEY...]' });
  return [id, paths];
}

/** Docker's memory sizes: "512m", "1g", "1048576" (bytes). */
export function parseMemory(value: string): number {
  const m = /^(\d+(?:\.\d+)?)([bkmg]?)b?$/i.exec(value.trim());
  if (!m) throw new TsbuildError('USAGE', `invalid --memory ${JSON.stringify(value)}`, { hint: 'e.g. --memory 512m or --memory 2g' });
  const unit = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[(m[2] ?? '').toLowerCase()] ?? 1;
  const bytes = Math.floor(Number(m[1]) * unit);
  if (bytes < 6 * 1024 * 1024) throw new TsbuildError('USAGE', `--memory ${value} is below the 6MB Docker allows`);
  return bytes;
}

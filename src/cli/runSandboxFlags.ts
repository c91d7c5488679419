/** RUN's sandbox from the `tsbuild build` flags for RUN steps (RUN_SANDBOX_FLAGS in buildFlags.ts): secrets, ssh agents, security options, limits. */
import { parseCapabilities, parseMemory, parseSecretFlag, parseSshFlag, type RunSandboxOptions } from '../build/mounts/runOptions.js';
import { probeCgroups, type ResourceLimits } from '../isolation/cgroups.js';
import { TsbuildError } from '../errors.js';
import { openSshAgents } from '../build/sshAgent.js';

type SandboxFlags = { secret: string[]; ssh: string[]; 'cap-add': string[]; 'security-opt': string[]; allow: string[]; memory?: string | undefined; cpus?: string | undefined; 'pids-limit'?: number | undefined };

/** RUN's sandbox options, and the private ssh agents (for `--ssh ID=KEYFILE`) to stop when the build ends. */
export interface RunSandbox {
  options: RunSandboxOptions;
  close(): Promise<void>;
}

/** Opens the RUN sandbox options: starts an ssh-agent per `--ssh ID=KEYFILE`; call `close()` in a finally. */
export async function openRunSandbox(flags: SandboxFlags, notice: (message: string) => void, signal?: AbortSignal): Promise<RunSandbox> {
  const options = await runSandboxOptions(flags, notice);
  const agents = await openSshAgents(new Map(flags.ssh.map((v) => parseSshFlag(v, process.env))), signal);
  return { options: { ...options, ssh: agents.sockets }, close: agents.close };
}

/** The options, plus the resource limits when this machine can apply them (else a notice on stderr). */
async function runSandboxOptions(flags: SandboxFlags, notice: (message: string) => void): Promise<RunSandboxOptions> {
  const options = baseOptions(flags);
  const limits: ResourceLimits = {};
  if (flags.memory !== undefined) limits.memory = parseMemory(flags.memory);
  if (flags.cpus !== undefined) {
    const cpus = Number(flags.cpus);
    if (!Number.isFinite(cpus) || cpus <= 0) throw new TsbuildError('USAGE', `invalid --cpus ${JSON.stringify(flags.cpus)}`, { hint: 'a positive number, e.g. 1.5' });
    limits.cpus = cpus;
  }
  if (flags['pids-limit'] !== undefined) limits.pids = flags['pids-limit'];
  if (Object.keys(limits).length === 0) return options;
  const why = await probeCgroups(limits);
  if (why !== undefined) {
    notice(`warning: --memory/--cpus/--pids-limit are not applied: ${why}`);
    return options;
  }
  return { ...options, limits };
}

function baseOptions(flags: SandboxFlags): RunSandboxOptions {
  let seccomp = true;
  let noNewPrivileges = false;
  for (const opt of flags['security-opt']) {
    if (opt === 'seccomp=unconfined' || opt === 'seccomp:unconfined') seccomp = false;
    else if (opt === 'no-new-privileges' || opt === 'no-new-privileges=true' || opt === 'no-new-privileges:true') noNewPrivileges = true;
    else throw new TsbuildError('USAGE', `unsupported --security-opt ${JSON.stringify(opt)}`, { hint: 'supported: seccomp=unconfined, no-new-privileges' });
  }
  for (const a of flags.allow) {
    if (a !== 'security.insecure' && a !== 'network.host') throw new TsbuildError('USAGE', `unknown --allow entitlement ${JSON.stringify(a)}`, { hint: 'supported: security.insecure, network.host' });
  }
  return {
    secrets: new Map(flags.secret.map(parseSecretFlag)),
    ssh: new Map(), // opened by openRunSandbox
    capAdd: parseCapabilities(flags['cap-add']),
    seccomp,
    noNewPrivileges,
    allowInsecure: flags.allow.includes('security.insecure'),
  };
}

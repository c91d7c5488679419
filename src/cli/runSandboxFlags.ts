/** `tsbuild build` flags for RUN steps: secrets, ssh agents and the sandbox's security options. */
import { Flags } from '@oclif/core';
import { parseCapabilities, parseSecretFlag, parseSshFlag, type RunSandboxOptions } from '../build/mounts/runOptions.js';
import { TsbuildError } from '../errors.js';

const many = { multiple: true as const, multipleNonGreedy: true, default: [] as string[] };

export const RUN_SANDBOX_FLAGS = {
  secret: Flags.string({ description: 'secret for RUN --mount=type=secret: id=ID,src=FILE or id=ID,env=VAR (repeatable)', ...many }),
  ssh: Flags.string({ description: 'ssh agent for RUN --mount=type=ssh: default or ID=SOCKET (repeatable)', ...many }),
  'cap-add': Flags.string({ description: "add a capability to RUN steps' default set (repeatable)", ...many }),
  'security-opt': Flags.string({ description: 'seccomp=unconfined or no-new-privileges (repeatable)', ...many }),
  allow: Flags.string({ description: 'grant an entitlement: security.insecure (for RUN --security=insecure)', ...many }),
};

export function runSandboxOptions(flags: { secret: string[]; ssh: string[]; 'cap-add': string[]; 'security-opt': string[]; allow: string[] }): RunSandboxOptions {
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
    ssh: new Map(flags.ssh.map((v) => parseSshFlag(v, process.env))),
    capAdd: parseCapabilities(flags['cap-add']),
    seccomp,
    noNewPrivileges,
    allowInsecure: flags.allow.includes('security.insecure'),
  };
}

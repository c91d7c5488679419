/**
 * The launcher bin/tsbuild starts a build inside tsbuild's namespace before Node starts, through
 * `tsbuild-helper enter --auto` (src/README.md, "Process model"). The helper says what it did in
 * TSBUILD_LAUNCHER: `entered`, or `outside` where the namespace could not be had (the build then
 * picks its isolation as when started by bin/run.js).
 */
import { TsbuildError } from '../errors.js';
import type { IsolationRequest } from './chooseIsolation.js';
import { inNamespace } from './enterNamespace.js';

const LAUNCHER_ENV = 'TSBUILD_LAUNCHER';

/** True in a build the launcher's helper started inside the namespace. */
export function enteredByLauncher(env: NodeJS.ProcessEnv): boolean {
  return env[LAUNCHER_ENV] === 'entered' && inNamespace(env);
}

/**
 * The launcher enters for auto and rootless as the command line and environment show them; the
 * config file can still ask for another isolation, which must not run in here.
 */
export function mustLeaveNamespace(request: IsolationRequest, env: NodeJS.ProcessEnv): boolean {
  return enteredByLauncher(env) && request !== 'auto' && request !== 'rootless';
}

/**
 * Thrown before the build reads or writes anything. The CLI exits with LEAVE_NAMESPACE_EXIT
 * (cli/formatError.ts), and the helper's waiting parent runs the command again outside, marked
 * TSBUILD_LAUNCHER=outside, so the answer cannot loop.
 */
export function leaveNamespace(request: IsolationRequest): never {
  throw new TsbuildError('LEAVE_NAMESPACE', `--isolation ${request} does not run inside tsbuild's namespace`, {
    hint: 'the launcher runs this build again outside it; seen here only when TSBUILD_LAUNCHER=entered was set by hand',
  });
}

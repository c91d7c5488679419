import { spawn } from 'node:child_process';
import { TsbuildError } from '../errors.js';
import type { Credentials } from './registryAuth.js';

export interface HelperRunOptions {
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
}

/** Helper names are a word (`pass`, `secretservice`, `ecr-login`): never a path or an option. */
function helperBinary(name: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) {
    throw new TsbuildError('USAGE', `credential helper "${name}": invalid name`, { hint: 'credsStore / credHelpers values name a docker-credential-NAME program on PATH' });
  }
  return `docker-credential-${name}`;
}

function runHelper(name: string, action: 'get' | 'store' | 'erase', input: string, opts: HelperRunOptions): Promise<{ code: number; stdout: string }> {
  const bin = helperBinary(name);
  return new Promise((resolve, reject) => {
    const child = spawn(bin, [action], { env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'], ...(opts.signal ? { signal: opts.signal } : {}) });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.resume(); // a helper's stderr may echo what it read: never shown
    child.on('error', (err: NodeJS.ErrnoException) => {
      reject(new TsbuildError('REGISTRY_AUTH', `running credential helper ${bin}: ${err.code === 'ENOENT' ? 'not found on PATH' : err.message}`, {
        hint: `install ${bin}, or remove it from credsStore/credHelpers in the docker config`,
      }));
    });
    child.on('close', (code) => resolve({ code: code ?? 1, stdout }));
    child.stdin.end(input);
  });
}

/**
 * The docker-credential-* protocol: `get` reads the server URL on stdin and prints
 * {"ServerURL","Username","Secret"}; a non-zero exit means "no credentials" (the helpers print
 * "credentials not found in native keychain"). `<token>` as the user name is an identity token
 * for Docker Hub's OAuth flow, which this client does not speak: treated as no credentials.
 */
export async function helperGet(name: string, serverUrl: string, opts: HelperRunOptions = {}): Promise<Credentials | undefined> {
  const { code, stdout } = await runHelper(name, 'get', serverUrl, opts);
  if (code !== 0) return undefined;
  try {
    const parsed = JSON.parse(stdout) as { Username?: unknown; Secret?: unknown };
    if (typeof parsed.Username !== 'string' || typeof parsed.Secret !== 'string' || parsed.Username === '<token>') return undefined;
    return { username: parsed.Username, password: parsed.Secret };
  } catch {
    throw new TsbuildError('REGISTRY_AUTH', `credential helper docker-credential-${name} answered with invalid JSON`);
  }
}

export async function helperStore(name: string, serverUrl: string, creds: Credentials, opts: HelperRunOptions = {}): Promise<void> {
  const { code } = await runHelper(name, 'store', JSON.stringify({ ServerURL: serverUrl, Username: creds.username, Secret: creds.password }), opts);
  if (code !== 0) throw new TsbuildError('REGISTRY_AUTH', `credential helper docker-credential-${name} could not store the credentials for ${serverUrl}`);
}

export async function helperErase(name: string, serverUrl: string, opts: HelperRunOptions = {}): Promise<boolean> {
  const { code } = await runHelper(name, 'erase', serverUrl, opts);
  return code === 0;
}

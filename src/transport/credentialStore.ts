import { chmod, mkdir, readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { TsbuildError } from '../errors.js';
import { writeFileAtomic } from '../util/atomicWrite.js';
import { helperErase, helperStore } from './credentialHelper.js';
import { serverAddress, type Credentials } from './registryAuth.js';

export interface DockerConfigOptions {
  env?: NodeJS.ProcessEnv;
  home?: string;
  signal?: AbortSignal;
}

/** `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`: where `docker login` writes. */
export function dockerConfigPath(options: DockerConfigOptions = {}): string {
  const env = options.env ?? process.env;
  return join(env['DOCKER_CONFIG'] ?? join(options.home ?? homedir(), '.docker'), 'config.json');
}

type ConfigJson = Record<string, unknown> & { auths?: Record<string, unknown>; credsStore?: unknown; credHelpers?: Record<string, unknown> };

async function readConfig(path: string): Promise<ConfigJson> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new TsbuildError('USAGE', `reading ${path}: ${(err as Error).message}`);
  }
  try {
    const parsed = JSON.parse(text) as unknown;
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) return parsed as ConfigJson;
  } catch {
    // reported below
  }
  throw new TsbuildError('USAGE', `reading ${path}: not a JSON object`, { hint: 'fix or move the file aside; tsbuild will not overwrite it' });
}

/** The helper configured for this registry (credHelpers first, then credsStore), if any. */
function helperFor(config: ConfigJson, registry: string): string | undefined {
  const specific = config.credHelpers?.[registry];
  if (typeof specific === 'string' && specific !== '') return specific;
  return typeof config.credsStore === 'string' && config.credsStore !== '' ? config.credsStore : undefined;
}

async function writeConfig(path: string, config: ConfigJson, signal?: AbortSignal): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await writeFileAtomic(path, `${JSON.stringify(config, null, '\t')}\n`, signal);
  // Base64 is not encryption: the file must be the user's alone, as docker leaves it.
  await chmod(path, 0o600);
}

/**
 * Saves credentials as `docker login` does: through the configured credential helper, or as
 * base64 `auth` under the registry's key in `auths`. Other keys of the file are kept as they are.
 */
export async function saveCredentials(registry: string, creds: Credentials, options: DockerConfigOptions = {}): Promise<{ path: string; helper?: string }> {
  const path = dockerConfigPath(options);
  const config = await readConfig(path);
  const key = serverAddress(registry);
  const helper = helperFor(config, registry);
  const auths = (config.auths && typeof config.auths === 'object' ? config.auths : {}) as Record<string, unknown>;
  if (helper) {
    await helperStore(helper, key, creds, { ...(options.env ? { env: options.env } : {}), ...(options.signal ? { signal: options.signal } : {}) });
    auths[key] = {}; // docker records the registry, the secret lives in the helper
  } else {
    auths[key] = { auth: Buffer.from(`${creds.username}:${creds.password}`, 'utf8').toString('base64') };
  }
  config.auths = auths;
  await writeConfig(path, config, options.signal);
  return helper ? { path, helper } : { path };
}

/** Forgets a registry's credentials; false when there were none. */
export async function removeCredentials(registry: string, options: DockerConfigOptions = {}): Promise<boolean> {
  const path = dockerConfigPath(options);
  const config = await readConfig(path);
  const key = serverAddress(registry);
  const helper = helperFor(config, registry);
  let removed = false;
  if (helper) removed = await helperErase(helper, key, { ...(options.env ? { env: options.env } : {}), ...(options.signal ? { signal: options.signal } : {}) });
  const auths = config.auths && typeof config.auths === 'object' ? config.auths : undefined;
  for (const k of new Set([key, registry, `https://${registry}`, `http://${registry}`])) {
    if (auths && Object.hasOwn(auths, k)) {
      delete auths[k];
      removed = true;
    }
  }
  if (removed && auths) await writeConfig(path, config, options.signal);
  return removed;
}

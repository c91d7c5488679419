import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { TsbuildError } from '../errors.js';
import { DOCKER_HUB, DOCKER_HUB_API } from '../image/reference.js';
import { helperGet } from './credentialHelper.js';

export interface AuthChallenge {
  /** Lowercased scheme: `bearer`, `basic`, … */
  scheme: string;
  params: Record<string, string>;
}

export interface Credentials {
  username: string;
  password: string;
}

/**
 * Parses a WWW-Authenticate header (RFC 7235): one or more challenges, each a scheme followed
 * by comma-separated auth-params whose values may be quoted strings with backslash escapes.
 * A comma may separate params or challenges; a bare token followed by a space starts a new one.
 */
export function parseWwwAuthenticate(header: string): AuthChallenge[] {
  const challenges: AuthChallenge[] = [];
  let i = 0;
  const n = header.length;
  const skip = (re: RegExp): void => {
    while (i < n && re.test(header[i] ?? '')) i++;
  };
  const token = (): string => {
    const start = i;
    while (i < n && /[!#$%&'*+.^_`|~0-9A-Za-z-]/.test(header[i] ?? '')) i++;
    return header.slice(start, i);
  };
  let current: AuthChallenge | undefined;
  while (i < n) {
    skip(/[\s,]/);
    if (i >= n) break;
    const name = token();
    if (name === '') {
      i++; // not a token character: skip it rather than loop forever
      continue;
    }
    skip(/[ \t]/);
    if (header[i] === '=' && current) {
      const pad = /^=+/.exec(header.slice(i))?.[0] ?? '=';
      const after = header.slice(i + pad.length).trimStart();
      if (Object.keys(current.params).length === 0 && (after === '' || after.startsWith(','))) {
        // token68 (e.g. `Negotiate abc==`): kept, though it is not a param.
        current.params['token68'] = name + pad;
        i += pad.length;
        continue;
      }
      i++;
      skip(/[ \t]/);
      let value = '';
      if (header[i] === '"') {
        i++;
        while (i < n && header[i] !== '"') {
          if (header[i] === '\\' && i + 1 < n) i++;
          value += header[i];
          i++;
        }
        i++; // closing quote
      } else {
        const vStart = i;
        while (i < n && header[i] !== ',' && !/\s/.test(header[i] ?? '')) i++;
        value = header.slice(vStart, i);
      }
      current.params[name.toLowerCase()] = value;
      continue;
    }
    current = { scheme: name.toLowerCase(), params: {} };
    challenges.push(current);
  }
  return challenges;
}

/** Keys a credential helper file may use for a registry host, most specific first. */
function authKeysFor(registry: string): string[] {
  const keys = [registry, `https://${registry}`, `http://${registry}`, `https://${registry}/v1/`, `https://${registry}/v2/`];
  if (registry === DOCKER_HUB || registry === DOCKER_HUB_API || registry === 'index.docker.io') {
    keys.push('https://index.docker.io/v1/', 'index.docker.io', 'docker.io', DOCKER_HUB_API);
  }
  return keys;
}

interface AuthEntry {
  auth?: string;
  username?: string;
  password?: string;
}

function credentialsFromEntry(entry: AuthEntry | undefined): Credentials | undefined {
  if (!entry) return undefined;
  if (typeof entry.username === 'string' && typeof entry.password === 'string' && entry.username !== '') {
    return { username: entry.username, password: entry.password };
  }
  if (typeof entry.auth === 'string' && entry.auth !== '') {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon > 0) return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  return undefined;
}

export interface CredentialFilesOptions {
  env?: NodeJS.ProcessEnv;
  home?: string;
}

/**
 * The auth files we read, in the order podman/skopeo and docker consult them:
 * REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers/auth.json, then $DOCKER_CONFIG/config.json
 * or ~/.docker/config.json.
 */
export function credentialFiles(options: CredentialFilesOptions = {}): string[] {
  const env = options.env ?? process.env;
  const home = options.home ?? homedir();
  const files: string[] = [];
  if (env['REGISTRY_AUTH_FILE']) files.push(env['REGISTRY_AUTH_FILE']);
  if (env['XDG_RUNTIME_DIR']) files.push(join(env['XDG_RUNTIME_DIR'], 'containers', 'auth.json'));
  files.push(join(env['DOCKER_CONFIG'] ?? join(home, '.docker'), 'config.json'));
  return files;
}

export type CredentialLookup = (registry: string, signal?: AbortSignal) => Promise<Credentials | undefined>;

/** The key docker writes for a registry in `auths` and hands to credential helpers. */
export function serverAddress(registry: string): string {
  return registry === DOCKER_HUB || registry === DOCKER_HUB_API || registry === 'index.docker.io' ? 'https://index.docker.io/v1/' : registry;
}

interface AuthFile {
  auths?: Record<string, AuthEntry>;
  credsStore?: unknown;
  credHelpers?: Record<string, unknown>;
}

/**
 * Looks credentials up in the auth files; a missing or unreadable file is skipped. In each file,
 * as docker does: a `credHelpers` entry for the registry wins, then an `auths` entry, then the
 * `credsStore` helper (docker-credential-NAME get, the server URL on stdin).
 */
export function fileCredentialLookup(options: CredentialFilesOptions = {}): CredentialLookup {
  const files = credentialFiles(options);
  const env = options.env ?? process.env;
  return async (registry, signal) => {
    for (const file of files) {
      let parsed: AuthFile | null;
      try {
        parsed = JSON.parse(await readFile(file, { encoding: 'utf8', ...(signal ? { signal } : {}) })) as AuthFile | null;
      } catch (err) {
        if (signal?.aborted) throw err;
        continue;
      }
      if (!parsed || typeof parsed !== 'object') continue;
      const run = { env, ...(signal ? { signal } : {}) };
      const helpers = parsed.credHelpers && typeof parsed.credHelpers === 'object' ? parsed.credHelpers : {};
      for (const key of authKeysFor(registry)) {
        const helper = helpers[key];
        if (typeof helper === 'string' && helper !== '') return helperGet(helper, serverAddress(registry), run);
      }
      const auths = parsed.auths;
      if (auths && typeof auths === 'object') {
        for (const key of authKeysFor(registry)) {
          const creds = credentialsFromEntry(auths[key]);
          if (creds) return creds;
        }
      }
      if (typeof parsed.credsStore === 'string' && parsed.credsStore !== '') {
        const creds = await helperGet(parsed.credsStore, serverAddress(registry), run);
        if (creds) return creds;
      }
    }
    return undefined;
  };
}

export function basicAuthHeader(c: Credentials): string {
  return `Basic ${Buffer.from(`${c.username}:${c.password}`, 'utf8').toString('base64')}`;
}

/** Removes anything that might be a secret from text that could reach a message or log. */
export function redact(text: string, creds?: Credentials): string {
  let out = text
    .replace(/(authorization:\s*)(basic|bearer)\s+\S+/gi, '$1$2 <redacted>')
    .replace(/((?:access_)?token|password|refresh_token)(["']?\s*[:=]\s*["']?)[^"'&\s,}]+/gi, '$1$2<redacted>')
    .replace(/\/\/[^/@\s:]+:[^/@\s]+@/g, '//<redacted>@');
  if (creds) {
    for (const secret of [creds.password, Buffer.from(`${creds.username}:${creds.password}`).toString('base64')]) {
      if (secret.length >= 3) out = out.split(secret).join('<redacted>');
    }
  }
  return out;
}

interface CachedToken {
  token: string;
  expiresAt: number;
}

export interface TokenFetcher {
  (url: string, init: { headers: Record<string, string>; signal?: AbortSignal }): Promise<{
    status: number;
    text(): Promise<string>;
  }>;
}

/**
 * The scopes of one token: usually one (`repository:NAME:pull,push`); a cross-repository mount
 * adds `repository:SOURCE:pull`, asked in the same token request as containers/image does.
 */
export type TokenScope = string | readonly string[] | undefined;

const scopeList = (scope: TokenScope): readonly string[] => (scope === undefined ? [] : typeof scope === 'string' ? [scope] : scope);
const scopeKey = (registry: string, scope: TokenScope): string => `${registry}|${scopeList(scope).join(' ')}`;

/**
 * Turns a 401 challenge into an Authorization header and caches bearer tokens per
 * registry + scopes until shortly before they expire. One instance per client, never global.
 */
export class RegistryAuth {
  readonly #lookup: CredentialLookup;
  readonly #fetch: TokenFetcher;
  readonly #now: () => number;
  readonly #tokens = new Map<string, CachedToken>();
  readonly #basic = new Map<string, string>();
  readonly #creds = new Map<string, Promise<Credentials | undefined>>();

  constructor(options: { lookup: CredentialLookup; fetch: TokenFetcher; now?: () => number }) {
    this.#lookup = options.lookup;
    this.#fetch = options.fetch;
    this.#now = options.now ?? Date.now;
  }

  credentials(registry: string, signal?: AbortSignal): Promise<Credentials | undefined> {
    let p = this.#creds.get(registry);
    if (!p) {
      p = this.#lookup(registry, signal);
      this.#creds.set(registry, p);
    }
    return p;
  }

  /** A header we already know works for this registry + scope, to send before any 401. */
  cached(registry: string, scope: TokenScope): string | undefined {
    const basic = this.#basic.get(registry);
    if (basic) return basic;
    const key = scopeKey(registry, scope);
    const t = this.#tokens.get(key);
    if (!t) return undefined;
    if (t.expiresAt <= this.#now()) {
      this.#tokens.delete(key);
      return undefined;
    }
    return `Bearer ${t.token}`;
  }

  /** Answers a challenge; returns undefined when we cannot (no usable scheme, no credentials for Basic). */
  async authorize(
    registry: string,
    challenges: AuthChallenge[],
    scope: TokenScope,
    signal?: AbortSignal,
  ): Promise<string | undefined> {
    const bearer = challenges.find((c) => c.scheme === 'bearer');
    if (bearer && bearer.params['realm']) {
      const asked = scopeList(scope);
      const challenged = bearer.params['scope'];
      const effective = asked.length > 0 ? asked : challenged ? [challenged] : [];
      const token = await this.#fetchToken(registry, bearer.params, effective, signal);
      this.#tokens.set(scopeKey(registry, scope), token);
      return `Bearer ${token.token}`;
    }
    const basic = challenges.find((c) => c.scheme === 'basic');
    if (basic) {
      const creds = await this.credentials(registry, signal);
      if (!creds) return undefined;
      const header = basicAuthHeader(creds);
      this.#basic.set(registry, header);
      return header;
    }
    return undefined;
  }

  async #fetchToken(
    registry: string,
    params: Record<string, string>,
    scopes: readonly string[],
    signal?: AbortSignal,
  ): Promise<CachedToken> {
    const realm = params['realm'] ?? '';
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw new TsbuildError('REGISTRY_AUTH', `authenticating to ${registry}: invalid token realm in the registry's challenge`);
    }
    if (params['service']) url.searchParams.set('service', params['service']);
    // One `scope` parameter per scope, as the token spec and docker/containers/image send them.
    for (const scope of scopes) url.searchParams.append('scope', scope);
    const creds = await this.credentials(registry, signal);
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (creds) headers['Authorization'] = basicAuthHeader(creds);
    const issuedAt = this.#now();
    const res = await this.#fetch(url.toString(), { headers, ...(signal ? { signal } : {}) });
    if (res.status === 401 || res.status === 403) {
      throw new TsbuildError('REGISTRY_AUTH', `authenticating to ${registry}: the token service refused ${creds ? 'the stored credentials' : 'anonymous access'}`, {
        hint: creds
          ? 'check the credentials stored for this registry (tsbuild login, or the docker config / containers auth.json)'
          : 'log in first: `tsbuild login`, or add credentials to ~/.docker/config.json or $REGISTRY_AUTH_FILE',
      });
    }
    if (res.status < 200 || res.status > 299) {
      throw new TsbuildError('REGISTRY_AUTH', `authenticating to ${registry}: token service answered HTTP ${res.status}`);
    }
    let body: { token?: unknown; access_token?: unknown; expires_in?: unknown };
    try {
      body = JSON.parse(await res.text()) as typeof body;
    } catch {
      throw new TsbuildError('REGISTRY_AUTH', `authenticating to ${registry}: token service answered with invalid JSON`);
    }
    const token = typeof body.token === 'string' && body.token !== '' ? body.token : body.access_token;
    if (typeof token !== 'string' || token === '') {
      throw new TsbuildError('REGISTRY_AUTH', `authenticating to ${registry}: token service answered without a token`);
    }
    // The distribution spec says to assume 60 s when expires_in is missing; renew 10 s early.
    const expiresIn = typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : 60;
    return { token, expiresAt: issuedAt + Math.max(1, expiresIn - 10) * 1000 };
  }
}

import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { isIP } from 'node:net';
import { Readable, pipeline } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import fetch, { type RequestInit, type Response } from 'node-fetch';
import { TsbuildError } from '../errors.js';
import { manifestAcceptTypes } from '../image/mediaTypes.js';
import { registryApiHost } from '../image/reference.js';
import type { Descriptor } from '../image/types.js';
import { assertSha256Digest, readAll, verifyingStream } from './digestStream.js';
import { MAX_MANIFEST_BYTES, manifestBlobOf, manifestMediaType } from './manifestBlob.js';
import { RegistryAuth, fileCredentialLookup, parseWwwAuthenticate, redact, type CredentialLookup } from './registryAuth.js';
import type { ManifestBlob } from './types.js';

/** A repository on a registry; an ImageReference is one. */
export interface RepositoryRef {
  readonly registry: string;
  readonly repository: string;
}

export interface RegistryClientOptions {
  /** host[:port] entries allowed over plain http or unverified TLS. */
  insecureRegistries?: readonly string[];
  credentials?: CredentialLookup;
  /** Extra attempts after a 5xx, 429 or reset connection; small on purpose. */
  retries?: number;
  retryDelayMs?: number;
  userAgent?: string;
}

type Op = 'pull' | 'push';

interface RequestSpec {
  method: 'GET' | 'HEAD' | 'POST' | 'PUT';
  repo: RepositoryRef;
  /** A path under /v2/, or an absolute URL (upload locations). */
  path: string;
  op: Op;
  /** The image or blob named in error messages. */
  what: string;
  headers?: Record<string, string>;
  /** Opened per attempt, so a 401 or a retry can send the body again. */
  body?: () => Promise<NodeJS.ReadableStream | Buffer>;
  retry?: boolean;
  signal?: AbortSignal | undefined;
}

const retryableCodes = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);
const unreachableCodes = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'EAI_AGAIN']);
const tlsFallbackCodes = new Set(['EPROTO', 'ERR_SSL_WRONG_VERSION_NUMBER', 'ECONNRESET']);

/** Loopback registries speak plain http, as docker allows without configuration. */
export function isLoopbackHost(hostPort: string): boolean {
  let host = hostPort;
  if (host.startsWith('[')) host = host.slice(1, host.indexOf(']'));
  else if (host.includes(':') && isIP(host) !== 6) host = host.slice(0, host.lastIndexOf(':'));
  if (host === 'localhost' || host === '::1') return true;
  return isIP(host) === 4 && host.startsWith('127.');
}

function hostWithDefaultPort(u: URL): string {
  return `${u.hostname}:${u.port || (u.protocol === 'http:' ? '80' : '443')}`;
}

function errorCode(err: unknown): string | undefined {
  const e = err as { code?: unknown; errno?: unknown; cause?: { code?: unknown } } | null;
  if (typeof e?.code === 'string') return e.code;
  if (typeof e?.errno === 'string') return e.errno;
  if (typeof e?.cause?.code === 'string') return e.cause.code;
  return undefined;
}

/**
 * Docker Registry HTTP API v2 / OCI distribution client: manifests and blobs, verified as they
 * arrive, monolithic uploads, token auth. Holds keep-alive agents; call `close()` when done.
 */
export class RegistryClient {
  readonly #insecure: ReadonlySet<string>;
  readonly #auth: RegistryAuth;
  readonly #retries: number;
  readonly #retryDelayMs: number;
  readonly #userAgent: string;
  readonly #http = new HttpAgent({ keepAlive: true, maxSockets: 8 });
  readonly #https = new HttpsAgent({ keepAlive: true, maxSockets: 8 });
  readonly #httpsInsecure = new HttpsAgent({ keepAlive: true, maxSockets: 8, rejectUnauthorized: false });
  /** Insecure hosts found to speak plain http after a TLS attempt failed. */
  readonly #plainHttp = new Set<string>();

  constructor(options: RegistryClientOptions = {}) {
    this.#insecure = new Set(options.insecureRegistries ?? []);
    this.#retries = options.retries ?? 2;
    this.#retryDelayMs = options.retryDelayMs ?? 300;
    this.#userAgent = options.userAgent ?? 'tsbuild/0.1';
    this.#auth = new RegistryAuth({
      lookup: options.credentials ?? fileCredentialLookup(),
      fetch: (url, init) => fetch(url, { ...init, agent: this.#agentFor }),
    });
  }

  async close(): Promise<void> {
    this.#http.destroy();
    this.#https.destroy();
    this.#httpsInsecure.destroy();
  }

  /** Fetches a manifest by tag or digest; the bytes are checked against the digest we know. */
  async getManifest(repo: RepositoryRef, reference: string, signal?: AbortSignal): Promise<ManifestBlob> {
    const what = imageName(repo, reference);
    const byDigest = reference.includes(':');
    if (byDigest) assertSha256Digest(reference, what);
    const res = await this.#request({
      method: 'GET', repo, path: `manifests/${reference}`, op: 'pull', what, signal,
      headers: { Accept: manifestAcceptTypes.join(', ') },
    });
    await this.#expectOk(res, 'pull', what, repo);
    const bytes = await readAll(res.body ?? emptyStream(), MAX_MANIFEST_BYTES, `manifest of ${what}`);
    const m = manifestBlobOf(bytes, manifestMediaType(bytes, res.headers.get('content-type')));
    const expected = byDigest ? reference : res.headers.get('docker-content-digest') ?? undefined;
    if (expected !== undefined && expected.startsWith('sha256:') && expected !== m.digest) {
      throw new TsbuildError('DIGEST_MISMATCH', `verifying manifest of ${what}: got ${m.digest}, expected ${expected}`, {
        hint: 'the registry served a manifest that does not match its digest',
      });
    }
    return m;
  }

  /** The manifest's descriptor without its body, or undefined when the registry has none. */
  async headManifest(repo: RepositoryRef, reference: string, signal?: AbortSignal): Promise<Descriptor | undefined> {
    const what = imageName(repo, reference);
    const res = await this.#request({
      method: 'HEAD', repo, path: `manifests/${reference}`, op: 'pull', what, signal,
      headers: { Accept: manifestAcceptTypes.join(', ') },
    });
    if (res.status === 404) return undefined;
    await this.#expectOk(res, 'pull', what, repo);
    const digest = res.headers.get('docker-content-digest');
    if (!digest) return undefined;
    return {
      mediaType: (res.headers.get('content-type') ?? '').split(';')[0] ?? '',
      digest,
      size: Number(res.headers.get('content-length') ?? 0),
    };
  }

  /** Streams a blob, following redirects; the stream fails with DIGEST_MISMATCH if the bytes are wrong. */
  async getBlob(repo: RepositoryRef, desc: Descriptor, signal?: AbortSignal): Promise<NodeJS.ReadableStream> {
    assertSha256Digest(desc.digest, `blob of ${repo.registry}/${repo.repository}`);
    const what = `blob ${desc.digest} of ${repo.registry}/${repo.repository}`;
    const res = await this.#request({ method: 'GET', repo, path: `blobs/${desc.digest}`, op: 'pull', what, signal });
    await this.#expectOk(res, 'pull', what, repo);
    const verifier = verifyingStream({ digest: desc.digest, size: desc.size }, what);
    const body = res.body ?? emptyStream();
    pipeline(body, verifier, () => {
      // Errors reach the consumer through `verifier`; nothing else to do here.
    });
    return verifier;
  }

  async hasBlob(repo: RepositoryRef, digest: string, signal?: AbortSignal): Promise<boolean> {
    assertSha256Digest(digest, `blob of ${repo.registry}/${repo.repository}`);
    const what = `blob ${digest} of ${repo.registry}/${repo.repository}`;
    const res = await this.#request({ method: 'HEAD', repo, path: `blobs/${digest}`, op: 'push', what, signal });
    if (res.status === 404) return false;
    await this.#expectOk(res, 'push', what, repo);
    return true;
  }

  /** POST an upload session, then one monolithic PUT with the stream as body; retried as a whole. */
  async putBlob(
    repo: RepositoryRef,
    desc: Descriptor,
    open: () => Promise<NodeJS.ReadableStream>,
    signal?: AbortSignal,
  ): Promise<void> {
    assertSha256Digest(desc.digest, `blob for ${repo.registry}/${repo.repository}`);
    const what = `blob ${desc.digest} to ${repo.registry}/${repo.repository}`;
    for (let attempt = 0; ; attempt++) {
      try {
        const start = await this.#request({ method: 'POST', repo, path: 'blobs/uploads/', op: 'push', what, signal, retry: false,
          headers: { 'Content-Length': '0' } });
        await this.#expectOk(start, 'push', what, repo, [202]);
        const location = start.headers.get('location');
        if (!location) throw new TsbuildError('REGISTRY_HTTP', `pushing ${what}: the registry gave no upload location`);
        const url = new URL(location, start.url);
        url.searchParams.append('digest', desc.digest);
        const put = await this.#request({
          method: 'PUT', repo, path: url.toString(), op: 'push', what, signal, retry: false, body: open,
          headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(desc.size) },
        });
        await this.#expectOk(put, 'push', what, repo, [201, 204]);
        await put.text();
        return;
      } catch (err) {
        if (attempt >= this.#retries || !isRetryable(err)) throw err;
        await sleep(this.#retryDelayMs * 4 ** attempt, undefined, signal ? { signal } : {});
      }
    }
  }

  async putManifest(repo: RepositoryRef, reference: string, m: ManifestBlob, signal?: AbortSignal): Promise<void> {
    const what = imageName(repo, reference);
    const res = await this.#request({
      method: 'PUT', repo, path: `manifests/${reference}`, op: 'push', what, signal,
      headers: { 'Content-Type': m.mediaType, 'Content-Length': String(m.bytes.length) },
      body: async () => m.bytes,
    });
    await this.#expectOk(res, 'push', what, repo, [200, 201, 202]);
    await res.text();
  }

  readonly #agentFor = (url: URL): HttpAgent | HttpsAgent => {
    if (url.protocol === 'http:') return this.#http;
    return this.#insecure.has(url.host) ? this.#httpsInsecure : this.#https;
  };

  #baseUrl(registry: string): string {
    const host = registryApiHost(registry);
    const plain = isLoopbackHost(host) || this.#plainHttp.has(host);
    return `${plain ? 'http' : 'https'}://${host}/v2/`;
  }

  async #request(spec: RequestSpec): Promise<Response> {
    const scope = `repository:${spec.repo.repository}:${spec.op === 'push' ? 'pull,push' : 'pull'}`;
    const host = registryApiHost(spec.repo.registry);
    let authorized = false;
    for (let attempt = 0; ; attempt++) {
      const url = /^https?:\/\//.test(spec.path) ? spec.path : `${this.#baseUrl(spec.repo.registry)}${spec.repo.repository}/${spec.path}`;
      const headers: Record<string, string> = { 'User-Agent': this.#userAgent, ...spec.headers };
      const auth = this.#auth.cached(host, scope);
      if (auth) headers['Authorization'] = auth;
      const init: RequestInit = { method: spec.method, headers, agent: this.#agentFor, redirect: 'follow' };
      const body = spec.body ? await spec.body() : undefined;
      if (body !== undefined) init.body = body as RequestInit['body'];
      // A stream the server did not read (a 401 or 5xx before the body) must not stay open.
      const discardBody = (): void => {
        if (body !== undefined && !Buffer.isBuffer(body)) (body as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
      };
      if (spec.signal) init.signal = spec.signal as RequestInit['signal'];
      let res: Response;
      try {
        res = await fetch(url, init);
      } catch (err) {
        discardBody();
        const code = errorCode(err);
        if (this.#insecure.has(host) && url.startsWith('https:') && code && tlsFallbackCodes.has(code) && !this.#plainHttp.has(host)) {
          this.#plainHttp.add(host); // an insecure registry without TLS: retry over http, as docker does
          continue;
        }
        const mapped = this.#networkError(err, spec, url);
        if (spec.retry !== false && attempt < this.#retries && isRetryable(mapped)) {
          await sleep(this.#retryDelayMs * 4 ** attempt, undefined, spec.signal ? { signal: spec.signal } : {});
          continue;
        }
        throw mapped;
      }
      if (res.status === 401 && !authorized) {
        discardBody();
        const challenges = parseWwwAuthenticate(res.headers.get('www-authenticate') ?? '');
        await drain(res);
        const header = await this.#auth.authorize(host, challenges, scope, spec.signal);
        if (header) {
          authorized = true;
          continue;
        }
        throw authError(spec.op, spec.what, spec.repo.registry);
      }
      if ((res.status >= 500 || res.status === 429) && spec.retry !== false && attempt < this.#retries) {
        discardBody();
        await drain(res);
        await sleep(this.#retryDelayMs * 4 ** attempt, undefined, spec.signal ? { signal: spec.signal } : {});
        continue;
      }
      return res;
    }
  }

  #networkError(err: unknown, spec: RequestSpec, url: string): TsbuildError {
    if (err instanceof TsbuildError) return err;
    const doing = `${spec.op === 'push' ? 'pushing' : 'pulling'} ${spec.what}`;
    if ((err as { name?: string } | null)?.name === 'AbortError' || spec.signal?.aborted) {
      return new TsbuildError('ABORTED', `${doing}: aborted`, { cause: err });
    }
    const code = errorCode(err);
    let hostPort = spec.repo.registry;
    try {
      hostPort = hostWithDefaultPort(new URL(url));
    } catch {
      // keep the registry name
    }
    if (code && unreachableCodes.has(code)) {
      return new TsbuildError('REGISTRY_UNREACHABLE', `${doing}: cannot connect to registry ${hostPort} (${code})`, {
        cause: err,
        hint: 'check that the registry is running and the host and port are right',
      });
    }
    const detail = redact(err instanceof Error ? err.message : String(err));
    return new TsbuildError('REGISTRY_HTTP', `${doing}: ${detail}`, { cause: err });
  }

  async #expectOk(res: Response, op: Op, what: string, repo: RepositoryRef, ok: readonly number[] = [200]): Promise<void> {
    if (ok.includes(res.status)) return;
    const doing = `${op === 'push' ? 'pushing' : 'pulling'} ${what}`;
    const body = await res.text().catch(() => '');
    if (res.status === 401 || res.status === 403) throw authError(op, what, repo.registry);
    const message = registryErrorMessage(body);
    if (res.status === 404) {
      throw new TsbuildError('IMAGE_NOT_FOUND', `${doing} ${op === 'push' ? 'to' : 'from'} ${repo.registry}: not found${message ? ` (${message})` : ''}`, {
        hint: `check the image name and tag; the registry ${repo.registry} has no such ${what.startsWith('blob ') ? 'blob' : 'image'}`,
      });
    }
    throw new TsbuildError('REGISTRY_HTTP', `${doing}: registry ${repo.registry} answered HTTP ${res.status}${message ? `: ${message}` : ''}`);
  }
}

function imageName(repo: RepositoryRef, reference: string): string {
  return `${repo.registry}/${repo.repository}${reference.includes(':') ? '@' : ':'}${reference}`;
}

function authError(op: Op, what: string, registry: string): TsbuildError {
  return new TsbuildError('REGISTRY_AUTH', `${op === 'push' ? 'pushing' : 'pulling'} ${what} ${op === 'push' ? 'to' : 'from'} ${registry}: access denied`, {
    hint: `log in with \`tsbuild login ${registry}\` or add credentials to ~/.docker/config.json ($DOCKER_CONFIG) or $REGISTRY_AUTH_FILE; also check that the repository exists`,
  });
}

/** The registry's own explanation, `errors[0].message`, when the body is the spec's JSON. */
function registryErrorMessage(body: string): string | undefined {
  try {
    const json = JSON.parse(body) as { errors?: Array<{ message?: unknown; code?: unknown }> };
    const first = json.errors?.[0];
    const msg = typeof first?.message === 'string' && first.message !== '' ? first.message : first?.code;
    return typeof msg === 'string' ? redact(msg) : undefined;
  } catch {
    return undefined;
  }
}

function isRetryable(err: unknown): boolean {
  if (err instanceof TsbuildError) {
    if (err.code === 'REGISTRY_HTTP') return /HTTP (5\d\d|429)/.test(err.message) || retryableCodes.has(errorCode(err.cause) ?? '');
    return false;
  }
  return retryableCodes.has(errorCode(err) ?? '');
}

async function drain(res: Response): Promise<void> {
  await res.arrayBuffer().catch(() => undefined);
}

function emptyStream(): NodeJS.ReadableStream {
  return Readable.from([]);
}

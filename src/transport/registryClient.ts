import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { isIP } from 'node:net';
import { Readable, pipeline } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RequestInfo, RequestInit, Response } from 'node-fetch';
import { TsbuildError } from '../errors.js';
import { manifestAcceptTypes } from '../image/mediaTypes.js';
import { registryApiHost } from '../image/reference.js';
import type { Descriptor } from '../image/types.js';
import type { BlobLocations } from '../store/blobLocations.js';
import { uploadBlob, type UploadOptions } from './blobUpload.js';
import { assertSha256Digest, readAll, verifyingStream } from './digestStream.js';
import { IdleWatchdog } from './idleWatchdog.js';
import { MAX_MANIFEST_BYTES, manifestBlobOf, manifestMediaType } from './manifestBlob.js';
import { RegistryAuth, fileCredentialLookup, parseWwwAuthenticate, redact, type CredentialLookup } from './registryAuth.js';
import { authError, imageName, registryErrorMessage, TransientRegistryError, type Op } from './registryErrors.js';
import { defaultRetryPolicy, isRetryableStatus, nextDelay, parseRetryAfter, type RetryPolicy } from './retryPolicy.js';
import { tlsAgentOptions, type TlsFiles } from './tlsConfig.js';
import { extraCaOptions } from './trustedRoots.js';
import type { ManifestBlob } from './types.js';

/** node-fetch, loaded on the first request: a build served from the store never pays for loading it. */
async function fetch(url: URL | RequestInfo, init?: RequestInit): Promise<Response> {
  const { default: nodeFetch } = await import('node-fetch');
  return nodeFetch(url, init);
}

/** A repository on a registry; an ImageReference is one. */
export interface RepositoryRef {
  readonly registry: string;
  readonly repository: string;
}

export interface RegistryClientOptions {
  /** host[:port] entries allowed over plain http or unverified TLS. */
  insecureRegistries?: readonly string[];
  credentials?: CredentialLookup;
  /** Extra attempts after a 5xx, 429, reset or stalled connection (kept for callers of 0.1). */
  retries?: number;
  /** The first backoff delay (kept for callers of 0.1; see `retry`). */
  retryDelayMs?: number;
  retry?: Partial<RetryPolicy>;
  /** A request with no progress (headers, upload or body bytes) for this long is retried. */
  idleTimeoutMs?: number;
  /** Blobs larger than this are uploaded in chunks (PATCH), resumable; default 64 MiB. */
  chunkedUploadThreshold?: number;
  /** Bytes per PATCH; default 16 MiB. */
  chunkSize?: number;
  /** Extra CA / client certificate directories, searched before /etc/containers/certs.d and /etc/docker/certs.d. */
  certDirs?: readonly string[];
  /** Pull endpoints tried, in order, before Docker Hub for docker.io images (host[:port]). */
  mirrors?: readonly string[];
  userAgent?: string;
  /** Where blobs were seen before (the store's record): mount candidates for pushes, updated as blobs move. */
  blobLocations?: BlobLocations;
}

export interface RequestSpec {
  method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  repo: RepositoryRef;
  /** A path under /v2/<repo>/, or an absolute URL (upload locations). */
  path: string;
  op: Op;
  /** The image or blob named in error messages. */
  what: string;
  headers?: Record<string, string>;
  /** Opened per attempt, so a 401 or a retry can send the body again. */
  body?: () => Promise<NodeJS.ReadableStream | Buffer>;
  /** false: one attempt, the caller retries at a higher level (uploads do). */
  retry?: boolean;
  signal?: AbortSignal | undefined;
  /** Registry host to talk to instead of the repository's own (a mirror). */
  endpoint?: string;
  /**
   * Another repository of the same registry the token must also let us pull from: the source of
   * a cross-repository mount. Token registries refuse the mount without it.
   */
  pullFrom?: string;
}

/** What a request returns: the status, headers and a body that must be read or discarded. */
export interface RegistryResponse {
  status: number;
  url: string;
  headers: { get(name: string): string | null };
  body: Readable;
  text(): Promise<string>;
  discard(): Promise<void>;
  /** True when the body failed because the connection stalled (the idle timeout fired). */
  stalled(): boolean;
}

const retryableCodes = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ERR_STREAM_PREMATURE_CLOSE', 'UND_ERR_SOCKET', 'ETIMEDOUT']);
const unreachableCodes = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);
const tlsFallbackCodes = new Set(['EPROTO', 'ERR_SSL_WRONG_VERSION_NUMBER', 'ECONNRESET']);

/** Node's codes for a certificate that does not verify (unknown CA, self-signed, wrong name, expired). */
const tlsVerifyCodes = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'ERR_TLS_CERT_ALTNAME_INVALID', 'CERT_UNTRUSTED', 'CERT_SIGNATURE_FAILURE',
]);

/** Go's and nginx's answers to plain http sent to a TLS port. */
function speaksHttpsOnly(body: string): boolean {
  return /HTTP request to an HTTPS server|plain HTTP request was sent to HTTPS port/i.test(body.slice(0, 512));
}

/** Loopback registries speak plain http, as docker allows without configuration (TLS once one answers "use https"). */
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

export function errorCode(err: unknown): string | undefined {
  const e = err as { code?: unknown; errno?: unknown; cause?: { code?: unknown } } | null;
  if (typeof e?.code === 'string') return e.code;
  if (typeof e?.errno === 'string') return e.errno;
  if (typeof e?.cause?.code === 'string') return e.cause.code;
  return undefined;
}

/** Whether another attempt may succeed: a transient HTTP status, a reset, a stall. */
export function isTransient(err: unknown): boolean {
  if (err instanceof TransientRegistryError) return true;
  if (err instanceof TsbuildError) return false;
  return retryableCodes.has(errorCode(err) ?? '');
}

/**
 * Docker Registry HTTP API v2 / OCI distribution client: manifests and blobs, verified as they
 * arrive; uploads with HEAD-first, cross-repository mount, monolithic or chunked and resumable
 * PUT/PATCH (blobUpload.ts); token auth; retries with backoff and jitter honouring Retry-After.
 * Holds keep-alive agents; call `close()` when done.
 */
export class RegistryClient {
  readonly #insecure: ReadonlySet<string>;
  readonly #auth: RegistryAuth;
  readonly policy: RetryPolicy;
  readonly #idleMs: number;
  readonly #upload: Pick<UploadOptions, 'chunkSize' | 'threshold'>;
  readonly #certDirs: readonly string[];
  readonly #mirrors: readonly string[];
  readonly #userAgent: string;
  readonly #locations: BlobLocations | undefined;
  readonly #http = new HttpAgent({ keepAlive: true, maxSockets: 8 });
  /** Made on first use: the extra CA file (trustedRoots.ts) is read only by runs that need TLS. */
  #httpsAgent: HttpsAgent | undefined;
  readonly #httpsInsecure = new HttpsAgent({ keepAlive: true, maxSockets: 8, rejectUnauthorized: false });
  /** Agents with a host's own CA or client certificate (certs.d), made once per host. */
  readonly #tlsAgents = new Map<string, Promise<HttpsAgent | undefined>>();
  /** Insecure hosts found to speak plain http after a TLS attempt failed. */
  readonly #plainHttp = new Set<string>();
  /** Loopback hosts found to speak TLS (they answered our plain http with "use https"). */
  readonly #loopbackTls = new Set<string>();

  constructor(options: RegistryClientOptions = {}) {
    this.#insecure = new Set(options.insecureRegistries ?? []);
    this.policy = {
      ...defaultRetryPolicy,
      ...(options.retries !== undefined ? { maxAttempts: options.retries + 1 } : {}),
      ...(options.retryDelayMs !== undefined ? { baseDelayMs: options.retryDelayMs } : {}),
      ...options.retry,
    };
    this.#idleMs = options.idleTimeoutMs ?? 60_000;
    this.#upload = { threshold: options.chunkedUploadThreshold ?? 64 << 20, chunkSize: options.chunkSize ?? 16 << 20 };
    this.#certDirs = options.certDirs ?? [];
    this.#mirrors = options.mirrors ?? [];
    this.#userAgent = options.userAgent ?? 'tsbuild/0.1';
    this.#locations = options.blobLocations;
    this.#auth = new RegistryAuth({
      lookup: options.credentials ?? fileCredentialLookup(),
      fetch: (url, init) => fetch(url, { ...init, agent: this.#agentFor }),
    });
  }

  async close(): Promise<void> {
    this.#http.destroy();
    this.#httpsAgent?.destroy();
    this.#httpsInsecure.destroy();
    for (const agent of this.#tlsAgents.values()) (await agent.catch(() => undefined))?.destroy();
  }

  /** Fetches a manifest by tag or digest; the bytes are checked against the digest we know. */
  async getManifest(repo: RepositoryRef, reference: string, signal?: AbortSignal): Promise<ManifestBlob> {
    const what = imageName(repo, reference);
    const byDigest = reference.includes(':');
    if (byDigest) assertSha256Digest(reference, what);
    const res = await this.#pullRequest({
      method: 'GET', repo, path: `manifests/${reference}`, op: 'pull', what, signal,
      headers: { Accept: manifestAcceptTypes.join(', ') },
    });
    const bytes = await readAll(res.body, MAX_MANIFEST_BYTES, `manifest of ${what}`);
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
    const res = await this.request({
      method: 'HEAD', repo, path: `manifests/${reference}`, op: 'pull', what, signal,
      headers: { Accept: manifestAcceptTypes.join(', ') },
    });
    if (res.status === 404) {
      await res.discard();
      return undefined;
    }
    await this.expectOk(res, 'pull', what, repo);
    await res.discard();
    const digest = res.headers.get('docker-content-digest');
    if (!digest) return undefined;
    return {
      mediaType: (res.headers.get('content-type') ?? '').split(';')[0] ?? '',
      digest,
      size: Number(res.headers.get('content-length') ?? 0),
    };
  }

  /**
   * Streams a blob, following redirects; a connection that breaks or stalls mid-blob is resumed
   * with a Range request where it stopped. The stream fails with DIGEST_MISMATCH if the bytes
   * are wrong.
   */
  async getBlob(repo: RepositoryRef, desc: Descriptor, signal?: AbortSignal): Promise<NodeJS.ReadableStream> {
    assertSha256Digest(desc.digest, `blob of ${repo.registry}/${repo.repository}`);
    const what = `blob ${desc.digest} of ${repo.registry}/${repo.repository}`;
    const spec: RequestSpec = { method: 'GET', repo, path: `blobs/${desc.digest}`, op: 'pull', what, signal };
    const first = await this.#pullRequest(spec);
    const verifier = verifyingStream({ digest: desc.digest, size: desc.size }, what);
    const resumable = async function* (this: RegistryClient): AsyncGenerator<Buffer> {
      let res = first;
      let offset = 0;
      for (let failures = 0; ; ) {
        // A server that ignores Range answers 200 with the whole blob: skip what we have.
        let skip = res.status === 206 ? 0 : offset;
        try {
          for await (const chunk of res.body as AsyncIterable<Buffer>) {
            let c = chunk;
            if (skip > 0) {
              if (c.length <= skip) {
                skip -= c.length;
                continue;
              }
              c = c.subarray(skip);
              skip = 0;
            }
            offset += c.length;
            yield c;
          }
          return;
        } catch (err) {
          failures++;
          const mapped = this.#networkError(err, spec, res.url, res.stalled());
          if (signal?.aborted || !isTransient(mapped) || failures >= this.policy.maxAttempts) throw mapped;
          await sleep(nextDelay(this.policy, failures, undefined), undefined, signal ? { signal } : {});
          res = await this.#pullRequest({ ...spec, headers: { Range: `bytes=${offset}-` } }, [200, 206]);
        }
      }
    };
    pipeline(Readable.from(resumable.call(this)), verifier, (err) => {
      // Errors reach the consumer through `verifier`; a verified blob is noted as held here.
      if (!err) void this.#locations?.record(desc.digest, repo);
    });
    return verifier;
  }

  async hasBlob(repo: RepositoryRef, digest: string, signal?: AbortSignal): Promise<boolean> {
    assertSha256Digest(digest, `blob of ${repo.registry}/${repo.repository}`);
    const what = `blob ${digest} of ${repo.registry}/${repo.repository}`;
    const res = await this.request({ method: 'HEAD', repo, path: `blobs/${digest}`, op: 'push', what, signal });
    await res.discard();
    if (res.status === 404) return false;
    await this.expectOk(res, 'push', what, repo);
    await this.#locations?.record(digest, repo);
    return true;
  }

  /**
   * Uploads a blob: mounted from `mountFrom` when the registry has it there, else one PUT, or
   * PATCH chunks for blobs above the chunked threshold, resumed after a broken connection.
   */
  async putBlob(
    repo: RepositoryRef,
    desc: Descriptor,
    open: () => Promise<NodeJS.ReadableStream>,
    signal?: AbortSignal,
    options: { mountFrom?: RepositoryRef } = {},
  ): Promise<void> {
    assertSha256Digest(desc.digest, `blob for ${repo.registry}/${repo.repository}`);
    const mountable = (r: RepositoryRef | undefined): r is RepositoryRef => r !== undefined && r.registry === repo.registry && r.repository !== repo.repository;
    // One mount attempt: the source's repository, else the one this blob was last seen in.
    const mountFrom = mountable(options.mountFrom) ? options.mountFrom : (await this.#locations?.candidates(desc.digest, repo.registry, repo.repository))?.[0];
    await uploadBlob(this, repo, desc, open, { ...this.#upload, ...(mountFrom ? { mountFrom } : {}), ...(signal ? { signal } : {}) });
    await this.#locations?.record(desc.digest, repo);
  }

  async putManifest(repo: RepositoryRef, reference: string, m: ManifestBlob, signal?: AbortSignal): Promise<void> {
    const what = imageName(repo, reference);
    const res = await this.request({
      method: 'PUT', repo, path: `manifests/${reference}`, op: 'push', what, signal,
      headers: { 'Content-Type': m.mediaType, 'Content-Length': String(m.bytes.length) },
      body: async () => m.bytes,
    });
    await this.expectOk(res, 'push', what, repo, [200, 201, 202]);
    await res.discard();
  }

  /** Checks that the registry accepts this client's credentials (`GET /v2/`, as `docker login` does). */
  async checkLogin(registry: string, signal?: AbortSignal): Promise<void> {
    const repo = { registry, repository: '' };
    const what = `login to ${registry}`;
    const res = await this.request({ method: 'GET', repo, path: this.baseUrl(registryApiHost(registry)), op: 'pull', what, signal });
    if (res.status === 401 || res.status === 403) {
      await res.discard();
      throw new TsbuildError('REGISTRY_AUTH', `logging in to ${registry}: the registry refused the user name or password`, {
        hint: 'check the user name and password (or token) and try again',
      });
    }
    await this.expectOk(res, 'pull', what, repo);
    await res.discard();
  }

  /** Deletes a manifest by digest (registries refuse tags here). */
  async deleteManifest(repo: RepositoryRef, digest: string, signal?: AbortSignal): Promise<void> {
    const what = imageName(repo, digest);
    const res = await this.request({ method: 'DELETE', repo, path: `manifests/${digest}`, op: 'push', what, signal });
    await this.expectOk(res, 'push', what, repo, [200, 202]);
    await res.discard();
  }

  /** The base URL of a registry's API: http for loopback and insecure hosts that lack TLS. */
  baseUrl(registry: string): string {
    const host = registryApiHost(registry);
    const plain = (isLoopbackHost(host) && !this.#loopbackTls.has(host)) || this.#plainHttp.has(host);
    return `${plain ? 'http' : 'https'}://${host}/v2/`;
  }

  /** A pull request that goes to each mirror first (docker.io only), then the registry itself. */
  async #pullRequest(spec: RequestSpec, ok: readonly number[] = [200]): Promise<RegistryResponse> {
    const mirrors = registryApiHost(spec.repo.registry) === registryApiHost('docker.io') ? this.#mirrors : [];
    for (const mirror of mirrors) {
      try {
        const res = await this.request({ ...spec, endpoint: mirror });
        if (ok.includes(res.status)) return res;
        await res.discard(); // the mirror lacks it: fall through to the next
      } catch (err) {
        if (spec.signal?.aborted) throw err;
      }
    }
    const res = await this.request(spec);
    await this.expectOk(res, spec.op, spec.what, spec.repo, ok);
    return res;
  }

  readonly #agentFor = (url: URL): HttpAgent | HttpsAgent => {
    if (url.protocol === 'http:') return this.#http;
    if (this.#insecure.has(url.host)) return this.#httpsInsecure;
    this.#httpsAgent ??= new HttpsAgent({ keepAlive: true, maxSockets: 8, ...extraCaOptions() });
    return this.#httpsAgent;
  };

  async #agentForHost(host: string): Promise<(url: URL) => HttpAgent | HttpsAgent> {
    if (this.#insecure.has(host)) return this.#agentFor;
    let p = this.#tlsAgents.get(host);
    if (!p) {
      p = tlsAgentOptions(host, this.#certDirs).then((files: TlsFiles | undefined) =>
        files ? new HttpsAgent({ keepAlive: true, maxSockets: 8, ...files }) : undefined);
      this.#tlsAgents.set(host, p);
    }
    const agent = await p;
    return agent ? (url) => (url.protocol === 'http:' ? this.#http : agent) : this.#agentFor;
  }

  /**
   * One logical request: auth challenge answered once, transient failures (429, 5xx, resets,
   * stalls) retried with backoff and jitter up to the policy's attempts, honouring Retry-After.
   * @internal for blobUpload.ts
   */
  async request(spec: RequestSpec): Promise<RegistryResponse> {
    // The API root (/v2/) has no repository, so no scope: a token for the registry itself.
    const own = spec.repo.repository === '' ? undefined : `repository:${spec.repo.repository}:${spec.op === 'push' ? 'pull,push' : 'pull'}`;
    const scope = own && spec.pullFrom ? [own, `repository:${spec.pullFrom}:pull`] : own;
    const host = spec.endpoint ?? registryApiHost(spec.repo.registry);
    const agent = await this.#agentForHost(host);
    let authorized = false;
    for (let attempt = 1; ; attempt++) {
      const url = /^https?:\/\//.test(spec.path) ? spec.path : `${this.baseUrl(host)}${spec.repo.repository}/${spec.path}`;
      const headers: Record<string, string> = { 'User-Agent': this.#userAgent, ...spec.headers };
      const auth = this.#auth.cached(host, scope);
      if (auth) headers['Authorization'] = auth;
      const watchdog = new IdleWatchdog(this.#idleMs);
      const signal = spec.signal ? AbortSignal.any([spec.signal, watchdog.signal]) : watchdog.signal;
      const init: RequestInit = { method: spec.method, headers, agent, redirect: 'follow', signal: signal as RequestInit['signal'] };
      const raw = spec.body ? await spec.body() : undefined;
      const body = raw === undefined || Buffer.isBuffer(raw) ? raw : watchdog.watch(raw);
      if (body !== undefined) init.body = body as RequestInit['body'];
      // A stream the server did not read (a 401 or 5xx before the body) must not stay open.
      const discardBody = (): void => {
        if (body !== undefined && !Buffer.isBuffer(body)) body.destroy();
        if (raw !== undefined && !Buffer.isBuffer(raw)) (raw as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
      };
      let res: RegistryResponse;
      try {
        const r = await fetch(url, init);
        const responseBody = watchdog.watch(r.body ?? Readable.from([]));
        responseBody.on('close', () => watchdog.stop());
        if (spec.method === 'HEAD') watchdog.stop();
        res = {
          status: r.status,
          url: r.url,
          headers: r.headers,
          body: responseBody,
          text: async () => (await readAll(responseBody, 4 << 20, `response from ${host}`)).toString('utf8'),
          stalled: () => watchdog.fired && !spec.signal?.aborted,
          discard: async () => {
            responseBody.resume();
            await new Promise<void>((done) => {
              if (responseBody.readableEnded || responseBody.destroyed) done();
              else responseBody.once('close', () => done()).once('end', () => done());
            });
          },
        };
      } catch (err) {
        watchdog.stop();
        discardBody();
        const code = errorCode(err);
        if (this.#insecure.has(host) && url.startsWith('https:') && code && tlsFallbackCodes.has(code) && !this.#plainHttp.has(host)) {
          this.#plainHttp.add(host); // an insecure registry without TLS: retry over http, as docker does
          attempt--;
          continue;
        }
        const mapped = this.#networkError(err, spec, url, watchdog.fired && !spec.signal?.aborted);
        if (spec.retry !== false && attempt < this.policy.maxAttempts && isTransient(mapped)) {
          await sleep(nextDelay(this.policy, attempt, undefined), undefined, spec.signal ? { signal: spec.signal } : {});
          continue;
        }
        throw mapped;
      }
      if (res.status === 400 && url.startsWith('http:') && isLoopbackHost(host) && !this.#loopbackTls.has(host) && (await this.#httpsOnly(host, spec.signal))) {
        // A loopback registry serving TLS answers plain http with a 400 "use https": switch once.
        discardBody();
        await res.discard();
        this.#loopbackTls.add(host);
        attempt--;
        continue;
      }
      if (res.status === 401 && !authorized) {
        discardBody();
        const challenges = parseWwwAuthenticate(res.headers.get('www-authenticate') ?? '');
        await res.discard();
        const header = await this.#auth.authorize(host, challenges, scope, spec.signal);
        if (header) {
          authorized = true;
          attempt--;
          continue;
        }
        throw authError(spec.op, spec.what, spec.repo.registry);
      }
      if (isRetryableStatus(res.status) && spec.retry !== false && attempt < this.policy.maxAttempts) {
        discardBody();
        await res.discard();
        const wait = nextDelay(this.policy, attempt, parseRetryAfter(res.headers.get('retry-after')));
        await sleep(wait, undefined, spec.signal ? { signal: spec.signal } : {});
        continue;
      }
      return res;
    }
  }

  /** Whether a loopback host answers plain http with "this is an HTTPS server" (asked at /v2/: a HEAD's 400 has no body). */
  async #httpsOnly(host: string, signal?: AbortSignal): Promise<boolean> {
    try {
      const r = await fetch(`http://${host}/v2/`, { agent: this.#http, signal: (signal ?? AbortSignal.timeout(10_000)) as RequestInit['signal'] });
      return r.status === 400 && speaksHttpsOnly(await r.text());
    } catch {
      return false;
    }
  }

  #networkError(err: unknown, spec: RequestSpec, url: string, stalled = false): TsbuildError {
    if (err instanceof TsbuildError) return err;
    const doing = `${spec.op === 'push' ? 'pushing' : 'pulling'} ${spec.what}`;
    let hostPort = spec.repo.registry;
    try {
      hostPort = hostWithDefaultPort(new URL(url));
    } catch {
      // keep the registry name
    }
    if (stalled || /no data for \d+ ms/.test(String((err as { message?: unknown } | null)?.message ?? ''))) {
      return new TransientRegistryError(`${doing}: registry ${hostPort} stopped responding (no data for ${Math.round(this.#idleMs / 1000)} s)`, {
        cause: err,
        hint: 'the connection stalled; check the network, or retry',
      });
    }
    if ((err as { name?: string } | null)?.name === 'AbortError' || spec.signal?.aborted) {
      return new TsbuildError('ABORTED', `${doing}: aborted`, { cause: err });
    }
    const code = errorCode(err);
    if (code && tlsVerifyCodes.has(code)) {
      const detail = redact(err instanceof Error ? err.message : String(err));
      return new TsbuildError('REGISTRY_HTTP', `${doing}: TLS certificate of registry ${hostPort} is not trusted (${detail})`, {
        cause: err,
        hint: `put the registry's CA certificate in /etc/containers/certs.d/${hostPort}/ca.crt (or /etc/docker/certs.d/${hostPort}/ca.crt), or pass --insecure-registry ${hostPort} to skip verification`,
      });
    }
    if (code && unreachableCodes.has(code)) {
      return new TsbuildError('REGISTRY_UNREACHABLE', `${doing}: cannot connect to registry ${hostPort} (${code})`, {
        cause: err,
        hint: 'check that the registry is running and the host and port are right',
      });
    }
    const detail = redact(err instanceof Error ? err.message : String(err));
    if (code && retryableCodes.has(code)) return new TransientRegistryError(`${doing}: connection to ${hostPort} failed: ${detail}`, { cause: err });
    return new TsbuildError('REGISTRY_HTTP', `${doing}: ${detail}`, { cause: err });
  }

  /** Turns an unexpected status into a clear error (401/403 auth, 404 not found, others with the registry's message). */
  async expectOk(res: RegistryResponse, op: Op, what: string, repo: RepositoryRef, ok: readonly number[] = [200]): Promise<void> {
    if (ok.includes(res.status)) return;
    const doing = `${op === 'push' ? 'pushing' : 'pulling'} ${what}`;
    const body = await res.text().catch(() => '');
    if (res.status === 401 || res.status === 403) throw authError(op, what, repo.registry, res.status);
    const message = registryErrorMessage(body);
    if (res.status === 404) {
      throw new TsbuildError('IMAGE_NOT_FOUND', `${doing} ${op === 'push' ? 'to' : 'from'} ${repo.registry}: not found${message ? ` (${message})` : ''}`, {
        hint: `check the image name and tag; the registry ${repo.registry} has no such ${what.startsWith('blob ') ? 'blob' : 'image'}`,
      });
    }
    const text = `${doing}: registry ${repo.registry} answered HTTP ${res.status}${message ? `: ${message}` : ''}`;
    if (isRetryableStatus(res.status)) throw new TransientRegistryError(text);
    throw new TsbuildError('REGISTRY_HTTP', text);
  }
}

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, mkdir, mkdtemp, open, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execChecked, execCommand } from './exec.js';
import { removeTree } from './tmp.js';
import { repoRoot } from './tsbuild.js';

export interface RegistryCredentials {
  username: string;
  password: string;
}

export interface StartRegistryOptions {
  /** Require HTTP basic auth with this one user (the registry's htpasswd backend). */
  htpasswd?: RegistryCredentials;
  /** Require bearer tokens from this issuer (the registry's `auth: token:` mode; see tokenIssuer.ts). */
  token?: { realm: string; service: string; issuer: string; certFile: string };
  signal?: AbortSignal;
}

export interface TestRegistry {
  /** 127.0.0.1:PORT, as used in image references. */
  host: string;
  /** http://127.0.0.1:PORT */
  url: string;
  /** The credentials the registry requires, when started with htpasswd. */
  auth: RegistryCredentials | undefined;
  /** The registry's own log (warnings and errors), for assertion messages. */
  logFile: string;
  stop(): Promise<void>;
}

const REGISTRY_BIN = '/usr/bin/docker-registry';
const READY_TIMEOUT_MS = 15_000;

/** A loopback port free at the time of asking (another process may take it before it is bound). */
export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === 'object') resolvePort(address.port);
        else reject(new Error('finding a free port: no address'));
      });
    });
  });
}

/**
 * The registry's htpasswd backend accepts bcrypt only. Debian's python3 `crypt` makes bcrypt
 * ($2b$) without extra packages; apache2-utils' htpasswd is the fallback. Cost 4 (the minimum)
 * because the registry checks the hash on every request.
 */
async function bcryptLine(creds: RegistryCredentials): Promise<string> {
  const py = await execCommand('/usr/bin/python3', [
    '-W',
    'ignore',
    '-c',
    'import crypt,sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)))',
    creds.password,
  ]).catch(() => undefined);
  if (py && py.code === 0 && py.stdout.startsWith('$2')) return `${creds.username}:${py.stdout.trim()}`;
  const ht = await execChecked('htpasswd', ['-nbBC', '4', creds.username, creds.password]);
  return ht.stdout.trim();
}

/** docker-registry's config.yml: storage under dir/data, 127.0.0.1:port, optional auth and TLS. */
export function configYaml(
  dir: string,
  port: number,
  htpasswdFile: string | undefined,
  token?: StartRegistryOptions['token'],
  tls?: { certificate: string; key: string },
): string {
  const lines = [
    'version: 0.1',
    'log:',
    '  level: warn',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${join(dir, 'data')}`,
    '  delete:',
    '    enabled: true',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    // A fixed secret only silences the "generated random secret" warning; one instance, no LB.
    '  secret: tsbuild-test-registry',
  ];
  // under http:, so before any top-level auth section
  if (tls) lines.push('  tls:', `    certificate: ${tls.certificate}`, `    key: ${tls.key}`);
  if (htpasswdFile) {
    lines.push('auth:', '  htpasswd:', '    realm: tsbuild-test', `    path: ${htpasswdFile}`);
  } else if (token) {
    lines.push('auth:', '  token:', `    realm: ${token.realm}`, `    service: ${token.service}`, `    issuer: ${token.issuer}`, `    rootcertbundle: ${token.certFile}`);
  }
  return `${lines.join('\n')}\n`;
}

async function waitReady(
  url: string,
  auth: RegistryCredentials | undefined,
  exited: () => boolean,
  signal: AbortSignal | undefined,
  readyStatus = 200,
): Promise<boolean> {
  const headers: Record<string, string> = {};
  if (auth) headers['authorization'] = `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}`;
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline && !exited()) {
    signal?.throwIfAborted();
    try {
      const res = await fetch(`${url}/v2/`, { headers, signal: AbortSignal.timeout(2_000) });
      await res.arrayBuffer();
      if (res.status === readyStatus) return true;
    } catch {
      // Not listening yet.
    }
    await sleep(50, undefined, signal ? { signal } : undefined);
  }
  return false;
}

/**
 * Starts Debian's docker-registry (distribution 2.x) on a free loopback port with storage in a
 * fresh temp dir. The child is detached from the test's event loop and killed on stop() or,
 * if a test forgets stop(), when the test process exits.
 */
export async function startRegistry(opts: StartRegistryOptions = {}): Promise<TestRegistry> {
  // A port found by binding port 0 can be taken again before the registry binds it; retry.
  let lastError: Error | undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    const dir = await mkdtemp(join(tmpdir(), 'tsbuild-registry-'));
    let htpasswdFile: string | undefined;
    if (opts.htpasswd) {
      htpasswdFile = join(dir, 'htpasswd');
      await writeFile(htpasswdFile, `${await bcryptLine(opts.htpasswd)}\n`, { mode: 0o600 });
    }
    const port = await freePort();
    const configFile = join(dir, 'config.yml');
    await writeFile(configFile, configYaml(dir, port, htpasswdFile, opts.token));
    const logFile = join(dir, 'registry.log');
    const log = await open(logFile, 'a');
    const child = spawn(REGISTRY_BIN, ['serve', configFile], { stdio: ['ignore', log.fd, log.fd] });
    await log.close();
    child.unref();
    let exited = false;
    const killOnExit = (): void => {
      child.kill('SIGKILL');
    };
    process.on('exit', killOnExit);
    const exitPromise = new Promise<void>((resolveExit) => {
      child.on('exit', () => {
        exited = true;
        resolveExit();
      });
      child.on('error', (err) => {
        lastError = err;
        exited = true;
        resolveExit();
      });
    });

    const host = `127.0.0.1:${port}`;
    const url = `http://${host}`;
    const stop = async (): Promise<void> => {
      process.off('exit', killOnExit);
      if (!exited) {
        child.kill('SIGTERM');
        const killed = await Promise.race([exitPromise.then(() => true), sleep(5_000).then(() => false)]);
        if (!killed) {
          child.kill('SIGKILL');
          await exitPromise;
        }
      }
      await removeTree(dir);
    };

    let ready = false;
    try {
      ready = await waitReady(url, opts.htpasswd, () => exited, opts.signal, opts.token ? 401 : 200);
    } catch (err) {
      await stop();
      throw err;
    }
    if (ready) return { host, url, auth: opts.htpasswd, logFile, stop };
    const logText = await readFile(logFile, 'utf8').catch(() => '');
    lastError = new Error(`starting docker-registry on ${host}: not ready\n${lastError?.message ?? ''}${logText}`);
    await stop();
  }
  throw lastError ?? new Error('starting docker-registry: failed');
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export interface BusyboxLayout {
  /** OCI image layout directory; shared between tests, so treat it as read-only. */
  dir: string;
  tag: 'latest';
  /** The manifest digest, "sha256:<hex>". */
  digest: string;
}

export function busyboxScript(): string {
  return join(repoRoot(), 'fixtures', 'busybox', 'make-busybox-image.sh');
}

/**
 * The busybox fixture image as an OCI layout, built once and cached on disk under
 * os.tmpdir()/tsbuild-test-fixtures, keyed by the script and the busybox binary. A disk cache
 * instead of a module-level one: vitest gives each test file its own module graph, so an
 * in-memory cache would rebuild it per file. The key covers every input, so a cached layout is
 * never stale; it is built in a temp dir and renamed, so a reader never sees a partial one.
 */
export async function busyboxLayout(signal?: AbortSignal): Promise<BusyboxLayout> {
  const script = busyboxScript();
  const key = createHash('sha256')
    .update(await readFile(script))
    .update(await sha256File('/bin/busybox'))
    .digest('hex')
    .slice(0, 16);
  const cacheRoot = join(tmpdir(), 'tsbuild-test-fixtures');
  await mkdir(cacheRoot, { recursive: true, mode: 0o755 });
  const dir = join(cacheRoot, `busybox-${key}`);
  const digestFile = join(dir, 'manifest-digest');
  const cached = await readFile(digestFile, 'utf8').catch(() => undefined);
  if (cached) return { dir, tag: 'latest', digest: cached.trim() };

  const staging = await mkdtemp(join(cacheRoot, '.staging-'));
  try {
    const { stdout } = await execChecked('bash', [script, staging, 'latest'], signal ? { signal } : {});
    const digest = stdout.trim();
    await writeFile(join(staging, 'manifest-digest'), `${digest}\n`);
    // The test user reads this layout too (e.g. a FROM oci:... build run rootless).
    await chmod(staging, 0o755);
    try {
      await rename(staging, dir);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // Another test process finished first; its layout is byte-identical.
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
      await removeTree(staging);
    }
    return { dir, tag: 'latest', digest };
  } catch (err) {
    if (await stat(staging).catch(() => undefined)) await removeTree(staging);
    throw err;
  }
}

export interface SeedOptions {
  /** Credentials for a registry started with htpasswd. */
  auth?: RegistryCredentials;
  signal?: AbortSignal;
}

/**
 * Pushes the busybox fixture to a test registry with skopeo (not tsbuild) and returns the
 * image reference, e.g. "127.0.0.1:PORT/library/busybox:latest".
 */
export async function seedBusybox(
  registryHost: string,
  repo = 'library/busybox',
  tag = 'latest',
  opts: SeedOptions = {},
): Promise<string> {
  const layout = await busyboxLayout(opts.signal);
  const ref = `${registryHost}/${repo}:${tag}`;
  // --insecure-policy: CI images may lack /etc/containers/policy.json; signatures are not under test.
  const args = ['--insecure-policy', 'copy', '--dest-tls-verify=false'];
  if (opts.auth) args.push('--dest-creds', `${opts.auth.username}:${opts.auth.password}`);
  args.push(`oci:${layout.dir}:${layout.tag}`, `docker://${ref}`);
  await execChecked('skopeo', args, opts.signal ? { signal: opts.signal } : {});
  return ref;
}

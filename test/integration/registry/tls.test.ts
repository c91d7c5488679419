/**
 * tsbuild against Debian's docker-registry serving TLS on 127.0.0.1 with a certificate from a
 * test CA made here: untrusted → one clear error naming the registry and both fixes;
 * --insecure-registry → unverified TLS; the CA in /etc/containers/certs.d or /etc/docker/certs.d
 * → verified TLS with no flag. (The certs.d dirs are the real ones: the suite runs as root.)
 */
import { spawn } from 'node:child_process';
import { request } from 'node:https';
import { mkdir, open, readFile, rm, writeFile, copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execChecked, execCommand } from '../../helpers/exec.js';
import { busyboxLayout, configYaml, freePort, seedBusybox } from '../../helpers/registry.js';
import { makeTempDir } from '../../helpers/tmp.js';
import { repoRoot, runTsbuild } from '../../helpers/tsbuild.js';

interface TlsRegistry {
  host: string;
  caFile: string;
  logFile: string;
  stop(): Promise<void>;
}

/** A test CA, and a server certificate it signs for IP 127.0.0.1. */
async function makeCerts(dir: string): Promise<{ ca: string; cert: string; key: string }> {
  const f = (n: string) => join(dir, n);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await execChecked('openssl', ['req', '-x509', ...ec, '-keyout', f('ca.key'), '-out', f('ca.crt'), '-days', '2', '-subj', '/CN=tsbuild test CA']);
  await execChecked('openssl', ['req', ...ec, '-keyout', f('server.key'), '-out', f('server.csr'), '-subj', '/CN=127.0.0.1']);
  await writeFile(f('ext.cnf'), 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n');
  await execChecked('openssl', ['x509', '-req', '-in', f('server.csr'), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('server.crt'), '-days', '2', '-extfile', f('ext.cnf')]);
  return { ca: f('ca.crt'), cert: f('server.crt'), key: f('server.key') };
}

async function ready(host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(`https://${host}/v2/`, { rejectUnauthorized: false, timeout: 2_000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.end();
  });
}

async function startTlsRegistry(): Promise<TlsRegistry> {
  const dir = await makeTempDir('tsbuild-tls-registry');
  const certs = await makeCerts(dir);
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const config = configYaml(dir, port, undefined, undefined, { certificate: certs.cert, key: certs.key });
  await writeFile(join(dir, 'config.yml'), config);
  const logFile = join(dir, 'registry.log');
  const log = await open(logFile, 'a');
  const child = spawn('/usr/bin/docker-registry', ['serve', join(dir, 'config.yml')], { stdio: ['ignore', log.fd, log.fd] });
  await log.close();
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    child.kill('SIGTERM');
    await Promise.race([exited, sleep(5_000)]);
  };
  for (let i = 0; i < 150 && child.exitCode === null; i++) {
    if (await ready(host)) return { host, caFile: certs.ca, logFile, stop };
    await sleep(100);
  }
  await stop();
  throw new Error(`docker-registry with TLS on ${host} did not start:\n${await readFile(logFile, 'utf8').catch(() => '')}`);
}

describe('tsbuild pull and push against a TLS registry on 127.0.0.1', () => {
  let registry: TlsRegistry;
  let seeded: string;
  let digest: string;

  beforeAll(async () => {
    registry = await startTlsRegistry();
    seeded = await seedBusybox(registry.host);
    digest = (await busyboxLayout()).digest;
  }, 60_000);
  afterAll(async () => {
    await registry?.stop();
  });

  const env = async (): Promise<Record<string, string>> => {
    const dir = await makeTempDir('tsbuild-tls-env');
    return { TSBUILD_ROOT: join(dir, 'store'), DOCKER_CONFIG: join(dir, 'docker'), REGISTRY_AUTH_FILE: join(dir, 'none.json'), XDG_RUNTIME_DIR: join(dir, 'run') };
  };

  it('with no trust: one clear TLS error naming the registry and both fixes, for pull and push', async () => {
    const e = await env();
    const pull = await runTsbuild(['pull', '-q', seeded], { env: e });
    expect(pull.code).not.toBe(0);
    expect(pull.stderr).toContain(`TLS certificate of registry ${registry.host} is not trusted`);
    expect(pull.stderr).toContain(`--insecure-registry ${registry.host}`);
    expect(pull.stderr).toContain(`/etc/containers/certs.d/${registry.host}/ca.crt`);
    // Push needs the image locally first: get it over unverified TLS, then push with no trust.
    const fetched = await runTsbuild(['pull', '-q', '--insecure-registry', registry.host, seeded], { env: e });
    expect(fetched.code, fetched.stderr).toBe(0);
    const push = await runTsbuild(['push', seeded, `docker://${registry.host}/copies/untrusted:1`], { env: e });
    expect(push.code).not.toBe(0);
    expect(push.stderr).toContain(`TLS certificate of registry ${registry.host} is not trusted`);
  });

  it('--insecure-registry HOST:PORT pulls and pushes over unverified TLS', async () => {
    const e = await env();
    const pull = await runTsbuild(['pull', '-q', '--insecure-registry', registry.host, seeded], { env: e });
    expect(pull.code, pull.stderr).toBe(0);
    expect(pull.stdout.trim()).toBe(digest);
    const target = `${registry.host}/copies/insecure:1`;
    const push = await runTsbuild(['push', '--insecure-registry', registry.host, seeded, `docker://${target}`], { env: e });
    expect(push.code, push.stderr).toBe(0);
    const inspected = await execChecked('skopeo', ['inspect', '--tls-verify=false', `docker://${target}`]);
    expect((JSON.parse(inspected.stdout) as { Digest: string }).Digest).toBe(digest);
  });

  it('the CA in NODE_EXTRA_CA_CERTS: bin/tsbuild hands it to tsbuild, which trusts it for pull and push', async () => {
    const e = await env();
    const launcher = join(repoRoot(), 'bin', 'tsbuild');
    const pull = await execCommand(launcher, ['pull', '-q', seeded], { env: { ...process.env, ...e, NODE_EXTRA_CA_CERTS: registry.caFile } });
    expect(pull.code, pull.stderr).toBe(0);
    expect(pull.stdout.trim()).toBe(digest);
    const target = `${registry.host}/copies/extra-ca:1`;
    const push = await execCommand(launcher, ['push', seeded, `docker://${target}`], { env: { ...process.env, ...e, NODE_EXTRA_CA_CERTS: registry.caFile } });
    expect(push.code, push.stderr).toBe(0);
    // bin/run.js straight from node with only the handed-over variable: tsbuild itself reads it.
    const direct = await runTsbuild(['pull', '-q', seeded], { env: { ...(await env()), NODE_EXTRA_CA_CERTS: '', TSBUILD_EXTRA_CA_CERTS: registry.caFile } });
    expect(direct.code, direct.stderr).toBe(0);
    expect(direct.stdout.trim()).toBe(digest);
  });

  it.each(['/etc/containers/certs.d', '/etc/docker/certs.d'])('the CA in %s/HOST:PORT/ca.crt: verified TLS with no flag', async (root) => {
    const dir = join(root, registry.host);
    await mkdir(dir, { recursive: true });
    try {
      await copyFile(registry.caFile, join(dir, 'ca.crt'));
      const e = await env();
      const pull = await runTsbuild(['pull', '-q', seeded], { env: e });
      expect(pull.code, pull.stderr).toBe(0);
      expect(pull.stdout.trim()).toBe(digest);
      const target = `${registry.host}/copies/verified-${root.split('/')[2]}:1`;
      const push = await runTsbuild(['push', seeded, `docker://${target}`], { env: e });
      expect(push.code, push.stderr).toBe(0);
      // skopeo verifies against the same certs.d dir: the push really landed over TLS.
      const inspected = await execChecked('skopeo', ['inspect', '--cert-dir', dir, `docker://${target}`]);
      expect((JSON.parse(inspected.stdout) as { Digest: string }).Digest).toBe(digest);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

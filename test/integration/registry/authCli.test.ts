import { chmod, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execChecked } from '../../helpers/exec.js';
import { startFaultProxy } from '../../helpers/faultProxy.js';
import { busyboxLayout, seedBusybox, startRegistry, type TestRegistry } from '../../helpers/registry.js';
import { makeTempDir } from '../../helpers/tmp.js';
import { startTokenIssuer, type TokenIssuer } from '../../helpers/tokenIssuer.js';
import { runTsbuild } from '../../helpers/tsbuild.js';

const alice = { username: 'alice', password: 'wonder-land-42' };

/** A clean credential environment: no auth file of the machine's user is ever read or written. */
async function credEnv(extra: Record<string, string> = {}): Promise<Record<string, string>> {
  const dir = await makeTempDir('tsbuild-creds');
  return {
    DOCKER_CONFIG: join(dir, 'docker'),
    XDG_RUNTIME_DIR: join(dir, 'run'),
    REGISTRY_AUTH_FILE: join(dir, 'none.json'),
    TSBUILD_ROOT: join(dir, 'store'),
    ...extra,
  };
}

async function skopeoDigest(ref: string, creds?: typeof alice): Promise<string> {
  const args = ['inspect', '--tls-verify=false', ...(creds ? ['--creds', `${creds.username}:${creds.password}`] : []), `docker://${ref}`];
  return (JSON.parse((await execChecked('skopeo', args)).stdout) as { Digest: string }).Digest;
}

describe.each(['token', 'basic'] as const)('tsbuild login, pull, push, logout against a registry with %s auth', (mode) => {
  let registry: TestRegistry;
  let issuer: TokenIssuer | undefined;
  let seeded: string;
  let digest: string;

  beforeAll(async () => {
    const dir = await makeTempDir('tsbuild-auth');
    if (mode === 'token') {
      issuer = await startTokenIssuer(dir, alice);
      registry = await startRegistry({ token: issuer });
    } else {
      registry = await startRegistry({ htpasswd: alice });
    }
    seeded = await seedBusybox(registry.host, 'team/busybox', 'latest', { auth: alice });
    digest = (await busyboxLayout()).digest;
  });
  afterAll(async () => {
    await registry?.stop();
    await issuer?.stop();
  });

  it('refuses without credentials with a clear error, logs in (0600 docker config), pushes and pulls, logs out', async () => {
    const env = await credEnv();
    const pullAnon = await runTsbuild(['pull', '-q', seeded], { env });
    if (mode === 'token') {
      // The issuer grants anonymous pulls; the registry still checks every token.
      expect(pullAnon.code, pullAnon.stderr).toBe(0);
      expect(pullAnon.stdout.trim()).toBe(digest);
      expect(issuer!.requests.some((r) => r.user === undefined && r.scopes.includes('repository:team/busybox:pull'))).toBe(true);
    } else {
      expect(pullAnon.code).not.toBe(0);
      expect(pullAnon.stderr).toMatch(/access denied/);
      expect(pullAnon.stderr).toMatch(/tsbuild login/);
    }
    const bad = await runTsbuild(['login', '-u', 'alice', '--password-stdin', registry.host], { env, input: 'nope\n' });
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/logging in to|authenticating to/);
    await expect(stat(join(env.DOCKER_CONFIG!, 'config.json'))).rejects.toThrow();

    const login = await runTsbuild(['login', '-u', 'alice', '--password-stdin', registry.host], { env, input: `${alice.password}\n` });
    expect(login.code, login.stderr).toBe(0);
    expect(login.stdout).toContain('Login Succeeded');
    expect(login.stdout + login.stderr).not.toContain(alice.password);
    const configFile = join(env.DOCKER_CONFIG!, 'config.json');
    expect((await stat(configFile)).mode & 0o777).toBe(0o600);
    const config = JSON.parse(await readFile(configFile, 'utf8')) as { auths: Record<string, { auth: string }> };
    expect(Buffer.from(config.auths[registry.host]!.auth, 'base64').toString()).toBe(`alice:${alice.password}`);

    const pull = await runTsbuild(['pull', seeded], { env });
    expect(pull.code, pull.stderr).toBe(0);
    expect(pull.stdout.trim()).toBe(digest);
    const push = await runTsbuild(['push', seeded, `docker://${registry.host}/team/copy:1`], { env });
    expect(push.code, push.stderr).toBe(0);
    expect(await skopeoDigest(`${registry.host}/team/copy:1`, alice)).toBe(digest);
    expect(pull.stderr + push.stderr).not.toContain(alice.password);

    const logout = await runTsbuild(['logout', registry.host], { env });
    expect(logout.code, logout.stderr).toBe(0);
    expect(JSON.parse(await readFile(configFile, 'utf8')).auths[registry.host]).toBeUndefined();
    const denied = await runTsbuild(['push', seeded, `docker://${registry.host}/team/copy:2`], { env });
    expect(denied.code).not.toBe(0);
    expect(denied.stderr).toMatch(/access denied|refused anonymous access/);
    expect(denied.stderr).toMatch(/tsbuild login/);
  });

  it('gets the password from a docker-credential helper named in credHelpers', async () => {
    const bin = await makeTempDir('tsbuild-helper-bin');
    const log = join(bin, 'calls.log');
    const helper = join(bin, 'docker-credential-tsbtest');
    await writeFile(helper, [
      '#!/bin/sh',
      'read server',
      `echo "$1 $server" >> ${log}`,
      `[ "$1" = get ] && [ "$server" = "${registry.host}" ] && printf '{"ServerURL":"%s","Username":"alice","Secret":"${alice.password}"}' "$server" && exit 0`,
      'echo "credentials not found in native keychain"; exit 1',
    ].join('\n'));
    await chmod(helper, 0o755);
    const env = await credEnv({ PATH: `${bin}:${process.env['PATH'] ?? ''}` });
    await execChecked('mkdir', ['-p', env.DOCKER_CONFIG!]);
    await writeFile(join(env.DOCKER_CONFIG!, 'config.json'), JSON.stringify({ credHelpers: { [registry.host]: 'tsbtest' } }));
    const push = await runTsbuild(['pull', seeded], { env });
    expect(push.code, push.stderr).toBe(0);
    const again = await runTsbuild(['push', seeded, `docker://${registry.host}/team/helper:1`], { env });
    expect(again.code, again.stderr).toBe(0);
    expect(await readFile(log, 'utf8')).toContain(`get ${registry.host}`);
  });
});

describe('tsbuild pull, tag, inspect, rmi on an anonymous registry', () => {
  let registry: TestRegistry;
  beforeAll(async () => {
    registry = await startRegistry();
  });
  afterAll(async () => {
    await registry?.stop();
  });

  it('pulls into the store, tags, inspects (text and json) and removes names', async () => {
    const env = await credEnv();
    const ref = await seedBusybox(registry.host, 'library/busybox', '1');
    const { digest } = await busyboxLayout();
    expect((await runTsbuild(['pull', '-q', ref], { env })).stdout.trim()).toBe(digest);
    const tag = await runTsbuild(['tag', ref, 'mine/box:2'], { env });
    expect(tag.code, tag.stderr).toBe(0);
    const json = await runTsbuild(['inspect', '--format', 'json', 'mine/box:2'], { env });
    expect(json.code, json.stderr).toBe(0);
    const info = JSON.parse(json.stdout) as { digest: string; layers: Array<{ digest: string; size: number }>; config: { os: string } };
    expect(info.digest).toBe(digest);
    expect(info.config.os).toBe('linux');
    expect(info.layers.length).toBeGreaterThan(0);
    expect(info.layers.every((l) => l.size > 0 && l.digest.startsWith('sha256:'))).toBe(true);
    const text = await runTsbuild(['inspect', 'mine/box:2'], { env });
    expect(text.stdout).toContain(`Digest:        ${digest}`);
    expect(text.stdout).toContain(info.layers[0]!.digest);
    const rmi = await runTsbuild(['rmi', 'mine/box:2', ref], { env });
    expect(rmi.code, rmi.stderr).toBe(0);
    const images = JSON.parse((await runTsbuild(['images', '--json'], { env })).stdout) as unknown[];
    expect(images).toEqual([]);
    const again = await runTsbuild(['rmi', 'mine/box:2'], { env });
    expect(again.code).not.toBe(0);
    expect(again.stderr).toMatch(/no such image/);
  });

  it('a pull that keeps failing ends with a clear error and tags nothing', async () => {
    const ref = await seedBusybox(registry.host, 'library/busybox', 'flaky');
    const proxy = await startFaultProxy(registry.host);
    try {
      proxy.setFaults(({ method, url }) => (method === 'GET' && url.includes('/blobs/') ? { kind: 'status', status: 503 } : { kind: 'pass' }));
      const env = await credEnv();
      const r = await runTsbuild(['pull', ref.replace(registry.host, proxy.host)], { env });
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/answered HTTP 503/);
      expect(r.stderr).not.toMatch(/\n\s+at /); // one message, no stack
      const blobGets = proxy.log.filter((e) => e.method === 'GET' && e.url.includes('/blobs/'));
      expect(blobGets.length).toBeGreaterThan(1); // retried ...
      expect(blobGets.length).toBeLessThanOrEqual(10); // ... a bounded number of times
      const images = JSON.parse((await runTsbuild(['images', '--json'], { env })).stdout) as unknown[];
      expect(images).toEqual([]);
    } finally {
      await proxy.stop();
    }
  });
});

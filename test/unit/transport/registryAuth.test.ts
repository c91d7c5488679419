import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RegistryAuth, fileCredentialLookup, parseWwwAuthenticate, redact } from '../../../src/transport/registryAuth.js';

describe('parseWwwAuthenticate', () => {
  it('parses a Docker Hub bearer challenge', () => {
    const h = 'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"';
    expect(parseWwwAuthenticate(h)).toEqual([
      {
        scheme: 'bearer',
        params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/alpine:pull' },
      },
    ]);
  });

  it('handles basic, unquoted values, escapes, commas inside quotes and several challenges', () => {
    expect(parseWwwAuthenticate('Basic realm="Registry Realm"')).toEqual([{ scheme: 'basic', params: { realm: 'Registry Realm' } }]);
    expect(parseWwwAuthenticate('Bearer realm=http://127.0.0.1:1/t, service=reg')).toEqual([
      { scheme: 'bearer', params: { realm: 'http://127.0.0.1:1/t', service: 'reg' } },
    ]);
    expect(parseWwwAuthenticate('Bearer realm="a\\"b",scope="repository:x:pull,push", Basic realm="y"')).toEqual([
      { scheme: 'bearer', params: { realm: 'a"b', scope: 'repository:x:pull,push' } },
      { scheme: 'basic', params: { realm: 'y' } },
    ]);
    expect(parseWwwAuthenticate('Negotiate abc==, Basic realm=x')).toEqual([
      { scheme: 'negotiate', params: { token68: 'abc==' } },
      { scheme: 'basic', params: { realm: 'x' } },
    ]);
    expect(parseWwwAuthenticate('')).toEqual([]);
  });
});

describe('credential files', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tsbuild-auth-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads docker config auth (base64) and username/password, REGISTRY_AUTH_FILE first', async () => {
    await mkdir(join(dir, 'docker'));
    await writeFile(
      join(dir, 'docker', 'config.json'),
      JSON.stringify({
        auths: {
          'reg.example:5000': { auth: Buffer.from('alice:s3cr:et').toString('base64') },
          'https://index.docker.io/v1/': { auth: Buffer.from('hub:pw').toString('base64') },
          'other.example': { username: 'bob', password: 'pw2' },
        },
      }),
    );
    await writeFile(join(dir, 'auth.json'), JSON.stringify({ auths: { 'other.example': { auth: Buffer.from('carol:pw3').toString('base64') } } }));
    const lookup = fileCredentialLookup({ env: { DOCKER_CONFIG: join(dir, 'docker'), REGISTRY_AUTH_FILE: join(dir, 'auth.json') }, home: dir });
    expect(await lookup('reg.example:5000')).toEqual({ username: 'alice', password: 's3cr:et' });
    expect(await lookup('docker.io')).toEqual({ username: 'hub', password: 'pw' });
    expect(await lookup('registry-1.docker.io')).toEqual({ username: 'hub', password: 'pw' });
    expect(await lookup('other.example')).toEqual({ username: 'carol', password: 'pw3' });
    expect(await lookup('nowhere.example')).toBeUndefined();
  });

  it('falls back to ~/.docker/config.json and $XDG_RUNTIME_DIR/containers/auth.json', async () => {
    await mkdir(join(dir, '.docker'));
    await writeFile(join(dir, '.docker', 'config.json'), JSON.stringify({ auths: { a: { username: 'u', password: 'p' } } }));
    await mkdir(join(dir, 'run', 'containers'), { recursive: true });
    await writeFile(join(dir, 'run', 'containers', 'auth.json'), JSON.stringify({ auths: { b: { username: 'v', password: 'q' } } }));
    const lookup = fileCredentialLookup({ env: { XDG_RUNTIME_DIR: join(dir, 'run') }, home: dir });
    expect(await lookup('a')).toEqual({ username: 'u', password: 'p' });
    expect(await lookup('b')).toEqual({ username: 'v', password: 'q' });
  });
});

describe('RegistryAuth', () => {
  it('fetches a bearer token with service, scope and basic credentials, then caches it until expiry', async () => {
    const calls: Array<{ url: string; headers: Record<string, string> }> = [];
    let now = 1_000_000;
    const auth = new RegistryAuth({
      lookup: async () => ({ username: 'u', password: 'p' }),
      fetch: async (url, init) => {
        calls.push({ url, headers: init.headers });
        return { status: 200, text: async () => JSON.stringify({ token: `tok${calls.length}`, expires_in: 300 }) };
      },
      now: () => now,
    });
    const challenge = parseWwwAuthenticate('Bearer realm="http://127.0.0.1:9/token",service="svc"');
    const scope = 'repository:test/img:pull';
    expect(auth.cached('h', scope)).toBeUndefined();
    expect(await auth.authorize('h', challenge, scope)).toBe('Bearer tok1');
    const u = new URL(calls[0]!.url);
    expect(u.searchParams.get('service')).toBe('svc');
    expect(u.searchParams.get('scope')).toBe(scope);
    expect(calls[0]!.headers['Authorization']).toBe(`Basic ${Buffer.from('u:p').toString('base64')}`);
    expect(auth.cached('h', scope)).toBe('Bearer tok1');
    expect(auth.cached('h', 'repository:other:pull')).toBeUndefined();
    now += 289_000;
    expect(auth.cached('h', scope)).toBe('Bearer tok1');
    now += 2_000;
    expect(auth.cached('h', scope)).toBeUndefined();
  });

  it('asks one token for several scopes (a mount: push here, pull there), cached apart from the single scope', async () => {
    const urls: string[] = [];
    const auth = new RegistryAuth({
      lookup: async () => undefined,
      fetch: async (url) => {
        urls.push(url);
        return { status: 200, text: async () => JSON.stringify({ token: `tok${urls.length}` }) };
      },
    });
    const challenge = parseWwwAuthenticate('Bearer realm="http://127.0.0.1:9/token",service="svc",scope="repository:dest:pull,push"');
    const both = ['repository:dest:pull,push', 'repository:src:pull'];
    expect(await auth.authorize('h', challenge, both)).toBe('Bearer tok1');
    expect(new URL(urls[0]!).searchParams.getAll('scope')).toEqual(both);
    expect(auth.cached('h', both)).toBe('Bearer tok1');
    expect(auth.cached('h', 'repository:dest:pull,push')).toBeUndefined();
  });

  it('refuses with REGISTRY_AUTH and never puts the password in the message', async () => {
    const auth = new RegistryAuth({
      lookup: async () => ({ username: 'u', password: 'hunter2' }),
      fetch: async () => ({ status: 401, text: async () => 'nope' }),
    });
    const err = await auth.authorize('h', parseWwwAuthenticate('Bearer realm="http://127.0.0.1:9/t"'), 'repository:x:pull').catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'REGISTRY_AUTH' });
    expect(String((err as Error).message)).not.toContain('hunter2');
  });

  it('answers Basic only with credentials', async () => {
    const none = new RegistryAuth({ lookup: async () => undefined, fetch: async () => ({ status: 500, text: async () => '' }) });
    expect(await none.authorize('h', parseWwwAuthenticate('Basic realm=x'), undefined)).toBeUndefined();
    const some = new RegistryAuth({ lookup: async () => ({ username: 'a', password: 'b' }), fetch: async () => ({ status: 500, text: async () => '' }) });
    expect(await some.authorize('h', parseWwwAuthenticate('Basic realm=x'), undefined)).toBe(`Basic ${Buffer.from('a:b').toString('base64')}`);
  });

  it('redacts secrets from text', () => {
    const text = 'Authorization: Bearer abc.def {"token":"xyz","password":"pw"} https://u:pass@host/x';
    const out = redact(text, { username: 'u', password: 'pass' });
    expect(out).not.toMatch(/abc\.def|xyz|"pw"|pass@/);
  });
});

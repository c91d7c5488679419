import { describe, expect, it } from 'vitest';
import { dependencies, serviceCacheSpecs } from '../../../src/cli/bakeCommand.js';
import { parseComposeProject } from '../../../src/cli/composeProject.js';
import { normalizeBooleanFlags, suggestFlag } from '../../../src/cli/flagSuggest.js';
import { configPath, parseConfig } from '../../../src/config/loadConfig.js';

const flags = {
  tag: { type: 'option', char: 't' },
  file: { type: 'option', aliases: ['dockerfile'] },
  progress: { type: 'option' },
  'tls-verify': { type: 'boolean', allowNo: true },
  load: { type: 'boolean' },
};

describe('flag typos', () => {
  it('suggests the closest flag, alias or --no- form', () => {
    expect(suggestFlag('Nonexistent flag: --tga\nSee more help with --help', flags)).toBe('did you mean --tag?');
    expect(suggestFlag('Nonexistent flag: --dockerfil', flags)).toBe('did you mean --dockerfile?');
    expect(suggestFlag('Nonexistent flags: --no-tls-verfy, --x', flags)).toBe('did you mean --no-tls-verify?');
    expect(suggestFlag('Nonexistent flag: --zzzzzzz', flags)).toBeUndefined();
    expect(suggestFlag('Missing required flag', flags)).toBeUndefined();
  });

  it('rewrites --flag=true|false of boolean flags only', () => {
    expect(normalizeBooleanFlags(['--tls-verify=false', '--load=true', '--load=false', '--tag=false', '--', '--tls-verify=false'], flags)).toEqual([
      '--no-tls-verify',
      '--load',
      '--tag=false',
      '--',
      '--tls-verify=false',
    ]);
  });
});

describe('config file', () => {
  it('is found under XDG_CONFIG_HOME, then ~/.config, or TSBUILD_CONFIG', () => {
    expect(configPath({ XDG_CONFIG_HOME: '/x' })).toBe('/x/tsbuild/config.yaml');
    expect(configPath({ HOME: '/home/u' })).toBe('/home/u/.config/tsbuild/config.yaml');
    expect(configPath({ TSBUILD_CONFIG: '/etc/t.yaml', XDG_CONFIG_HOME: '/x' })).toBe('/etc/t.yaml');
  });

  it('reads every key and names the wrong one', () => {
    const cfg = parseConfig({ root: '/s', jobs: 2, progress: 'plain', isolation: 'rootless', registries: { insecure: ['r:5000'], mirrors: { 'docker.io': ['m:5000'] } } }, 'c.yaml');
    expect(cfg).toEqual({ path: 'c.yaml', root: '/s', jobs: 2, progress: 'plain', isolation: 'rootless', registries: { insecure: ['r:5000'], mirrors: { 'docker.io': ['m:5000'] } } });
    expect(parseConfig(null, 'c.yaml').registries).toEqual({ insecure: [], mirrors: {} });
    expect(() => parseConfig({ jobs: 0 }, 'c.yaml')).toThrow('c.yaml: jobs must be a positive integer');
    expect(() => parseConfig({ progres: 'plain' }, 'c.yaml')).toThrow('c.yaml: progres must be one of root, registries, isolation, jobs, progress (unknown key)');
    expect(() => parseConfig({ registries: { insecure: 'x' } }, 'c.yaml')).toThrow('registries.insecure must be a list');
  });
});

describe('compose project', () => {
  const yaml = `
services:
  base:
    build: ./base
  api:
    image: shop/api:2
    build:
      context: api
      dockerfile: Containerfile
      target: prod
      args:
        - VERSION=\${VERSION:-dev}
        - FROM_ENV
      tags: [shop/api:latest]
      additional_contexts:
        tools: service:base
        layout: ../layouts/busybox
      cache_from: ["type=local,src=/c"]
  db:
    image: postgres:16
`;

  it('reads build sections with compose interpolation and relative paths', () => {
    const p = parseComposeProject(yaml, '/proj/compose.yaml', { FROM_ENV: 'e' });
    expect(p.name).toBe('proj');
    expect(p.services.map((s) => s.service)).toEqual(['base', 'api']);
    const api = p.services[1]!;
    expect(api.contextDir).toBe('/proj/api');
    expect(api.dockerfile).toEqual({ path: '/proj/api/Containerfile' });
    expect(api.target).toBe('prod');
    expect(api.args).toEqual(new Map([['VERSION', 'dev'], ['FROM_ENV', 'e']]));
    expect(api.tags).toEqual(['shop/api:2', 'shop/api:latest']);
    expect(api.additionalContexts).toEqual(new Map([['tools', 'service:base'], ['layout', 'oci-layout:///proj/layouts/busybox']]));
    expect(api.cacheFrom).toEqual(['type=local,src=/c']);
    expect(api.dependsOn).toEqual(['base']);
    expect(p.services[0]!.tags).toEqual(['proj-base']);
  });

  it('orders services whose FROM names another service\'s image after it, and refuses cycles', () => {
    const p = parseComposeProject('services:\n  a: {image: "x/a:1", build: a}\n  b: {image: "x/b:1", build: b}\n  c: {build: c}\n', '/p/compose.yaml', {});
    const files = new Map([['a', 'FROM busybox\n'], ['b', 'FROM x/a:1\n'], ['c', 'FROM busybox\n']]);
    expect(dependencies(p.services, files)).toEqual(new Map([['a', []], ['b', ['a']], ['c', []]]));
    files.set('a', 'FROM x/b:1\n');
    expect(() => dependencies(p.services, files)).toThrow(/cycle/);
  });

  it('says what is wrong with a compose file', () => {
    expect(() => parseComposeProject('services: 3', '/p/compose.yaml', {})).toThrow('/p/compose.yaml: no services: mapping');
    expect(() => parseComposeProject('services:\n  a:\n    build:\n      additional_contexts: {x: "service:nope"}\n', '/p/c.yaml', {})).toThrow(/service:nope, which has no build section/);
  });

  it('maps build.secrets to the top-level file:/environment: secrets, target being the RUN mount id', () => {
    const p = parseComposeProject(
      'services:\n  a:\n    build:\n      context: .\n      secrets: [tok, {source: pw, target: db}]\nsecrets:\n  tok: {file: ./s/tok.txt}\n  pw: {environment: DB_PW}\n  unused: {file: /x}\n',
      '/p/compose.yaml',
      {},
    );
    expect(p.services[0]!.secrets).toEqual(new Map([['tok', { file: '/p/s/tok.txt' }], ['db', { env: 'DB_PW' }]]));
    expect(() => parseComposeProject('services: {a: {build: .}}\nsecrets: {x: {external: true}}\n', '/p/c.yaml', {})).toThrow(/secrets\.x needs file: or environment:/);
  });

  it('reads cache_from as a --cache-from spec, a bare image reference being a registry cache', () => {
    const [a] = parseComposeProject('services:\n  a:\n    build:\n      cache_from: [reg.example/app:cache]\n      cache_to: ["type=local,dest=/c,mode=max"]\n', '/p/c.yaml', {}).services;
    expect(serviceCacheSpecs(a!, '/p/c.yaml')).toEqual({
      from: { type: 'registry', ref: 'reg.example/app:cache', mode: 'min', mounts: false },
      to: [{ type: 'local', dir: '/c', mode: 'max', mounts: false }],
    });
  });
});

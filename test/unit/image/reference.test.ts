import { describe, expect, it } from 'vitest';
import { parseReference, registryApiHost, withDigest } from '../../../src/image/reference.js';
import { TsbuildError } from '../../../src/errors.js';

const D = `sha256:${'a'.repeat(64)}`;

describe('parseReference normalisation (docker distribution/reference cases)', () => {
  const cases: Array<[string, string, string, string, string]> = [
    // input, registry, repository, full, familiar
    ['ubuntu', 'docker.io', 'library/ubuntu', 'docker.io/library/ubuntu:latest', 'ubuntu:latest'],
    ['ubuntu:22.04', 'docker.io', 'library/ubuntu', 'docker.io/library/ubuntu:22.04', 'ubuntu:22.04'],
    ['library/ubuntu', 'docker.io', 'library/ubuntu', 'docker.io/library/ubuntu:latest', 'ubuntu:latest'],
    ['docker.io/ubuntu', 'docker.io', 'library/ubuntu', 'docker.io/library/ubuntu:latest', 'ubuntu:latest'],
    ['index.docker.io/debian', 'docker.io', 'library/debian', 'docker.io/library/debian:latest', 'debian:latest'],
    ['docker/docker', 'docker.io', 'docker/docker', 'docker.io/docker/docker:latest', 'docker/docker:latest'],
    ['index.docker.io/docker/docker', 'docker.io', 'docker/docker', 'docker.io/docker/docker:latest', 'docker/docker:latest'],
    ['localhost/debian', 'localhost', 'debian', 'localhost/debian:latest', 'localhost/debian:latest'],
    ['localhost:5000/foo/bar:tag', 'localhost:5000', 'foo/bar', 'localhost:5000/foo/bar:tag', 'localhost:5000/foo/bar:tag'],
    ['127.0.0.1:5000/x', '127.0.0.1:5000', 'x', '127.0.0.1:5000/x:latest', '127.0.0.1:5000/x:latest'],
    [`127.0.0.1:5000/a@${D}`, '127.0.0.1:5000', 'a', `127.0.0.1:5000/a@${D}`, `127.0.0.1:5000/a@${D}`],
    ['myregistry.io:5000/foo/bar', 'myregistry.io:5000', 'foo/bar', 'myregistry.io:5000/foo/bar:latest', 'myregistry.io:5000/foo/bar:latest'],
    ['docker.internal.net/foo', 'docker.internal.net', 'foo', 'docker.internal.net/foo:latest', 'docker.internal.net/foo:latest'],
    ['[2001:db8::1]:5000/foo', '[2001:db8::1]:5000', 'foo', '[2001:db8::1]:5000/foo:latest', '[2001:db8::1]:5000/foo:latest'],
    [`alpine:3.19@${D}`, 'docker.io', 'library/alpine', `docker.io/library/alpine:3.19@${D}`, `alpine:3.19@${D}`],
    ['a/b/c/d:e-f.g_h', 'docker.io', 'a/b/c/d', 'docker.io/a/b/c/d:e-f.g_h', 'a/b/c/d:e-f.g_h'],
    ['foo__bar-baz.qux', 'docker.io', 'library/foo__bar-baz.qux', 'docker.io/library/foo__bar-baz.qux:latest', 'foo__bar-baz.qux:latest'],
  ];
  it.each(cases)('%s', (input, registry, repository, full, familiar) => {
    const r = parseReference(input);
    expect(r.registry).toBe(registry);
    expect(r.repository).toBe(repository);
    expect(r.toString()).toBe(full);
    expect(String(r)).toBe(full);
    expect(r.familiar).toBe(familiar);
  });

  it('keeps tag and digest apart and adds latest only without either', () => {
    expect(parseReference(`alpine@${D}`).tag).toBeUndefined();
    expect(parseReference(`alpine@${D}`).digest).toBe(D);
    expect(parseReference('alpine').tag).toBe('latest');
  });

  it('maps docker.io to its API host only for requests', () => {
    expect(registryApiHost(parseReference('alpine').registry)).toBe('registry-1.docker.io');
    expect(registryApiHost(parseReference('127.0.0.1:5000/x').registry)).toBe('127.0.0.1:5000');
  });

  it('withDigest pins and drops the tag', () => {
    expect(withDigest(parseReference('alpine:3'), D).toString()).toBe(`docker.io/library/alpine@${D}`);
  });
});

describe('parseReference rejects invalid names with REFERENCE_INVALID', () => {
  const invalid: Array<[string, RegExp]> = [
    ['docker/Docker', /must be lowercase/],
    ['docker.io/docker/Docker', /must be lowercase/],
    ['UPPER', /must be lowercase/],
    ['-docker', /invalid repository name component/],
    ['-docker/docker', /invalid repository name component/],
    ['docker///docker', /invalid repository name component ""/],
    ['docker.io/docker///docker', /invalid repository name component/],
    [`alpine:${'a'.repeat(129)}`, /longer than 128/],
    ['alpine:.bad', /invalid tag/],
    ['alpine@sha256:abc', /invalid sha256 digest/],
    [`alpine@md5:${'a'.repeat(32)}`, /unsupported digest algorithm/],
    ['a'.repeat(64).replace(/a/g, 'f'), /image id/],
    ['https://github.com/docker/docker', /URL scheme/],
    ['', /empty/],
    [`${'a/'.repeat(130)}b`, /longer than 255/],
  ];
  it.each(invalid)('%s', (input, message) => {
    let caught: unknown;
    try {
      parseReference(input);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(TsbuildError);
    expect((caught as TsbuildError).code).toBe('REFERENCE_INVALID');
    expect((caught as TsbuildError).message).toMatch(message);
    expect((caught as TsbuildError).hint).toBeTruthy();
  });
});

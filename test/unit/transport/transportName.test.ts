import { describe, expect, it } from 'vitest';
import { formatTransportName, parseDestination, parseSource } from '../../../src/transport/transportName.js';

const D = `sha256:${'b'.repeat(64)}`;

describe('transport names', () => {
  it('parses oci: with and without a ref (ref = after the last colon)', () => {
    expect(parseDestination('oci:/tmp/app:1')).toEqual({ transport: 'oci', path: '/tmp/app', ref: '1' });
    expect(parseDestination('oci:/tmp/app')).toEqual({ transport: 'oci', path: '/tmp/app', ref: undefined });
    expect(parseDestination('oci:out')).toEqual({ transport: 'oci', path: 'out', ref: undefined });
    expect(parseSource(`oci:/tmp/app:@${D}`)).toEqual({ transport: 'oci', path: '/tmp/app', ref: `@${D}` });
    expect(parseSource('oci-archive:/tmp/app.tar:v1.2')).toEqual({ transport: 'oci-archive', path: '/tmp/app.tar', ref: 'v1.2' });
  });

  it('parses docker:// and bare names', () => {
    const d = parseSource('docker://127.0.0.1:5000/test/img:v1');
    expect(d.transport).toBe('docker');
    expect(d.transport === 'docker' && d.reference.toString()).toBe('127.0.0.1:5000/test/img:v1');
    const l = parseDestination('app:1');
    expect(l.transport === 'local' && l.reference.toString()).toBe('docker.io/library/app:1');
    const h = parseDestination('localhost:5000/x');
    expect(h.transport === 'local' && h.reference.toString()).toBe('localhost:5000/x:latest');
  });

  it('round-trips through formatTransportName', () => {
    for (const s of ['oci:/tmp/app:1', 'oci-archive:/a.tar', 'docker://docker.io/library/alpine:3']) {
      expect(formatTransportName(parseSource(s))).toBe(s);
    }
  });

  it('refuses other spellings with TRANSPORT_INVALID listing the accepted ones', () => {
    for (const bad of ['oci:', 'oci::tag', 'docker:alpine', 'docker://', 'docker-archive:', 'dir:/x', 'oci:/x:bad ref', `oci:/x:@sha256:abc`]) {
      expect(() => parseDestination(bad), bad).toThrow(expect.objectContaining({ code: 'TRANSPORT_INVALID', hint: expect.stringContaining('oci:DIR[:REF]') }));
    }
    expect(() => parseSource('Upper/Case')).toThrow(expect.objectContaining({ code: 'REFERENCE_INVALID' }));
    expect(() => parseSource('docker-archive:/x.tar')).toThrow(expect.objectContaining({ code: 'TRANSPORT_INVALID', message: expect.stringContaining('only writing') }));
  });

  it('reads docker-archive:FILE[:NAME:TAG] as skopeo does: the path ends at the first colon', () => {
    expect(parseDestination('docker-archive:/tmp/a.tar:app:1')).toMatchObject({ transport: 'docker-archive', path: '/tmp/a.tar', reference: { familiar: 'app:1' } });
    expect(parseDestination('docker-archive:/tmp/a.tar')).toEqual({ transport: 'docker-archive', path: '/tmp/a.tar', reference: undefined });
  });
});

import { describe, expect, it } from 'vitest';
import { decodeRunSpec, encodeRunSpec } from '../../../src/isolation/protocol.js';
import type { RunSpec } from '../../../src/isolation/runtime.js';

const base: RunSpec = {
  rootfs: { lowerdirs: ['/l'], upperdir: '/u', workdir: '/w', userxattr: false },
  mountpoint: '/m',
  argv: ['true'],
  env: ['PATH=/bin'],
  cwd: '/',
  user: '',
  hostname: 'h',
  network: 'none',
};

describe('RUN spec mounts and security fields', () => {
  it('round-trips mounts (a secret with any byte), seccomp, no_new_privs and cap-add', () => {
    const spec: RunSpec = {
      ...base,
      mounts: [
        { type: 'bind', source: '/cache/data', target: '/var/cache/apt', readonly: false },
        { type: 'tmpfs', target: '/tmp/t', options: 'size=1024' },
        { type: 'file', target: '/run/secrets/s', content: Buffer.from([0, 1, 2, 0xff, 0x2c]), mode: 0o400, uid: 5, gid: 6 },
      ],
      scratchDir: '/scratch',
      seccomp: false,
      noNewPrivileges: true,
      capAdd: [21],
    };
    expect(decodeRunSpec(encodeRunSpec(spec))).toEqual(spec);
  });

  it('refuses a file mount without a scratch dir and relative targets', () => {
    expect(() => encodeRunSpec({ ...base, mounts: [{ type: 'file', target: '/x', content: Buffer.from('a'), mode: 0o400, uid: 0, gid: 0 }] })).toThrow(/scratchDir/);
    expect(() => encodeRunSpec({ ...base, mounts: [{ type: 'tmpfs', target: 'rel', options: '' }] })).toThrow(/absolute/);
    expect(() => encodeRunSpec({ ...base, capAdd: [99] })).toThrow(/out of range/);
  });
});

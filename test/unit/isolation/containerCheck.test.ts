import { describe, expect, it } from 'vitest';
import { judgeContainer, type ContainerFacts } from '../../../src/isolation/containerCheck.js';
import { decodeMountPath, mountPoints } from '../../../src/isolation/mountPoints.js';

const KTHREADD = 'Name:\tkthreadd\nUmask:\t0000\nState:\tS (sleeping)\nTgid:\t2\nPid:\t2\nPPid:\t0\n';
const EXT4_ROOT = '27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n22 27 0:21 / /proc rw,relatime - proc proc rw\n';
const OVERLAY_ROOT = '612 540 0:60 / / rw,relatime master:300 - overlay overlay rw,lowerdir=/var/lib/docker/overlay2/l/A,upperdir=/x/diff,workdir=/x/work\n613 612 0:63 / /proc rw - proc proc rw\n';
const RUNC_DIR_ROOT = '700 650 254:0 /tmp/bundle/rootfs / rw,relatime - ext4 /dev/vda rw\n';

function facts(over: Partial<ContainerFacts>): ContainerFacts {
  return { dockerenv: false, containerenv: false, containerVar: undefined, kubernetes: false, cgroup: '0::/\n', mountinfo: EXT4_ROOT, pid2Status: KTHREADD, ...over };
}

describe('judgeContainer (may --isolation none replace /?)', () => {
  it('a VM or machine made from a container image keeps /.dockerenv but sees kernel threads: not a container', () => {
    const v = judgeContainer(facts({ dockerenv: true }));
    expect(v.inContainer).toBe(false);
    expect(v.signs).toEqual(['/.dockerenv exists']);
    expect(v.against).toEqual(['kernel threads are visible (the host pid namespace)']);
  });

  it('a plain machine, and a pid namespace on a machine\'s own disk (unshare -p): not a container', () => {
    expect(judgeContainer(facts({})).inContainer).toBe(false);
    const v = judgeContainer(facts({ pid2Status: undefined }));
    expect(v.inContainer).toBe(false);
    expect(v.against).toEqual(['no container marker (/.dockerenv, /run/.containerenv, $container, a container cgroup or root mount)']);
  });

  it('Docker, podman, a Kubernetes pod and runc with a directory rootfs: containers', () => {
    expect(judgeContainer(facts({ dockerenv: true, mountinfo: OVERLAY_ROOT, pid2Status: undefined }))).toEqual({ inContainer: true, signs: ['/.dockerenv exists', '/ is overlay'], against: [] });
    expect(judgeContainer(facts({ containerenv: true, containerVar: 'podman', mountinfo: OVERLAY_ROOT, pid2Status: undefined })).inContainer).toBe(true);
    expect(judgeContainer(facts({ kubernetes: true, cgroup: '12:pids:/kubepods/burstable/pod1/abc\n', mountinfo: OVERLAY_ROOT, pid2Status: undefined })).signs).toContain('/proc/1/cgroup names a container runtime');
    expect(judgeContainer(facts({ mountinfo: RUNC_DIR_ROOT, pid2Status: undefined }))).toEqual({ inContainer: true, signs: ['/ is a bind mount of /tmp/bundle/rootfs'], against: [] });
  });

  it('a container sharing the host pid namespace (--pid=host) is refused: kernel threads are visible', () => {
    expect(judgeContainer(facts({ dockerenv: true, mountinfo: OVERLAY_ROOT })).inContainer).toBe(false);
  });
});

describe('mountPoints', () => {
  it('lists every mount point, octal escapes decoded', () => {
    expect(mountPoints(`${EXT4_ROOT}40 27 0:50 / /mnt/with\\040space rw - tmpfs tmpfs rw\n`)).toEqual(['/', '/proc', '/mnt/with space']);
    expect(decodeMountPath('/a\\134b')).toBe('/a\\b');
  });
});

import { describe, expect, it } from 'vitest';
import { parseMount, parseMounts } from '../../../../src/build/mounts/parseMount.js';
import { heredocCommand } from '../../../../src/build/mounts/heredocCommand.js';

describe('parseMount (BuildKit option names and defaults)', () => {
  it('defaults to a read-only bind of the context root', () => {
    expect(parseMount('target=/src')).toEqual({ type: 'bind', target: '/src', source: '/', readonly: true });
    expect(parseMount('type=bind,src=app,dst=/app,from=build,rw')).toEqual({ type: 'bind', target: '/app', source: 'app', from: 'build', readonly: false });
    expect(parseMount('type=bind,destination=/d,readwrite=true')).toMatchObject({ readonly: false });
  });

  it('cache: id defaults to the target, shared, 0755, root, writable', () => {
    expect(parseMount('type=cache,target=/root/.cache')).toEqual({ type: 'cache', target: '/root/.cache', id: '/root/.cache', sharing: 'shared', readonly: false, mode: 0o755, uid: 0, gid: 0 });
    const m = parseMount('type=cache,id=apt,target=/var/cache/apt,sharing=locked,mode=0700,uid=100,gid=65534,ro');
    expect(m).toMatchObject({ id: 'apt', sharing: 'locked', mode: 0o700, uid: 100, gid: 65534, readonly: true });
  });

  it('secret: target /run/secrets/<id>, mode 0400; env only mounts no file', () => {
    expect(parseMount('type=secret,id=npm')).toEqual({ type: 'secret', id: 'npm', target: '/run/secrets/npm', required: false, mode: 0o400, uid: 0, gid: 0 });
    expect(parseMount('type=secret,id=tok,env=TOKEN')).toEqual({ type: 'secret', id: 'tok', env: 'TOKEN', required: false, mode: 0o400, uid: 0, gid: 0 });
    expect(parseMount('type=secret,target=/etc/key,required').toString()).toBeDefined();
    expect(parseMount('type=secret,target=/etc/key,required')).toMatchObject({ id: 'key', target: '/etc/key', required: true });
  });

  it('ssh: id default, numbered agent sockets', () => {
    const [a, b] = parseMounts(['type=ssh', 'type=ssh,id=other']);
    expect(a).toMatchObject({ type: 'ssh', id: 'default', target: '/run/buildkit/ssh_agent.0', mode: 0o600 });
    expect(b).toMatchObject({ id: 'other', target: '/run/buildkit/ssh_agent.1' });
  });

  it('tmpfs size with units', () => {
    expect(parseMount('type=tmpfs,target=/t,size=64m')).toEqual({ type: 'tmpfs', target: '/t', size: 64 * 1024 * 1024 });
  });

  it('refuses what BuildKit refuses, with a clear message', () => {
    expect(() => parseMount('type=volume,target=/x')).toThrow(/unsupported mount type "volume"/);
    expect(() => parseMount('type=cache')).toThrow(/requires a target/);
    expect(() => parseMount('type=tmpfs,target=/x,from=a')).toThrow(/unexpected key 'from'/);
    expect(() => parseMount('type=cache,target=/x,sharing=maybe')).toThrow(/unsupported sharing value/);
    expect(() => parseMount('type=cache,target=/x,mode=999')).toThrow(/invalid value 999 for mode/);
    expect(() => parseMount('type=cache,target=/x,uid=me')).toThrow(/invalid value me for uid/);
    expect(() => parseMount('type=bind,target=/x,ro=perhaps')).toThrow(/invalid value for readonly/);
    expect(() => parseMounts(['target=/a', 'type=tmpfs,target=/a'])).toThrow(/used twice/);
  });
});

describe('heredocCommand', () => {
  const doc = (name: string, content: string, chomp = false) => ({ name, content, expand: true, chomp, fileDescriptor: 0 });
  it('runs a lone heredoc through the shell, or as a file with a shebang', () => {
    expect(heredocCommand({ form: 'shell', script: '<<EOF' }, [doc('EOF', 'echo hi\n')])).toEqual({ kind: 'shell', script: 'echo hi\n' });
    expect(heredocCommand({ form: 'shell', script: '<<EOF' }, [doc('EOF', '#!/usr/bin/env python3\nprint(1)\n')])).toEqual({ kind: 'file', path: '/dev/pipes/EOF', content: '#!/usr/bin/env python3\nprint(1)\n' });
    expect(heredocCommand({ form: 'shell', script: '<<-EOF' }, [doc('EOF', '\t\techo hi\n', true)])).toEqual({ kind: 'shell', script: 'echo hi\n' });
  });
  it('hands other shapes to the shell with the bodies appended', () => {
    expect(heredocCommand({ form: 'shell', script: '<<EOF bash' }, [doc('EOF', 'echo $0\n')])).toEqual({ kind: 'shell', script: '<<EOF bash\necho $0\nEOF\n' });
    expect(heredocCommand({ form: 'shell', script: 'echo' }, [])).toBeUndefined();
  });
});

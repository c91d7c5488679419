import { TsbuildError } from '../errors.js';
import type { RunSpec, SandboxMount } from './runtime.js';

/**
 * The wire format between NamespaceRuntime and `tsbuild-helper run`; no other TS file knows it.
 *
 * Spec (TS → helper, on fd 3): NUL-terminated key, value pairs, header first. Repeated keys
 * (lowerdir, arg, env) keep their order. A flat NUL list because the helper parses it in C with
 * a dozen lines and no escaping rules; NUL is the one byte no path, argument or env entry holds.
 *
 * Records (helper → TS, on fd 4): NUL-terminated fields, the first one a tag:
 *   "E" step errno message   a setup step failed (the helper then exits 125)
 *   "S" signo                the command was killed by a signal (exit code 128+signo)
 */
export const SPEC_FD = 3;
export const RECORD_FD = 4;
const MAGIC = 'tsbuild-run-spec';
const VERSION = '1';

export type HelperRecord =
  | { kind: 'error'; step: string; errno: number; message: string }
  | { kind: 'signal'; signo: number };

function invalid(detail: string): TsbuildError {
  return new TsbuildError('INTERNAL', `encoding the RUN spec: ${detail}`);
}

function checkString(field: string, value: string): void {
  if (value.includes('\0')) throw invalid(`${field} contains a NUL byte`);
}

function checkAbsolute(field: string, value: string): void {
  checkString(field, value);
  if (!value.startsWith('/')) throw invalid(`${field} must be an absolute path, got ${JSON.stringify(value)}`);
}

/** Validates what the helper would refuse, so a bad spec fails here with a clear message. */
export function encodeRunSpec(spec: RunSpec): Buffer {
  const pairs: Array<[string, string]> = [[MAGIC, VERSION]];
  const add = (key: string, value: string): void => {
    pairs.push([key, value]);
  };
  checkAbsolute('mountpoint', spec.mountpoint);
  checkAbsolute('rootfs.upperdir', spec.rootfs.upperdir);
  checkAbsolute('rootfs.workdir', spec.rootfs.workdir);
  add('mountpoint', spec.mountpoint);
  add('upperdir', spec.rootfs.upperdir);
  add('workdir', spec.rootfs.workdir);
  for (const dir of spec.rootfs.lowerdirs) {
    checkAbsolute('rootfs.lowerdirs[]', dir);
    add('lowerdir', dir);
  }
  if (spec.emptyLowerdir !== undefined) {
    checkAbsolute('emptyLowerdir', spec.emptyLowerdir);
    add('emptylowerdir', spec.emptyLowerdir);
  }
  if (spec.rootfs.lowerdirs.length === 0 && spec.emptyLowerdir === undefined) {
    throw invalid('a rootfs without lowerdirs needs emptyLowerdir');
  }
  add('userxattr', spec.rootfs.userxattr ? '1' : '0');
  if (spec.argv.length === 0 || spec.argv[0] === '') throw invalid('the command is empty');
  for (const arg of spec.argv) {
    checkString('argv[]', arg);
    add('arg', arg);
  }
  for (const entry of spec.env) {
    checkString('env[]', entry);
    if (!entry.includes('=')) throw invalid(`env entry ${JSON.stringify(entry)} has no '='`);
    add('env', entry);
  }
  checkAbsolute('cwd', spec.cwd);
  add('cwd', spec.cwd);
  checkString('user', spec.user);
  add('user', spec.user);
  checkString('hostname', spec.hostname);
  if (Buffer.byteLength(spec.hostname) > 64) throw invalid('hostname is longer than 64 bytes');
  add('hostname', spec.hostname);
  add('network', spec.network);
  if (spec.etcHosts !== undefined) {
    checkAbsolute('etcHosts', spec.etcHosts);
    add('hosts', spec.etcHosts);
  }
  if (spec.resolvConf !== undefined) {
    checkAbsolute('resolvConf', spec.resolvConf);
    add('resolvconf', spec.resolvConf);
  }
  for (const m of spec.mounts ?? []) {
    checkAbsolute('mounts[].target', m.target);
    add('mount', m.type);
    add('mount.target', m.target);
    if (m.type === 'bind') {
      checkAbsolute('mounts[].source', m.source);
      add('mount.source', m.source);
      add('mount.readonly', m.readonly ? '1' : '0');
    } else if (m.type === 'tmpfs') {
      checkString('mounts[].options', m.options);
      add('mount.options', m.options);
    } else {
      // Hex: a secret may hold any byte, NUL included, and the spec is NUL-separated.
      add('mount.content', m.content.toString('hex'));
      add('mount.mode', m.mode.toString(8));
      add('mount.uid', String(m.uid));
      add('mount.gid', String(m.gid));
    }
  }
  if (spec.scratchDir !== undefined) {
    checkAbsolute('scratchDir', spec.scratchDir);
    add('scratch', spec.scratchDir);
  }
  if ((spec.mounts ?? []).some((m) => m.type === 'file') && spec.scratchDir === undefined) throw invalid('file mounts need scratchDir');
  if (spec.seccomp !== undefined) add('seccomp', spec.seccomp ? '1' : '0');
  if (spec.noNewPrivileges !== undefined) add('nonewprivs', spec.noNewPrivileges ? '1' : '0');
  for (const procs of spec.cgroupProcs ?? []) {
    checkAbsolute('cgroupProcs[]', procs);
    add('cgroup', procs);
  }
  for (const cap of spec.capAdd ?? []) {
    if (!Number.isInteger(cap) || cap < 0 || cap > 63) throw invalid(`capability ${cap} is out of range`);
    add('capadd', String(cap));
  }
  return Buffer.from(pairs.map(([k, v]) => `${k}\0${v}\0`).join(''), 'utf8');
}

/** The inverse of encodeRunSpec; the helper is the real reader, this one serves tests and debugging. */
export function decodeRunSpec(bytes: Buffer): RunSpec {
  const fields = bytes.toString('utf8').split('\0');
  if (fields.pop() !== '' || fields.length % 2 !== 0) throw invalid('truncated spec');
  if (fields[0] !== MAGIC || fields[1] !== VERSION) throw invalid('unknown spec header');
  const spec: RunSpec = {
    rootfs: { lowerdirs: [], upperdir: '', workdir: '', userxattr: false },
    mountpoint: '',
    argv: [],
    env: [],
    cwd: '/',
    user: '',
    hostname: '',
    network: 'host',
  };
  let mount: SandboxMount | undefined;
  for (let i = 2; i < fields.length; i += 2) {
    const key = fields[i] ?? '';
    const value = fields[i + 1] ?? '';
    switch (key) {
      case 'mountpoint': spec.mountpoint = value; break;
      case 'upperdir': spec.rootfs.upperdir = value; break;
      case 'workdir': spec.rootfs.workdir = value; break;
      case 'lowerdir': spec.rootfs.lowerdirs.push(value); break;
      case 'emptylowerdir': spec.emptyLowerdir = value; break;
      case 'userxattr': spec.rootfs.userxattr = value === '1'; break;
      case 'arg': spec.argv.push(value); break;
      case 'env': spec.env.push(value); break;
      case 'cwd': spec.cwd = value; break;
      case 'user': spec.user = value; break;
      case 'hostname': spec.hostname = value; break;
      case 'network':
        if (value !== 'host' && value !== 'none') throw invalid(`unknown network ${value}`);
        spec.network = value;
        break;
      case 'hosts': spec.etcHosts = value; break;
      case 'resolvconf': spec.resolvConf = value; break;
      case 'mount':
        if (value !== 'bind' && value !== 'tmpfs' && value !== 'file') throw invalid(`unknown mount type ${value}`);
        mount = value === 'bind' ? { type: 'bind', source: '', target: '', readonly: false } : value === 'tmpfs' ? { type: 'tmpfs', target: '', options: '' } : { type: 'file', target: '', content: Buffer.alloc(0), mode: 0o400, uid: 0, gid: 0 };
        (spec.mounts ??= []).push(mount);
        break;
      case 'mount.target': case 'mount.source': case 'mount.readonly': case 'mount.options':
      case 'mount.content': case 'mount.mode': case 'mount.uid': case 'mount.gid':
        if (mount === undefined) throw invalid(`${key} before any mount`);
        setMountField(mount, key.slice(6), value);
        break;
      case 'scratch': spec.scratchDir = value; break;
      case 'seccomp': spec.seccomp = value === '1'; break;
      case 'nonewprivs': spec.noNewPrivileges = value === '1'; break;
      case 'capadd': (spec.capAdd ??= []).push(Number(value)); break;
      case 'cgroup': (spec.cgroupProcs ??= []).push(value); break;
      default: throw invalid(`unknown key ${key}`);
    }
  }
  return spec;
}

function setMountField(m: SandboxMount, field: string, value: string): void {
  if (field === 'target') m.target = value;
  else if (m.type === 'bind' && field === 'source') m.source = value;
  else if (m.type === 'bind' && field === 'readonly') m.readonly = value === '1';
  else if (m.type === 'tmpfs' && field === 'options') m.options = value;
  else if (m.type === 'file' && field === 'content') m.content = Buffer.from(value, 'hex');
  else if (m.type === 'file' && field === 'mode') m.mode = Number.parseInt(value, 8);
  else if (m.type === 'file' && field === 'uid') m.uid = Number(value);
  else if (m.type === 'file' && field === 'gid') m.gid = Number(value);
  else throw invalid(`mount field ${field} does not apply to a ${m.type} mount`);
}

/** Parses everything the helper wrote on the record fd; a torn trailing record is ignored. */
export function decodeRecords(bytes: Buffer): HelperRecord[] {
  const fields = bytes.toString('utf8').split('\0');
  fields.pop(); // text after the last NUL is incomplete
  const records: HelperRecord[] = [];
  let i = 0;
  while (i < fields.length) {
    const tag = fields[i];
    if (tag === 'E' && i + 3 < fields.length) {
      records.push({
        kind: 'error',
        step: fields[i + 1] ?? '',
        errno: Number(fields[i + 2]),
        message: fields[i + 3] ?? '',
      });
      i += 4;
    } else if (tag === 'S' && i + 1 < fields.length) {
      records.push({ kind: 'signal', signo: Number(fields[i + 1]) });
      i += 2;
    } else {
      break;
    }
  }
  return records;
}

/** Encodes a record as the helper does; lets tests and fakes speak the helper's side. */
export function encodeRecord(record: HelperRecord): Buffer {
  const fields =
    record.kind === 'error'
      ? ['E', record.step, String(record.errno), record.message]
      : ['S', String(record.signo)];
  return Buffer.from(fields.map((f) => `${f}\0`).join(''), 'utf8');
}

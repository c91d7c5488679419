/**
 * Defaults from `$XDG_CONFIG_HOME/tsbuild/config.yaml` (or `~/.config/tsbuild/config.yaml`, or the
 * file named by TSBUILD_CONFIG). Flags and environment variables override it. A missing file is
 * an empty config; a malformed one is an error naming the file and the key, never ignored.
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { TsbuildError } from '../errors.js';

export const PROGRESS_MODES = ['auto', 'tty', 'plain', 'json', 'quiet'] as const;
export type ProgressModeName = (typeof PROGRESS_MODES)[number];

export interface TsbuildConfig {
  /** The file the values came from; undefined when there is none. */
  path: string | undefined;
  root?: string;
  registries: {
    /** HOST[:PORT] reached over http or unverified TLS. */
    insecure: string[];
    /** Registry host → mirrors to try first, as in registries.conf. */
    mirrors: Record<string, string[]>;
  };
  /** `auto` (the default): the best that works here (rootless, else chroot, else proot); `root` is the old spelling of rootless. */
  isolation?: 'auto' | 'rootless' | 'root' | 'chroot' | 'proot' | 'none';
  jobs?: number;
  progress?: ProgressModeName;
}

export function configPath(env: NodeJS.ProcessEnv): string {
  if (env['TSBUILD_CONFIG']) return env['TSBUILD_CONFIG'];
  const base = env['XDG_CONFIG_HOME'] || join(env['HOME'] || homedir(), '.config');
  return join(base, 'tsbuild', 'config.yaml');
}

export async function loadConfig(env: NodeJS.ProcessEnv = process.env, signal?: AbortSignal): Promise<TsbuildConfig> {
  const path = configPath(env);
  let text: string;
  signal?.throwIfAborted();
  try {
    // Synchronous: most runs have no config file, and finding that out is one µs-long open.
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return emptyConfig();
    throw new TsbuildError('CONFIG', `reading ${path}: ${(err as Error).message}`, { cause: err });
  }
  let doc: unknown;
  // The YAML parser is loaded only when there is a file: most runs have none.
  const { parse } = await import('yaml');
  try {
    doc = parse(text);
  } catch (err) {
    throw new TsbuildError('CONFIG', `${path}: ${(err as Error).message.split('\n')[0]}`, { hint: 'the config file is YAML', cause: err });
  }
  return parseConfig(doc, path);
}

export function emptyConfig(): TsbuildConfig {
  return { path: undefined, registries: { insecure: [], mirrors: {} } };
}

/** Pure validation of a parsed document, so every mistake says which key is wrong. */
export function parseConfig(doc: unknown, path: string): TsbuildConfig {
  const bad = (key: string, want: string) => new TsbuildError('CONFIG', `${path}: ${key} must be ${want}`, { hint: 'see README.md, "Configuration"' });
  const cfg: TsbuildConfig = { ...emptyConfig(), path };
  if (doc === null || doc === undefined) return cfg;
  if (!isRecord(doc)) throw bad('the document', 'a mapping');
  for (const [key, value] of Object.entries(doc)) {
    switch (key) {
      case 'root':
        if (typeof value !== 'string' || value === '') throw bad('root', 'a directory path');
        cfg.root = value;
        break;
      case 'jobs':
        if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) throw bad('jobs', 'a positive integer');
        cfg.jobs = value;
        break;
      case 'progress':
        if (!(PROGRESS_MODES as readonly unknown[]).includes(value)) throw bad('progress', PROGRESS_MODES.join(', '));
        cfg.progress = value as ProgressModeName;
        break;
      case 'isolation':
        if (value !== 'auto' && value !== 'rootless' && value !== 'root' && value !== 'chroot' && value !== 'proot' && value !== 'none') throw bad('isolation', 'auto, rootless, chroot, proot or none');
        cfg.isolation = value;
        break;
      case 'registries': {
        if (!isRecord(value)) throw bad('registries', 'a mapping with insecure and mirrors');
        for (const [k, v] of Object.entries(value)) {
          if (k === 'insecure') {
            if (!Array.isArray(v) || !v.every((h) => typeof h === 'string')) throw bad('registries.insecure', 'a list of HOST[:PORT]');
            cfg.registries.insecure = v as string[];
          } else if (k === 'mirrors') {
            if (!isRecord(v)) throw bad('registries.mirrors', 'a mapping of registry host to a list of mirrors');
            for (const [host, list] of Object.entries(v)) {
              if (!Array.isArray(list) || !list.every((m) => typeof m === 'string')) throw bad(`registries.mirrors.${host}`, 'a list of mirror hosts');
              cfg.registries.mirrors[host] = list as string[];
            }
          } else throw bad(`registries.${k}`, 'one of insecure, mirrors (unknown key)');
        }
        break;
      }
      default:
        throw bad(key, 'one of root, registries, isolation, jobs, progress (unknown key)');
    }
  }
  return cfg;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

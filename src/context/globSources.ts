/**
 * COPY/ADD source patterns, matched as BuildKit does with Go's filepath.Match per path component:
 * `*`, `?`, `[...]` and `\` escapes; a pattern never matches across `/`.
 */
import { readdir } from 'node:fs/promises';
import { posix } from 'node:path';
import { TsbuildError } from '../errors.js';
import { resolveInRoot } from '../util/scopedPath.js';

export function hasMagic(component: string): boolean {
  return /[*?[\\]/.test(component);
}

export function componentToRegExp(pattern: string): RegExp {
  let re = '^';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] as string;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '\\' && i + 1 < pattern.length) re += escapeRe(pattern[++i] as string);
    else if (c === '[') {
      const close = pattern.indexOf(']', i + 2);
      if (close < 0) throw new TsbuildError('COPY_SOURCE', `invalid source pattern ${JSON.stringify(pattern)}: unterminated [`);
      let body = pattern.slice(i + 1, close);
      if (body.startsWith('^')) body = `!${body.slice(1)}`;
      re += body.startsWith('!') ? `[^${body.slice(1).replace(/\\/g, '\\\\')}]` : `[${body.replace(/\\/g, '\\\\')}]`;
      i = close;
    } else re += escapeRe(c);
  }
  return new RegExp(`${re}$`);
}

function escapeRe(c: string): string {
  return c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

/**
 * Expands one source against a root: returns paths relative to the root (posix, no leading `/`).
 * A source without wildcards is returned as is, resolved later (so "not found" names the source).
 */
export async function expandSource(root: string, source: string): Promise<string[]> {
  const clean = posix.normalize(`/${source}`).slice(1);
  const parts = clean.split('/').filter((p) => p.length > 0);
  if (!parts.some(hasMagic)) return [clean];
  let current: string[] = [''];
  for (const part of parts) {
    const next: string[] = [];
    for (const base of current) {
      if (!hasMagic(part)) {
        next.push(base ? `${base}/${part}` : part);
        continue;
      }
      const re = componentToRegExp(part);
      let names: string[];
      try {
        names = await readdir(await resolveInRoot(root, base));
      } catch {
        continue;
      }
      for (const name of names.sort()) if (re.test(name)) next.push(base ? `${base}/${name}` : name);
    }
    current = next;
  }
  return current;
}

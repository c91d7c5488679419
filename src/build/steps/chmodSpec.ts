/**
 * `COPY --chmod` values: octal (`0755`) or, as the Dockerfile frontend accepts since 1.10,
 * symbolic (`u+x,g-w,o=r`, `+x`, `go=rX`). A symbolic mode is applied to each copied file's own
 * mode, like chmod(1); `X` sets execute on directories and on files that already have an execute
 * bit (the POSIX/Linux meaning, for every operator). A clause without `ugoa` means `a`: the
 * umask plays no part in a build.
 */
import { TsbuildError } from '../../errors.js';

/** A fixed mode, or a function of the source's mode (symbolic). */
export type ChmodSpec = number | ((mode: number, isDir: boolean) => number);

interface Clause {
  who: number; // mask of the rwx bits concerned (0o700 | 0o070 | 0o007)
  ops: Array<{ op: '+' | '-' | '='; perms: string; copyFrom?: 'u' | 'g' | 'o' }>;
}

const WHO: Record<string, number> = { u: 0o700, g: 0o070, o: 0o007, a: 0o777 };

export function parseChmod(spec: string): ChmodSpec {
  if (/^[0-7]{1,4}$/.test(spec)) return parseInt(spec, 8);
  const clauses: Clause[] = [];
  for (const text of spec.split(',')) {
    const m = /^([ugoa]*)((?:[-+=](?:[rwxXst]*|[ugo]))+)$/.exec(text);
    if (!m) throw invalid(spec);
    let who = 0;
    for (const c of m[1] as string) who |= WHO[c] as number;
    const ops: Clause['ops'] = [];
    const opRe = /([-+=])([ugo]|[rwxXst]*)/g;
    for (const o of (m[2] as string).matchAll(opRe)) {
      const perms = o[2] as string;
      const op = o[1] as '+' | '-' | '=';
      if (perms === 'u' || perms === 'g' || perms === 'o') ops.push({ op, perms: '', copyFrom: perms });
      else ops.push({ op, perms });
    }
    clauses.push({ who: who || 0o777, ops });
  }
  return (mode: number, isDir: boolean) => applyClauses(clauses, mode & 0o7777, isDir);
}

function invalid(spec: string): TsbuildError {
  return new TsbuildError('DOCKERFILE_SYNTAX', `invalid --chmod=${spec}: expected an octal mode (0755) or a symbolic one (u+x,g-w,o=r)`, {
    hint: 'symbolic modes are [ugoa][+-=][rwxXst], separated by commas',
  });
}

function applyClauses(clauses: readonly Clause[], start: number, isDir: boolean): number {
  let mode = start;
  for (const clause of clauses) {
    for (const { op, perms, copyFrom } of clause.ops) {
      let bits = 0;
      if (copyFrom) {
        const shift = copyFrom === 'u' ? 6 : copyFrom === 'g' ? 3 : 0;
        const rwx = (mode >> shift) & 0o7;
        bits = (rwx << 6) | (rwx << 3) | rwx;
      }
      for (const p of perms) {
        if (p === 'r') bits |= 0o444;
        else if (p === 'w') bits |= 0o222;
        else if (p === 'x') bits |= 0o111;
        else if (p === 'X') {
          if (isDir || (start & 0o111) !== 0) bits |= 0o111;
        }
      }
      bits &= clause.who;
      // setuid/setgid follow u/g; the sticky bit goes with `o` or `a`.
      if (perms.includes('s')) bits |= (clause.who & 0o700 ? 0o4000 : 0) | (clause.who & 0o070 ? 0o2000 : 0);
      if (perms.includes('t') && clause.who & 0o007) bits |= 0o1000;
      const special = (clause.who & 0o700 ? 0o4000 : 0) | (clause.who & 0o070 ? 0o2000 : 0) | (clause.who === 0o777 || clause.who & 0o007 ? 0o1000 : 0);
      if (op === '+') mode |= bits;
      else if (op === '-') mode &= ~bits;
      else mode = (mode & ~(clause.who | special)) | bits;
    }
  }
  return mode & 0o7777;
}

/** The mode a copied entry gets: the spec applied to its source mode, or the source mode itself. */
export function modeFor(spec: ChmodSpec | undefined, sourceMode: number, isDir: boolean): number {
  if (spec === undefined) return sourceMode & 0o7777;
  return typeof spec === 'number' ? spec : spec(sourceMode & 0o7777, isDir);
}

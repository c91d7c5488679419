/**
 * .dockerignore pattern matching with the semantics of moby/patternmatcher (what Docker and
 * BuildKit use): patterns are cleaned like Go's filepath.Clean, `!` marks an exception, later
 * patterns win, `**` crosses directories, `*` and `?` never cross `/`, and a path is excluded
 * when it or any of its parent directories matches. Pure: no fs.
 */
import { TsbuildError } from '../errors.js';

type MatchType = 'exact' | 'prefix' | 'suffix' | 'regexp';

export interface IgnorePattern {
  /** The cleaned pattern without its `!`. */
  readonly text: string;
  readonly exclusion: boolean;
  readonly matchType: MatchType;
  readonly regexp: RegExp | undefined;
}

/** How a cleaned pattern compiles: exposed for the conformance table of upstream's strategies. */
export function compilePattern(text: string): { matchType: MatchType; regexp: string | undefined } {
  const { matchType, regexp } = compile(text);
  // RegExp#source escapes `/`; upstream's table is written without that.
  return { matchType, regexp: regexp?.source.replaceAll('\\/', '/') };
}

export class BadPatternError extends TsbuildError {
  constructor(pattern: string, detail: string) {
    super('CONTEXT', `invalid .dockerignore pattern ${JSON.stringify(pattern)}: ${detail}`, {
      hint: 'patterns follow Go filepath.Match syntax: *, ?, [a-z], \\ escapes, ** for any directories',
    });
    this.name = 'BadPatternError';
  }
}

/** Go's path.Clean for `/`-separated paths. */
export function cleanPath(p: string): string {
  if (p === '') return '.';
  const rooted = p.startsWith('/');
  const out: string[] = [];
  for (const part of p.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length > 0 && out[out.length - 1] !== '..') out.pop();
      else if (!rooted) out.push('..');
      continue;
    }
    out.push(part);
  }
  const joined = out.join('/');
  if (rooted) return `/${joined}`;
  return joined === '' ? '.' : joined;
}

/**
 * Checks a pattern the way Go's filepath.Match(pattern, ".") does for its error result: a
 * trailing `\`, an unterminated or empty `[...]`, or a range with a bare `-` or `]` is malformed.
 */
export function validateGlob(pattern: string): string | undefined {
  const chars = [...pattern];
  let i = 0;
  const getEsc = (): string | undefined => {
    const c = chars[i];
    if (c === undefined || c === '-' || c === ']') return 'bad character class';
    if (c === '\\') {
      i++;
      if (chars[i] === undefined) return 'trailing backslash in class';
    }
    i++;
    if (i >= chars.length) return 'unterminated character class';
    return undefined;
  };
  while (i < chars.length) {
    const c = chars[i];
    if (c === '\\') {
      if (i + 1 >= chars.length) return 'trailing backslash';
      i += 2;
      continue;
    }
    if (c !== '[') {
      i++;
      continue;
    }
    i++;
    if (chars[i] === '^') i++;
    let nrange = 0;
    for (;;) {
      if (chars[i] === ']' && nrange > 0) {
        i++;
        break;
      }
      const bad = getEsc();
      if (bad) return bad;
      if (chars[i] === '-') {
        i++;
        const badHi = getEsc();
        if (badHi) return badHi;
      }
      nrange++;
    }
  }
  return undefined;
}

const REGEXP_SPECIAL = new Set(['.', '+', '(', ')', '|', '{', '}', '$']);

const SYNTAX = new Set([...'^$\\.*+?()[]{}|']);

/** A literal character for a JS `u` RegExp (Go's `\x` escape means the literal x in a path glob). */
function literal(ch: string, inClass = false): string {
  if (SYNTAX.has(ch) || (inClass && ch === '-')) return `\\${ch}`;
  return ch;
}

function compile(text: string): { matchType: MatchType; regexp: RegExp | undefined } {
  const chars = [...text];
  let re = '^';
  let type: MatchType = 'exact';
  let inClass = false;
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i] as string;
    const start = i;
    if (inClass) {
      if (ch === ']') inClass = false;
      if (ch === '\\' && i + 1 < chars.length) re += literal(chars[++i] as string, true);
      else if (ch === ']' || ch === '^' || ch === '-') re += ch;
      else re += literal(ch, true);
      continue;
    }
    if (ch === '*') {
      if (chars[i + 1] === '*') {
        i++;
        // `**/` is the same as `**`.
        if (chars[i + 1] === '/') i++;
        if (i + 1 >= chars.length) {
          // A trailing `**` accepts everything below, as .gitignore does.
          if (type === 'exact') type = 'prefix';
          else {
            re += '.*';
            type = 'regexp';
          }
        } else {
          re += '(.*/)?';
          type = 'regexp';
        }
        // Upstream decides on the scanner's first token: a leading `**` is a suffix match.
        if (start === 0) type = 'suffix';
      } else {
        re += '[^/]*';
        type = 'regexp';
      }
    } else if (ch === '?') {
      re += '[^/]';
      type = 'regexp';
    } else if (REGEXP_SPECIAL.has(ch)) {
      re += `\\${ch}`;
    } else if (ch === '\\') {
      if (i + 1 < chars.length) {
        re += literal(chars[++i] as string);
        type = 'regexp';
      } else re += '\\\\';
    } else if (ch === '[') {
      re += '[';
      inClass = true;
      type = 'regexp';
      if (chars[i + 1] === '^') {
        re += '^';
        i++;
      }
    } else if (ch === ']') {
      re += '\\]';
      type = 'regexp';
    } else {
      re += literal(ch);
    }
  }
  if (type !== 'regexp') return { matchType: type, regexp: undefined };
  try {
    return { matchType: type, regexp: new RegExp(`${re}$`, 'u') };
  } catch {
    throw new BadPatternError(text, 'syntax error in pattern');
  }
}

function matchOne(p: IgnorePattern, path: string): boolean {
  switch (p.matchType) {
    case 'exact':
      return path === p.text;
    case 'prefix':
      return path.startsWith(p.text.slice(0, -2));
    case 'suffix': {
      const suffix = p.text.slice(2);
      if (path.endsWith(suffix)) return true;
      // `**/foo` matches "foo" itself.
      return suffix.startsWith('/') && path === suffix.slice(1);
    }
    case 'regexp':
      return (p.regexp as RegExp).test(path);
  }
}

/** Compiled .dockerignore patterns. Immutable; safe to share between concurrent COPY steps. */
export class PatternMatcher {
  readonly patterns: readonly IgnorePattern[];
  /** True when some pattern starts with `!`: a directory that matches may still hold included files. */
  readonly hasExclusions: boolean;

  constructor(patterns: readonly string[]) {
    const out: IgnorePattern[] = [];
    for (const raw of patterns) {
      let p = raw.trim();
      if (p === '') continue;
      p = cleanPath(p);
      let exclusion = false;
      if (p.startsWith('!')) {
        if (p.length === 1) throw new BadPatternError('!', 'an exclusion needs a pattern after "!"');
        exclusion = true;
        p = p.slice(1);
      }
      const bad = validateGlob(p);
      if (bad) throw new BadPatternError(raw.trim(), bad);
      out.push({ text: p, exclusion, ...compile(p) });
    }
    this.patterns = out;
    this.hasExclusions = out.some((p) => p.exclusion);
  }

  /** True when `path` (relative, `/`-separated) or one of its parent directories is excluded. */
  matchesOrParentMatches(path: string): boolean {
    const file = cleanPath(path);
    if (file === '.') return false;
    const slash = file.lastIndexOf('/');
    const parents = slash < 0 ? [] : file.slice(0, slash).split('/');
    let matched = false;
    for (const pattern of this.patterns) {
      // An inclusion cannot change a match, an exclusion cannot change a non-match.
      if (pattern.exclusion !== matched) continue;
      let match = matchOne(pattern, file);
      for (let i = 0; !match && i < parents.length; i++) match = matchOne(pattern, parents.slice(0, i + 1).join('/'));
      if (match) matched = !pattern.exclusion;
    }
    return matched;
  }

  /**
   * Upstream's older `Matches`: compares the parent path cut to the pattern's depth only. Kept
   * for the conformance table written against it (Go filepath.Match-style cases).
   */
  matchesSingleParent(path: string): boolean {
    const file = cleanPath(path);
    if (file === '.') return false;
    const slash = file.lastIndexOf('/');
    const parents = slash < 0 ? ['.'] : file.slice(0, slash).split('/');
    let matched = false;
    for (const pattern of this.patterns) {
      if (pattern.exclusion !== matched) continue;
      let match = matchOne(pattern, file);
      const depth = pattern.text.split('/').length;
      if (!match && slash >= 0 && depth <= parents.length) match = matchOne(pattern, parents.slice(0, depth).join('/'));
      if (match) matched = !pattern.exclusion;
    }
    return matched;
  }

  /** Exact match of the path itself, no parent matching (used when walking top-down). */
  matchesExact(path: string): boolean {
    let matched = false;
    for (const pattern of this.patterns) {
      if (pattern.exclusion !== matched) continue;
      if (matchOne(pattern, path)) matched = !pattern.exclusion;
    }
    return matched;
  }
}

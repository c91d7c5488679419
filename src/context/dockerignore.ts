/**
 * Reading .dockerignore files (moby/patternmatcher/ignorefile.ReadAll) and turning them into the
 * predicate COPY/ADD use to hide context files.
 */
import { readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { TsbuildError } from '../errors.js';
import { BadPatternError, cleanPath, PatternMatcher } from './patternMatcher.js';

/** Decides whether a context path (relative, `/`-separated) is hidden from the build. */
export type ContextFilter = (relPath: string, isDir: boolean) => boolean;

/**
 * The patterns of a .dockerignore file, in order: `#` lines and blank lines dropped, spaces
 * trimmed, paths cleaned, a leading `/` removed (root-relative is context-relative). A lone `!`
 * is kept: the matcher rejects it, as upstream does.
 */
export function readIgnoreFile(text: string): string[] {
  const out: string[] = [];
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = i === 0 ? raw.replace(/^\uFEFF/, '') : raw;
    // Comments are recognised before trimming, as upstream: " # x" is a pattern.
    if (line.startsWith('#')) return;
    let pattern = line.trim();
    if (pattern === '') return;
    const invert = pattern.startsWith('!');
    if (invert) pattern = pattern.slice(1).trim();
    if (pattern.length > 0) {
      pattern = cleanPath(pattern);
      if (pattern.length > 1 && pattern.startsWith('/')) pattern = pattern.slice(1);
    }
    out.push(invert ? `!${pattern}` : pattern);
  });
  return out;
}

/**
 * A filter from patterns. A directory that matches is skipped whole unless an exception could
 * re-include something below it; then it is walked and its entries are decided one by one.
 */
export function ignoreFilter(matcher: PatternMatcher): ContextFilter {
  const exceptions = matcher.patterns.filter((p) => p.exclusion).map((p) => literalPrefix(p.text));
  return (relPath, isDir) => {
    const path = cleanPath(relPath);
    if (path === '.' || !matcher.matchesOrParentMatches(path)) return false;
    if (!isDir || exceptions.length === 0) return true;
    const dir = `${path}/`;
    return !exceptions.some((prefix) => prefix.startsWith(dir) || dir.startsWith(prefix));
  };
}

/** The part of a pattern before its first wildcard: what a matching path must start with. */
function literalPrefix(pattern: string): string {
  const magic = pattern.search(/[*?[\\]/);
  return magic < 0 ? pattern : pattern.slice(0, magic);
}

export interface LoadedIgnore {
  /** The file the patterns came from, or undefined when there is none. */
  file: string | undefined;
  patterns: string[];
  filter: ContextFilter | undefined;
}

/**
 * The ignore file for a build, as BuildKit picks it: `<Dockerfile>.dockerignore` next to the
 * Dockerfile when it exists, else `.dockerignore` at the context root. `dockerfilePath` is
 * undefined when the Dockerfile came from stdin.
 */
export async function loadDockerignore(contextDir: string, dockerfilePath: string | undefined): Promise<LoadedIgnore> {
  const candidates = [
    ...(dockerfilePath !== undefined ? [join(dirname(dockerfilePath), `${basename(dockerfilePath)}.dockerignore`)] : []),
    join(contextDir, '.dockerignore'),
  ];
  for (const file of candidates) {
    let text: string;
    try {
      // Synchronous: usually neither file exists, and finding that out is one µs-long open each.
      text = readFileSync(file, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') continue;
      throw new TsbuildError('CONTEXT', `reading ${file}: ${(err as Error).message}`, { cause: err });
    }
    const patterns = readIgnoreFile(text);
    let matcher: PatternMatcher;
    try {
      matcher = new PatternMatcher(patterns);
    } catch (err) {
      if (err instanceof BadPatternError) {
        throw new TsbuildError('CONTEXT', `${file}: ${err.message}`, { hint: err.hint, cause: err });
      }
      throw err;
    }
    return { file, patterns, filter: patterns.length > 0 ? ignoreFilter(matcher) : undefined };
  }
  return { file: undefined, patterns: [], filter: undefined };
}

/**
 * Shell patterns for `${VAR#pat}`, `${VAR%pat}` and `${VAR/pat/repl}`, ported from BuildKit's
 * shell/lex.go: `*` and `?` wildcards, `\*`, `\?` and `\\` escapes, no bracket expressions.
 */

/** A malformed pattern; the lexer reports it as an expansion error. */
export class PatternError extends Error {}

/** Shell wildcard (`*`, `?`, `\x`) to RegExp, as BuildKit's convertShellPatternToRegex. */
export function shellPatternToRegex(pattern: string, greedy: boolean, anchored: boolean, global = false): RegExp {
  const chars = Array.from(pattern);
  let out = anchored ? '^' : '';
  // Go's `.` excludes only \n, JS's also \r and the line separators: spell Go's out.
  const star = greedy ? '[^\\n]*' : '[^\\n]*?';
  for (let i = 0; i < chars.length; i++) {
    const tok = chars[i] as string;
    if (tok === '*') {
      out += star;
      continue;
    }
    if (tok === '?') {
      out += '[^\\n]';
      continue;
    }
    if (tok === '\\') {
      const nextCh = chars[i + 1];
      // `\}` and `\/` were only escaped for the ${} syntax, the escape is not part of the pattern.
      if (nextCh === '}' || nextCh === '/') continue;
      i++;
      if (nextCh !== '*' && nextCh !== '?' && nextCh !== '\\') {
        throw new PatternError(`invalid pattern (${pattern}) in substitution: invalid escape '\\${nextCh ?? ''}'`);
      }
      out += '\\' + nextCh;
      continue;
    }
    out += /[[\]{}.+()|^$/]/.test(tok) ? '\\' + tok : tok;
  }
  return new RegExp(out, global ? 'gu' : 'u');
}

export function trimPrefix(pattern: string, value: string, greedy: boolean): string {
  const m = shellPatternToRegex(pattern, greedy, true).exec(value);
  return m ? value.slice(m[0].length) : value;
}

/** Escapes stay attached to the character they escape when the pattern is reversed (a\*c → c\*a). */
function reversePattern(pattern: string): string {
  const chars = Array.from(pattern);
  const out: string[] = [];
  for (let i = 0; i < chars.length; ) {
    const tok = chars[i] as string;
    if (tok === '\\' && i !== chars.length - 1) {
      out.unshift(tok + (chars[i + 1] as string));
      i += 2;
    } else {
      out.unshift(tok);
      i++;
    }
  }
  return out.join('');
}

function reverseString(str: string): string {
  return Array.from(str).reverse().join('');
}

export function trimSuffix(pattern: string, value: string, greedy: boolean): string {
  // A regex cannot find the shortest rightmost match, so search the reversed string instead.
  return reverseString(trimPrefix(reversePattern(pattern), reverseString(value), greedy));
}

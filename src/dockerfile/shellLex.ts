import { TsbuildError } from '../errors.js';
import { PatternError, shellPatternToRegex, trimPrefix, trimSuffix } from './shellPattern.js';

/**
 * A port of BuildKit's `shell.Lex` (frontend/dockerfile/shell/lex.go): quote removal, escapes and
 * `$VAR` / `${VAR…}` substitution for one Dockerfile word. Kept as a straight port, branch for
 * branch, because users' Dockerfiles rely on its quirks (`$@@@` → `@@`, a trailing escape is
 * dropped, `${VAR:?}` errors on empty) and the conformance tables check them.
 */

export type EnvLookup = (name: string) => string | undefined;

export interface LexOptions {
  escapeChar?: string;
  /** Keep quote characters in the output (used to detect quoted heredoc words). */
  rawQuotes?: boolean;
  /** Keep escape characters in the output. */
  rawEscapes?: boolean;
  /** Leave references to unset variables as written instead of expanding them to "". */
  skipUnsetEnv?: boolean;
}

export interface LexResult {
  /** The word with quotes removed and variables substituted (ProcessWord). */
  word: string;
  /** The same split on unquoted whitespace, quoted text kept whole (ProcessWords). */
  words: string[];
}

/** Expansion failures; callers with a source range turn them into a DockerfileError. */
export class ExpansionError extends TsbuildError {
  readonly word: string;
  readonly detail: string;

  constructor(word: string, detail: string) {
    super('DOCKERFILE_EXPAND', `expanding ${JSON.stringify(word)}: ${detail}`, {
      hint: 'quote or escape the characters you meant literally ($ with \\$, or use single quotes)',
    });
    this.name = 'ExpansionError';
    this.word = word;
    this.detail = detail;
  }
}

class Failure {
  constructor(readonly detail: string) {}
}

const EOF = '';

function isSpace(ch: string): boolean {
  // Go's unicode.IsSpace: ASCII whitespace plus NEL, NBSP and the Unicode space separators.
  return /^[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]$/u.test(ch);
}

function isDigit(ch: string): boolean {
  return /^\p{Nd}$/u.test(ch);
}

function isLetter(ch: string): boolean {
  return /^\p{L}$/u.test(ch);
}

function isSpecialParam(ch: string): boolean {
  return ch === '@' || ch === '*' || ch === '#' || ch === '?' || ch === '-' || ch === '$' || ch === '!' || ch === '0';
}

class Words {
  word = '';
  words: string[] = [];
  inWord = false;

  addChar(ch: string): void {
    if (isSpace(ch) && this.inWord) {
      if (this.word.length !== 0) {
        this.words.push(this.word);
        this.word = '';
        this.inWord = false;
      }
    } else if (!isSpace(ch)) {
      this.addRawChar(ch);
    }
  }

  addRawChar(ch: string): void {
    this.word += ch;
    this.inWord = true;
  }

  addString(str: string): void {
    for (const ch of str) this.addChar(ch);
  }

  addRawString(str: string): void {
    this.word += str;
    this.inWord = true;
  }

  getWords(): string[] {
    if (this.word.length > 0) {
      this.words.push(this.word);
      this.word = '';
      this.inWord = false;
    }
    return this.words;
  }
}

class ShellWord {
  private readonly chars: string[];
  private pos = 0;
  private rawEscapes: boolean;
  private readonly escape: string;

  constructor(
    source: string,
    private readonly env: EnvLookup,
    private readonly opts: LexOptions,
  ) {
    // Iterate by code point, as Go's text/scanner does by rune.
    this.chars = Array.from(source);
    this.rawEscapes = opts.rawEscapes ?? false;
    this.escape = opts.escapeChar ?? '\\';
  }

  private peek(): string {
    return this.chars[this.pos] ?? EOF;
  }

  private next(): string {
    const ch = this.chars[this.pos] ?? EOF;
    if (ch !== EOF) this.pos++;
    return ch;
  }

  process(): LexResult {
    const [word, words] = this.processStopOn(EOF, this.rawEscapes);
    return { word, words };
  }

  private processStopOn(stopChar: string, rawEscapes: boolean): [string, string[]] {
    let result = '';
    const words = new Words();
    const saved = this.rawEscapes;
    this.rawEscapes = rawEscapes;
    try {
      while (this.peek() !== EOF) {
        let ch = this.peek();
        if (stopChar !== EOF && ch === stopChar) {
          this.next();
          return [result, words.getWords()];
        }
        if (ch === '$' || ch === "'" || ch === '"' || ch === '<') {
          const tmp =
            ch === '$'
              ? this.processDollar()
              : ch === '<'
                ? this.processPossibleHeredoc()
                : ch === "'"
                  ? this.processSingleQuote()
                  : this.processDoubleQuote();
          result += tmp;
          if (ch === '$') words.addString(tmp);
          else words.addRawString(tmp);
          continue;
        }
        ch = this.next();
        if (ch === this.escape) {
          if (this.rawEscapes) {
            words.addRawChar(ch);
            result += ch;
          }
          // The escape escapes the next character; at the end of the word it is dropped.
          ch = this.next();
          if (ch === EOF) break;
          words.addRawChar(ch);
        } else {
          words.addChar(ch);
        }
        result += ch;
      }
      if (stopChar !== EOF) {
        throw new Failure(`unexpected end of statement while looking for matching ${stopChar}`);
      }
      return [result, words.getWords()];
    } finally {
      this.rawEscapes = saved;
    }
  }

  private processPossibleHeredoc(): string {
    // `<<` keeps the blanks after it in its word, so `<<  EOF` stays one heredoc word.
    this.next();
    if (this.peek() !== '<') return '<';
    this.next();
    let space = '';
    while (this.peek() === ' ' || this.peek() === '\t' || this.peek() === '\r') space += this.next();
    return '<<' + space;
  }

  private processSingleQuote(): string {
    // Everything up to the next ' is literal; a single quote cannot be escaped inside.
    let result = '';
    let ch = this.next();
    if (this.opts.rawQuotes) result += ch;
    for (;;) {
      ch = this.next();
      if (ch === EOF) throw new Failure('unexpected end of statement while looking for matching single-quote');
      if (ch === "'") {
        if (this.opts.rawQuotes) result += ch;
        return result;
      }
      result += ch;
    }
  }

  private processDoubleQuote(): string {
    // Inside "…" only $, the escape character and " are special; other escapes stay literal.
    let result = '';
    let ch = this.next();
    if (this.opts.rawQuotes) result += ch;
    for (;;) {
      const p = this.peek();
      if (p === EOF) throw new Failure('unexpected end of statement while looking for matching double-quote');
      if (p === '"') {
        ch = this.next();
        if (this.opts.rawQuotes) result += ch;
        return result;
      }
      if (p === '$') {
        result += this.processDollar();
        continue;
      }
      ch = this.next();
      if (ch === this.escape) {
        if (this.rawEscapes) result += ch;
        const q = this.peek();
        if (q === EOF) continue;
        if (q === '"' || q === '$' || q === this.escape) ch = this.next();
      }
      result += ch;
    }
  }

  private getEnv(name: string): { value: string; set: boolean } {
    const value = this.env(name);
    return value === undefined ? { value: '', set: false } : { value, set: true };
  }

  private processDollar(): string {
    this.next();
    if (this.peek() !== '{') {
      const name = this.processName();
      if (name === '') return '$';
      const { value, set } = this.getEnv(name);
      if (!set && this.opts.skipUnsetEnv) return '$' + name;
      return value;
    }
    this.next();
    const first = this.peek();
    if (first === EOF) throw new Failure("syntax error: missing '}'");
    if (first === '{' || first === '}' || first === ':') throw new Failure('syntax error: bad substitution');

    const name = this.processName();
    let ch = this.next();
    // BuildKit reports "unsupported modifier (\uFFFD)" here; say what is actually wrong.
    if (ch === EOF) throw new Failure("syntax error: missing '}'");
    let chs = ch;
    let nullIsUnset = false;

    if (ch === '}') {
      const { value, set } = this.getEnv(name);
      if (!set && this.opts.skipUnsetEnv) return `\${${name}}`;
      return value;
    }
    if (ch === ':') {
      nullIsUnset = true;
      ch = this.next();
      chs += ch;
    }
    if (nullIsUnset || ch === '+' || ch === '-' || ch === '?' || ch === '#' || ch === '%') {
      // Patterns keep their escapes so `\*` can mean a literal star.
      const rawEscapes = ch === '#' || ch === '%';
      let word: string;
      try {
        [word] = this.processStopOn('}', rawEscapes);
      } catch (err) {
        if (err instanceof Failure && this.peek() === EOF) throw new Failure("syntax error: missing '}'");
        throw err;
      }
      const { value, set } = this.getEnv(name);
      if (this.opts.skipUnsetEnv && !set) return `\${${name}${chs}${word}}`;
      switch (ch) {
        case '-':
          return !set || (nullIsUnset && value === '') ? word : value;
        case '+':
          return !set || (nullIsUnset && value === '') ? '' : word;
        case '?':
          if (!set) throw new Failure(`${name}: ${word !== '' ? word : 'is not allowed to be unset'}`);
          if (nullIsUnset && value === '') throw new Failure(`${name}: ${word !== '' ? word : 'is not allowed to be empty'}`);
          return value;
        case '%':
        case '#': {
          let greedy = false;
          if (word.length > 0 && word[0] === ch) {
            greedy = true;
            word = word.slice(1);
          }
          return ch === '%' ? trimSuffix(word, value, greedy) : trimPrefix(word, value, greedy);
        }
        default:
          throw new Failure(`unsupported modifier (${chs}) in substitution`);
      }
    }
    if (ch === '/') {
      const replaceAll = this.peek() === '/';
      if (replaceAll) this.next();
      let pattern: string;
      let replacement: string;
      try {
        [pattern] = this.processStopOn('/', true);
      } catch (err) {
        if (err instanceof Failure && this.peek() === EOF) throw new Failure("syntax error: missing '/' in ${}");
        throw err;
      }
      try {
        [replacement] = this.processStopOn('}', true);
      } catch (err) {
        if (err instanceof Failure && this.peek() === EOF) throw new Failure("syntax error: missing '}'");
        throw err;
      }
      const { value, set } = this.getEnv(name);
      if (this.opts.skipUnsetEnv && !set) return `\${${name}/${pattern}/${replacement}}`;
      const re = shellPatternToRegex(pattern, true, false, replaceAll);
      if (replaceAll) return value.replace(re, () => replacement);
      const m = re.exec(value);
      if (!m) return value;
      return value.slice(0, m.index) + replacement + value.slice(m.index + m[0].length);
    }
    throw new Failure(`unsupported modifier (${chs}) in substitution`);
  }

  private processName(): string {
    // A name is letters, digits and _; a leading digit reads a positional parameter ($10),
    // a leading special character ($@, $#, …) is a one-character name.
    let name = '';
    while (this.peek() !== EOF) {
      const ch = this.peek();
      if (name.length === 0 && isDigit(ch)) {
        while (this.peek() !== EOF && isDigit(this.peek())) name += this.next();
        return name;
      }
      if (name.length === 0 && isSpecialParam(ch)) return this.next();
      if (!isLetter(ch) && !isDigit(ch) && ch !== '_') break;
      name += this.next();
    }
    return name;
  }
}

/** Runs the lexer; throws ExpansionError on malformed input. */
export function lexWord(word: string, env: EnvLookup, opts: LexOptions = {}): LexResult {
  try {
    return new ShellWord(word, env, opts).process();
  } catch (err) {
    if (err instanceof Failure) throw new ExpansionError(word, err.detail);
    if (err instanceof PatternError) throw new ExpansionError(word, err.message);
    throw err;
  }
}

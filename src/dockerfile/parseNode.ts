/**
 * One logical Dockerfile line → keyword, flags and arguments, split the way BuildKit's parser
 * does it (frontend/dockerfile/parser: splitCommand, extractBuilderFlags, line_parsers.go). Each
 * instruction has its own splitting rule (JSON-or-shell, name=value pairs, whitespace words…);
 * quotes and `$VAR` are kept raw here and handled at expansion time.
 */

/** The untyped node BuildKit's parser produces; `toInstruction` types it. */
export interface ParsedNode {
  /** Lower-cased keyword, e.g. `run`. */
  cmd: string;
  /** The keyword as written, for messages. */
  keyword: string;
  /** Raw `--name=value` flags, `--` end-of-flags marker removed. */
  flags: string[];
  args: string[];
  /** Arguments came from a JSON array (exec form). */
  json: boolean;
  /** ONBUILD's trigger. */
  sub?: ParsedNode;
  /** Text after the keyword and flags, trimmed (ONBUILD keeps it for its expression). */
  rest: string;
}

/** A line that BuildKit's parser itself rejects (not a typing error). */
export class NodeSyntaxError extends Error {}

// Go's regexp `[\t\v\f\r ]+`: newlines never occur inside a joined line.
const reWhitespace = /[\t\v\f\r ]+/;

/** Go's unicode.IsSpace. */
function isSpace(ch: string): boolean {
  return /^[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]$/u.test(ch);
}

function trimSpace(s: string): string {
  return s.replace(/^[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+/u, '').replace(
    /[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$/u,
    '',
  );
}

/** Splits off the leading `--flag[=value]` words; a bare `--` ends the flags and is dropped. */
export function extractBuilderFlags(line: string): { rest: string; flags: string[] } {
  const words: string[] = [];
  let phase: 'spaces' | 'word' | 'quote' = 'spaces';
  let word = '';
  let quote = '';
  let blankOK = false;
  let ch = '';
  for (let pos = 0; pos <= line.length; pos++) {
    if (pos !== line.length) ch = line[pos] as string;
    if (phase === 'spaces') {
      if (pos === line.length) break;
      if (isSpace(ch)) continue;
      if (ch !== '-' || pos + 1 === line.length || line[pos + 1] !== '-') {
        return { rest: line.slice(pos), flags: words };
      }
      phase = 'word';
    }
    if (pos === line.length) {
      if (word !== '--' && (blankOK || word.length > 0)) words.push(word);
      break;
    }
    if (phase === 'word') {
      if (isSpace(ch)) {
        phase = 'spaces';
        if (word === '--') return { rest: line.slice(pos), flags: words };
        if (blankOK || word.length > 0) words.push(word);
        word = '';
        blankOK = false;
        continue;
      }
      if (ch === "'" || ch === '"') {
        quote = ch;
        blankOK = true;
        phase = 'quote';
        continue;
      }
      if (ch === '\\') {
        if (pos + 1 === line.length) continue;
        pos++;
        ch = line[pos] as string;
      }
      word += ch;
      continue;
    }
    // phase === 'quote'
    if (ch === quote) {
      phase = 'word';
      continue;
    }
    if (ch === '\\') {
      if (pos + 1 === line.length) {
        phase = 'word';
        continue;
      }
      pos++;
      ch = line[pos] as string;
    }
    word += ch;
  }
  return { rest: '', flags: words };
}

/** Words split on unquoted whitespace, quotes and escapes kept for later expansion. */
export function parseWords(rest: string, escapeChar: string): string[] {
  const words: string[] = [];
  const chars = Array.from(rest);
  let phase: 'spaces' | 'word' | 'quote' = 'spaces';
  let quote = '';
  let blankOK = false;
  let sb = '';
  let ch = '';
  for (let pos = 0; pos <= chars.length; pos++) {
    if (pos !== chars.length) ch = chars[pos] as string;
    if (phase === 'spaces') {
      if (pos === chars.length) break;
      if (isSpace(ch)) continue;
      phase = 'word';
    }
    if (pos === chars.length) {
      if (blankOK || sb.length > 0) words.push(sb);
      break;
    }
    if (phase === 'word') {
      if (isSpace(ch)) {
        phase = 'spaces';
        if (blankOK || sb.length > 0) words.push(sb);
        sb = '';
        blankOK = false;
        continue;
      }
      if (ch === "'" || ch === '"') {
        quote = ch;
        blankOK = true;
        phase = 'quote';
      }
      if (ch === escapeChar) {
        if (pos + 1 === chars.length) continue;
        // An unquoted escape keeps itself and the next character, even a quote.
        sb += ch;
        pos++;
        ch = chars[pos] as string;
      }
      sb += ch;
      continue;
    }
    if (ch === quote) phase = 'word';
    // Nothing can be escaped inside single quotes.
    if (ch === escapeChar && quote !== "'") {
      if (pos + 1 === chars.length) {
        phase = 'word';
        continue;
      }
      pos++;
      sb += ch;
      ch = chars[pos] as string;
    }
    sb += ch;
  }
  return words;
}

const NOT_STRING_ARRAY = 'when using JSON array syntax, arrays must be comprised of strings only';

function parseJSON(rest: string): string[] | undefined {
  const trimmed = rest.replace(/^[\t\n\v\f\r \u0085\u00a0]+/u, '');
  if (!trimmed.startsWith('[')) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(trimmed);
  } catch {
    // Not valid JSON: BuildKit falls back to the shell/word form.
    return undefined;
  }
  if (!Array.isArray(parsed)) return undefined;
  if (!parsed.every((v): v is string => typeof v === 'string')) throw new NodeSyntaxError(NOT_STRING_ARRAY);
  return parsed;
}

function splitWhitespace(rest: string): string[] {
  return rest === '' ? [] : rest.split(reWhitespace);
}

function parseNameVal(rest: string, key: string, escapeChar: string): string[] {
  // `KEY name value` (old form, one pair) or `KEY a=1 b=2`: the first word decides.
  const words = parseWords(rest, escapeChar);
  if (words.length === 0) return [];
  if (!(words[0] as string).includes('=')) {
    const m = reWhitespace.exec(rest);
    if (!m) throw new NodeSyntaxError(`${key} must have two arguments`);
    return [rest.slice(0, m.index), rest.slice(m.index + m[0].length), ''];
  }
  const out: string[] = [];
  for (const word of words) {
    const eq = word.indexOf('=');
    if (eq < 0) {
      throw new NodeSyntaxError(`Syntax error - can't find = in ${JSON.stringify(word)}. Must be of the form: name=value`);
    }
    out.push(word.slice(0, eq), word.slice(eq + 1), '=');
  }
  return out;
}

function parseArgs(cmd: string, rest: string, escapeChar: string): { args: string[]; json: boolean; sub?: ParsedNode } {
  switch (cmd) {
    case 'add':
    case 'copy':
    case 'volume': {
      const json = parseJSON(rest);
      return json ? { args: json, json: true } : { args: splitWhitespace(rest), json: false };
    }
    case 'cmd':
    case 'entrypoint':
    case 'run':
    case 'shell': {
      if (rest === '') return { args: [], json: false };
      const json = parseJSON(rest);
      return json ? { args: json, json: true } : { args: [rest], json: false };
    }
    case 'arg':
      return { args: parseWords(rest, escapeChar), json: false };
    case 'env':
      return { args: parseNameVal(rest, 'ENV', escapeChar), json: false };
    case 'label':
      return { args: parseNameVal(rest, 'LABEL', escapeChar), json: false };
    case 'expose':
    case 'from':
      return { args: splitWhitespace(rest), json: false };
    case 'maintainer':
    case 'stopsignal':
    case 'user':
    case 'workdir':
      return { args: rest === '' ? [] : [rest], json: false };
    case 'healthcheck': {
      const m = /^(\S+)\s*/.exec(rest);
      if (!m) return { args: [], json: false };
      const type = m[1] as string;
      const cmdRest = rest.slice(m[0].length);
      if (cmdRest === '') return { args: [type], json: false };
      const json = parseJSON(cmdRest);
      return json ? { args: [type, ...json], json: true } : { args: [type, cmdRest], json: false };
    }
    case 'onbuild':
      if (rest === '') return { args: [], json: false };
      return { args: [], json: false, sub: parseNode(rest, escapeChar) };
    default:
      // Unknown keywords parse (as in BuildKit) and are rejected when typed, with a suggestion.
      return { args: [], json: false };
  }
}

/** Splits one joined line (continuations already removed) into a ParsedNode. */
export function parseNode(line: string, escapeChar: string): ParsedNode {
  const trimmed = trimSpace(line);
  const m = reWhitespace.exec(trimmed);
  const keyword = m ? trimmed.slice(0, m.index) : trimmed;
  const cmd = keyword.toLowerCase();
  let flags: string[] = [];
  let rest = '';
  if (m) {
    const extracted = extractBuilderFlags(trimmed.slice(m.index + m[0].length));
    flags = extracted.flags;
    rest = trimSpace(extracted.rest);
  }
  const parsed = parseArgs(cmd, rest, escapeChar);
  return { cmd, keyword, flags, rest, ...parsed };
}

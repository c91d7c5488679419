import { DockerfileParser } from 'dockerfile-ast';
import { DockerfileError } from './dockerfileError.js';
import type { Heredoc, SourceRange } from './instructions.js';
import { NodeSyntaxError, parseNode, type ParsedNode } from './parseNode.js';
import { lexWord, ExpansionError } from './shellLex.js';

/** A logical instruction line with where it came from. */
export interface ScannedNode extends ParsedNode {
  /** The joined line as BuildKit keeps it in `Node.Original`, trimmed. */
  original: string;
  range: SourceRange;
  heredocs: Heredoc[];
}

export interface ScanResult {
  escapeChar: '\\' | '`';
  directives: Record<string, string>;
  nodes: ScannedNode[];
  /** Number of physical lines, for errors that point past the last instruction. */
  lineCount: number;
}

const VALID_DIRECTIVES = new Set(['syntax', 'escape', 'check']);

/** Go's unicode.IsSpace, as a leading-trim. */
const LEADING_SPACE = /^[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+/u;

function trimNewline(s: string): string {
  return s.replace(/[\r\n]+$/, '');
}

function isComment(line: string): boolean {
  return trimNewline(line).replace(LEADING_SPACE, '').startsWith('#');
}

/**
 * Reads parser directives with dockerfile-ast, then applies BuildKit's rules on top: only
 * `syntax`, `escape` and `check` are directives (an unknown one ends the header, as in
 * BuildKit), the escape must be \ or `, and a directive may not repeat.
 */
function readDirectives(text: string, file: string): { escapeChar: '\\' | '`'; directives: Record<string, string> } {
  const directives: Record<string, string> = {};
  let escapeChar: '\\' | '`' = '\\';
  for (const d of DockerfileParser.parse(directiveHeader(text)).getDirectives()) {
    const name = d.getName().toLowerCase();
    if (!VALID_DIRECTIVES.has(name)) break;
    const r = d.getRange();
    const range: SourceRange = {
      start: { line: r.start.line + 1, column: r.start.character + 1 },
      end: { line: r.end.line + 1, column: r.end.character + 1 },
    };
    if (name in directives) {
      throw new DockerfileError(`only one ${name} parser directive can be used`, range, { file });
    }
    const value = d.getValue();
    if (name === 'escape') {
      if (value !== '\\' && value !== '`') {
        throw new DockerfileError(`invalid escape token '${value}' does not match \` or \\`, range, { file });
      }
      escapeChar = value;
    }
    directives[name] = value;
  }
  return { escapeChar, directives };
}

/**
 * The leading comment and blank lines: directives can only live there, and handing
 * dockerfile-ast the whole file made it parse every instruction (most of the parse time).
 */
function directiveHeader(text: string): string {
  const re = /[^\n]*(?:\n|$)/g;
  let end = 0;
  for (let m = re.exec(text); m !== null && m[0] !== ''; m = re.exec(text)) {
    const line = m[0].replace(LEADING_SPACE, '');
    if (line !== '' && !line.startsWith('#')) break;
    end = re.lastIndex;
  }
  return text.slice(0, end);
}

/** Physical lines with their line endings, as Go's bufio scanner with a keep-ends split. */
function splitLines(text: string): string[] {
  return text.match(/[^\n]*\n|[^\n]+$/g) ?? [];
}

function canContainHeredoc(node: ParsedNode): boolean {
  const n = node.cmd === 'onbuild' && node.sub ? node.sub : node;
  return (n.cmd === 'run' || n.cmd === 'copy' || n.cmd === 'add') && !n.json;
}

/** BuildKit's ParseHeredoc for one word of the line: `[fd]<<[-]NAME`, NAME possibly quoted. */
function heredocFromWord(word: string): Omit<Heredoc, 'content'> | undefined {
  const m = /^(\d*)<<(-?)[\t\n\f\r ]*([^<]*)$/.exec(word);
  if (!m) return undefined;
  const rest = m[3] as string;
  if (rest === '') return undefined;
  const none = (): undefined => undefined;
  const plain = lexWord(rest, none, { skipUnsetEnv: true }).words;
  if (plain.length !== 1) return undefined;
  const raw = lexWord(rest, none, { skipUnsetEnv: true, rawQuotes: true }).words;
  const quotes = (s: string): number => (s.match(/['"]/g) ?? []).length;
  const name = plain[0] as string;
  return {
    name,
    // Any quoting in the delimiter word turns expansion of the body off, as in sh.
    expand: quotes(name) === quotes(raw[0] ?? ''),
    chomp: m[2] === '-',
    fileDescriptor: m[1] ? Number.parseInt(m[1], 10) : 0,
  };
}

function heredocsFromLine(line: string): Array<Omit<Heredoc, 'content'>> {
  let words: string[];
  try {
    words = lexWord(line, () => undefined, { rawQuotes: true, rawEscapes: true, skipUnsetEnv: true }).words;
  } catch {
    // BuildKit ignores lexing errors here: such a line simply has no heredocs.
    return [];
  }
  const docs: Array<Omit<Heredoc, 'content'>> = [];
  for (const w of words) {
    const doc = heredocFromWord(w);
    if (doc) docs.push(doc);
  }
  return docs;
}

/**
 * Turns Dockerfile text into logical instruction lines, following BuildKit's `parser.Parse`.
 *
 * dockerfile-ast is used for the directive header only. Its instruction boundaries disagree with
 * BuildKit's in ways that change what gets built, so line assembly is BuildKit's algorithm:
 * - a line ending in an escaped escape (`C:\\`) is not a continuation in BuildKit, while
 *   dockerfile-ast joins the next instruction onto it (buildkit-parser `trailing-backslash`);
 * - comment lines inside a continuation are dropped by BuildKit, kept in the text by dockerfile-ast;
 * - heredoc bodies are raw text to BuildKit, split into arguments by dockerfile-ast.
 */
export function scanDockerfile(input: string, file: string): ScanResult {
  const text = input.startsWith('\uFEFF') ? input.slice(1) : input;
  const { escapeChar, directives } = readDirectives(text, file);
  const e = escapeChar === '\\' ? '\\\\' : '`';
  // BuildKit: the escape ends a line as a continuation unless it is itself escaped, or it is the
  // only thing on the line.
  const continuation = new RegExp(`([^${e}])${e}[ \\t]*$|^${e}[ \\t]*$`);
  const trimContinuation = (line: string): [string, boolean] =>
    continuation.test(line) ? [line.replace(continuation, '$1'), false] : [line, true];

  const lines = splitLines(text);
  const nodes: ScannedNode[] = [];
  let i = 0;
  while (i < lines.length) {
    const rawFirst = lines[i] as string;
    const startLine = i + 1;
    i++;
    const first = trimNewline(rawFirst).replace(LEADING_SPACE, '');
    const startColumn = trimNewline(rawFirst).length - first.length + 1;
    let [buf, endOfLine] = trimContinuation(isComment(first) ? '' : first);
    if (endOfLine && buf.length === 0) continue;
    while (!endOfLine && i < lines.length) {
      const raw = lines[i] as string;
      i++;
      if (isComment(raw)) continue;
      const line = trimNewline(raw);
      // Empty continuation lines are skipped (BuildKit warns that they will become errors).
      if (line.replace(LEADING_SPACE, '').length === 0) continue;
      let part: string;
      [part, endOfLine] = trimContinuation(line);
      buf += part;
    }
    let endLine = i;
    const rangeTo = (last: number): SourceRange => ({
      start: { line: startLine, column: startColumn },
      end: { line: last, column: trimNewline(lines[last - 1] ?? '').length + 1 },
    });

    let node: ParsedNode;
    try {
      node = parseNode(buf, escapeChar);
    } catch (err) {
      if (err instanceof NodeSyntaxError) throw new DockerfileError(err.message, rangeTo(endLine), { file, line: buf.trim() });
      throw err;
    }

    const heredocs: Heredoc[] = [];
    if (canContainHeredoc(node) && buf.includes('<<')) {
      let docs: Array<Omit<Heredoc, 'content'>>;
      try {
        docs = heredocsFromLine(buf);
      } catch (err) {
        if (err instanceof ExpansionError) throw new DockerfileError(err.detail, rangeTo(endLine), { file, line: buf.trim() });
        throw err;
      }
      for (const doc of docs) {
        let content = '';
        let terminated = false;
        while (i < lines.length) {
          const raw = lines[i] as string;
          i++;
          let candidate = trimNewline(raw);
          if (doc.chomp) candidate = candidate.replace(/^\t+/, '');
          if (candidate === doc.name) {
            terminated = true;
            break;
          }
          content += raw;
        }
        endLine = i;
        if (!terminated) {
          throw new DockerfileError('unterminated heredoc', rangeTo(endLine), {
            file,
            line: buf.trim(),
            hint: `end the here-document with a line containing only ${doc.name}`,
          });
        }
        heredocs.push({ ...doc, content });
      }
    }
    nodes.push({ ...node, original: buf.trim(), range: rangeTo(endLine), heredocs });
  }
  return { escapeChar, directives, nodes, lineCount: lines.length };
}

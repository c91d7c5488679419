import { readFileSync, readdirSync, existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { scanDockerfile } from '../../../src/dockerfile/scanDockerfile.js';
import type { ParsedNode } from '../../../src/dockerfile/parseNode.js';
import { parseDockerfile } from '../../../src/dockerfile/parseDockerfile.js';
import { conformanceDir } from './conformanceDir.js';

/** Go's strconv.Quote for the characters these files contain. */
function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const cp = ch.codePointAt(0) ?? 0;
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\b') out += '\\b';
    else if (ch === '\f') out += '\\f';
    else if (ch === '\v') out += '\\v';
    else if (ch === '\x07') out += '\\a';
    else if (cp < 0x20 || cp === 0x7f) out += '\\x' + cp.toString(16).padStart(2, '0');
    else out += ch;
  }
  return out + '"';
}

/** BuildKit's Node.Dump for one instruction. */
function dump(node: ParsedNode): string {
  let str = node.cmd;
  if (node.flags.length > 0) str += ' [' + node.flags.map(goQuote).join(' ') + ']';
  if (node.sub) str += ` (${dump(node.sub)})`;
  for (const a of node.args) str += ' ' + goQuote(a);
  return str.trim();
}

const parserDir = conformanceDir('buildkit-parser');

describe('BuildKit parser conformance (buildkit-parser/testfiles)', () => {
  const cases = readdirSync(path.join(parserDir, 'testfiles'));
  it('has cases to run', () => expect(cases.length).toBeGreaterThan(10));
  for (const name of cases) {
    it(name, () => {
      const text = readFileSync(path.join(parserDir, 'testfiles', name, 'Dockerfile'), 'utf8');
      const expected = readFileSync(path.join(parserDir, 'testfiles', name, 'result'), 'utf8').replace(/\r\n/g, '\n');
      const { nodes } = scanDockerfile(text, 'Dockerfile');
      const actual = nodes.map((n) => `(${dump(n)})`).join('\n') + '\n';
      expect(actual).toBe(expected);
    });
  }
});

describe('BuildKit parser negative cases (buildkit-parser/testfiles-negative)', () => {
  const dir = path.join(parserDir, 'testfiles-negative');
  for (const name of existsSync(dir) ? readdirSync(dir) : []) {
    it(`${name} is rejected`, () => {
      const text = readFileSync(path.join(dir, name, 'Dockerfile'), 'utf8');
      expect(() => parseDockerfile(text)).toThrow();
    });
  }
});

describe('line spans (buildkit-parser/testfile-line)', () => {
  it('reports the lines BuildKit reports', () => {
    const text = readFileSync(path.join(parserDir, 'testfile-line', 'Dockerfile'), 'utf8');
    const { nodes } = scanDockerfile(text, 'Dockerfile');
    expect(nodes.map((n) => [n.range.start.line, n.range.end.line])).toEqual([
      [5, 5],
      [11, 12],
      [17, 31],
    ]);
  });
});

interface ExtractCase {
  dockerfile: string;
  expected_children_after_first: Array<{
    heredocs: Array<{ Name: string; Content: string; Expand: boolean; Chomp: boolean; FileDescriptor: number }> | null;
  }>;
}

describe('heredoc extraction (buildkit-parser/heredoc_extract_cases.json)', () => {
  const file = path.join(parserDir, 'heredoc_extract_cases.json');
  const raw: unknown = JSON.parse(readFileSync(file, 'utf8'));
  // The file holds one case (an object) today; accept a list too.
  const cases = (Array.isArray(raw) ? raw : [raw]) as ExtractCase[];
  it('has cases to run', () => expect(cases.length).toBeGreaterThan(0));
  cases.forEach((c, idx) => {
    it(`case ${idx}`, () => {
      const { nodes } = scanDockerfile(c.dockerfile, 'Dockerfile');
      const got = nodes.slice(1).map((n) =>
        n.heredocs.length === 0
          ? null
          : n.heredocs.map((h) => ({
              Name: h.name,
              Content: h.content,
              Expand: h.expand,
              Chomp: h.chomp,
              FileDescriptor: h.fileDescriptor,
            })),
      );
      expect(got).toEqual(c.expected_children_after_first.map((x) => x.heredocs));
    });
  });
});

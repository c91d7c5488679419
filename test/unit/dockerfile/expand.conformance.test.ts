import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { expandWord, expandWords } from '../../../src/dockerfile/expand.js';
import { conformanceDir } from './conformanceDir.js';

const shellDir = conformanceDir('buildkit-shell');

describe('BuildKit shell lexer: envVarTest (ProcessWord)', () => {
  const env = new Map([
    ['PWD', '/home'],
    ['SHELL', 'bash'],
    ['KOREAN', '한국어'],
    ['NULL', ''],
  ]);
  const cases: Array<{ lineNo: number; input: string; expected: string }> = [];
  readFileSync(`${shellDir}/envVarTest`, 'utf8')
    .split('\n')
    .forEach((raw, idx) => {
      if (raw.startsWith('#')) return;
      const line = raw.trim();
      if (line === '') return;
      const fields = line.split('|');
      if (fields.length !== 3) throw new Error(`envVarTest:${idx + 1}: expected 3 fields`);
      const [platform, input, expected] = fields.map((f) => f.trim()) as [string, string, string];
      // We build Linux images: Unix rules (case-sensitive names), Windows-only lines skipped.
      if (platform === 'W') return;
      cases.push({ lineNo: idx + 1, input, expected });
    });

  it('reads the table', () => expect(cases.length).toBeGreaterThan(100));
  for (const c of cases) {
    it(`line ${c.lineNo}: ${c.input}`, () => {
      if (c.expected === 'error') expect(() => expandWord(c.input, env)).toThrow();
      else expect(expandWord(c.input, env)).toBe(c.expected);
    });
  }
});

describe('BuildKit shell lexer: wordsTest (ProcessWords)', () => {
  const cases: Array<{ lineNo: number; input: string; expected: string[] | 'error'; env: Map<string, string> }> = [];
  const env = new Map<string, string>();
  const text = readFileSync(`${shellDir}/wordsTest`, 'utf8');
  text.split('\n').forEach((raw, idx) => {
    if (raw === '' && idx === text.split('\n').length - 1) return; // final newline
    if (raw.startsWith('#')) return;
    if (raw.startsWith('ENV ')) {
      const assignment = raw.slice(3).replace(/^ +/, '');
      const eq = assignment.indexOf('=');
      env.set(assignment.slice(0, eq), assignment.slice(eq + 1));
      return;
    }
    const parts = raw.split('|');
    if (parts.length !== 2) throw new Error(`wordsTest:${idx + 1}: expected one |`);
    const input = (parts[0] as string).trim();
    const right = (parts[1] as string).replace(/^ +/, '');
    cases.push({ lineNo: idx + 1, input, expected: right === 'error' ? 'error' : right.split(','), env: new Map(env) });
  });

  it('reads the table', () => expect(cases.length).toBeGreaterThan(20));
  for (const c of cases) {
    it(`line ${c.lineNo}: ${c.input}`, () => {
      if (c.expected === 'error') expect(() => expandWords(c.input, c.env)).toThrow();
      else expect(expandWords(c.input, c.env)).toEqual(c.expected);
    });
  }
});

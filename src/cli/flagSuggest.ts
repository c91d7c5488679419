/**
 * Usage help for mistyped flags: oclif says "Nonexistent flag: --tga"; we add "did you mean
 * --tag?" from the command's own flag table, and accept `--flag=true|false` for boolean flags
 * (buildah's `--tls-verify=false`, kaniko's `--cache=true`), which oclif itself refuses.
 */
import { closestMatch } from '../dockerfile/suggest.js';

export interface FlagTable {
  [name: string]: { type?: string; char?: string; aliases?: readonly string[]; allowNo?: boolean; hidden?: boolean };
}

export function flagNames(flags: FlagTable): string[] {
  const names: string[] = [];
  for (const [name, f] of Object.entries(flags)) {
    names.push(name, ...(f.aliases ?? []));
    if (f.type === 'boolean' && f.allowNo) names.push(`no-${name}`);
  }
  return names;
}

/** "did you mean --tag?" for an oclif "Nonexistent flag(s): --tga" message, if one is close. */
export function suggestFlag(message: string, flags: FlagTable): string | undefined {
  const m = /Nonexistent flags?: (--?[^\s,]+)/.exec(message);
  if (!m || m[1] === undefined) return undefined;
  const given = m[1].replace(/^--?/, '').replace(/=.*$/, '');
  const names = flagNames(flags);
  // Two swapped letters (--tga) and a cut-off name (--progres) are the commonest typos.
  const best = closestMatch(given, names) ?? names.find((n) => isTransposition(given, n)) ?? uniquePrefix(given, names);
  return best === undefined ? undefined : `did you mean --${best}?`;
}

/** Rewrites `--name=true|false` of boolean flags into the forms oclif parses. */
export function normalizeBooleanFlags(argv: readonly string[], flags: FlagTable): string[] {
  const out: string[] = [];
  for (const [i, arg] of argv.entries()) {
    if (arg === '--') {
      out.push(...argv.slice(i));
      break;
    }
    const m = /^--([^=]+)=(true|false)$/i.exec(arg);
    const flag = m?.[1] !== undefined ? flags[m[1]] : undefined;
    if (m && flag?.type === 'boolean') {
      const on = m[2]?.toLowerCase() === 'true';
      if (on) out.push(`--${m[1]}`);
      else if (flag.allowNo) out.push(`--no-${m[1]}`);
      // `--x=false` of a flag without a --no- form is its default: nothing to pass.
      continue;
    }
    out.push(arg);
  }
  return out;
}

function isTransposition(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  const diff = [...a].flatMap((c, i) => (c === b[i] ? [] : [i]));
  const [i, j] = diff;
  return diff.length === 2 && i !== undefined && j === i + 1 && a[i] === b[j] && a[j] === b[i];
}

function uniquePrefix(given: string, names: readonly string[]): string | undefined {
  if (given.length < 3) return undefined;
  const hits = names.filter((n) => n.startsWith(given));
  return hits.length === 1 ? hits[0] : undefined;
}

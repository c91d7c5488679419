import { DockerfileError } from './dockerfileError.js';
import type { Instruction, KeyValue } from './instructions.js';
import { ExpansionError, lexWord, type EnvLookup } from './shellLex.js';

export { ExpansionError } from './shellLex.js';

export type ExpandEnv = ReadonlyMap<string, string> | ((name: string) => string | undefined);

export interface ExpandOptions {
  /** The Dockerfile's escape character (`# escape=`), `\` by default. */
  escapeChar?: string;
}

function lookup(env: ExpandEnv): EnvLookup {
  return typeof env === 'function' ? env : (name) => env.get(name);
}

/**
 * One word with quotes removed and variables substituted, as BuildKit's `ProcessWord`.
 * Throws ExpansionError (code DOCKERFILE_EXPAND) on malformed input or `${VAR:?msg}`.
 */
export function expandWord(word: string, env: ExpandEnv, opts: ExpandOptions = {}): string {
  return lexWord(word, lookup(env), { escapeChar: opts.escapeChar ?? '\\' }).word;
}

/** As expandWord, then split on unquoted whitespace (BuildKit's `ProcessWords`). */
export function expandWords(word: string, env: ExpandEnv, opts: ExpandOptions = {}): string[] {
  return lexWord(word, lookup(env), { escapeChar: opts.escapeChar ?? '\\' }).words;
}

export interface ExpandInstructionOptions extends ExpandOptions {
  /** For error locations; defaults to "Dockerfile". */
  file?: string;
}

/**
 * The instruction with the fields BuildKit expands replaced by their expansion in `env`
 * (ADD, COPY, ENV, EXPOSE, FROM, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR, ARG defaults).
 * RUN, CMD, ENTRYPOINT and the rest are returned as they are: their variables belong to the
 * shell at run time. Expansion errors become DockerfileErrors at the instruction's range.
 *
 * Not expanded, as in BuildKit: COPY --from (the graph resolves it against global ARGs),
 * heredoc bodies (expanded when used, if their delimiter was unquoted), ADD --checksum.
 */
export function expandInstruction<I extends Instruction>(instr: I, env: ExpandEnv, opts: ExpandInstructionOptions = {}): I {
  const lex = { escapeChar: opts.escapeChar ?? '\\' };
  const one = (w: string): string => expandWord(w, env, lex);
  const opt = (w: string | undefined): string | undefined => (w === undefined ? undefined : one(w));
  const kvs = (pairs: KeyValue[]): KeyValue[] => pairs.map((p) => ({ key: one(p.key), value: one(p.value) }));
  try {
    const i: Instruction = instr;
    switch (i.kind) {
      case 'FROM': {
        const platform = opt(i.platform);
        return { ...i, image: one(i.image), ...(platform !== undefined ? { platform } : {}) } as I;
      }
      case 'ARG':
        return {
          ...i,
          args: i.args.map((a) => {
            const name = one(a.name);
            return a.defaultValue === undefined ? { name } : { name, defaultValue: one(a.defaultValue) };
          }),
        } as I;
      case 'ENV':
      case 'LABEL':
        return { ...i, pairs: kvs(i.pairs) } as I;
      case 'WORKDIR':
        return { ...i, path: one(i.path) } as I;
      case 'USER':
        return { ...i, user: one(i.user) } as I;
      case 'STOPSIGNAL':
        return { ...i, signal: one(i.signal) } as I;
      case 'VOLUME':
        return { ...i, paths: i.paths.map(one) } as I;
      case 'EXPOSE':
        // BuildKit splits each expanded port word again: EXPOSE $PORTS may name several ports.
        return { ...i, ports: i.ports.flatMap((p) => expandWords(p, env, lex)) } as I;
      case 'COPY':
      case 'ADD': {
        const chown = opt(i.chown);
        const chmod = opt(i.chmod);
        return {
          ...i,
          sources: i.sources.map(one),
          dest: one(i.dest),
          ...(chown !== undefined ? { chown } : {}),
          ...(chmod !== undefined ? { chmod } : {}),
        } as I;
      }
      default:
        return instr;
    }
  } catch (err) {
    if (err instanceof ExpansionError) {
      throw new DockerfileError(err.message, instr.range, {
        code: 'DOCKERFILE_EXPAND',
        file: opts.file ?? 'Dockerfile',
        line: instr.original,
        ...(err.hint !== undefined ? { hint: err.hint } : {}),
        cause: err,
      });
    }
    throw err;
  }
}

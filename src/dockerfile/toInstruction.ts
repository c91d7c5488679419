import { DockerfileError } from './dockerfileError.js';
import {
  INSTRUCTION_KEYWORDS,
  type CommandForm,
  type Instruction,
  type KeyValue,
} from './instructions.js';
import { FlagError, parseFlags, type ParsedFlags } from './parseFlags.js';
import type { ParsedNode } from './parseNode.js';
import type { ScannedNode } from './scanDockerfile.js';
import { closestMatch } from './suggest.js';

/** BuildKit's rule for `AS name`. */
const VALID_STAGE_NAME = /^[a-z][a-z0-9\-_.]*$/;

const NOT_ONBUILD_TRIGGERS = new Set(['onbuild', 'from', 'maintainer']);

class TypingError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}

function commandForm(node: ParsedNode, args: readonly string[] = node.args): CommandForm {
  // BuildKit's handleJSONArgs: JSON form is exec, anything else is one shell string.
  return node.json ? { form: 'exec', argv: [...args] } : { form: 'shell', script: args.join(' ') };
}

function pairs(node: ParsedNode, name: string): KeyValue[] {
  if (node.args.length === 0) throw new TypingError(`${name} requires at least one argument`);
  if (node.args.length % 3 !== 0) throw new TypingError(`Bad input to ${name}, too many arguments`);
  const out: KeyValue[] = [];
  for (let i = 0; i < node.args.length; i += 3) {
    const key = node.args[i] as string;
    if (key === '') throw new TypingError(`${name} names can not be blank`);
    out.push({ key, value: node.args[i + 1] as string });
  }
  return out;
}

function exactlyOne(node: ParsedNode, name: string): string {
  if (node.args.length !== 1) throw new TypingError(`${name} requires exactly one argument`);
  return node.args[0] as string;
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

const KNOWN = new Set<string>(INSTRUCTION_KEYWORDS.map((k) => k.toLowerCase()));

function typeNode(node: ScannedNode): Instruction {
  if (!KNOWN.has(node.cmd)) {
    const guess = closestMatch(node.keyword, INSTRUCTION_KEYWORDS);
    throw new TypingError(`unknown instruction: ${node.keyword}`, guess ? `did you mean ${guess}?` : undefined);
  }
  const flags: ParsedFlags = parseFlags(node.cmd, node.keyword, node.flags);
  const base = { range: node.range, original: node.original };
  switch (node.cmd) {
    case 'from': {
      const a = node.args;
      if (!(a.length === 1 || (a.length === 3 && (a[1] as string).toLowerCase() === 'as'))) {
        throw new TypingError('FROM requires either one or three arguments', 'write FROM <image> [AS <name>]');
      }
      let stageName: string | undefined;
      if (a.length === 3) {
        stageName = (a[2] as string).toLowerCase();
        if (!VALID_STAGE_NAME.test(stageName)) {
          throw new TypingError(
            `invalid name for build stage: ${JSON.stringify(a[2])}, name can't start with a number or contain symbols`,
          );
        }
      }
      return {
        kind: 'FROM',
        ...base,
        image: a[0] as string,
        ...optional('stageName', stageName),
        ...optional('platform', flags.strings.get('platform')),
      };
    }
    case 'arg': {
      if (node.args.length === 0) throw new TypingError('ARG requires at least one argument');
      return {
        kind: 'ARG',
        ...base,
        args: node.args.map((word) => {
          const eq = word.indexOf('=');
          if (eq < 0) return { name: word };
          if (eq === 0) throw new TypingError('ARG names can not be blank');
          return { name: word.slice(0, eq), defaultValue: word.slice(eq + 1) };
        }),
      };
    }
    case 'env':
      return { kind: 'ENV', ...base, pairs: pairs(node, 'ENV') };
    case 'label':
      return { kind: 'LABEL', ...base, pairs: pairs(node, 'LABEL') };
    case 'workdir':
      return { kind: 'WORKDIR', ...base, path: exactlyOne(node, 'WORKDIR') };
    case 'user':
      return { kind: 'USER', ...base, user: exactlyOne(node, 'USER') };
    case 'expose':
      if (node.args.length === 0) throw new TypingError('EXPOSE requires at least one argument');
      return { kind: 'EXPOSE', ...base, ports: [...node.args] };
    case 'cmd':
      return { kind: 'CMD', ...base, command: commandForm(node) };
    case 'entrypoint':
      return { kind: 'ENTRYPOINT', ...base, command: commandForm(node) };
    case 'run':
      return {
        kind: 'RUN',
        ...base,
        command: commandForm(node),
        flags: {
          mounts: flags.lists.get('mount') ?? [],
          devices: flags.lists.get('device') ?? [],
          ...optional('network', flags.strings.get('network')),
          ...optional('security', flags.strings.get('security')),
        },
        heredocs: node.heredocs,
      };
    case 'copy':
    case 'add': {
      const name = node.cmd.toUpperCase() as 'COPY' | 'ADD';
      if (node.args.length < 2) {
        throw new TypingError(
          `${name} requires at least two arguments, but only one was provided. Destination could not be determined.`,
          `write ${name} <src>... <dest>`,
        );
      }
      return {
        kind: name,
        ...base,
        sources: node.args.slice(0, -1),
        dest: node.args[node.args.length - 1] as string,
        ...optional('from', flags.strings.get('from')),
        ...optional('chown', flags.strings.get('chown')),
        ...optional('chmod', flags.strings.get('chmod')),
        link: flags.bools.get('link') ?? false,
        parents: flags.bools.get('parents') ?? false,
        exclude: flags.lists.get('exclude') ?? [],
        ...optional('checksum', flags.strings.get('checksum')),
        ...optional('keepGitDir', flags.bools.get('keep-git-dir')),
        ...optional('unpack', flags.bools.get('unpack')),
        json: node.json,
        heredocs: node.heredocs,
      };
    }
    case 'maintainer':
      return { kind: 'MAINTAINER', ...base, maintainer: exactlyOne(node, 'MAINTAINER') };
    case 'stopsignal':
      return { kind: 'STOPSIGNAL', ...base, signal: exactlyOne(node, 'STOPSIGNAL') };
    case 'volume':
      if (node.args.length === 0) throw new TypingError('VOLUME requires at least one argument');
      if (node.args.some((p) => p.trim() === '')) throw new TypingError('VOLUME specified can not be an empty string');
      return { kind: 'VOLUME', ...base, paths: [...node.args] };
    case 'shell':
      if (!node.json) throw new TypingError('SHELL requires the arguments to be in JSON form', 'write SHELL ["/bin/bash", "-c"]');
      if (node.args.length === 0) throw new TypingError('SHELL requires at least one argument');
      return { kind: 'SHELL', ...base, argv: [...node.args] };
    case 'healthcheck': {
      const type = (node.args[0] ?? '').toUpperCase();
      const options = Object.fromEntries(flags.strings);
      if (type === 'NONE') {
        if (node.args.length > 1) throw new TypingError('HEALTHCHECK NONE takes no arguments');
        return { kind: 'HEALTHCHECK', ...base, test: { type: 'NONE' }, options };
      }
      if (type !== 'CMD') {
        throw new TypingError(`Unknown type ${JSON.stringify(type)} in HEALTHCHECK (try CMD)`, 'write HEALTHCHECK CMD <command> or HEALTHCHECK NONE');
      }
      if (node.args.length < 2) throw new TypingError('Missing command after HEALTHCHECK CMD');
      return { kind: 'HEALTHCHECK', ...base, test: { type: 'CMD', command: commandForm(node, node.args.slice(1)) }, options };
    }
    case 'onbuild': {
      const sub = node.sub;
      if (!sub) throw new TypingError('ONBUILD requires at least one argument');
      if (NOT_ONBUILD_TRIGGERS.has(sub.cmd)) throw new TypingError(`${sub.keyword.toUpperCase()} isn't allowed as an ONBUILD trigger`);
      // Type the trigger now so a typo in it fails at parse time, not in a child build.
      typeNode({ ...sub, original: node.rest, range: node.range, heredocs: [] });
      return { kind: 'ONBUILD', ...base, expression: node.rest };
    }
    default:
      throw new TypingError(`unknown instruction: ${node.keyword}`);
  }
}

/** Types one scanned node, validating its flags and arguments; errors carry the node's range. */
export function toInstruction(node: ScannedNode, file: string): Instruction {
  try {
    return typeNode(node);
  } catch (err) {
    if (err instanceof TypingError || err instanceof FlagError) {
      throw new DockerfileError(err.message, node.range, {
        file,
        line: node.original,
        ...(err.hint !== undefined ? { hint: err.hint } : {}),
      });
    }
    throw err;
  }
}

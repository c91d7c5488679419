/**
 * The typed instructions the rest of tsbuild sees. Every member carries its `range` (for errors)
 * and `original` (the instruction as written, continuations joined and comment lines dropped,
 * as BuildKit's `Node.Original`; used for history `created_by` and messages).
 *
 * Values are kept *raw* (quotes and `$VAR` as written); `expandInstruction` expands them once the
 * builder knows the environment, because expansion depends on ARG/ENV state at that step.
 */

/** 1-based, as shown to users. `end` is exclusive (one past the last character). */
export interface Position {
  line: number;
  column: number;
}

export interface SourceRange {
  start: Position;
  end: Position;
}

export type CommandForm = { form: 'exec'; argv: string[] } | { form: 'shell'; script: string };

export interface KeyValue {
  key: string;
  value: string;
}

/** A here-document attached to RUN/COPY/ADD (`<<EOF` … `EOF`). Parsed, not yet built. */
export interface Heredoc {
  name: string;
  /** Body including its final newline; not de-indented even when `chomp` is set. */
  content: string;
  /** False when the delimiter word was quoted (`<<'EOF'`): the body must not be expanded. */
  expand: boolean;
  /** `<<-EOF`: leading tabs are stripped from the body when it is used. */
  chomp: boolean;
  /** `3<<EOF` gives 3; 0 when not given. */
  fileDescriptor: number;
}

interface Base {
  range: SourceRange;
  original: string;
}

export interface FromInstruction extends Base {
  kind: 'FROM';
  /** Raw, unexpanded (may contain `$ARG`). */
  image: string;
  /** Lower-cased: BuildKit treats stage names case-insensitively. */
  stageName?: string;
  /** Raw `--platform` value. */
  platform?: string;
}

export interface ArgInstruction extends Base {
  kind: 'ARG';
  args: Array<{ name: string; defaultValue?: string }>;
}

export interface EnvInstruction extends Base {
  kind: 'ENV';
  pairs: KeyValue[];
}

export interface LabelInstruction extends Base {
  kind: 'LABEL';
  pairs: KeyValue[];
}

export interface WorkdirInstruction extends Base {
  kind: 'WORKDIR';
  path: string;
}

export interface UserInstruction extends Base {
  kind: 'USER';
  user: string;
}

export interface ExposeInstruction extends Base {
  kind: 'EXPOSE';
  ports: string[];
}

export interface CmdInstruction extends Base {
  kind: 'CMD';
  command: CommandForm;
}

export interface EntrypointInstruction extends Base {
  kind: 'ENTRYPOINT';
  command: CommandForm;
}

/** Known RUN flags. All of them are parsed; none is implemented yet (see unsupportedReason). */
export interface RunFlags {
  /** Raw `--mount` values, e.g. `type=cache,target=/root/.cache`. */
  mounts: string[];
  network?: string;
  security?: string;
  devices: string[];
}

export interface RunInstruction extends Base {
  kind: 'RUN';
  command: CommandForm;
  flags: RunFlags;
  heredocs: Heredoc[];
}

export interface CopyInstruction extends Base {
  kind: 'COPY' | 'ADD';
  sources: string[];
  dest: string;
  /** COPY only: a stage name, a stage index or an image reference (raw). */
  from?: string;
  chown?: string;
  chmod?: string;
  /** Parsed but not supported yet. */
  link: boolean;
  parents: boolean;
  exclude: string[];
  /** ADD only, parsed but not supported yet. */
  checksum?: string;
  keepGitDir?: boolean;
  unpack?: boolean;
  /** True when sources/dest came from the JSON form (no word splitting happened). */
  json: boolean;
  heredocs: Heredoc[];
}

// Instructions below are parsed and typed so the builder can name them in errors; it rejects
// them with DOCKERFILE_UNSUPPORTED until their handlers exist (see unsupportedReason).

export interface MaintainerInstruction extends Base {
  kind: 'MAINTAINER';
  maintainer: string;
}

export interface VolumeInstruction extends Base {
  kind: 'VOLUME';
  paths: string[];
}

export interface StopsignalInstruction extends Base {
  kind: 'STOPSIGNAL';
  signal: string;
}

export interface ShellInstruction extends Base {
  kind: 'SHELL';
  argv: string[];
}

export interface HealthcheckInstruction extends Base {
  kind: 'HEALTHCHECK';
  /** `HEALTHCHECK NONE` disables the base image's check. */
  test: { type: 'NONE' } | { type: 'CMD'; command: CommandForm };
  /** Raw values of --interval, --timeout, --start-period, --start-interval, --retries. */
  options: Record<string, string>;
}

export interface OnbuildInstruction extends Base {
  kind: 'ONBUILD';
  /** The trigger as written, e.g. `RUN make`; validated as an instruction at parse time. */
  expression: string;
}

export type Instruction =
  | FromInstruction
  | ArgInstruction
  | EnvInstruction
  | LabelInstruction
  | WorkdirInstruction
  | UserInstruction
  | ExposeInstruction
  | CmdInstruction
  | EntrypointInstruction
  | RunInstruction
  | CopyInstruction
  | MaintainerInstruction
  | VolumeInstruction
  | StopsignalInstruction
  | ShellInstruction
  | HealthcheckInstruction
  | OnbuildInstruction;

export type InstructionKind = Instruction['kind'];

/** Every keyword the parser knows, in the spelling BuildKit's dispatch table uses. */
export const INSTRUCTION_KEYWORDS: readonly InstructionKind[] = [
  'ADD',
  'ARG',
  'CMD',
  'COPY',
  'ENTRYPOINT',
  'ENV',
  'EXPOSE',
  'FROM',
  'HEALTHCHECK',
  'LABEL',
  'MAINTAINER',
  'ONBUILD',
  'RUN',
  'SHELL',
  'STOPSIGNAL',
  'USER',
  'VOLUME',
  'WORKDIR',
];

export interface StageAst {
  index: number;
  /** Lower-cased stage name from `FROM … AS name`. */
  name?: string;
  from: FromInstruction;
  /** The stage's instructions after its FROM. */
  instructions: Instruction[];
}

/** Something BuildKit accepts but lints; the CLI may show it. */
export interface DockerfileWarning {
  /** BuildKit's lint rule name, e.g. DuplicateStageName (for `# check=skip=`). */
  rule?: string;
  range: SourceRange;
  message: string;
}

export interface DockerfileAst {
  file: string;
  escapeChar: '\\' | '`';
  /** Parser directives from the top of the file, names lower-cased (`syntax`, `escape`, `check`). */
  directives: Record<string, string>;
  /** ARGs before the first FROM: the only variables FROM lines can use. */
  globalArgs: ArgInstruction[];
  stages: StageAst[];
  warnings: DockerfileWarning[];
}

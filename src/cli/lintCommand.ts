/** `tsbuild lint [-f FILE] [CONTEXT]`: report problems, build nothing (the checks are in runCheck.ts). */
import { Args, Command, Flags } from '@oclif/core';
import { runCheck } from './runCheck.js';

export class LintCommand extends Command {
  static override summary = 'Check a Dockerfile without building it (same as build --check)';
  static override description =
    'Parses the Dockerfile, resolves its stages for --target and --build-arg, and reports errors and BuildKit-style warnings ' +
    '(# check=skip=RULE,... and # check=error=true are honoured). Exits 1 when there are errors.';
  static override examples = ['<%= config.bin %> lint .', '<%= config.bin %> lint -f docker/app.Dockerfile --target runtime .', 'cat Dockerfile | <%= config.bin %> lint -f -'];
  static override args = {
    context: Args.string({ description: 'build context directory', default: '.' }),
  };
  static override flags = {
    file: Flags.string({ char: 'f', description: 'path to the Dockerfile, or - for stdin (default: CONTEXT/Dockerfile)' }),
    target: Flags.string({ description: 'check the build of this stage' }),
    'build-arg': Flags.string({ description: 'set a build argument: NAME=VALUE (repeatable)', multiple: true, multipleNonGreedy: true, default: [] }),
    platform: Flags.string({ description: 'target platform (for TARGETPLATFORM and friends)' }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(LintCommand);
    process.exitCode = await runCheck(
      { context: args.context, file: flags.file, target: flags.target, buildArgs: flags['build-arg'], platform: flags.platform },
      process.stdout,
    );
  }
}

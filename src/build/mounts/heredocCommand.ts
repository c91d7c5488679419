/**
 * How BuildKit runs a RUN with here-documents. A RUN that is nothing but one heredoc runs its
 * body: as a script file when it starts with a shebang (BuildKit mounts it at /dev/pipes/NAME
 * and executes it), else through the shell as `sh -c BODY`. Any other shape (`RUN <<EOF bash`,
 * `RUN python3 <<EOF`, several heredocs) hands the whole text, heredocs included, to the shell,
 * which then applies its own rules: expansion unless the delimiter is quoted, tabs stripped for
 * `<<-`. Pure.
 */
import type { CommandForm, Heredoc } from '../../dockerfile/instructions.js';

export type HeredocCommand =
  | { kind: 'shell'; script: string }
  | { kind: 'file'; path: string; content: string };

/** `<<-EOF`: leading tabs go from every line (BuildKit's ChompHeredocContent). */
export function chompHeredoc(content: string): string {
  return content.replace(/^\t+/gm, '');
}

function onlyHeredoc(script: string, doc: Heredoc): boolean {
  const words = script.trim();
  const pattern = new RegExp(`^(?:0)?<<-?(["']?)${doc.name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\1$`);
  return pattern.test(words);
}

/** Undefined when the RUN has no heredocs (then the command runs as it is). */
export function heredocCommand(command: CommandForm, heredocs: readonly Heredoc[]): HeredocCommand | undefined {
  if (heredocs.length === 0 || command.form !== 'shell') return undefined;
  const first = heredocs[0] as Heredoc;
  if (heredocs.length === 1 && onlyHeredoc(command.script, first)) {
    const body = first.chomp ? chompHeredoc(first.content) : first.content;
    if (body.startsWith('#!')) return { kind: 'file', path: `/dev/pipes/${first.name}`, content: body };
    return { kind: 'shell', script: body };
  }
  const bodies = heredocs.map((h) => `${h.content}${h.content.endsWith('\n') || h.content === '' ? '' : '\n'}${h.name}\n`).join('');
  return { kind: 'shell', script: `${command.script}\n${bodies}` };
}

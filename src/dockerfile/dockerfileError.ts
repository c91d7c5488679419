import { TsbuildError, type ErrorCode } from '../errors.js';
import type { SourceRange } from './instructions.js';

export interface DockerfileErrorOptions {
  code?: ErrorCode;
  /** Dockerfile path as the user named it; defaults to "Dockerfile". */
  file?: string;
  /** The source line the error points at, for the CLI to show under the message. */
  line?: string;
  hint?: string;
  cause?: unknown;
}

/**
 * A failure tied to a place in the Dockerfile. The location is attached once, where the range is
 * known, and shaped `Dockerfile:3:1: detail` like BuildKit so editors can jump to it.
 */
export class DockerfileError extends TsbuildError {
  readonly file: string;
  readonly range: SourceRange;
  readonly line: string | undefined;
  /** The message without the location prefix. */
  readonly detail: string;

  constructor(detail: string, range: SourceRange, options: DockerfileErrorOptions = {}) {
    const file = options.file ?? 'Dockerfile';
    super(options.code ?? 'DOCKERFILE_SYNTAX', `${file}:${range.start.line}:${range.start.column}: ${detail}`, {
      ...(options.hint !== undefined ? { hint: options.hint } : {}),
      ...(options.cause !== undefined ? { cause: options.cause } : {}),
    });
    this.name = 'DockerfileError';
    this.file = file;
    this.range = range;
    this.line = options.line;
    this.detail = detail;
  }
}

/**
 * Every failure a user can meet is a TsbuildError with a stable `code`. Only src/cli formats
 * them; below it, code throws and wraps with `cause` so the chain can be shown with --debug.
 */
export type ErrorCode =
  | 'DOCKERFILE_SYNTAX'
  | 'DOCKERFILE_UNSUPPORTED'
  | 'DOCKERFILE_STAGE'
  | 'DOCKERFILE_EXPAND'
  | 'BUILD_ARG'
  | 'RUN_FAILED'
  | 'COPY_SOURCE'
  | 'SYMLINK_LOOP'
  | 'CONTEXT'
  | 'ISOLATION_SETUP'
  | 'ISOLATION_UNAVAILABLE'
  | 'NAMESPACE_NEEDED'
  | 'LEAVE_NAMESPACE'
  | 'HELPER_MISSING'
  | 'STORE_CORRUPT'
  | 'STORE_LOCKED'
  | 'DIGEST_MISMATCH'
  | 'DIGEST_INVALID'
  | 'BLOB_NOT_FOUND'
  | 'STORE_INCOMPATIBLE'
  | 'IMAGE_NOT_FOUND'
  | 'REFERENCE_INVALID'
  | 'REGISTRY_AUTH'
  | 'REGISTRY_HTTP'
  | 'REGISTRY_UNREACHABLE'
  | 'MANIFEST_INVALID'
  | 'PLATFORM_NOT_FOUND'
  | 'LAYER_INVALID'
  | 'TRANSPORT_INVALID'
  | 'OUTPUT_INVALID'
  | 'USAGE'
  | 'ABORTED'
  | 'INTERNAL'
  | 'CONFIG'
  | 'COMPOSE_INVALID'
  | 'DOCKERFILE_CHECK';

export interface TsbuildErrorOptions {
  hint?: string;
  cause?: unknown;
}

export class TsbuildError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;

  constructor(code: ErrorCode, message: string, options: TsbuildErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TsbuildError';
    this.code = code;
    this.hint = options.hint;
  }
}

export function isTsbuildError(err: unknown): err is TsbuildError {
  return err instanceof TsbuildError;
}

/** Wraps an unknown failure into "verb-ing noun: detail", keeping a TsbuildError's code. */
export function wrapError(code: ErrorCode, doing: string, err: unknown, hint?: string): TsbuildError {
  if (err instanceof TsbuildError) return err;
  const detail = err instanceof Error ? err.message : String(err);
  return new TsbuildError(code, `${doing}: ${detail}`, { cause: err, ...(hint ? { hint } : {}) });
}

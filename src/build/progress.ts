/**
 * What the builder tells the outside world. The builder only emits events; the CLI decides how to
 * show them (plain lines for CI logs, quiet, later tty and json), so no build code ever prints.
 */
export interface StepRef {
  /** A build-wide sequence number, like BuildKit's `#N`. */
  id: number;
  /** e.g. `[build 2/5] RUN make` */
  name: string;
  stage: string;
}

export type ProgressEvent =
  | { type: 'info'; message: string; time: number }
  | { type: 'warning'; message: string; time: number }
  | { type: 'step-start'; step: StepRef; time: number }
  | { type: 'step-log'; step: StepRef; stream: 'stdout' | 'stderr'; data: Buffer; time: number }
  | { type: 'step-end'; step: StepRef; time: number; durationMs: number; cached: boolean; error?: string };

export interface ProgressSink {
  emit(event: ProgressEvent): void;
}

export const silentProgress: ProgressSink = { emit() {} };

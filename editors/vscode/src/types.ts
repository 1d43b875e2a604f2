// Shapes of the Sandport protocol (shared/spec/protocol.md, docs/protocol.md).

/** `starting` (contract v2): the sandbox is still being set up (e.g. Docker). */
export type ProcessStatus = 'starting' | 'running' | 'completed' | 'failed' | 'killed' | 'error';

/** A process that has not ended (running, or still starting). */
export function isLive(p: { status: ProcessStatus }): boolean {
  return p.status === 'running' || p.status === 'starting';
}

export interface Process {
  id: string;
  name: string | null;
  pid: number | null;
  command: string;
  cwd: string;
  status: ProcessStatus;
  exitCode: number | null;
  signal: string | null;
  startedAt: string;
  endedAt: string | null;
  /** Addition: filled by listProcesses only. */
  listeningPorts?: number[];
}

export interface ExposedPort {
  port: number;
  name: string | null;
  url: string;
  expiresAt: string | null;
  /** Protocol v2 "Private previews" (absent from older servers: public). */
  visibility?: 'public' | 'private';
}

export interface LogNotification {
  processId: string;
  stream: 'stdout' | 'stderr';
  text: string;
  cursor: string;
  dropped?: number;
}

export interface SandboxInfo {
  sandboxId: string;
  backend: string;
  workspaceRoot: string;
  gateway: {
    listen: string | null;
    domain: string;
    publicUrl: string | null;
    sessionKey: string;
    hostHeader?: string;
    tls?: boolean;
  };
}

/** `data` of a failed command. */
export interface ErrorData {
  code: string;
  message: string;
  logTail?: string | string[];
  [k: string]: unknown;
}

export function processLabel(p: Process): string {
  return p.name || p.command;
}

export function portLabel(p: ExposedPort): string {
  return p.name ? `${p.name} (${p.port})` : `port ${p.port}`;
}

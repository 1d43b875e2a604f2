import * as vscode from 'vscode';

/** Keys of the contract's `sandport` section, as the server reads them. */
const STRING_KEYS = [
  'backend',
  'sandboxId',
  'docker.image',
  'docker.host',
  'gateway.listen',
  'gateway.domain',
  'gateway.publicUrl',
  'gateway.tls.cert',
  'gateway.tls.key',
  'gateway.hostHeader',
  'onExpose',
] as const;

/** Integer keys (contract v2 retention bounds); unset (null): the server's default. */
const INTEGER_KEYS = ['processes.keepEnded', 'processes.endedLogBytes'] as const;

function setPath(obj: Record<string, unknown>, dotted: string, value: unknown): void {
  const parts = dotted.split('.');
  let o = obj;
  for (const p of parts.slice(0, -1)) {
    if (typeof o[p] !== 'object' || o[p] === null) {
      o[p] = {};
    }
    o = o[p] as Record<string, unknown>;
  }
  o[parts[parts.length - 1]] = value;
}

/**
 * The `sandport` settings as the server expects them (nested objects).
 * Empty strings mean "unset" in the editor's settings UI: they are left out,
 * so the server applies its own defaults. `server.path` is the extension's
 * own and is never sent.
 */
export function serverSettings(): Record<string, unknown> {
  const c = vscode.workspace.getConfiguration('sandport');
  const out: Record<string, unknown> = {};
  for (const k of STRING_KEYS) {
    const v = c.get<unknown>(k);
    if (typeof v === 'string' && v.trim() !== '') {
      setPath(out, k, v.trim());
    }
  }
  for (const k of INTEGER_KEYS) {
    const v = c.get<unknown>(k);
    if (typeof v === 'number' && Number.isInteger(v)) {
      setPath(out, k, v);
    }
  }
  const mounts = c.get<unknown>('docker.mounts');
  if (Array.isArray(mounts)) {
    setPath(
      out,
      'docker.mounts',
      mounts.filter((m): m is string => typeof m === 'string' && m !== ''),
    );
  }
  return out;
}

export function onExposeSetting(): string {
  return vscode.workspace.getConfiguration('sandport').get<string>('onExpose') || 'notify';
}

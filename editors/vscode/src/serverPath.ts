import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

export interface Found {
  path: string;
  /** Where it came from, for messages. */
  source: 'setting' | 'env' | 'PATH';
}

export interface NotFound {
  /** What was tried, for the user. */
  message: string;
  source: 'setting' | 'env' | 'PATH';
}

function isExecutable(p: string): boolean {
  try {
    const st = fs.statSync(p);
    if (!st.isFile()) {
      return false;
    }
    fs.accessSync(p, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function expand(p: string, workspaceFolder: string | undefined): string {
  let out = p.trim();
  if (out === '~' || out.startsWith('~/')) {
    out = path.join(os.homedir(), out.slice(1));
  }
  if (workspaceFolder) {
    out = out.replace(/\$\{workspaceFolder\}/g, workspaceFolder);
  }
  if (!path.isAbsolute(out) && workspaceFolder && out.includes('/')) {
    out = path.resolve(workspaceFolder, out);
  }
  return out;
}

function onPath(name: string, envPath: string | undefined): string | undefined {
  for (const dir of (envPath || '').split(path.delimiter)) {
    if (!dir) {
      continue;
    }
    const candidate = path.join(dir, name);
    if (isExecutable(candidate)) {
      return candidate;
    }
  }
  return undefined;
}

/**
 * The server executable: the `sandport.server.path` setting, else the
 * `SANDPORT_SERVER` environment variable, else `sandport` on `PATH`.
 * A setting or variable that is set but wrong is reported as such (it is not
 * silently skipped for the next source).
 */
export function findServer(
  setting: string | undefined,
  env: NodeJS.ProcessEnv,
  workspaceFolder: string | undefined,
): Found | NotFound {
  if (setting && setting.trim() !== '') {
    const p = expand(setting, workspaceFolder);
    const resolved = p.includes('/') ? p : onPath(p, env.PATH);
    if (resolved && isExecutable(resolved)) {
      return { path: resolved, source: 'setting' };
    }
    return {
      source: 'setting',
      message: `The setting sandport.server.path is "${setting}", but no executable file is there.`,
    };
  }
  const fromEnv = env.SANDPORT_SERVER;
  if (fromEnv && fromEnv.trim() !== '') {
    const p = expand(fromEnv, workspaceFolder);
    const resolved = p.includes('/') ? p : onPath(p, env.PATH);
    if (resolved && isExecutable(resolved)) {
      return { path: resolved, source: 'env' };
    }
    return {
      source: 'env',
      message: `SANDPORT_SERVER is "${fromEnv}", but no executable file is there.`,
    };
  }
  const p = onPath('sandport', env.PATH);
  if (p) {
    return { path: p, source: 'PATH' };
  }
  return {
    source: 'PATH',
    message:
      'The Sandport server (the `sandport` program) was not found: sandport.server.path is empty, SANDPORT_SERVER is not set, and there is no `sandport` on PATH.',
  };
}

export function isFound(r: Found | NotFound): r is Found {
  return (r as Found).path !== undefined;
}

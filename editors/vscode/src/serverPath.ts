import { execFile } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

export interface Found {
  path: string;
  /** Where it came from, for messages. */
  source: 'setting' | 'env' | 'bundled' | 'PATH';
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
 * `SANDPORT_SERVER` environment variable, else the server bundled in the
 * extension (`server/sandport`, when the VSIX carries one), else `sandport`
 * on `PATH`.
 * A setting or variable that is set but wrong is reported as such (it is not
 * silently skipped for the next source).
 */
export function findServer(
  setting: string | undefined,
  env: NodeJS.ProcessEnv,
  workspaceFolder: string | undefined,
  bundled?: string,
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
  if (bundled && isExecutable(bundled)) {
    return { path: bundled, source: 'bundled' };
  }
  const p = onPath('sandport', env.PATH);
  if (p) {
    return { path: p, source: 'PATH' };
  }
  return {
    source: 'PATH',
    message:
      'The Sandport server (the `sandport` program) was not found: sandport.server.path is empty, SANDPORT_SERVER is not set, this copy of the extension carries no server, and there is no `sandport` on PATH.',
  };
}

export function isFound(r: Found | NotFound): r is Found {
  return (r as Found).path !== undefined;
}

/** Where a found server came from, in words (for messages). */
export function describeSource(f: Found): string {
  switch (f.source) {
    case 'setting':
      return 'the setting sandport.server.path';
    case 'env':
      return 'SANDPORT_SERVER';
    case 'bundled':
      return 'the server bundled with the extension';
    case 'PATH':
      return 'PATH';
  }
}

export type VersionCheck = { ok: true; version: string } | { ok: false; message: string };

/** The first line of `sandport --version` is `sandport X.Y.Z`. */
export function parseVersion(stdout: string): string | undefined {
  const m = /^sandport (\d+\.\d+\.\d+\S*)\s*$/m.exec(stdout.split('\n')[0] || '');
  return m ? m[1] : undefined;
}

/**
 * Run `PATH --version` before starting a server there: a program that is not
 * Sandport (or a broken build) is found here, with one clear message, instead
 * of by the language client writing into a pipe nobody reads.
 */
export function checkServer(p: string, timeoutMs = 10000): Promise<VersionCheck> {
  return new Promise((resolve) => {
    execFile(p, ['--version'], { timeout: timeoutMs, maxBuffer: 64 * 1024, windowsHide: true }, (err, stdout, stderr) => {
      const out = String(stdout);
      const version = parseVersion(out);
      if (!err && version) {
        resolve({ ok: true, version });
        return;
      }
      const e = err as (NodeJS.ErrnoException & { killed?: boolean; code?: number | string; signal?: string }) | null;
      let how: string;
      if (e?.killed) {
        how = `did not answer within ${Math.round(timeoutMs / 1000)} s`;
      } else if (e && typeof e.code === 'string') {
        how = `could not be run (${e.code})`;
      } else {
        const said = (out.trim() || String(stderr).trim()).split('\n')[0].slice(0, 120);
        how = e ? `exited with ${e.code ?? e.signal}${said ? ` and printed "${said}"` : ''}` : said ? `printed "${said}"` : 'printed nothing';
      }
      resolve({ ok: false, message: `${p} is not the Sandport server: \`${path.basename(p)} --version\` ${how} (expected "sandport X.Y.Z").` });
    });
  });
}

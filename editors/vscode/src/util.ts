// Pure helpers (no `vscode` import): unit-tested with node --test.

/** Why `text` is not a TCP port, or undefined when it is one (1–65535). */
export function portError(text: string): string | undefined {
  const s = text.trim();
  if (s === '') {
    return 'Type a port number (1–65535)';
  }
  if (!/^\d+$/.test(s)) {
    return `"${s.length > 20 ? s.slice(0, 20) + '…' : s}" is not a port number: type digits only (1–65535)`;
  }
  const n = Number(s);
  if (n < 1 || n > 65535) {
    return `${s} is not a port: ports go from 1 to 65535`;
  }
  return undefined;
}

/** A time limit in words for a progress title: "30 s", "10 min", "2 h". */
export function formatLimit(ms: number): string {
  if (ms < 60000) {
    return `${Math.round(ms / 1000)} s`;
  }
  if (ms < 2 * 3600000) {
    return `${Math.round(ms / 60000)} min`;
  }
  return `${Math.round(ms / 3600000)} h`;
}

/** A line the progress notification shows under its title as the wait goes on. */
export function waitedText(serverMessage: string | undefined, limitMs: number): string | undefined {
  return serverMessage ? `${serverMessage} of ${formatLimit(limitMs)}` : undefined;
}

/**
 * The documents the server needs, and only those: code lenses are offered on
 * lines naming a port (`listen(3000)`, `port: 3000`, `PORT=3000`, `:3000`),
 * which appear in the code and configuration of services — not in every file
 * of every language. Plus the services files themselves.
 */
export const DOCUMENT_LANGUAGES = [
  // JavaScript and friends (app.listen(3000), vite/next configs)
  'javascript',
  'javascriptreact',
  'typescript',
  'typescriptreact',
  'vue',
  'svelte',
  'astro',
  // other server languages
  'python',
  'go',
  'rust',
  'ruby',
  'php',
  'java',
  'kotlin',
  'scala',
  'csharp',
  'elixir',
  'dart',
  // configuration and scripts that start services
  'json',
  'jsonc',
  'yaml',
  'toml',
  'dockerfile',
  'dockercompose',
  'shellscript',
  'makefile',
  'properties',
  'dotenv',
  'ini',
] as const;

/** Files that are not recognised by language: services files and env files. */
export const DOCUMENT_PATTERNS = ['**/sandport.toml', '**/Procfile', '**/Procfile.*', '**/.env', '**/.env.*'] as const;

export function documentSelector(): { scheme: string; language?: string; pattern?: string }[] {
  return [
    ...DOCUMENT_LANGUAGES.map((language) => ({ scheme: 'file', language })),
    ...DOCUMENT_PATTERNS.map((pattern) => ({ scheme: 'file', pattern })),
  ];
}

/** "web, worker and 2 more" */
export function listNames(names: string[], max = 3): string {
  if (names.length <= 1) {
    return names.join('');
  }
  if (names.length <= max) {
    return `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}`;
  }
  return `${names.slice(0, max).join(', ')} and ${names.length - max} more`;
}

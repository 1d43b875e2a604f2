import * as vscode from 'vscode';
import { Sandport, SandportError, openSimpleBrowser } from './client';
import { ExposedPort, Process, isLive, portLabel, processLabel } from './types';
import { formatLimit, portError, waitedText } from './util';

/** How long the palette's waits wait (the server's own default is shorter). */
const WAIT_MS = 600000;

const RECENT_KEY = 'sandport.recentCommands';
const RECENT_MAX = 10;

/** What a command may be given: a tree node, or `{processId}` / `{port}`. */
type Arg = { kind?: string; process?: Process; port?: ExposedPort | number; processId?: string; url?: string } | undefined;

function processOf(sp: Sandport, arg: Arg): Process | undefined {
  if (arg?.process) {
    return arg.process;
  }
  if (arg?.processId) {
    return sp.processes.get(arg.processId);
  }
  return undefined;
}

function portOf(sp: Sandport, arg: Arg): ExposedPort | undefined {
  if (arg && typeof arg.port === 'object') {
    return arg.port;
  }
  if (arg && typeof arg.port === 'number') {
    return sp.ports.find((p) => p.port === arg.port);
  }
  return undefined;
}

function report(sp: Sandport, e: unknown, what: string): void {
  if (e instanceof SandportError) {
    if (e.code === 'CANCELLED') {
      void vscode.window.setStatusBarMessage(`Sandport: ${what} cancelled`, 4000);
      return;
    }
    const actions: string[] = [];
    const pid = typeof e.data?.processId === 'string' ? e.data.processId : undefined;
    if (pid) {
      actions.push('Show Logs');
    }
    if (e.code === 'NOT_RUNNING') {
      actions.push(sp.state === 'missing' ? 'Open Setting' : 'Restart Server');
    }
    void sp.notify('error', `Sandport: ${what} failed: ${e.message} (${e.code})`, actions).then((a) => {
      if (a === 'Show Logs' && pid) {
        const p = sp.processes.get(pid);
        if (p) {
          void sp.showLogs(p);
        }
      } else if (a === 'Open Setting') {
        void vscode.commands.executeCommand('workbench.action.openSettings', 'sandport.server.path');
      } else if (a === 'Restart Server') {
        void sp.restart();
      }
    });
    return;
  }
  void sp.notify('error', `Sandport: ${what} failed: ${e instanceof Error ? e.message : String(e)}`);
}

/**
 * Before a command asks anything: a folder must be open and the server must
 * be usable. Otherwise ONE message says what to do, and the command stops.
 */
export async function hasFolder(sp: Sandport): Promise<boolean> {
  if (sp.folder()) {
    return true;
  }
  const a = await sp.notify('info', 'Sandport: open a folder first — Sandport runs processes in a workspace folder.', ['Open Folder']);
  if (a === 'Open Folder') {
    await vscode.commands.executeCommand('workbench.action.files.openFolder');
  }
  return false;
}

export async function ready(sp: Sandport): Promise<boolean> {
  if (!(await hasFolder(sp))) {
    return false;
  }
  if (sp.state === 'stopped') {
    // e.g. activated by this command: start now (a problem is reported there, once).
    await sp.start();
    if ((sp.state as string) !== 'running') {
      return false;
    }
  } else if (sp.state === 'starting') {
    await sp.start();
  }
  if (sp.state === 'running') {
    return true;
  }
  report(sp, new SandportError(sp.stateDetail || `the server is ${sp.state}`, 'NOT_RUNNING'), 'Sandport');
  return false;
}

interface PItem extends vscode.QuickPickItem {
  process?: Process;
  port?: number;
  exposed?: ExposedPort;
  value?: string;
}

/** Which processes a picker offers: live ones (running or starting), ended ones, or all. */
type Which = 'live' | 'ended' | 'all';

async function pickProcess(sp: Sandport, placeHolder: string, which: Which): Promise<Process | undefined> {
  try {
    await sp.listWithPorts();
  } catch (e) {
    report(sp, e, 'listing processes');
    return undefined;
  }
  const list = [...sp.processes.values()]
    .filter((p) => which === 'all' || (which === 'live') === isLive(p))
    .sort((a, b) => (isLive(a) ? 0 : 1) - (isLive(b) ? 0 : 1) || b.startedAt.localeCompare(a.startedAt));
  if (list.length === 0) {
    const none = { live: 'no process is running.', ended: 'no process has ended.', all: 'no processes yet.' }[which];
    void vscode.window.showInformationMessage(`Sandport: ${none}`);
    return undefined;
  }
  const items: PItem[] = list.map((p) => ({
    label: processLabel(p),
    description: `${p.status}${p.pid ? ` · pid ${p.pid}` : ''}${p.listeningPorts?.length ? ` · :${p.listeningPorts.join(', :')}` : ''}`,
    detail: p.command,
    process: p,
  }));
  const picked = await vscode.window.showQuickPick(items, { title: `Sandport: ${placeHolder}`, placeHolder, matchOnDetail: true });
  return picked?.process;
}

async function pickExposed(sp: Sandport, placeHolder: string): Promise<ExposedPort | undefined> {
  try {
    sp.ports = (await sp.execute<{ ports: ExposedPort[] }>('sandport.getExposedPorts')).ports;
  } catch (e) {
    report(sp, e, 'listing ports');
    return undefined;
  }
  if (sp.ports.length === 0) {
    void vscode.window.showInformationMessage('Sandport: no port is exposed.');
    return undefined;
  }
  if (sp.ports.length === 1) {
    return sp.ports[0];
  }
  const items: PItem[] = sp.ports.map((x) => ({ label: portLabel(x), description: x.url, exposed: x }));
  return (await vscode.window.showQuickPick(items, { title: `Sandport: ${placeHolder}`, placeHolder }))?.exposed;
}

/**
 * A quick pick that also accepts what was typed. `typed` may return a string:
 * why the value cannot be used, shown as the first row while typing; Enter
 * then keeps the pick open.
 */
function pickOrType(items: PItem[], opts: { title: string; placeholder: string; typed: (v: string) => PItem | string | undefined }): Promise<PItem | undefined> {
  return new Promise((resolve) => {
    const qp = vscode.window.createQuickPick<PItem>();
    qp.title = opts.title;
    qp.placeholder = opts.placeholder;
    qp.matchOnDescription = true;
    qp.matchOnDetail = true;
    qp.items = items;
    let done = false;
    const invalid = (why: string): PItem => ({ label: `$(error) ${why}`, alwaysShow: true, value: INVALID });
    qp.onDidChangeValue((v) => {
      const r = v.trim() ? opts.typed(v.trim()) : undefined;
      const t = typeof r === 'string' ? invalid(r) : r;
      const matching = v.trim() ? items.filter((i) => i.kind !== vscode.QuickPickItemKind.Separator && (i.label.includes(v.trim()) || i.description?.includes(v.trim()))) : [];
      // An invalid value only matters when it matches nothing in the list.
      qp.items = t && !(t.value === INVALID && matching.length) ? [t, ...items.filter((i) => i.label !== t.label)] : items;
      if (t && qp.items[0] === t) {
        qp.activeItems = [t];
      }
    });
    qp.onDidAccept(() => {
      const sel = qp.selectedItems[0] || qp.activeItems[0];
      const v = qp.value.trim();
      const typed = v ? opts.typed(v) : undefined;
      const picked = sel || (typeof typed === 'string' ? undefined : typed);
      if (!picked || picked.value === INVALID) {
        return; // stays open: the row says why
      }
      done = true;
      resolve(picked);
      qp.hide();
    });
    qp.onDidHide(() => {
      if (!done) {
        resolve(undefined);
      }
      qp.dispose();
    });
    qp.show();
  });
}

const INVALID = '\u0000invalid';

function defaultName(command: string): string {
  // "python3 -m http.server 8000" → "http.server"; "npm run dev" → "npm-run-dev"
  const m = /-m\s+([\w.]+)/.exec(command);
  if (m) {
    return m[1];
  }
  const words = command.split(/\s+/).filter((w) => w && !w.includes('=') && !w.startsWith('-'));
  const base = (words[0] || 'process').split('/').pop() || 'process';
  return [base, ...words.slice(1, 3)].join('-').slice(0, 40);
}

const TTLS: { label: string; seconds?: number }[] = [
  { label: 'No expiry' },
  { label: '15 minutes', seconds: 900 },
  { label: '1 hour', seconds: 3600 },
  { label: '8 hours', seconds: 8 * 3600 },
  { label: '24 hours', seconds: 24 * 3600 },
  { label: 'Custom…' },
];

export function registerCommands(ctx: vscode.ExtensionContext, sp: Sandport): void {
  // Every command first checks that Sandport can act (a folder, a server).
  // (Restart Server and the menu need only the folder: they are how one
  // gets out of a server problem.)
  const reg = (id: string, f: (arg: Arg) => unknown, needs: 'server' | 'folder' = 'server') =>
    ctx.subscriptions.push(
      vscode.commands.registerCommand(id, async (arg: Arg) => ((await (needs === 'server' ? ready(sp) : hasFolder(sp))) ? f(arg) : undefined)),
    );

  reg('sandport.ui.startProcess', async (arg) => {
    const recent = ctx.workspaceState.get<string[]>(RECENT_KEY, []);
    let command = (arg as { command?: string } | undefined)?.command;
    if (!command) {
      const items: PItem[] = recent.map((c) => ({ label: c, description: 'recent', value: c }));
      const picked = await pickOrType(items, {
        title: 'Sandport: Start Process',
        placeholder: 'Command to run in the sandbox, e.g. python3 -m http.server 8000',
        typed: (v) => ({ label: v, description: 'run this command', value: v, alwaysShow: true }),
      });
      command = picked?.value;
    }
    if (!command) {
      return;
    }
    const givenName = (arg as { name?: string } | undefined)?.name;
    const name = givenName !== undefined ? givenName : await vscode.window.showInputBox({
      title: 'Sandport: Start Process',
      prompt: `Name for "${command}" (used for its log panel)`,
      value: defaultName(command),
    });
    if (name === undefined) {
      return;
    }
    await ctx.workspaceState.update(RECENT_KEY, [command, ...recent.filter((c) => c !== command)].slice(0, RECENT_MAX));
    try {
      const p = await sp.execute<Process>('sandport.startProcess', { command, name: name.trim() || undefined });
      // A sandport/processChanged that came first is newer (a fast process may have ended).
      if (!sp.processes.has(p.id)) {
        sp.processes.set(p.id, p);
      }
      void vscode.window.setStatusBarMessage(`Sandport: started ${processLabel(p)} (pid ${p.pid ?? '?'})`, 5000);
      return p;
    } catch (e) {
      report(sp, e, `starting "${command}"`);
    }
  });

  reg('sandport.ui.stopProcess', async (arg) => {
    const p = processOf(sp, arg) || (await pickProcess(sp, 'Process to stop', 'live'));
    if (!p) {
      return;
    }
    try {
      await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `Sandport: stopping ${processLabel(p)}…` },
        () => sp.execute<Process>('sandport.killProcess', { processId: p.id }),
      );
    } catch (e) {
      report(sp, e, `stopping ${processLabel(p)}`);
    }
  });

  reg('sandport.ui.removeProcess', async (arg) => {
    const p = processOf(sp, arg) || (await pickProcess(sp, 'Ended process to remove (with its logs)', 'ended'));
    if (!p) {
      return;
    }
    try {
      // The server answers PROCESS_RUNNING for a live one (shown by report);
      // `sandport/processRemoved` drops it from the view and its log channel.
      const r = await sp.execute<{ removed: boolean }>('sandport.removeProcess', { processId: p.id });
      if (!r.removed) {
        // already forgotten (e.g. by processes.keepEnded): drop what is left here.
        sp.processRemoved({ processId: p.id });
      }
      void vscode.window.setStatusBarMessage(`Sandport: removed ${processLabel(p)}`, 4000);
      return r;
    } catch (e) {
      report(sp, e, `removing ${processLabel(p)}`);
    }
  });

  reg('sandport.ui.stopAll', async () => {
    try {
      await sp.listWithPorts();
    } catch (e) {
      report(sp, e, 'listing processes');
      return;
    }
    const running = sp.running();
    if (running.length === 0) {
      void vscode.window.showInformationMessage('Sandport: no process is running.');
      return;
    }
    const items: PItem[] = running.map((p) => ({ label: processLabel(p), description: `pid ${p.pid ?? '?'}`, detail: p.command, process: p, picked: true }));
    const picked = await vscode.window.showQuickPick(items, { title: 'Sandport: Processes to stop', canPickMany: true, placeHolder: 'All running processes are selected' });
    if (!picked || picked.length === 0) {
      return;
    }
    try {
      await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `Sandport: stopping ${picked.length} process(es)…` },
        async () => {
          if (picked.length === running.length) {
            await sp.execute('sandport.killAllProcesses');
          } else {
            await Promise.all(picked.map((i) => sp.execute('sandport.killProcess', { processId: i.process!.id })));
          }
        },
      );
    } catch (e) {
      report(sp, e, 'stopping processes');
    }
  });

  reg('sandport.ui.waitForPort', async (arg) => {
    const given = arg as { port?: number; processId?: string } | undefined;
    let port = typeof given?.port === 'number' ? given.port : undefined;
    if (port === undefined) {
      const v = await vscode.window.showInputBox({
        title: 'Sandport: Wait for Port',
        prompt: `Port to wait for (an HTTP answer 200–399; up to ${formatLimit(WAIT_MS)})`,
        placeHolder: 'e.g. 8000',
        validateInput: (s) => (s === '' ? undefined : portError(s)),
      });
      if (!v || portError(v)) {
        return;
      }
      port = +v.trim();
    }
    const processId = given?.processId;
    try {
      const r = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `Sandport: waiting for port ${port} (up to ${formatLimit(WAIT_MS)})`, cancellable: true },
        (progress, token) =>
          sp.execute<{ port: number; elapsedMs: number; statusCode?: number }>('sandport.waitForPort', { port, processId, timeout: WAIT_MS }, token, (m) =>
            progress.report({ message: waitedText(m, WAIT_MS) }),
          ),
      );
      const a = await sp.notify('info', `Sandport: port ${r.port} is ready (${r.statusCode ? `HTTP ${r.statusCode}, ` : ''}${r.elapsedMs} ms).`, ['Expose Port']);
      if (a === 'Expose Port') {
        await vscode.commands.executeCommand('sandport.ui.exposePort', { port: r.port });
      }
      return r;
    } catch (e) {
      report(sp, e, `waiting for port ${port}`);
    }
  });

  reg('sandport.ui.waitForLog', async (arg) => {
    const p = processOf(sp, arg) || (await pickProcess(sp, 'Process whose output to watch', 'live'));
    if (!p) {
      return;
    }
    const givenPattern = (arg as { pattern?: string } | undefined)?.pattern;
    const pattern = givenPattern || await vscode.window.showInputBox({
      title: 'Sandport: Wait for Log',
      prompt: `Text to wait for in the output of ${processLabel(p)} (/regex/flags for a regular expression)`,
    });
    if (!pattern) {
      return;
    }
    try {
      const r = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `Sandport: waiting for "${pattern}" in ${processLabel(p)} (up to ${formatLimit(WAIT_MS)})`, cancellable: true },
        (progress, token) =>
          sp.execute<{ line: string; stream: string }>('sandport.waitForLog', { processId: p.id, pattern, timeout: WAIT_MS }, token, (m) =>
            progress.report({ message: waitedText(m, WAIT_MS) }),
          ),
      );
      void sp.notify('info', `Sandport: ${processLabel(p)} printed: ${r.line}`);
      return r;
    } catch (e) {
      report(sp, e, `waiting for "${pattern}"`);
    }
  });

  reg('sandport.ui.exposePort', async (arg) => {
    let port = typeof arg?.port === 'number' ? arg.port : undefined;
    let suggested: string | undefined;
    if (port === undefined) {
      let procs: Process[];
      try {
        procs = await sp.listWithPorts();
      } catch (e) {
        report(sp, e, 'listing processes');
        return;
      }
      const exposed = new Map(sp.ports.map((x) => [x.port, x]));
      const items: PItem[] = [];
      for (const p of procs.filter((q) => q.status === 'running')) {
        for (const n of p.listeningPorts || []) {
          const x = exposed.get(n);
          items.push({
            label: `${n}`,
            description: `${processLabel(p)}${x ? ' · exposed' : ''}`,
            detail: x ? `${x.url} — exposing it again keeps this URL` : p.command,
            port: n,
            value: p.name || undefined,
          });
        }
      }
      if (items.length) {
        items.unshift({ label: 'Ports in use', kind: vscode.QuickPickItemKind.Separator });
      }
      const picked = await pickOrType(items, {
        title: 'Sandport: Expose Port',
        placeholder: items.length ? 'Pick a port in use, or type a port number' : 'No port in use yet: type a port number',
        typed: (v) => portError(v) ?? (items.find((i) => i.port === +v) || { label: v, description: 'expose this port', port: +v, alwaysShow: true }),
      });
      if (!picked?.port) {
        return;
      }
      port = picked.port;
      suggested = sp.ports.find((x) => x.port === port)?.name || picked.value;
    } else {
      suggested = sp.ports.find((x) => x.port === port)?.name || undefined;
    }
    const given = arg as { name?: string; ttlSeconds?: number } | undefined;
    const scripted = given?.name !== undefined;
    const name = scripted ? given!.name! : await vscode.window.showInputBox({
      title: `Sandport: Expose Port ${port}`,
      prompt: 'Name (optional), shown with the URL',
      value: suggested || '',
      placeHolder: 'e.g. web-server',
    });
    if (name === undefined) {
      return;
    }
    const ttl = scripted ? { label: 'given', seconds: given!.ttlSeconds } : await vscode.window.showQuickPick(TTLS, { title: `Sandport: Expose Port ${port}`, placeHolder: 'How long the URL works' });
    if (!ttl) {
      return;
    }
    let ttlSeconds = ttl.seconds;
    if (ttl.label === 'Custom…') {
      const v = await vscode.window.showInputBox({
        prompt: 'Minutes until the URL stops working',
        validateInput: (s) => (/^\d+$/.test(s.trim()) && +s > 0 ? undefined : 'A number of minutes'),
      });
      if (!v) {
        return;
      }
      ttlSeconds = +v * 60;
    }
    try {
      const x = await sp.execute<ExposedPort>('sandport.exposePort', { port, name: name.trim() || undefined, ttlSeconds });
      // The server asks for the notification (window/showMessageRequest);
      // keep the list fresh in case portsChanged comes later.
      if (!sp.ports.some((p) => p.port === x.port && p.url === x.url)) {
        sp.ports = [...sp.ports.filter((p) => p.port !== x.port), x].sort((a, b) => a.port - b.port);
      }
      return x;
    } catch (e) {
      report(sp, e, `exposing port ${port}`);
    }
  });

  reg('sandport.ui.closePort', async (arg) => {
    const x = portOf(sp, arg) || (await pickExposed(sp, 'Port to close'));
    if (!x) {
      return;
    }
    try {
      await sp.execute('sandport.closePort', { port: x.port });
      void vscode.window.setStatusBarMessage(`Sandport: closed ${portLabel(x)}`, 4000);
    } catch (e) {
      report(sp, e, `closing port ${x.port}`);
    }
  });

  reg('sandport.ui.openPreview', async (arg) => {
    const x = portOf(sp, arg) || (await pickExposed(sp, 'Preview to open'));
    if (x) {
      try {
        await vscode.env.openExternal(vscode.Uri.parse(await sp.openUrlOf(x)));
      } catch (e) {
        report(sp, e, `opening port ${x.port}`);
      }
    }
  });

  reg('sandport.ui.openSimpleBrowser', async (arg) => {
    const x = portOf(sp, arg) || (await pickExposed(sp, 'Preview to open'));
    if (x) {
      try {
        await openSimpleBrowser(await sp.openUrlOf(x));
      } catch (e) {
        report(sp, e, `opening port ${x.port}`);
      }
    }
  });

  // Make Private / Make Public: re-expose with that visibility (the URL
  // stays; the server does not ask Open/Copy URL again for it).
  for (const [cmd, visibility] of [
    ['sandport.ui.makePrivate', 'private'],
    ['sandport.ui.makePublic', 'public'],
  ] as const) {
    reg(cmd, async (arg) => {
      const x = portOf(sp, arg) || (await pickExposed(sp, `Port to make ${visibility}`));
      if (!x) {
        return;
      }
      try {
        const y = await sp.execute<ExposedPort>('sandport.exposePort', { port: x.port, visibility });
        sp.ports = [...sp.ports.filter((p) => p.port !== y.port), y].sort((a, b) => a.port - b.port);
        void vscode.window.setStatusBarMessage(`Sandport: ${portLabel(y)} is now ${visibility}`, 4000);
        return y;
      } catch (e) {
        report(sp, e, `making port ${x.port} ${visibility}`);
      }
    });
  }

  reg('sandport.ui.copyPreviewUrl', async (arg) => {
    const x = portOf(sp, arg) || (await pickExposed(sp, 'Preview URL to copy'));
    if (x) {
      await vscode.env.clipboard.writeText(x.url);
      void vscode.window.setStatusBarMessage(`Sandport: copied ${x.url}`, 4000);
    }
  });

  reg('sandport.ui.showLogs', async (arg) => {
    const p = processOf(sp, arg) || (await pickProcess(sp, 'Show the logs of', 'all'));
    if (p) {
      await sp.showLogs(p);
    }
  });

  const execChannel = vscode.window.createOutputChannel('Sandport: Run Command');
  ctx.subscriptions.push(execChannel);
  reg('sandport.ui.exec', async (arg) => {
    const recent = ctx.workspaceState.get<string[]>(`${RECENT_KEY}.exec`, []);
    let command = (arg as { command?: string } | undefined)?.command;
    if (!command) {
      const picked = await pickOrType(
        recent.map((c) => ({ label: c, description: 'recent', value: c })),
        {
          title: 'Sandport: Run Command',
          placeholder: 'Command to run to completion in the sandbox, e.g. ls -la',
          typed: (v) => ({ label: v, description: 'run this command', value: v, alwaysShow: true }),
        },
      );
      command = picked?.value;
    }
    if (!command) {
      return;
    }
    await ctx.workspaceState.update(`${RECENT_KEY}.exec`, [command, ...recent.filter((c) => c !== command)].slice(0, RECENT_MAX));
    try {
      const r = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `Sandport: running ${command}`, cancellable: true },
        (_p, token) => sp.execute<{ exitCode: number; stdout: string; stderr: string; durationMs: number }>('sandport.exec', { command }, token),
      );
      execChannel.appendLine(`$ ${command}`);
      if (r.stdout) {
        execChannel.append(r.stdout.endsWith('\n') ? r.stdout : r.stdout + '\n');
      }
      if (r.stderr) {
        execChannel.append(r.stderr.endsWith('\n') ? r.stderr : r.stderr + '\n');
      }
      execChannel.appendLine(`[exit ${r.exitCode} after ${r.durationMs} ms]\n`);
      execChannel.show(true);
      if (r.exitCode !== 0) {
        void sp.notify('warning', `Sandport: "${command}" exited with ${r.exitCode}.`);
      }
      return r;
    } catch (e) {
      report(sp, e, `running "${command}"`);
    }
  });

  reg('sandport.ui.info', async () => {
    await sp.refreshInfo();
    const i = sp.info;
    if (!i) {
      report(sp, new SandportError(sp.stateDetail || 'no answer', sp.state === 'running' ? 'FAILED' : 'NOT_RUNNING'), 'reading the sandbox info');
      return;
    }
    const items: PItem[] = [
      { label: 'Sandbox ID', description: i.sandboxId, value: i.sandboxId },
      { label: 'Backend', description: i.backend, value: i.backend },
      { label: 'Workspace', description: i.workspaceRoot, value: i.workspaceRoot },
      { label: 'Gateway', description: i.gateway.listen || '–', value: i.gateway.listen || '' },
      { label: 'Domain', description: i.gateway.domain, value: i.gateway.domain },
      { label: 'Public URL', description: i.gateway.publicUrl || '(none)', value: i.gateway.publicUrl || '' },
      { label: 'Server', description: sp.serverPath || '–', value: sp.serverPath || '' },
      { label: 'Processes', description: `${sp.running().length} running, ${sp.processes.size} in all`, value: '' },
      { label: 'Exposed ports', description: `${sp.ports.length}`, value: '' },
      { label: 'Copy gateway session key', description: 'for direct connections (/_sandport/connect/PORT); never put it in a URL', value: i.gateway.sessionKey },
    ];
    const picked = await vscode.window.showQuickPick(items, { title: 'Sandport: Sandbox Info', placeHolder: 'Pick an entry to copy its value' });
    if (picked?.value) {
      await vscode.env.clipboard.writeText(picked.value);
      void vscode.window.setStatusBarMessage(`Sandport: copied ${picked.label}`, 4000);
    }
    return i;
  });

  reg('sandport.ui.restartServer', async () => {
    await vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title: 'Sandport: restarting the server' }, () => sp.restart());
  }, 'folder');

  reg('sandport.ui.refresh', () => sp.refresh(), 'folder');

  reg('sandport.ui.menu', async () => {
    const items: (vscode.QuickPickItem & { run: () => unknown })[] = [];
    for (const x of sp.ports) {
      items.push({ label: `$(link-external) Open ${portLabel(x)}`, description: x.url, run: async () => vscode.env.openExternal(vscode.Uri.parse(await sp.openUrlOf(x))) });
    }
    for (const p of sp.running()) {
      items.push({ label: `$(output) Logs of ${processLabel(p)}`, description: `pid ${p.pid ?? '?'}`, run: () => sp.showLogs(p) });
    }
    const cmds: [string, string, string][] = [
      ['play', 'Start Process', 'sandport.ui.startProcess'],
      ['globe', 'Expose Port', 'sandport.ui.exposePort'],
      ['debug-stop', 'Stop Process', 'sandport.ui.stopProcess'],
      ['trash', 'Remove Process', 'sandport.ui.removeProcess'],
      ['terminal', 'Run Command', 'sandport.ui.exec'],
      ['info', 'Show Sandbox Info', 'sandport.ui.info'],
      ['refresh', 'Restart Server', 'sandport.ui.restartServer'],
    ];
    for (const [icon, label, id] of cmds) {
      items.push({ label: `$(${icon}) ${label}`, run: () => vscode.commands.executeCommand(id) });
    }
    const picked = await vscode.window.showQuickPick(items, { title: 'Sandport', placeHolder: 'Sandport' });
    await picked?.run();
  }, 'folder');
}

import * as vscode from 'vscode';
import * as path from 'path';
import {
  CancellationToken,
  CloseAction,
  DidChangeConfigurationNotification,
  ErrorAction,
  ExecuteCommandRequest,
  LanguageClient,
  LanguageClientOptions,
  MessageActionItem,
  ResponseError,
  RevealOutputChannelOn,
  ServerOptions,
  ShowMessageNotification,
  ShowMessageRequest,
  ShowMessageRequestParams,
  State,
  WorkDoneProgress,
} from 'vscode-languageclient/node';
import { serverSettings } from './config';
import { LogChannels } from './logs';
import { checkServer, describeSource, findServer, isFound } from './serverPath';
import { ErrorData, ExposedPort, LogNotification, Process, SandboxInfo, portLabel, processLabel } from './types';
import { documentSelector, listNames } from './util';

export type ServerState = 'stopped' | 'starting' | 'running' | 'failed' | 'missing';

/** A failed command, with the server's `data.code`. */
export class SandportError extends Error {
  constructor(
    message: string,
    public readonly code: string,
    public readonly data?: ErrorData,
  ) {
    super(message);
  }
}

/** A notification this extension showed (kept for the tests / the API). */
export interface ShownMessage {
  kind: 'info' | 'error' | 'warning';
  message: string;
  actions: string[];
  at: number;
}

const OPEN_BROWSER = 'Open in Browser';
const OPEN_SIMPLE = 'Open in Simple Browser';
const COPY_URL = 'Copy URL';
const SHOW_LOGS = 'Show Logs';

/**
 * The language client and what it knows of the sandbox: processes (from
 * `sandport/processChanged` and `listProcesses`) and exposed ports (from
 * `sandport/portsChanged`).
 */
export class Sandport implements vscode.Disposable {
  client: LanguageClient | undefined;
  state: ServerState = 'stopped';
  stateDetail = '';
  serverPath: string | undefined;
  info: SandboxInfo | undefined;
  readonly processes = new Map<string, Process>();
  ports: ExposedPort[] = [];
  readonly shown: ShownMessage[] = [];
  readonly logs: LogChannels;
  readonly output: vscode.LogOutputChannel;
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChange = this.changed.event;
  private disposables: vscode.Disposable[] = [];
  private starting: Promise<void> | undefined;
  /** Set while this extension stops the server itself (not a crash). */
  private stopping = false;
  /** Why the server could not be used: not found, or not Sandport. */
  serverProblem: 'notFound' | 'notSandport' | undefined;
  /** `sandport --version` of the running server. */
  serverVersion: string | undefined;
  private progressTokens = 0;
  /** The server bundled in the VSIX (`server/sandport`), if this copy has one. */
  readonly bundledServer: string;

  constructor(extensionPath: string) {
    this.bundledServer = path.join(extensionPath, 'server', process.platform === 'win32' ? 'sandport.exe' : 'sandport');
    this.output = vscode.window.createOutputChannel('Sandport Server', { log: true });
    this.logs = new LogChannels((id) => this.processes.get(id));
    this.disposables.push(
      this.output,
      this.logs,
      this.changed,
      vscode.workspace.onDidChangeConfiguration((e) => this.configChanged(e)),
      vscode.workspace.onDidChangeWorkspaceFolders(() => {
        // The server serves the first folder: start it when one appears.
        if (!this.client && this.state === 'stopped') {
          void this.start();
        }
      }),
    );
  }

  private fire(): void {
    this.changed.fire();
  }

  private setState(s: ServerState, detail = ''): void {
    this.state = s;
    this.stateDetail = detail;
    this.fire();
  }

  // ---------------------------------------------------------------- lifecycle

  /** Start the server (no-op if it is running). */
  start(): Promise<void> {
    if (!this.starting) {
      this.starting = this.doStart().finally(() => {
        this.starting = undefined;
      });
    }
    return this.starting;
  }

  /** The folder the server serves: the first `file:` workspace folder. */
  folder(): vscode.WorkspaceFolder | undefined {
    return vscode.workspace.workspaceFolders?.find((f) => f.uri.scheme === 'file');
  }

  private findServer() {
    const setting = vscode.workspace.getConfiguration('sandport').get<string>('server.path');
    return findServer(setting, process.env, this.folder()?.uri.fsPath, this.bundledServer);
  }

  private async doStart(): Promise<void> {
    if (this.client) {
      return;
    }
    const folder = this.folder();
    if (!folder) {
      // The sandbox is a folder: without one there is nothing to run in.
      // Commands say so when used (once, before any question).
      this.setState('stopped', 'open a folder to use Sandport');
      return;
    }
    if (!vscode.workspace.isTrusted) {
      // package.json declares untrustedWorkspaces unsupported, so VS Code
      // does not even activate the extension there; this is the belt.
      this.setState('stopped', 'this folder is not trusted');
      return;
    }
    const found = this.findServer();
    if (!isFound(found)) {
      this.serverPath = undefined;
      this.serverProblem = 'notFound';
      this.setState('missing', found.message);
      void this.showServerProblem(found.message);
      return;
    }
    this.setState('starting');
    const version = await checkServer(found.path);
    if (!version.ok) {
      this.serverPath = undefined;
      this.serverProblem = 'notSandport';
      const message = `${version.message} It was found through ${describeSource(found)}.`;
      this.output.error(message);
      this.setState('missing', message);
      void this.showServerProblem(message);
      return;
    }
    this.serverProblem = undefined;
    this.serverPath = found.path;
    this.serverVersion = version.version;
    this.output.info(`starting ${found.path} lsp (sandport ${version.version}, from ${describeSource(found)})`);
    // No `transport`: with TransportKind.stdio the client would append --stdio.
    const run = { command: found.path, args: ['lsp'] };
    const serverOptions: ServerOptions = { run, debug: run };
    const clientOptions: LanguageClientOptions = {
      // Only the documents the server has a use for (code lenses, services
      // files), not every file of every language.
      documentSelector: documentSelector(),
      workspaceFolder: folder,
      outputChannel: this.output,
      revealOutputChannelOn: RevealOutputChannelOn.Never,
      initializationOptions: () => serverSettings(),
      // Reported once, by start() below (with buttons), not by the client.
      initializationFailedHandler: () => false,
      // The client's own settings sync: it watches the `sandport` section and
      // sends workspace/didChangeConfiguration when it changes. The middleware
      // only shapes what is sent (empty strings left out, nested), as for
      // initializationOptions.
      synchronize: { configurationSection: 'sandport' },
      middleware: {
        workspace: {
          didChangeConfiguration: async () => {
            await client.sendNotification(DidChangeConfigurationNotification.type, { settings: { sandport: serverSettings() } });
            // Requests are answered after the notification: the info (sandbox
            // id, domain) is the new one.
            void this.refreshInfo();
          },
        },
      },
      // One message of our own when the server ends (start() and the state
      // handler below), never the client's raw "write EPIPE" / "connection
      // closed" popups, and no silent restarts.
      errorHandler: {
        error: () => ({ action: ErrorAction.Shutdown, handled: true }),
        closed: () => ({ action: CloseAction.DoNotRestart, handled: true }),
      },
    };
    const client = new LanguageClient('sandport', 'Sandport', serverOptions, clientOptions);
    this.client = client;
    client.onNotification('sandport/log', (n: LogNotification) => this.logs.append(n));
    client.onNotification('sandport/processChanged', (p: Process) => this.processChanged(p));
    client.onNotification('sandport/processRemoved', (n: { processId: string }) => this.processRemoved(n));
    client.onNotification('sandport/portsChanged', (n: { ports: ExposedPort[] }) => {
      this.ports = n.ports || [];
      this.fire();
    });
    // The server asks this when a port is exposed (onExpose: notify); this
    // extension shows its own message with its own buttons instead.
    client.onRequest(ShowMessageRequest.type, (params) => this.showMessageRequest(params));
    // The server's messages; the one saying a setting needs a restart gets
    // a button for it.
    client.onNotification(ShowMessageNotification.type, (params) => {
      const kind = params.type === 1 ? 'error' : params.type === 2 ? 'warning' : 'info';
      const restart = /restart the (language )?server/i.test(params.message);
      void this.notify(kind, params.message, restart ? ['Restart Server'] : []).then((a) => {
        if (a === 'Restart Server') {
          void this.restart();
        }
      });
    });
    let ever = false;
    client.onDidChangeState((e) => {
      if (this.client !== client) {
        return;
      }
      if (e.newState === State.Running) {
        ever = true;
        this.setState('running');
        void this.refresh();
      } else if (e.newState === State.Stopped && ever && !this.stopping) {
        this.serverEnded(client);
      }
    });
    try {
      await client.start();
    } catch (e) {
      if (this.client === client) {
        this.client = undefined;
      }
      const msg = e instanceof Error ? e.message : String(e);
      this.setState('failed', msg);
      void this.notify('error', `Sandport: the server (${found.path}) could not start: ${msg}`, ['Show Server Output', 'Open Settings']).then(
        (a) => {
          if (a === 'Show Server Output') {
            this.output.show();
          } else if (a === 'Open Settings') {
            void vscode.commands.executeCommand('workbench.action.openSettings', 'sandport');
          }
        },
      );
      try {
        await client.dispose(2000);
      } catch {
        // already gone
      }
    }
  }

  /** What a stop ends: running processes and exposed ports, in words. */
  private whatRuns(): { processes: string[]; ports: string[] } {
    return { processes: this.running().map(processLabel), ports: this.ports.map(portLabel) };
  }

  private static describeStopped(w: { processes: string[]; ports: string[] }, verb: string): string {
    const parts: string[] = [];
    if (w.processes.length) {
      parts.push(`${verb} ${w.processes.length === 1 ? 'process' : `${w.processes.length} processes`} ${listNames(w.processes)}`);
    }
    if (w.ports.length) {
      parts.push(`closed the preview URL${w.ports.length === 1 ? '' : 's'} of ${listNames(w.ports)}`);
    }
    return parts.join('; ');
  }

  /** The server went away without being asked to: say so, and what it ran. */
  private serverEnded(client: LanguageClient): void {
    const w = this.whatRuns();
    this.client = undefined;
    this.processes.clear();
    this.ports = [];
    this.info = undefined;
    this.setState('failed', 'the server ended');
    const what = Sandport.describeStopped(w, 'it was running');
    void this.notify(
      'error',
      `Sandport: the server ended unexpectedly${what ? `; ${what}` : ''}. See the "Sandport Server" output.`,
      ['Restart Server', 'Show Server Output'],
    ).then((a) => {
      if (a === 'Restart Server') {
        void this.restart();
      } else if (a === 'Show Server Output') {
        this.output.show();
      }
    });
    void client.dispose(2000).catch(() => undefined);
  }

  async stop(): Promise<void> {
    const c = this.client;
    this.client = undefined;
    if (c) {
      this.stopping = true;
      try {
        await c.stop(10000);
      } catch {
        // it may have died already
      }
      try {
        await c.dispose(2000);
      } catch {
        // ignore
      }
      this.stopping = false;
    }
    this.processes.clear();
    this.ports = [];
    this.info = undefined;
    this.setState('stopped');
  }

  /**
   * Stop and start the server. The server stops its processes when it
   * stops: when any ran, a notification says which (and which previews
   * closed); otherwise the status bar says it restarted.
   */
  async restart(): Promise<void> {
    const w = this.state === 'running' ? this.whatRuns() : { processes: [], ports: [] };
    const wasRunning = this.state === 'running';
    await this.stop();
    await this.start();
    const what = Sandport.describeStopped(w, 'stopped');
    if (what) {
      void this.notify('info', `Sandport: restarted the server; ${what}.`);
    } else if (wasRunning && this.state === 'running') {
      void vscode.window.setStatusBarMessage('Sandport: the server restarted', 5000);
    }
  }

  private async showServerProblem(message: string): Promise<void> {
    const a = await this.notify('error', `Sandport: ${message}`, ['Open Setting']);
    if (a === 'Open Setting') {
      await vscode.commands.executeCommand('workbench.action.openSettings', 'sandport.server.path');
    }
  }

  /**
   * Settings changed. The server's own settings are synced by the language
   * client (`synchronize.configurationSection`); only the extension's own
   * `server.path` is handled here: a different server means a restart.
   * (VS Code also fires this when the configuration is registered: only a
   * different resolved path counts.)
   */
  private configChanged(e: vscode.ConfigurationChangeEvent): void {
    if (!e.affectsConfiguration('sandport.server.path') || this.starting) {
      return;
    }
    const found = this.findServer();
    const now = isFound(found) ? found.path : undefined;
    if (now !== this.serverPath || this.state === 'missing') {
      void this.restart();
    }
  }

  // ---------------------------------------------------------------- requests

  /** Run a server command (`workspace/executeCommand`, one object argument). */
  async execute<T>(command: string, params: object = {}, token?: CancellationToken, progress?: (message: string) => void): Promise<T> {
    if (this.starting) {
      await this.starting;
    }
    const c = this.client;
    if (!c || this.state !== 'running') {
      throw new SandportError(
        this.state === 'missing' ? this.stateDetail : `the Sandport server is not running${this.stateDetail ? ` (${this.stateDetail})` : ''}`,
        'NOT_RUNNING',
      );
    }
    // With a progress callback, the request carries a workDoneToken: the
    // server reports on it (the caller's one progress indicator shows it)
    // instead of creating a second progress of its own.
    const workDoneToken = progress ? `sandport-ui-${++this.progressTokens}` : undefined;
    const sub = workDoneToken
      ? c.onProgress(WorkDoneProgress.type, workDoneToken, (v) => {
          if (v.kind === 'report' && v.message) {
            progress!(v.message);
          }
        })
      : undefined;
    try {
      return (await c.sendRequest(ExecuteCommandRequest.type, { command, arguments: [params], workDoneToken }, token)) as T;
    } catch (e) {
      if (e instanceof ResponseError) {
        const data = e.data as ErrorData | undefined;
        const code = data?.code || (e.code === -32800 ? 'CANCELLED' : String(e.code));
        throw new SandportError(data?.message || e.message, code, data);
      }
      throw e;
    } finally {
      sub?.dispose();
    }
  }

  async refresh(): Promise<void> {
    try {
      const [list, ports] = await Promise.all([
        this.execute<{ processes: Process[] }>('sandport.listProcesses'),
        this.execute<{ ports: ExposedPort[] }>('sandport.getExposedPorts'),
      ]);
      this.processes.clear();
      for (const p of list.processes) {
        this.processes.set(p.id, p);
      }
      this.ports = ports.ports;
      this.fire();
    } catch (e) {
      this.output.warn(`refresh failed: ${e instanceof Error ? e.message : String(e)}`);
    }
    await this.refreshInfo();
  }

  async refreshInfo(): Promise<void> {
    try {
      this.info = await this.execute<SandboxInfo>('sandport.info');
      this.fire();
    } catch {
      // shown elsewhere
    }
  }

  /** Processes with the ports they listen on (`listeningPorts`). */
  async listWithPorts(): Promise<Process[]> {
    const list = await this.execute<{ processes: Process[] }>('sandport.listProcesses');
    for (const p of list.processes) {
      this.processes.set(p.id, p);
    }
    this.fire();
    return list.processes;
  }

  running(): Process[] {
    return [...this.processes.values()].filter((p) => p.status === 'running');
  }

  // ------------------------------------------------------------ notifications

  private processChanged(p: Process): void {
    const before = this.processes.get(p.id);
    // processChanged carries no listeningPorts; keep the last known.
    if (before?.listeningPorts && p.listeningPorts === undefined && p.status === 'running') {
      p.listeningPorts = before.listeningPorts;
    }
    this.processes.set(p.id, p);
    this.logs.rename(p);
    this.fire();
    if ((p.status === 'failed' || p.status === 'error') && before?.status !== p.status) {
      const how =
        p.status === 'error'
          ? 'could not be started'
          : `failed${p.exitCode !== null ? ` with exit code ${p.exitCode}` : ''}`;
      void this.notify('error', `Sandport: ${processLabel(p)} ${how}.`, [SHOW_LOGS]).then((a) => {
        if (a === SHOW_LOGS) {
          void this.showLogs(p);
        }
      });
    }
  }

  /**
   * `sandport/processRemoved`: the server forgot a process (removeProcess, or
   * its keepEnded bound). Dropped from the map (and so the tree) and its
   * Output channel disposed.
   */
  processRemoved(n: { processId: string }): void {
    if (!n || typeof n.processId !== 'string') {
      return;
    }
    const had = this.processes.delete(n.processId);
    const hadLog = this.logs.remove(n.processId);
    if (had || hadLog) {
      this.fire();
    }
  }

  async showLogs(p: Process, preserveFocus = false): Promise<void> {
    if (!this.logs.text(p.id)) {
      try {
        const r = await this.execute<{ stdout: string; stderr: string }>('sandport.getLogs', {
          processId: p.id,
          tail: 2000,
        });
        this.logs.backfill(p.id, r.stdout + (r.stderr ? (r.stdout && !r.stdout.endsWith('\n') ? '\n' : '') + r.stderr : ''));
      } catch {
        // the channel shows what it has
      }
    }
    this.logs.show(p, preserveFocus);
  }

  private async showMessageRequest(params: ShowMessageRequestParams): Promise<MessageActionItem | null> {
    const titles = (params.actions || []).map((a) => a.title);
    const url = /(https?:\/\/\S+)/.exec(params.message)?.[1];
    if (url && titles.includes('Open')) {
      // The server's "port exposed" message. Shown by the extension with its
      // own buttons; nothing is answered back (Open is done here).
      const exposed = this.ports.find((p) => p.url === url) || (await this.findExposed(url));
      void this.announceExposed(exposed, url, params.message);
      return null;
    }
    const kind = params.type === 1 ? 'error' : params.type === 2 ? 'warning' : 'info';
    const picked = await this.notify(kind, params.message, titles);
    return (params.actions || []).find((a) => a.title === picked) || null;
  }

  private async findExposed(url: string): Promise<ExposedPort | undefined> {
    try {
      const r = await this.execute<{ ports: ExposedPort[] }>('sandport.getExposedPorts');
      this.ports = r.ports;
      this.fire();
      return r.ports.find((p) => p.url === url);
    } catch {
      return undefined;
    }
  }

  /**
   * The URL to open in a browser for `x`: its URL, or for a private preview
   * a fresh login link (single use, valid 60 s: one per opening).
   */
  async openUrlOf(x: ExposedPort): Promise<string> {
    if (x.visibility !== 'private') {
      return x.url;
    }
    const link = await this.execute<{ url: string; expiresAt: string }>('sandport.createLoginLink', { port: x.port });
    return link.url;
  }

  async announceExposed(x: ExposedPort | undefined, url: string, fallback?: string): Promise<void> {
    const what = x ? (x.name ? `${x.name} (${x.port})` : `Port ${x.port}`) : undefined;
    const message = what ? `${what} is live at ${url}` : fallback || `Live at ${url}`;
    const a = await this.notify('info', message, [OPEN_BROWSER, OPEN_SIMPLE, COPY_URL]);
    if (a === OPEN_BROWSER || a === OPEN_SIMPLE) {
      // The exposure as it is now (it may have turned private meanwhile).
      const now = x && this.ports.find((p) => p.port === x.port);
      const open = now ? await this.openUrlOf(now) : url;
      await (a === OPEN_BROWSER ? vscode.env.openExternal(vscode.Uri.parse(open)) : openSimpleBrowser(open));
    } else if (a === COPY_URL) {
      await vscode.env.clipboard.writeText(url);
      void vscode.window.setStatusBarMessage(`Sandport: copied ${url}`, 4000);
    }
  }

  /** Show a notification; remembered in `shown` for the API. */
  notify(kind: ShownMessage['kind'], message: string, actions: string[] = []): Thenable<string | undefined> {
    this.shown.push({ kind, message, actions, at: Date.now() });
    if (this.shown.length > 100) {
      this.shown.shift();
    }
    const f =
      kind === 'error'
        ? vscode.window.showErrorMessage
        : kind === 'warning'
          ? vscode.window.showWarningMessage
          : vscode.window.showInformationMessage;
    return f(message, ...actions);
  }

  describePort(x: ExposedPort): string {
    return portLabel(x);
  }

  dispose(): void {
    void this.stop();
    for (const d of this.disposables) {
      d.dispose();
    }
  }
}

export async function openSimpleBrowser(url: string): Promise<void> {
  try {
    await vscode.commands.executeCommand('simpleBrowser.show', url);
  } catch {
    await vscode.env.openExternal(vscode.Uri.parse(url));
  }
}

import * as vscode from 'vscode';
import {
  CancellationToken,
  DidChangeConfigurationNotification,
  ExecuteCommandRequest,
  LanguageClient,
  LanguageClientOptions,
  MessageActionItem,
  ResponseError,
  ServerOptions,
  ShowMessageNotification,
  ShowMessageRequest,
  ShowMessageRequestParams,
  State,
} from 'vscode-languageclient/node';
import { serverSettings } from './config';
import { LogChannels } from './logs';
import { findServer, isFound } from './serverPath';
import { ErrorData, ExposedPort, LogNotification, Process, SandboxInfo, portLabel, processLabel } from './types';

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
  /** The settings the server was last given (JSON). */
  private sentSettings: string | undefined;

  constructor() {
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

  private async doStart(): Promise<void> {
    if (this.client) {
      return;
    }
    const folder = vscode.workspace.workspaceFolders?.find((f) => f.uri.scheme === 'file');
    if (!folder) {
      // The sandbox is a folder: without one there is nothing to run in.
      this.setState('stopped', 'open a folder to use Sandport');
      return;
    }
    const setting = vscode.workspace.getConfiguration('sandport').get<string>('server.path');
    const found = findServer(setting, process.env, folder.uri.fsPath);
    if (!isFound(found)) {
      this.serverPath = undefined;
      this.setState('missing', found.message);
      void this.showServerMissing(found.message);
      return;
    }
    this.serverPath = found.path;
    this.setState('starting');
    // No `transport`: with TransportKind.stdio the client would append --stdio.
    const run = { command: found.path, args: ['lsp'] };
    const serverOptions: ServerOptions = { run, debug: run };
    const clientOptions: LanguageClientOptions = {
      documentSelector: [{ scheme: 'file' }],
      workspaceFolder: folder,
      outputChannel: this.output,
      initializationOptions: () => {
        const settings = serverSettings();
        this.sentSettings = JSON.stringify(settings);
        return settings;
      },
      // Reported once, by start() below (with buttons), not by the client.
      initializationFailedHandler: () => false,
      // Settings are sent by configChanged() (without the extension's own
      // `server.path`, which the server would warn about).
      synchronize: {},
    };
    const client = new LanguageClient('sandport', 'Sandport', serverOptions, clientOptions);
    this.client = client;
    client.onNotification('sandport/log', (n: LogNotification) => this.logs.append(n));
    client.onNotification('sandport/processChanged', (p: Process) => this.processChanged(p));
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
    client.onDidChangeState((e) => {
      if (this.client !== client) {
        return;
      }
      if (e.newState === State.Running) {
        this.setState('running');
        void this.refresh();
      } else if (e.newState === State.Stopped && this.state === 'running') {
        this.setState('stopped', 'the server stopped');
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
      void this.notify('error', `Sandport: the server could not start: ${msg}`, ['Show Server Output', 'Open Settings']).then(
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

  async stop(): Promise<void> {
    const c = this.client;
    this.client = undefined;
    if (c) {
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
    }
    this.processes.clear();
    this.ports = [];
    this.info = undefined;
    this.setState('stopped');
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  private async showServerMissing(message: string): Promise<void> {
    const a = await this.notify('error', `Sandport: ${message}`, ['Open Setting']);
    if (a === 'Open Setting') {
      await vscode.commands.executeCommand('workbench.action.openSettings', 'sandport.server.path');
    }
  }

  /**
   * Settings changed. VS Code also fires this when the extension's own
   * configuration is registered (every key "changes"): only real changes
   * count, compared with what the running server was given.
   */
  private configChanged(e: vscode.ConfigurationChangeEvent): void {
    if (!e.affectsConfiguration('sandport')) {
      return;
    }
    if (e.affectsConfiguration('sandport.server.path') && this.state !== 'starting') {
      const folder = vscode.workspace.workspaceFolders?.[0];
      const setting = vscode.workspace.getConfiguration('sandport').get<string>('server.path');
      const found = findServer(setting, process.env, folder?.uri.fsPath);
      const now = isFound(found) ? found.path : undefined;
      if (now !== this.serverPath || this.state === 'missing') {
        void this.restart();
        return;
      }
    }
    const c = this.client;
    if (!c || this.state !== 'running') {
      return;
    }
    const settings = serverSettings();
    const json = JSON.stringify(settings);
    if (json === this.sentSettings) {
      return;
    }
    this.sentSettings = json;
    void c.sendNotification(DidChangeConfigurationNotification.type, { settings: { sandport: settings } });
    // The server answers with its own warnings for what it cannot apply.
    setTimeout(() => void this.refreshInfo(), 300);
  }

  // ---------------------------------------------------------------- requests

  /** Run a server command (`workspace/executeCommand`, one object argument). */
  async execute<T>(command: string, params: object = {}, token?: CancellationToken): Promise<T> {
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
    try {
      return (await c.sendRequest(ExecuteCommandRequest.type, { command, arguments: [params] }, token)) as T;
    } catch (e) {
      if (e instanceof ResponseError) {
        const data = e.data as ErrorData | undefined;
        const code = data?.code || (e.code === -32800 ? 'CANCELLED' : String(e.code));
        throw new SandportError(data?.message || e.message, code, data);
      }
      throw e;
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

  async announceExposed(x: ExposedPort | undefined, url: string, fallback?: string): Promise<void> {
    const what = x ? (x.name ? `${x.name} (${x.port})` : `Port ${x.port}`) : undefined;
    const message = what ? `${what} is live at ${url}` : fallback || `Live at ${url}`;
    const a = await this.notify('info', message, [OPEN_BROWSER, OPEN_SIMPLE, COPY_URL]);
    if (a === OPEN_BROWSER) {
      await vscode.env.openExternal(vscode.Uri.parse(url));
    } else if (a === OPEN_SIMPLE) {
      await openSimpleBrowser(url);
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

import * as vscode from 'vscode';
import { Sandport } from './client';
import { ExposedPort, Process, isLive, processLabel } from './types';

export type Node =
  | { kind: 'group'; group: 'processes' | 'ports' }
  | { kind: 'process'; process: Process }
  | { kind: 'port'; port: ExposedPort }
  | { kind: 'message'; text: string; command?: vscode.Command };

const STATUS_ICON: Record<string, vscode.ThemeIcon> = {
  starting: new vscode.ThemeIcon('loading~spin'),
  running: new vscode.ThemeIcon('circle-filled', new vscode.ThemeColor('testing.iconPassed')),
  completed: new vscode.ThemeIcon('pass', new vscode.ThemeColor('testing.iconPassed')),
  failed: new vscode.ThemeIcon('error', new vscode.ThemeColor('testing.iconFailed')),
  killed: new vscode.ThemeIcon('circle-slash'),
  error: new vscode.ThemeIcon('warning', new vscode.ThemeColor('problemsWarningIcon.foreground')),
};

export function expiryText(expiresAt: string | null, now = Date.now()): string | undefined {
  if (!expiresAt) {
    return undefined;
  }
  const ms = Date.parse(expiresAt) - now;
  if (Number.isNaN(ms)) {
    return `expires ${expiresAt}`;
  }
  if (ms <= 0) {
    return 'expired';
  }
  const min = Math.round(ms / 60000);
  if (min < 1) {
    return `expires in ${Math.ceil(ms / 1000)} s`;
  }
  if (min < 120) {
    return `expires in ${min} min`;
  }
  return `expires in ${Math.round(min / 60)} h`;
}

export function processDescription(p: Process): string {
  const parts: string[] = [];
  if (p.status === 'starting') {
    parts.push('starting');
  } else if (p.status === 'running') {
    parts.push(p.pid !== null ? `pid ${p.pid}` : 'running');
    if (p.listeningPorts?.length) {
      parts.push(`:${p.listeningPorts.join(', :')}`);
    }
  } else if (p.status === 'completed' || p.status === 'failed') {
    parts.push(`exit ${p.exitCode ?? '?'}`);
  } else if (p.status === 'killed') {
    parts.push(p.signal ? `killed (${p.signal})` : `killed${p.exitCode !== null ? ` (exit ${p.exitCode})` : ''}`);
  } else {
    parts.push('could not start');
  }
  return parts.join(' · ');
}

/** The Sandport view: processes and exposed ports. */
export class SandportTree implements vscode.TreeDataProvider<Node>, vscode.Disposable {
  private readonly emitter = new vscode.EventEmitter<Node | undefined>();
  readonly onDidChangeTreeData = this.emitter.event;
  private readonly sub: vscode.Disposable;
  private timer: NodeJS.Timeout | undefined;
  private readonly expiryTimer: NodeJS.Timeout;

  constructor(private readonly sp: Sandport) {
    // Many events in a burst: one refresh.
    this.sub = sp.onDidChange(() => {
      if (!this.timer) {
        this.timer = setTimeout(() => {
          this.timer = undefined;
          this.emitter.fire(undefined);
        }, 50);
      }
    });
    // Expiry texts ("in 5 min") age.
    this.expiryTimer = setInterval(() => {
      if (this.sp.ports.some((p) => p.expiresAt)) {
        this.emitter.fire(undefined);
      }
    }, 30000);
  }

  getChildren(node?: Node): Node[] {
    if (!node) {
      if (this.sp.state === 'missing') {
        return [
          { kind: 'message', text: this.sp.serverProblem === 'notSandport' ? 'Not the Sandport server — check sandport.server.path' : 'Sandport server not found — set sandport.server.path', command: { command: 'workbench.action.openSettings', title: 'Open Setting', arguments: ['sandport.server.path'] } },
        ];
      }
      if (this.sp.state === 'failed') {
        return [{ kind: 'message', text: `Server failed: ${this.sp.stateDetail}`, command: { command: 'sandport.ui.restartServer', title: 'Restart' } }];
      }
      if (this.sp.processes.size === 0 && this.sp.ports.length === 0) {
        return [];
      }
      return [
        { kind: 'group', group: 'processes' },
        { kind: 'group', group: 'ports' },
      ];
    }
    if (node.kind === 'group' && node.group === 'processes') {
      const order = (p: Process) => (isLive(p) ? 0 : 1);
      return [...this.sp.processes.values()]
        .sort((a, b) => order(a) - order(b) || b.startedAt.localeCompare(a.startedAt))
        .map((process) => ({ kind: 'process', process }));
    }
    if (node.kind === 'group' && node.group === 'ports') {
      return this.sp.ports.map((port) => ({ kind: 'port', port }));
    }
    return [];
  }

  getTreeItem(node: Node): vscode.TreeItem {
    switch (node.kind) {
      case 'group': {
        const n = node.group === 'processes' ? this.sp.processes.size : this.sp.ports.length;
        const label = node.group === 'processes' ? 'Processes' : 'Exposed Ports';
        const item = new vscode.TreeItem(label, vscode.TreeItemCollapsibleState.Expanded);
        item.id = `group:${node.group}`;
        item.description = String(n);
        item.contextValue = `group.${node.group}`;
        return item;
      }
      case 'process': {
        const p = node.process;
        const item = new vscode.TreeItem(processLabel(p), vscode.TreeItemCollapsibleState.None);
        item.id = `process:${p.id}`;
        item.description = processDescription(p);
        item.iconPath = STATUS_ICON[p.status] || new vscode.ThemeIcon('circle-outline');
        item.contextValue = p.status === 'running' ? 'process.running' : p.status === 'starting' ? 'process.starting' : 'process.ended';
        const md = new vscode.MarkdownString();
        md.appendMarkdown(`**${processLabel(p)}** — ${p.status}\n\n`);
        md.appendCodeblock(p.command, 'sh');
        md.appendMarkdown(`\n\nid \`${p.id}\` · pid ${p.pid ?? '–'} · cwd \`${p.cwd}\``);
        md.appendMarkdown(`\n\nstarted ${p.startedAt}${p.endedAt ? ` · ended ${p.endedAt}` : ''}`);
        if (p.exitCode !== null) {
          md.appendMarkdown(` · exit code ${p.exitCode}`);
        }
        if (p.signal) {
          md.appendMarkdown(` · signal ${p.signal}`);
        }
        item.tooltip = md;
        item.command = { command: 'sandport.ui.showLogs', title: 'Show Logs', arguments: [node] };
        return item;
      }
      case 'port': {
        const x = node.port;
        const item = new vscode.TreeItem(x.name ? `${x.name} (${x.port})` : `${x.port}`, vscode.TreeItemCollapsibleState.None);
        item.id = `port:${x.port}`;
        const exp = expiryText(x.expiresAt);
        item.description = exp ? `${x.url} · ${exp}` : x.url;
        const priv = x.visibility === 'private';
        if (priv) {
          item.description = `${item.description} · private`;
        }
        item.iconPath = new vscode.ThemeIcon(priv ? 'lock' : 'globe');
        item.contextValue = priv ? 'port.private' : 'port.public';
        item.tooltip = new vscode.MarkdownString(
          `**${x.name || `port ${x.port}`}** → [${x.url}](${x.url})\n\n${x.expiresAt ? `expires at ${x.expiresAt}` : 'no expiry'}`,
        );
        item.command = { command: 'sandport.ui.openPreview', title: 'Open Preview', arguments: [node] };
        return item;
      }
      case 'message': {
        const item = new vscode.TreeItem(node.text);
        item.iconPath = new vscode.ThemeIcon('warning');
        item.command = node.command;
        return item;
      }
    }
  }

  dispose(): void {
    if (this.timer) {
      clearTimeout(this.timer);
    }
    clearInterval(this.expiryTimer);
    this.sub.dispose();
    this.emitter.dispose();
  }
}

import * as vscode from 'vscode';
import { Sandport } from './client';
import { registerCommands } from './commands';
import { StatusBar } from './statusBar';
import { SandportTree } from './tree';

/** What the extension exports (used by its tests; stable enough for scripts). */
export interface SandportApi {
  sandport: Sandport;
  tree: SandportTree;
  statusBar: StatusBar;
  /** Run a server command with its one object argument. */
  execute<T>(command: string, params?: object): Promise<T>;
  /** The text kept for a process's Output channel. */
  logText(processId: string): string;
}

let current: Sandport | undefined;

export async function activate(ctx: vscode.ExtensionContext): Promise<SandportApi> {
  const sp = new Sandport(ctx.extensionPath);
  current = sp;
  ctx.subscriptions.push(sp);
  const tree = new SandportTree(sp);
  ctx.subscriptions.push(tree, vscode.window.registerTreeDataProvider('sandport.sandbox', tree));
  const statusBar = new StatusBar(sp);
  ctx.subscriptions.push(statusBar);
  registerCommands(ctx, sp);
  // Activated because the folder has something for Sandport (a services
  // file, a devcontainer), or by its view or a command: start the server.
  // Not awaited: activation must not wait on the server.
  void sp.start();
  return {
    sandport: sp,
    tree,
    statusBar,
    execute: (command, params) => sp.execute(command, params || {}),
    logText: (id) => sp.logs.text(id),
  };
}

export async function deactivate(): Promise<void> {
  await current?.stop();
  current = undefined;
}

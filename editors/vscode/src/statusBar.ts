import * as vscode from 'vscode';
import { Sandport } from './client';

/** "$(vm) local · 1 running · 1 port"; click: the Sandport menu. */
export class StatusBar implements vscode.Disposable {
  readonly item: vscode.StatusBarItem;
  private readonly sub: vscode.Disposable;

  constructor(private readonly sp: Sandport) {
    this.item = vscode.window.createStatusBarItem('sandport.status', vscode.StatusBarAlignment.Left, 50);
    this.item.name = 'Sandport';
    this.item.command = 'sandport.ui.menu';
    this.sub = sp.onDidChange(() => this.update());
    this.update();
    this.item.show();
  }

  update(): void {
    const sp = this.sp;
    const it = this.item;
    it.backgroundColor = undefined;
    switch (sp.state) {
      case 'missing':
        it.text = '$(error) Sandport';
        it.tooltip = `${sp.stateDetail}\nClick for the menu; set sandport.server.path.`;
        it.backgroundColor = new vscode.ThemeColor('statusBarItem.errorBackground');
        return;
      case 'failed':
        it.text = '$(error) Sandport';
        it.tooltip = `The server failed: ${sp.stateDetail}`;
        it.backgroundColor = new vscode.ThemeColor('statusBarItem.errorBackground');
        return;
      case 'starting':
        it.text = '$(sync~spin) Sandport';
        it.tooltip = 'Starting the Sandport server…';
        return;
      case 'stopped':
        it.text = '$(circle-slash) Sandport';
        it.tooltip = `The Sandport server is not running${sp.stateDetail ? `: ${sp.stateDetail}` : ''}`;
        return;
    }
    const running = sp.running().length;
    const ports = sp.ports.length;
    const backend = sp.info?.backend || vscode.workspace.getConfiguration('sandport').get<string>('backend') || 'local';
    it.text = `$(vm) ${backend} · $(play) ${running} · $(globe) ${ports}`;
    it.tooltip = `Sandport (${backend} backend${sp.info ? `, sandbox ${sp.info.sandboxId}` : ''}): ${running} process${running === 1 ? '' : 'es'} running, ${ports} port${ports === 1 ? '' : 's'} exposed`;
  }

  dispose(): void {
    this.sub.dispose();
    this.item.dispose();
  }
}

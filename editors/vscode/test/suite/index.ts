// Tests that run inside the VS Code extension host (code-server), against the
// real `sandport lsp` server: loaded through the workbench's
// extensionTestsPath; run() resolving means success, rejecting failure.
// Each result is also appended as a JSON line to the file the harness names
// in the workspace's .sandport-test.json.
import * as fs from 'fs';
import * as http from 'http';
import * as path from 'path';
import * as vscode from 'vscode';
import type { SandportApi } from '../../src/extension';
import type { ExposedPort, Process } from '../../src/types';
import type { Node } from '../../src/tree';

interface TestConfig {
  port: number;
  gatewayPort: number;
  results: string;
}

/** `sandport lsp` processes below `root` (by parent pid, from /proc). */
function sandportServersUnder(root: number): number[] {
  const parent = new Map<number, number>();
  const servers: number[] = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) {
      continue;
    }
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      parent.set(+d, +stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const argv = fs.readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0');
      if (path.basename(argv[0]) === 'sandport' && argv[1] === 'lsp') {
        servers.push(+d);
      }
    } catch {
      // gone
    }
  }
  return servers.filter((pid) => {
    for (let p = parent.get(pid), n = 0; p !== undefined && n < 64; p = parent.get(p), n++) {
      if (p === root) {
        return true;
      }
    }
    return false;
  });
}

type Test = { name: string; fn: () => Promise<void> };
const tests: Test[] = [];
const test = (name: string, fn: () => Promise<void>) => tests.push({ name, fn });

function assert(cond: unknown, msg: string): asserts cond {
  if (!cond) {
    throw new Error(msg);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Poll `f` until it returns a truthy value; bounded. */
async function until<T>(what: string, f: () => T | Promise<T>, timeoutMs = 15000, everyMs = 100): Promise<NonNullable<T>> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await f();
      if (v) {
        return v as NonNullable<T>;
      }
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}`);
    }
    await sleep(everyMs);
  }
}

function withTimeout<T>(p: Thenable<T>, ms: number, what: string): Promise<T> {
  return Promise.race([
    Promise.resolve(p),
    new Promise<T>((_, rej) => setTimeout(() => rej(new Error(`${what}: no answer in ${ms} ms`)), ms)),
  ]);
}

/** GET through the gateway: connect to 127.0.0.1:gatewayPort with the URL's Host. */
function fetchPreview(
  url: string,
  gatewayPort: number,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port: gatewayPort, path: u.pathname + u.search, method: 'GET', headers: { ...headers, Host: u.host }, timeout: 5000 },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode || 0, body, headers: res.headers }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

function labelOf(item: vscode.TreeItem): string {
  const l = item.label;
  return typeof l === 'string' ? l : l?.label || '';
}

/** The tree as text rows: "label | description" under each group. */
function treeRows(api: SandportApi): string[] {
  const rows: string[] = [];
  const walk = (n: Node | undefined, depth: number) => {
    for (const c of api.tree.getChildren(n)) {
      const it = api.tree.getTreeItem(c);
      rows.push(`${'  '.repeat(depth)}${labelOf(it)} | ${it.description ?? ''} | ${it.contextValue ?? ''}`);
      walk(c, depth + 1);
    }
  };
  walk(undefined, 0);
  return rows;
}

async function codeLenses(doc: vscode.TextDocument): Promise<vscode.CodeLens[]> {
  return (await vscode.commands.executeCommand<vscode.CodeLens[]>('vscode.executeCodeLensProvider', doc.uri)) || [];
}

export async function run(): Promise<void> {
  const folder = vscode.workspace.workspaceFolders?.[0];
  assert(folder, 'a workspace folder is open');
  const root = folder.uri.fsPath;
  const cfg = JSON.parse(fs.readFileSync(path.join(root, '.sandport-test.json'), 'utf8')) as TestConfig;
  const out = (o: object) => fs.appendFileSync(cfg.results, JSON.stringify(o) + '\n');
  const ext = vscode.extensions.getExtension<SandportApi>('sandport.sandport');
  let api!: SandportApi;
  let web!: Process;
  let exposed!: ExposedPort;
  const PORT = cfg.port;
  const wsConfig = () => vscode.workspace.getConfiguration('sandport');

  test('the installed extension activates and starts the server it carries (server/sandport)', async () => {
    assert(ext, 'extension sandport.sandport is installed');
    assert(!process.env.SANDPORT_SERVER, `SANDPORT_SERVER is set (${process.env.SANDPORT_SERVER})`);
    api = await withTimeout(ext.activate(), 20000, 'activate');
    await until('server running', () => api.sandport.state === 'running', 30000);
    const bundled = path.join(ext.extensionPath, 'server', 'sandport');
    assert(api.sandport.serverPath === bundled, `server path ${api.sandport.serverPath} (expected ${bundled})`);
    assert(/^\d+\.\d+\.\d+/.test(api.sandport.serverVersion || ''), `version ${api.sandport.serverVersion}`);
    const servers = sandportServersUnder(process.pid);
    assert(servers.length === 1, `sandport lsp processes under this extension host: ${servers}`);
  });

  test('activation: services files, devcontainers, the view and commands; never onStartupFinished; untrusted: not supported', async () => {
    const pj = ext!.packageJSON as { activationEvents: string[]; capabilities: { untrustedWorkspaces: { supported: unknown } } };
    assert(!pj.activationEvents.includes('onStartupFinished') && !pj.activationEvents.includes('*'), `events ${pj.activationEvents}`);
    for (const e of ['workspaceContains:sandport.toml', 'workspaceContains:Procfile', 'workspaceContains:.devcontainer/devcontainer.json', 'workspaceContains:.devcontainer.json', 'onView:sandport.sandbox']) {
      assert(pj.activationEvents.includes(e), `missing ${e}`);
    }
    assert(pj.capabilities.untrustedWorkspaces.supported === false, 'untrusted workspaces are declared unsupported');
  });

  test('package.json contributes every sandport setting with a description and default', async () => {
    const props = ext!.packageJSON.contributes.configuration.properties as Record<string, { default?: unknown; description?: string; markdownDescription?: string }>;
    const want = ['server.path', 'backend', 'sandboxId', 'docker.image', 'docker.host', 'docker.mounts', 'gateway.listen', 'gateway.domain', 'gateway.publicUrl', 'gateway.tls.cert', 'gateway.tls.key', 'gateway.hostHeader', 'onExpose', 'processes.keepEnded', 'processes.endedLogBytes'];
    for (const k of want) {
      const p = props[`sandport.${k}`];
      assert(p, `sandport.${k} is contributed`);
      assert(p.default !== undefined, `sandport.${k} has a default`);
      assert(p.description || p.markdownDescription, `sandport.${k} has a description`);
    }
  });

  test('settings reach the server as initializationOptions (gateway.listen, sandboxId)', async () => {
    await until('info', () => api.sandport.info);
    const info = api.sandport.info!;
    assert(info.gateway.listen === `127.0.0.1:${cfg.gatewayPort}`, `gateway listens on ${info.gateway.listen}`);
    assert(info.sandboxId === 'exttest', `sandboxId ${info.sandboxId}`);
    assert(info.backend === 'local', `backend ${info.backend}`);
  });

  test('Start Process runs python3 -m http.server; processChanged puts it in the tree', async () => {
    const p = await vscode.commands.executeCommand<Process>('sandport.ui.startProcess', {
      command: `python3 -m http.server ${PORT} --bind 127.0.0.1`,
      name: 'web',
    });
    assert(p && p.id && p.status === 'running', `started: ${JSON.stringify(p)}`);
    web = p;
    await until('process in the tree', () => treeRows(api).some((r) => r.includes('web |') && r.includes(`pid ${p.pid}`)));
  });

  test('Wait for Port answers once the server listens (progress, no UI)', async () => {
    const r = await api.execute<{ port: number; elapsedMs: number }>('sandport.waitForPort', { port: PORT, processId: web.id, timeout: 20000 });
    assert(r.port === PORT, `waited for ${r.port}`);
  });

  test('a wait cancelled from the editor cancels the request (CANCELLED)', async () => {
    const cts = new vscode.CancellationTokenSource();
    const t0 = Date.now();
    const p = api.sandport.execute('sandport.waitForPort', { port: PORT + 1, timeout: 30000 }, cts.token);
    setTimeout(() => cts.cancel(), 500);
    let err: unknown;
    try {
      await withTimeout(p, 10000, 'cancelled wait');
    } catch (e) {
      err = e;
    }
    assert((err as { code?: string })?.code === 'CANCELLED', `error: ${String(err)} code ${(err as { code?: string })?.code}`);
    assert(Date.now() - t0 < 5000, `cancel took ${Date.now() - t0} ms`);
  });

  test('listProcesses reports the port in listeningPorts (used by Expose Port)', async () => {
    await until('listeningPorts', async () => (await api.sandport.listWithPorts()).find((p) => p.id === web.id)?.listeningPorts?.includes(PORT), 10000, 300);
  });

  let doc!: vscode.TextDocument;
  test('code lens "Expose PORT" on a document naming the port', async () => {
    const file = path.join(root, 'app.js');
    fs.writeFileSync(file, `const server = { port: ${PORT} };\n`);
    doc = await vscode.workspace.openTextDocument(vscode.Uri.file(file));
    await vscode.window.showTextDocument(doc);
    const lens = await until('an Expose lens', async () => (await codeLenses(doc)).find((l) => l.command?.title === `Expose ${PORT}`), 15000, 500);
    assert(lens.command!.command === 'sandport.exposePort', `lens command ${lens.command!.command}`);
  });

  test('documents outside the selector (markdown) are not synced: no lens there', async () => {
    const file = path.join(root, 'NOTES.md');
    fs.writeFileSync(file, `The app does listen(${PORT}) and port: ${PORT}.\n`);
    const md = await vscode.workspace.openTextDocument(vscode.Uri.file(file));
    await vscode.window.showTextDocument(md, { preview: true, preserveFocus: true });
    await sleep(1500);
    const lenses = await codeLenses(md);
    assert(lenses.length === 0, `lenses on markdown: ${lenses.map((l) => l.command?.title)}`);
    // while the JavaScript file still has its lens (the server is fine)
    assert((await codeLenses(doc)).some((l) => l.command?.title === `Expose ${PORT}`), 'app.js lost its lens');
    await vscode.window.showTextDocument(doc);
  });

  test('Expose Port: notification "web-server (PORT) is live at URL" with the three buttons', async () => {
    const before = api.sandport.shown.length;
    exposed = (await vscode.commands.executeCommand<ExposedPort>('sandport.ui.exposePort', { port: PORT, name: 'web-server' }))!;
    assert(exposed && exposed.url, `exposed: ${JSON.stringify(exposed)}`);
    assert(new RegExp(`^http://${PORT}-exttest-[a-z0-9]{16}\\.localhost:${cfg.gatewayPort}/$`).test(exposed.url), `url ${exposed.url}`);
    const m = await until('the notification', () => api.sandport.shown.slice(before).find((s) => s.message.includes(exposed.url)));
    assert(m.message === `web-server (${PORT}) is live at ${exposed.url}`, `message: ${m.message}`);
    assert(JSON.stringify(m.actions) === JSON.stringify(['Open in Browser', 'Open in Simple Browser', 'Copy URL']), `actions ${m.actions}`);
  });

  test('the preview URL answers with the service (through the gateway)', async () => {
    const r = await fetchPreview(exposed.url, cfg.gatewayPort);
    assert(r.status === 200, `status ${r.status}: ${r.body.slice(0, 200)}`);
    assert(r.body.includes('Directory listing'), `body: ${r.body.slice(0, 200)}`);
  });

  test("the service's log lines arrive in its Output channel", async () => {
    await until('GET line in the log', () => api.logText(web.id).includes('"GET / HTTP/1.1" 200'), 10000);
    assert(api.sandport.logs.channelName(web.id) === 'Sandport: web', `channel ${api.sandport.logs.channelName(web.id)}`);
    await vscode.commands.executeCommand('sandport.ui.showLogs', { processId: web.id });
  });

  test('Wait for Log finds a line already printed (progress notification)', async () => {
    const r = await withTimeout(
      vscode.commands.executeCommand<{ line: string; stream: string }>('sandport.ui.waitForLog', { processId: web.id, pattern: '"GET / HTTP/1.1"' }),
      15000,
      'waitForLog',
    );
    assert(r && r.line.includes('"GET / HTTP/1.1" 200'), `result ${JSON.stringify(r)}`);
  });

  test('Run Command (exec) runs in the workspace and returns its output', async () => {
    const r = await vscode.commands.executeCommand<{ exitCode: number; stdout: string }>('sandport.ui.exec', { command: 'echo hello-exec; pwd' });
    assert(r && r.exitCode === 0, `result ${JSON.stringify(r)}`);
    assert(r.stdout === `hello-exec\n${fs.realpathSync(root)}\n` || r.stdout === `hello-exec\n${root}\n`, `stdout ${JSON.stringify(r.stdout)}`);
  });

  test('the tree shows the exposed port with its URL; the status bar counts', async () => {
    await until('port in the tree', () => treeRows(api).some((r) => r.includes(`web-server (${PORT}) | ${exposed.url}`)));
    const text = api.statusBar.item.text;
    assert(text.includes('local') && text.includes('$(play) 1') && text.includes('$(globe) 1'), `status bar: ${text}`);
  });

  test('an expiry (ttlSeconds) shows in the tree', async () => {
    const x = await vscode.commands.executeCommand<ExposedPort>('sandport.ui.exposePort', { port: PORT, name: 'web-server', ttlSeconds: 600 });
    assert(x && x.expiresAt && x.url === exposed.url, `re-exposed: ${JSON.stringify(x)}`);
    await until('expiry in the tree', () => treeRows(api).some((r) => r.includes(`${exposed.url} · expires in 10 min`)));
  });

  test('the lens turns into "Open preview (PORT)"', async () => {
    await until('an Open preview lens', async () => (await codeLenses(doc)).find((l) => l.command?.title === `Open preview (${PORT})`), 15000, 500);
  });

  test('onExpose "silent" is applied live (didChangeConfiguration): no notification', async () => {
    await wsConfig().update('onExpose', 'silent', vscode.ConfigurationTarget.Workspace);
    try {
      await sleep(500);
      const before = api.sandport.shown.length;
      const again = await api.execute<ExposedPort>('sandport.exposePort', { port: PORT, name: 'web-server' });
      assert(again.url === exposed.url, 're-exposing keeps the URL');
      await sleep(1500);
      const after = api.sandport.shown.slice(before).filter((s) => s.message.includes(exposed.url));
      assert(after.length === 0, `notified anyway: ${JSON.stringify(after)}`);
    } finally {
      await wsConfig().update('onExpose', undefined, vscode.ConfigurationTarget.Workspace);
    }
  });

  test('Make Private: 401 without a credential; the key and the Open login link admit; Make Public', async () => {
    const before = api.sandport.shown.length;
    const x = await vscode.commands.executeCommand<ExposedPort>('sandport.ui.makePrivate', { port: PORT });
    assert(x && x.visibility === 'private' && x.url === exposed.url, `made private: ${JSON.stringify(x)}`);
    await until('private in the tree', () => treeRows(api).some((r) => r.includes(exposed.url) && r.includes('· private | port.private')));
    const r = await fetchPreview(exposed.url, cfg.gatewayPort);
    assert(r.status === 401 && r.body.includes('PREVIEW_PRIVATE'), `no credential: ${r.status} ${r.body.slice(0, 200)}`);
    const info = await api.execute<{ gateway: { sessionKey: string } }>('sandport.info', {});
    const k = await fetchPreview(exposed.url, cfg.gatewayPort, { 'X-Sandport-Key': info.gateway.sessionKey });
    assert(k.status === 200, `with X-Sandport-Key: ${k.status}`);
    // What Open Preview opens on a private port: a fresh login link.
    const link = await api.sandport.openUrlOf(api.sandport.ports.find((p) => p.port === PORT)!);
    assert(link.startsWith(`${exposed.url}_sandport/login?ticket=`), `open URL ${link}`);
    const login = await fetchPreview(link, cfg.gatewayPort);
    assert(login.status === 303, `login: ${login.status}`);
    const cookie = String(login.headers['set-cookie']?.[0] || '').split(';')[0];
    assert(cookie.startsWith('sandport_auth='), `cookie ${cookie}`);
    const c = await fetchPreview(exposed.url, cfg.gatewayPort, { Cookie: cookie });
    assert(c.status === 200, `with the cookie: ${c.status}`);
    const again = await fetchPreview(link, cfg.gatewayPort);
    assert(again.status === 401, `a used link: ${again.status}`);
    const y = await vscode.commands.executeCommand<ExposedPort>('sandport.ui.makePublic', { port: PORT });
    assert(y && y.visibility === 'public', `made public: ${JSON.stringify(y)}`);
    await until('public in the tree', () => treeRows(api).some((r) => r.includes(exposed.url) && r.includes('| port.public')));
    assert((await fetchPreview(exposed.url, cfg.gatewayPort)).status === 200, 'public again');
    assert((await api.sandport.openUrlOf(y)) === exposed.url, 'a public port opens its URL');
    // A visibility switch is not a new exposure: no notification.
    await sleep(500);
    const notes = api.sandport.shown.slice(before).filter((s) => s.message.includes(exposed.url));
    assert(notes.length === 0, `notified: ${JSON.stringify(notes)}`);
  });

  test('Close Port: the URL answers 404, the tree drops it', async () => {
    await vscode.commands.executeCommand('sandport.ui.closePort', { port: PORT });
    await until('port gone from the tree', () => !treeRows(api).some((r) => r.includes(exposed.url)));
    const r = await fetchPreview(exposed.url, cfg.gatewayPort);
    assert(r.status === 404, `status ${r.status}`);
  });

  test('Stop Process: the process ends (killed) and the tree says so', async () => {
    await vscode.commands.executeCommand('sandport.ui.stopProcess', { processId: web.id });
    const p = await until('killed', () => {
      const q = api.sandport.processes.get(web.id);
      return q && q.status !== 'running' ? q : undefined;
    });
    assert(p.status === 'killed', `status ${p.status}`);
    await until('tree shows it ended', () => treeRows(api).some((r) => r.includes('web |') && r.includes('process.ended')));
  });

  test('a failing process raises an error notification with Show Logs', async () => {
    const before = api.sandport.shown.length;
    await vscode.commands.executeCommand('sandport.ui.startProcess', { command: "echo boom >&2; exit 3", name: 'crasher' });
    const m = await until('error notification', () => api.sandport.shown.slice(before).find((s) => s.kind === 'error' && s.message.includes('crasher')));
    assert(m.message === 'Sandport: crasher failed with exit code 3.', `message ${m.message}`);
    assert(m.actions.includes('Show Logs'), `actions ${m.actions}`);
    const id = [...api.sandport.processes.values()].find((p) => p.name === 'crasher')!.id;
    await until('its stderr in the log', () => api.logText(id).includes('boom'));
  });

  test('a chatty process (8 MB of output) keeps the log bounded and the window responsive', async () => {
    const p = (await vscode.commands.executeCommand<Process>('sandport.ui.startProcess', { command: 'yes "a chatty line of output" | head -c 8000000', name: 'chatty' }))!;
    let maxLag = 0;
    let last = Date.now();
    const timer = setInterval(() => {
      const now = Date.now();
      maxLag = Math.max(maxLag, now - last - 20);
      last = now;
    }, 20);
    try {
      await until('all output seen or reported dropped', () => {
        const st = api.sandport.logs.stats(p.id);
        return st && st.totalBytes + st.serverDropped >= 8000000;
      }, 60000, 200);
    } finally {
      clearInterval(timer);
    }
    api.sandport.logs.flush();
    const st = api.sandport.logs.stats(p.id)!;
    assert(st.written <= 2.5 * 1024 * 1024, `channel holds ${st.written} bytes`);
    // Everything received was either appended or skipped (with a note).
    assert(st.appended + st.skipped >= st.totalBytes, `received ${st.totalBytes}, appended ${st.appended}, skipped ${st.skipped}`);
    // Past CHANNEL_MAX_BYTES appended, the channel is cut back to its tail.
    assert(st.appended <= 2 * 1024 * 1024 || st.trims >= 1, `appended ${st.appended} bytes, trims ${st.trims}`);
    out({ note: `chatty: received ${st.totalBytes} B (server dropped ${st.serverDropped} B); appended ${st.appended} B, skipped ${st.skipped} B; the channel holds ${st.written} B after ${st.trims} trims; max event-loop lag ${maxLag} ms` });
    assert(api.logText(p.id).length <= 1024 * 1024, `kept ${api.logText(p.id).length}`);
    assert(maxLag < 1000, `event loop stalled ${maxLag} ms`);
  });

  test('a setting that needs a restart (gateway.listen): the server says so, with a Restart Server button', async () => {
    const before = api.sandport.shown.length;
    const orig = wsConfig().inspect<string>('gateway.listen')?.workspaceValue;
    assert(orig === `127.0.0.1:${cfg.gatewayPort}`, `workspace value ${orig}`);
    await wsConfig().update('gateway.listen', `127.0.0.1:${cfg.gatewayPort + 1}`, vscode.ConfigurationTarget.Workspace);
    try {
      const m = await until('restart message', () => api.sandport.shown.slice(before).find((s) => s.message.includes('gateway.listen')));
      assert(JSON.stringify(m.actions) === '["Restart Server"]', `actions ${m.actions}: ${m.message}`);
    } finally {
      await wsConfig().update('gateway.listen', orig, vscode.ConfigurationTarget.Workspace);
    }
  });

  test('sandport/processRemoved drops the process from the map and the tree and disposes its channel', async () => {
    const p = (await vscode.commands.executeCommand<Process>('sandport.ui.startProcess', { command: 'echo removed-soon', name: 'forgotten' }))!;
    await until('ended', () => api.sandport.processes.get(p.id)?.status === 'completed');
    await until('its output', () => api.logText(p.id).includes('removed-soon'));
    await vscode.commands.executeCommand('sandport.ui.showLogs', { processId: p.id });
    await until('a channel', () => api.sandport.logs.channelName(p.id));
    await until('in the tree', () => treeRows(api).some((r) => r.includes('forgotten |')));
    // the handler the client registers for the notification
    api.sandport.processRemoved({ processId: p.id });
    assert(!api.sandport.processes.has(p.id), 'still in the map');
    assert(api.sandport.logs.channelName(p.id) === undefined && api.logText(p.id) === '', 'the channel is still there');
    await until('gone from the tree', () => !treeRows(api).some((r) => r.includes('forgotten |')));
    // unknown ids and malformed notifications are ignored
    api.sandport.processRemoved({ processId: 'proc_nonexistent' });
    api.sandport.processRemoved({} as { processId: string });
  });

  test('Remove Process on an ended tree item: the server forgets it; tree, map and channel drop it (end to end)', async () => {
    const pj = ext!.packageJSON as { contributes: { menus: Record<string, { command: string; when?: string }[]> } };
    const inline = pj.contributes.menus['view/item/context'].filter((m) => m.command === 'sandport.ui.removeProcess');
    assert(inline.length >= 1 && inline.every((m) => m.when?.includes('viewItem == process.ended')), `menus ${JSON.stringify(inline)}`);
    assert(!(pj.contributes.menus.commandPalette || []).some((m) => m.command === 'sandport.ui.removeProcess' && m.when === 'false'), 'hidden from the palette');
    const q = (await vscode.commands.executeCommand<Process>('sandport.ui.startProcess', { command: 'echo bye', name: 'removed-by-server' }))!;
    await until('ended', () => api.sandport.processes.get(q.id)?.status === 'completed');
    await until('its output', () => api.logText(q.id).includes('bye'));
    await vscode.commands.executeCommand('sandport.ui.showLogs', { processId: q.id });
    await until('a channel', () => api.sandport.logs.channelName(q.id));
    const node = api.tree.getChildren({ kind: 'group', group: 'processes' }).find((n) => n.kind === 'process' && n.process.id === q.id);
    assert(node, 'its tree node');
    assert(api.tree.getTreeItem(node).contextValue === 'process.ended', `context ${api.tree.getTreeItem(node).contextValue}`);
    // the menu passes the node, as the inline button does
    const r = await vscode.commands.executeCommand<{ removed: boolean }>('sandport.ui.removeProcess', node);
    assert(r?.removed === true, `removed ${JSON.stringify(r)}`);
    await until('the notification dropped it', () => !api.sandport.processes.has(q.id) && api.logText(q.id) === '' && api.sandport.logs.channelName(q.id) === undefined);
    await until('gone from the tree', () => !treeRows(api).some((row) => row.includes('removed-by-server |')));
    const err = await api.execute('sandport.getProcess', { processId: q.id }).then(() => undefined, (e: unknown) => e as { code?: string });
    assert(err?.code === 'PROCESS_NOT_FOUND', `getProcess after removal: ${JSON.stringify(err)}`);
  });

  test('Remove Process on a running process: the server refuses (PROCESS_RUNNING), it stays', async () => {
    const p = (await vscode.commands.executeCommand<Process>('sandport.ui.startProcess', { command: 'sleep 60', name: 'still-here' }))!;
    try {
      await until('running', () => api.sandport.processes.get(p.id)?.status === 'running');
      const before = api.sandport.shown.length;
      await vscode.commands.executeCommand('sandport.ui.removeProcess', { processId: p.id });
      const m = await until('error', () => api.sandport.shown.slice(before).find((s) => s.kind === 'error'));
      assert(m.message.includes('removing still-here failed') && m.message.includes('PROCESS_RUNNING'), m.message);
      assert(api.sandport.processes.has(p.id) && treeRows(api).some((row) => row.includes('still-here |')), 'it left the view');
    } finally {
      await api.execute('sandport.killProcess', { processId: p.id });
    }
  });

  test('processes.keepEnded set low: the server forgets the oldest ended ones by itself; the view follows', async () => {
    const ended = () => [...api.sandport.processes.values()].filter((p) => p.status !== 'running' && p.status !== 'starting');
    const a = (await vscode.commands.executeCommand<Process>('sandport.ui.startProcess', { command: 'echo first', name: 'keep-a' }))!;
    await until('a ended', () => api.sandport.processes.get(a.id)?.status === 'completed');
    const b = (await vscode.commands.executeCommand<Process>('sandport.ui.startProcess', { command: 'echo second', name: 'keep-b' }))!;
    await until('b ended', () => api.sandport.processes.get(b.id)?.status === 'completed');
    await until('b output', () => api.logText(b.id).includes('second'));
    assert(ended().length >= 3, `ended ${ended().length}`);
    await wsConfig().update('processes.keepEnded', 1, vscode.ConfigurationTarget.Workspace);
    try {
      // live: all ended processes but the newest (b) are forgotten at once
      await until('one ended process left', () => ended().length === 1 && api.sandport.processes.has(b.id), 15000);
      assert(!api.sandport.processes.has(a.id) && api.logText(a.id) === '', 'a is still here');
      await until('the tree too', () => !treeRows(api).some((row) => row.includes('keep-a |')) && treeRows(api).some((row) => row.includes('keep-b |')));
      const list = await api.execute<{ processes: Process[] }>('sandport.listProcesses');
      assert(list.processes.filter((p) => p.status !== 'running').map((p) => p.id).join() === b.id, `server keeps ${JSON.stringify(list.processes.map((p) => p.id))}`);
      // the next one to end pushes b out
      const c = (await vscode.commands.executeCommand<Process>('sandport.ui.startProcess', { command: 'echo third', name: 'keep-c' }))!;
      await until('b forgotten once c ended', () => !api.sandport.processes.has(b.id) && api.sandport.processes.get(c.id)?.status === 'completed', 15000);
    } finally {
      await wsConfig().update('processes.keepEnded', undefined, vscode.ConfigurationTarget.Workspace);
    }
  });

  test('a wrong server binary (/bin/true) is found by --version before start: ONE notification', async () => {
    const before = api.sandport.shown.length;
    await wsConfig().update('server.path', '/bin/true', vscode.ConfigurationTarget.Workspace);
    try {
      await until('state missing', () => api.sandport.state === 'missing', 20000);
      await sleep(3000); // anything else it would say comes now
      const shown = api.sandport.shown.slice(before);
      const errors = shown.filter((s) => s.kind === 'error' || s.kind === 'warning');
      assert(errors.length === 1, `messages: ${JSON.stringify(shown)}`);
      assert(/\/bin\/true is not the Sandport server: `true --version` printed/.test(errors[0].message), errors[0].message);
      assert(JSON.stringify(errors[0].actions) === '["Open Setting"]', `actions ${errors[0].actions}`);
      assert(treeRows(api)[0].includes('Not the Sandport server'), `tree ${treeRows(api)}`);
      assert(sandportServersUnder(process.pid).length === 0, `servers ${sandportServersUnder(process.pid)}`);
    } finally {
      await wsConfig().update('server.path', undefined, vscode.ConfigurationTarget.Workspace);
    }
    await until('running again', () => api.sandport.state === 'running', 30000);
  });

  test('a missing server binary is reported with an "Open Setting" button, not a stack trace', async () => {
    const before = api.sandport.shown.length;
    await wsConfig().update('server.path', '/nonexistent/sandport', vscode.ConfigurationTarget.Workspace);
    try {
      await until('state missing', () => api.sandport.state === 'missing', 20000);
      const m = await until('message', () => api.sandport.shown.slice(before).find((s) => s.kind === 'error'));
      assert(m.message.includes('sandport.server.path') && m.message.includes('/nonexistent/sandport'), m.message);
      assert(JSON.stringify(m.actions) === '["Open Setting"]', `actions ${m.actions}`);
      assert(treeRows(api)[0].includes('not found'), `tree ${treeRows(api)}`);
    } finally {
      await wsConfig().update('server.path', undefined, vscode.ConfigurationTarget.Workspace);
    }
    await until('running again', () => api.sandport.state === 'running', 30000);
  });

  test('the server ending unexpectedly: one error naming what it ran, with Restart Server', async () => {
    const p = (await vscode.commands.executeCommand<Process>('sandport.ui.startProcess', { command: 'sleep 120', name: 'sleeper' }))!;
    assert(p && p.status === 'running', `started ${JSON.stringify(p)}`);
    const servers = sandportServersUnder(process.pid);
    assert(servers.length === 1, `servers ${servers}`);
    const before = api.sandport.shown.length;
    process.kill(servers[0], 'SIGKILL');
    try {
      const m = await until('the message', () => api.sandport.shown.slice(before).find((s) => s.kind === 'error'), 15000);
      assert(m.message === 'Sandport: the server ended unexpectedly; it was running process sleeper. See the "Sandport Server" output.', m.message);
      assert(JSON.stringify(m.actions) === '["Restart Server","Show Server Output"]', `actions ${m.actions}`);
      await sleep(1500);
      const more = api.sandport.shown.slice(before).filter((s) => s !== m);
      assert(more.length === 0, `more messages: ${JSON.stringify(more)}`);
      assert(api.sandport.state === 'failed' && sandportServersUnder(process.pid).length === 0, `state ${api.sandport.state}`);
    } finally {
      // SIGKILL left its child behind: ours to stop
      try {
        if (p.pid) {
          process.kill(-p.pid, 'SIGKILL'); // its process group, if it leads one
        }
      } catch {
        // not a group
      }
      try {
        if (p.pid) {
          process.kill(p.pid, 'SIGKILL');
        }
      } catch {
        // gone
      }
    }
    await vscode.commands.executeCommand('sandport.ui.restartServer');
    await until('running', () => api.sandport.state === 'running', 30000);
  });

  test('Restart Server says what it stopped; a fresh server (no processes) answers', async () => {
    const p = (await vscode.commands.executeCommand<Process>('sandport.ui.startProcess', { command: 'sleep 120', name: 'napper' }))!;
    await until('running', () => api.sandport.processes.get(p.id)?.status === 'running');
    const before = api.sandport.shown.length;
    await vscode.commands.executeCommand('sandport.ui.restartServer');
    const m = await until('the message', () => api.sandport.shown.slice(before).find((s) => s.message.includes('restarted')));
    assert(m.kind === 'info' && m.message === 'Sandport: restarted the server; stopped process napper.', m.message);
    await until('running', () => api.sandport.state === 'running', 30000);
    const list = await api.execute<{ processes: Process[] }>('sandport.listProcesses');
    assert(list.processes.length === 0, `processes ${list.processes.length}`);
    const info = await api.execute<{ gateway: { listen: string } }>('sandport.info');
    assert(info.gateway.listen === `127.0.0.1:${cfg.gatewayPort}`, `the new server listens on ${info.gateway.listen}`);
  });

  let passed = 0;
  let failed = 0;
  for (const t of tests) {
    const t0 = Date.now();
    try {
      await withTimeout(t.fn(), 90000, t.name);
      passed++;
      out({ name: t.name, ok: true, ms: Date.now() - t0 });
    } catch (e) {
      failed++;
      out({ name: t.name, ok: false, ms: Date.now() - t0, error: e instanceof Error ? e.stack || e.message : String(e) });
    }
  }
  try {
    await withTimeout(api?.execute('sandport.killAllProcesses') ?? Promise.resolve(), 10000, 'cleanup');
  } catch {
    // the harness cleans up too
  }
  out({ done: true, passed, failed });
  if (failed) {
    throw new Error(`${failed} failed`);
  }
}

// Unit tests of the parts that do not need VS Code (node --test).
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { checkServer, findServer, isFound, parseVersion } from '../../src/serverPath';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sandport-unit-'));
const exe = (name: string) => {
  const p = path.join(dir, name);
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, '#!/bin/sh\n');
  fs.chmodSync(p, 0o755);
  return p;
};
const fromSetting = exe('a/sandport');
const fromEnv = exe('b/sandport');
const onPath = exe('c/sandport');
const notExecutable = path.join(dir, 'd/sandport');
fs.mkdirSync(path.dirname(notExecutable), { recursive: true });
fs.writeFileSync(notExecutable, 'x');
const PATH = [path.join(dir, 'nothing'), path.dirname(onPath)].join(path.delimiter);

test('the setting wins over SANDPORT_SERVER and PATH', () => {
  const r = findServer(fromSetting, { SANDPORT_SERVER: fromEnv, PATH }, undefined);
  assert.ok(isFound(r));
  assert.equal(r.path, fromSetting);
  assert.equal(r.source, 'setting');
});

test('SANDPORT_SERVER wins over PATH when the setting is empty', () => {
  const r = findServer('  ', { SANDPORT_SERVER: fromEnv, PATH }, undefined);
  assert.ok(isFound(r));
  assert.deepEqual(r, { path: fromEnv, source: 'env' });
});

test('sandport on PATH last', () => {
  const r = findServer(undefined, { PATH }, undefined);
  assert.deepEqual(r, { path: onPath, source: 'PATH' });
});

test('a wrong setting is reported as such, not skipped', () => {
  const r = findServer(notExecutable, { SANDPORT_SERVER: fromEnv, PATH }, undefined);
  assert.ok(!isFound(r));
  assert.equal(r.source, 'setting');
  assert.match(r.message, /sandport\.server\.path/);
});

test('a wrong SANDPORT_SERVER is reported as such', () => {
  const r = findServer('', { SANDPORT_SERVER: '/nonexistent/sandport', PATH }, undefined);
  assert.ok(!isFound(r));
  assert.equal(r.source, 'env');
  assert.match(r.message, /SANDPORT_SERVER/);
});

test('nothing anywhere: one message naming the three places', () => {
  const r = findServer('', { PATH: path.join(dir, 'nothing') }, undefined);
  assert.ok(!isFound(r));
  assert.match(r.message, /sandport\.server\.path.*SANDPORT_SERVER.*PATH/s);
});

test('${workspaceFolder} and paths relative to the folder', () => {
  const r = findServer('${workspaceFolder}/a/sandport', { PATH }, dir);
  assert.ok(isFound(r) && r.path === fromSetting);
  const rel = findServer('b/sandport', { PATH }, dir);
  assert.ok(isFound(rel) && rel.path === fromEnv);
});

test('a bare name in the setting is looked up on PATH', () => {
  const r = findServer('sandport', { PATH }, undefined);
  assert.ok(isFound(r) && r.path === onPath);
});

test('the bundled server comes after SANDPORT_SERVER and before PATH', () => {
  const bundled = exe('ext/server/sandport');
  assert.deepEqual(findServer('', { PATH }, undefined, bundled), { path: bundled, source: 'bundled' });
  assert.deepEqual(findServer('', { SANDPORT_SERVER: fromEnv, PATH }, undefined, bundled), { path: fromEnv, source: 'env' });
  assert.deepEqual(findServer(fromSetting, { PATH }, undefined, bundled), { path: fromSetting, source: 'setting' });
  // a VSIX without a server: PATH
  assert.deepEqual(findServer('', { PATH }, undefined, path.join(dir, 'ext/server/missing')), { path: onPath, source: 'PATH' });
});

test('--version: sandport X.Y.Z passes', async () => {
  const p = path.join(dir, 'good/sandport');
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, '#!/bin/sh\necho "sandport 0.1.0"\n');
  fs.chmodSync(p, 0o755);
  assert.deepEqual(await checkServer(p), { ok: true, version: '0.1.0' });
  assert.equal(parseVersion('sandport 1.2.3-dev\n'), '1.2.3-dev');
  assert.equal(parseVersion('rust-analyzer 1.2.3\n'), undefined);
});

test('--version: /bin/true, another program, a crash and a hang are each one clear message', async () => {
  const t = await checkServer('/bin/true');
  assert.ok(!t.ok);
  assert.match(t.message, /^\/bin\/true is not the Sandport server: `true --version` printed .* \(expected "sandport X\.Y\.Z"\)\.$/);
  const silent = path.join(dir, 'silent/sandport');
  fs.mkdirSync(path.dirname(silent), { recursive: true });
  fs.writeFileSync(silent, '#!/bin/sh\nexit 0\n');
  fs.chmodSync(silent, 0o755);
  const sl = await checkServer(silent);
  assert.ok(!sl.ok && sl.message.endsWith('`sandport --version` printed nothing (expected "sandport X.Y.Z").'), JSON.stringify(sl));
  const other = path.join(dir, 'other/tool');
  fs.mkdirSync(path.dirname(other), { recursive: true });
  fs.writeFileSync(other, '#!/bin/sh\necho "tool 9.9"\n');
  fs.chmodSync(other, 0o755);
  const o = await checkServer(other);
  assert.ok(!o.ok && /printed "tool 9\.9"/.test(o.message), JSON.stringify(o));
  const crash = path.join(dir, 'crash/sandport');
  fs.mkdirSync(path.dirname(crash), { recursive: true });
  fs.writeFileSync(crash, '#!/bin/sh\necho "boom" >&2\nexit 3\n');
  fs.chmodSync(crash, 0o755);
  const c = await checkServer(crash);
  assert.ok(!c.ok && /exited with 3 and printed "boom"/.test(c.message), JSON.stringify(c));
  const hang = path.join(dir, 'hang/sandport');
  fs.mkdirSync(path.dirname(hang), { recursive: true });
  fs.writeFileSync(hang, '#!/bin/sh\nexec sleep 30\n');
  fs.chmodSync(hang, 0o755);
  const t0 = Date.now();
  const h = await checkServer(hang, 500);
  assert.ok(!h.ok && /did not answer within/.test(h.message), JSON.stringify(h));
  assert.ok(Date.now() - t0 < 5000, 'bounded');
  const missing = await checkServer(path.join(dir, 'nothing/sandport'));
  assert.ok(!missing.ok && /could not be run \(ENOENT\)/.test(missing.message), JSON.stringify(missing));
});

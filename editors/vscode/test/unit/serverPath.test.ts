// Unit tests of the parts that do not need VS Code (node --test).
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { findServer, isFound } from '../../src/serverPath';

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

// Unit tests of the pure helpers (node --test).
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { documentSelector, formatLimit, listNames, portError, waitedText } from '../../src/util';

test('ports: 1–65535 pass; 70000, 0, abc, 80a and empty say why', () => {
  for (const ok of ['1', '80', '8000', ' 3000 ', '65535']) {
    assert.equal(portError(ok), undefined, ok);
  }
  assert.match(portError('70000')!, /70000 is not a port: ports go from 1 to 65535/);
  assert.match(portError('0')!, /from 1 to 65535/);
  assert.match(portError('abc')!, /"abc" is not a port number/);
  assert.match(portError('80a')!, /not a port number/);
  assert.match(portError('-1')!, /not a port number/);
  assert.match(portError('')!, /Type a port number/);
});

test('time limits in words', () => {
  assert.equal(formatLimit(30000), '30 s');
  assert.equal(formatLimit(600000), '10 min');
  assert.equal(formatLimit(3 * 3600000), '3 h');
  assert.equal(waitedText('12 s', 600000), '12 s of 10 min');
  assert.equal(waitedText(undefined, 600000), undefined);
});

test('the document selector names languages and services files, never all files', () => {
  const sel = documentSelector();
  assert.ok(sel.every((f) => f.scheme === 'file' && (f.language || f.pattern)), 'each filter has a language or a pattern');
  const langs = sel.map((f) => f.language).filter(Boolean);
  for (const l of ['javascript', 'typescript', 'python', 'go', 'rust', 'yaml', 'dockerfile']) {
    assert.ok(langs.includes(l), l);
  }
  for (const l of ['markdown', 'plaintext', 'html', 'css', 'log']) {
    assert.ok(!langs.includes(l), `${l} is not needed`);
  }
  const patterns = sel.map((f) => f.pattern).filter(Boolean);
  assert.ok(patterns.includes('**/sandport.toml') && patterns.includes('**/Procfile'));
});

test('names in messages', () => {
  assert.equal(listNames(['web']), 'web');
  assert.equal(listNames(['web', 'db']), 'web and db');
  assert.equal(listNames(['a', 'b', 'c']), 'a, b and c');
  assert.equal(listNames(['a', 'b', 'c', 'd', 'e']), 'a, b, c and 2 more');
});

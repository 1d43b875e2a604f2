// Put a `sandport` server into the extension (server/sandport), so that the
// VSIX `npm run package` builds next carries it and the extension uses it
// when neither sandport.server.path nor SANDPORT_SERVER is set.
//
//   npm run bundle-server                 # ../../target/release/sandport
//   npm run bundle-server -- PATH         # a given binary
//   npm run bundle-server -- --remove     # package without a server again
//
// The binary is checked with `--version` first. A VSIX with a server is for
// one platform: say which when packaging (`npx vsce package --target
// linux-x64 …`) if it is published.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const ext = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const exe = process.platform === 'win32' ? 'sandport.exe' : 'sandport';
const dest = path.join(ext, 'server', exe);
const arg = process.argv[2];

if (arg === '--remove') {
  fs.rmSync(path.join(ext, 'server'), { recursive: true, force: true });
  console.log('removed server/ (the next package carries no server)');
  process.exit(0);
}
const src = path.resolve(arg || path.join(ext, '..', '..', 'target', 'release', exe));
if (!fs.existsSync(src)) {
  console.error(`no server at ${src}: build it first (cargo build --release --bin sandport) or give its path`);
  process.exit(1);
}
let version;
try {
  version = execFileSync(src, ['--version'], { encoding: 'utf8', timeout: 10000 }).trim();
} catch (e) {
  console.error(`${src} --version failed: ${e.message}`);
  process.exit(1);
}
if (!/^sandport \d+\.\d+\.\d+/.test(version)) {
  console.error(`${src} is not the Sandport server (--version printed "${version}")`);
  process.exit(1);
}
fs.mkdirSync(path.dirname(dest), { recursive: true });
fs.copyFileSync(src, dest);
fs.chmodSync(dest, 0o755);
const mb = (fs.statSync(dest).size / 1048576).toFixed(1);
console.log(`bundled ${version} (${mb} MB, ${process.platform}-${process.arch}) from ${src} as server/${exe}`);

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../', import.meta.url));
// The package's own dependencies, as an installation would bring them.
const RUNTIME_DEPENDENCIES = Object.keys(
  (
    JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
    }
  ).dependencies,
);
let dir: string;

// A folder where `express` is Express 4 for the application and for the package alike: the
// package's build is copied in (a link would resolve `express` from this repository, i.e. 5).
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'eap-express4-'));
  const modules = join(dir, 'node_modules');
  mkdirSync(join(modules, 'express-auth-proxy'), { recursive: true });
  cpSync(join(root, 'package.json'), join(modules, 'express-auth-proxy', 'package.json'));
  cpSync(join(root, 'dist'), join(modules, 'express-auth-proxy', 'dist'), { recursive: true });
  symlinkSync(join(root, 'node_modules', 'express4'), join(modules, 'express'));
  for (const name of RUNTIME_DEPENDENCIES) {
    symlinkSync(join(root, 'node_modules', name), join(modules, name));
  }
  cpSync(join(root, 'test', 'fixtures', 'consumers', 'express4.mjs'), join(dir, 'app.mjs'));
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('with Express 4', () => {
  it('proxies a logged-in request and refuses an anonymous one', async () => {
    const { stdout } = await run(process.execPath, [join(dir, 'app.mjs')], { timeout: 20_000 });
    const result = JSON.parse(stdout) as {
      express: string;
      loggedIn: { status: number; body: string };
      loggedInAgain: { status: number; body: string };
      anonymous: { status: number; body: string };
    };
    assert.match(result.express, /^4\./);
    const basic = { status: 200, body: `Basic ${Buffer.from('alice:pw').toString('base64')}` };
    assert.deepEqual(result.loggedIn, basic);
    assert.deepEqual(result.loggedInAgain, basic);
    assert.equal(result.anonymous.status, 401);
    assert.match(result.anonymous.body, /ERR_TOKEN_MISSING/);
  });
});

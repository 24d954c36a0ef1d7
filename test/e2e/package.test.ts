import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';

const run = promisify(execFile);
const repo = fileURLToPath(new URL('../..', import.meta.url));

describe('the published package', () => {
  it('is built from an empty dist/ when packed, and ships its licence but not the tests', async () => {
    // Left over from an earlier build of a module since deleted from lib/: must not ship.
    await writeFile(join(repo, 'dist', 'removed-module.js'), '');
    // `npm pack` runs prepack (the build) as `npm publish` would; --dry-run lists without writing.
    const { stdout } = await run('npm', ['pack', '--dry-run', '--json'], { cwd: repo });
    const [packed] = JSON.parse(stdout) as [{ files: { path: string }[] }];
    const paths = packed.files.map((f) => f.path);
    for (const path of [
      'LICENSE',
      'README.md',
      'package.json',
      'dist/index.js',
      'dist/index.d.ts',
    ]) {
      assert.ok(paths.includes(path), `${path} is missing`);
    }
    assert.ok(!paths.includes('dist/removed-module.js'), 'a stale dist/ file was packed');
    assert.deepEqual(
      paths.filter((path) => path.startsWith('test/')),
      [],
    );
  });

  it('declares its licence, repository, homepage and issue tracker consistently', async () => {
    const manifest = JSON.parse(await readFile(join(repo, 'package.json'), 'utf8')) as {
      license: string;
      repository: { type: string; url: string };
      homepage: string;
      bugs: { url: string };
    };
    assert.equal(manifest.license, 'MIT');
    assert.match(await readFile(join(repo, 'LICENSE'), 'utf8'), /^MIT License\n\nCopyright \(c\) /);
    assert.equal(manifest.repository.type, 'git');
    const home = manifest.repository.url.replace(/^git\+/, '').replace(/\.git$/, '');
    assert.match(home, /^https:\/\/github\.com\/[\w.-]+\/[\w.-]+$/);
    assert.equal(manifest.homepage, `${home}#readme`);
    assert.equal(manifest.bugs.url, `${home}/issues`);
  });

  it('loads prom-client only when metrics are asked for', async () => {
    // A fresh process: this one has loaded prom-client through the metrics tests' imports.
    const probe = `
      import { createRequire } from 'node:module';
      const loaded = () => Object.keys(createRequire(import.meta.url).cache).some((path) => path.includes('/prom-client/'));
      const { authProxy, createMetrics } = await import('./dist/index.js');
      authProxy({ target: 'http://127.0.0.1:1', jwtKey: 'a-key-of-thirty-two-characters!!', redis: 'redis://127.0.0.1:1' }).close();
      const before = loaded();
      createMetrics();
      console.log(JSON.stringify([before, loaded()]));
    `;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', probe], {
      cwd: repo,
    });
    assert.deepEqual(JSON.parse(stdout), [false, true]);
  });
});

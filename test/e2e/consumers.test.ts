import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';

const run = promisify(execFile);
const fixture = (name: string): string =>
  fileURLToPath(new URL(`../fixtures/consumers/${name}`, import.meta.url));
const repo = fileURLToPath(new URL('../..', import.meta.url));

// The consumers load the build output through package.json "exports", as an installed copy would
// (`npm test` builds first).
describe('the built package', () => {
  for (const name of ['consumer.cjs', 'consumer.mjs']) {
    it(`works from ${name.endsWith('.cjs') ? 'CommonJS (require)' : 'an ES module (import)'}`, async () => {
      const { stdout, stderr } = await run(process.execPath, [fixture(name)], { timeout: 20_000 });
      assert.deepEqual(JSON.parse(stdout), {
        status: 401,
        body: '401 Unauthorized: ERR_TOKEN_MISSING\n',
        errorClass: 'function',
      });
      // Node 22.12.0 enabled require() of ES modules with a one-time warning, dropped in 22.13.
      const warning = /^v22\.12\./.test(process.version) && name.endsWith('.cjs');
      assert.match(stderr, warning ? /ExperimentalWarning: CommonJS module .* ES Module/ : /^$/);
    });
  }

  // README, "Node versions": http-proxy (under http-proxy-middleware 3) calls util._extend, which
  // Node 22 and later report once per process; the package leaves process-wide settings alone.
  it('lets http-proxy report DEP0060 once on Node 22+, and --disable-warning=DEP0060 silence it', async () => {
    const warns = Number(process.versions.node.split('.')[0]) >= 22;
    for (const flags of [[], ['--disable-warning=DEP0060']]) {
      const { stdout, stderr } = await run(
        process.execPath,
        [...flags, fixture('deprecation.mjs')],
        { timeout: 20_000 },
      );
      assert.deepEqual(JSON.parse(stdout), { statuses: [200, 200], noDeprecation: null });
      const reported =
        stderr.match(/\[DEP0060\] DeprecationWarning: The `util._extend` API/g) ?? [];
      assert.equal(reported.length, warns && flags.length === 0 ? 1 : 0, stderr);
      assert.equal(stderr.replace(/\(node:\d+\) \[DEP0060\].*\n.*\n/, ''), '');
    }
  });
});

/**
 * The packages the README's Install section tells an application to install, the package itself
 * excepted. `typescript` is left to the repository's own compiler.
 */
async function packagesTheReadmeLists(): Promise<string[]> {
  const readme = await readFile(join(repo, 'README.md'), 'utf8');
  const section = /^## Install\n([\s\S]*?)^## /m.exec(readme)?.[1] ?? '';
  return [...section.matchAll(/^npm install (.+)$/gm)]
    .flatMap((line) => (line[1] ?? '').split(/\s+/))
    .filter(
      (name) => !name.startsWith('-') && name !== 'express-auth-proxy' && name !== 'typescript',
    );
}

interface Packed {
  filename: string;
  files: { path: string }[];
}

// What a TypeScript application gets from the registry: the packed tarball (built by `prepack`
// as for publishing), installed in a project outside this repository (so nothing resolves to our
// own node_modules) next to only what the README lists, then compiled with skipLibCheck off.
describe('the packed package in a TypeScript project', () => {
  let scratch: string;
  let packed: Packed;
  let project: string;
  let compiled: Record<'nodenext' | 'bundler', Promise<{ ok: boolean; output: string }>>;

  before(
    async () => {
      scratch = await mkdtemp(join(tmpdir(), 'express-auth-proxy-consumer-'));
      // Left over from an earlier build of a module since deleted from lib/: must not ship.
      await writeFile(join(repo, 'dist', 'removed-module.js'), '');
      const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', scratch], {
        cwd: repo,
      });
      [packed] = JSON.parse(stdout) as [Packed];
      project = join(scratch, 'project');
      await mkdir(project);
      await writeFile(
        join(project, 'package.json'),
        JSON.stringify({ name: 'consumer', private: true, type: 'module' }),
      );
      await cp(fixture('typescript'), project, { recursive: true });
      const packages = await packagesTheReadmeLists();
      assert.ok(packages.includes('express'), `README lists ${packages.join(' ')}`);
      await run(
        'npm',
        [
          'install',
          '--prefer-offline',
          '--no-audit',
          '--no-fund',
          join(scratch, packed.filename),
          ...packages,
        ],
        { cwd: project },
      );
      const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
      // Both compilations at once: each checks every declaration file, which takes a while.
      const compile = (config: string): Promise<{ ok: boolean; output: string }> =>
        run(process.execPath, [tsc, '-p', `tsconfig.${config}.json`], { cwd: project }).then(
          () => ({ ok: true, output: '' }),
          (err: unknown) => ({
            ok: false,
            output: (err as { stdout?: string }).stdout ?? String(err),
          }),
        );
      compiled = { nodenext: compile('nodenext'), bundler: compile('bundler') };
    },
    { timeout: 300_000 },
  );
  after(async () => {
    await Promise.allSettled(Object.values(compiled));
    await rm(scratch, { recursive: true, force: true });
  });

  it('ships the licence and a build from an empty dist/, without the tests', async () => {
    const paths = packed.files.map((f) => f.path);
    for (const path of ['LICENSE', 'README.md', 'dist/index.js', 'dist/index.d.ts']) {
      assert.ok(paths.includes(path), `${path} is missing`);
    }
    assert.ok(!paths.includes('dist/removed-module.js'), 'a stale dist/ file was packed');
    assert.deepEqual(
      paths.filter((path) => path.startsWith('test/')),
      [],
    );
    const installed = join(project, 'node_modules', 'express-auth-proxy');
    const manifest = JSON.parse(await readFile(join(installed, 'package.json'), 'utf8')) as {
      license: string;
      repository: { url: string };
      homepage: string;
      bugs: { url: string };
    };
    assert.equal(manifest.license, 'MIT');
    assert.match(await readFile(join(installed, 'LICENSE'), 'utf8'), /^MIT License\n/);
    const home = manifest.repository.url.replace(/^git\+/, '').replace(/\.git$/, '');
    assert.match(home, /^https:\/\/github\.com\/[\w.-]+\/[\w.-]+$/);
    assert.equal(manifest.homepage, `${home}#readme`);
    assert.equal(manifest.bugs.url, `${home}/issues`);
  });

  for (const config of ['nodenext', 'bundler'] as const) {
    it(`compiles a consumer with module resolution ${config} and skipLibCheck off`, async () => {
      const { ok, output } = await compiled[config];
      assert.ok(ok, output);
    });
  }
});

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
const repo = fileURLToPath(new URL('../..', import.meta.url));
const fixtures = fileURLToPath(new URL('../fixtures/consumers/typescript', import.meta.url));

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

// What a TypeScript application gets from the registry: the packed tarball, installed in a project
// outside this repository (so nothing resolves to our own node_modules) next to only what the
// README lists, then compiled with skipLibCheck off. One install serves both compilations.
describe('the packed package in a TypeScript project', () => {
  let scratch: string;
  let project: string;
  let compiled: Record<'nodenext' | 'bundler', Promise<{ ok: boolean; output: string }>>;

  before(
    async () => {
      scratch = await mkdtemp(join(tmpdir(), 'express-auth-proxy-consumer-'));
      // The build `npm test` made; test/e2e/package.test.ts checks what packing itself builds.
      const { stdout } = await run(
        'npm',
        ['pack', '--ignore-scripts', '--json', '--pack-destination', scratch],
        { cwd: repo },
      );
      const [packed] = JSON.parse(stdout) as [{ filename: string; files: { path: string }[] }];
      assert.ok(
        packed.files.some((f) => f.path === 'dist/index.d.ts'),
        'no dist/index.d.ts: run npm run build first',
      );
      const tarball = join(scratch, packed.filename);
      project = join(scratch, 'project');
      await mkdir(project);
      await writeFile(
        join(project, 'package.json'),
        JSON.stringify({ name: 'consumer', private: true, type: 'module' }),
      );
      await cp(fixtures, project, { recursive: true });
      const packages = await packagesTheReadmeLists();
      assert.ok(packages.includes('express'), `README lists ${packages.join(' ')}`);
      await run(
        'npm',
        ['install', '--prefer-offline', '--no-audit', '--no-fund', tarball, ...packages],
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

  for (const config of ['nodenext', 'bundler'] as const) {
    it(`compiles a consumer with module resolution ${config} and skipLibCheck off`, async () => {
      const { ok, output } = await compiled[config];
      assert.ok(ok, output);
    });
  }
});

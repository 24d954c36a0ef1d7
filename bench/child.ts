// A benchmark process (subject, backend or load generator) forked and driven over IPC.
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const TSX = import.meta.resolve('tsx');

/**
 * A TypeScript script of this folder as plain JavaScript beside it (`.<name>.mjs`, not committed),
 * for processes that are measured: run through tsx, a process also carries tsx's module loader,
 * which runs on a thread of its own (about 30 MB of RSS, and more the more modules it loads).
 *
 * @example
 * new Child(plainScript('./subject.ts'), [spec]);
 */
export function plainScript(script: string): string {
  const name = /^\.\/([\w-]+)\.ts$/.exec(script)?.[1];
  if (name === undefined) throw new Error(`bench: ${script} is not a script of bench/`);
  const source = new URL(script, import.meta.url);
  const plain = `./.${name}.mjs`;
  const target = new URL(plain, import.meta.url);
  const { outputText } = ts.transpileModule(readFileSync(source, 'utf8'), {
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    fileName: fileURLToPath(source),
  });
  // Whole or not at all: another run may be starting a child from it at this moment.
  const partial = new URL(`${target.href}.${String(process.pid)}`);
  writeFileSync(partial, outputText);
  renameSync(partial, target);
  return plain;
}

/** A child process speaking IPC, with one outstanding question at a time. */
export class Child {
  readonly process: ChildProcess;
  #waiting: ((message: unknown) => void) | undefined;
  #exited: Promise<void>;

  /** `script`: a `.ts` file of this folder runs through tsx, a `.mjs` one (see plainScript) as is. */
  constructor(script: string, args: string[], execArgv: string[] = []) {
    this.process = fork(fileURLToPath(new URL(script, import.meta.url)), args, {
      execArgv: script.endsWith('.ts') ? ['--import', TSX, ...execArgv] : execArgv,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.process.on('message', (message) => {
      const waiting = this.#waiting;
      this.#waiting = undefined;
      waiting?.(message);
    });
    this.#exited = new Promise((resolve) => {
      this.process.once('exit', () => {
        resolve();
      });
    });
  }

  /** The next message, or a rejection if the process exits first. */
  next<T>(question?: object): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const onExit = (code: number | null): void => {
        reject(new Error(`${this.process.spawnargs.join(' ')} exited (${String(code)})`));
      };
      this.process.once('exit', onExit);
      this.#waiting = (message) => {
        this.process.off('exit', onExit);
        resolve(message as T);
      };
      if (question !== undefined) this.process.send(question);
    });
  }

  async stop(): Promise<void> {
    if (this.process.connected) this.process.disconnect();
    await this.#exited;
  }
}

// A benchmark process (subject, backend or load generator) forked with tsx and driven over IPC.
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const TSX = import.meta.resolve('tsx');

/** A child process speaking IPC, with one outstanding question at a time. */
export class Child {
  readonly process: ChildProcess;
  #waiting: ((message: unknown) => void) | undefined;
  #exited: Promise<void>;

  constructor(script: string, args: string[], execArgv: string[] = []) {
    this.process = fork(fileURLToPath(new URL(script, import.meta.url)), args, {
      execArgv: ['--import', TSX, ...execArgv],
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

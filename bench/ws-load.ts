// The WebSocket load generator of bench/websocket.ts, in its own process so that its CPU never
// counts as the subject's. It opens its connections first (the harness reads the subject's CPU
// only then, so that handshakes are not counted), then keeps `window` messages in flight on each
// connection to an echo backend and counts the echoes for `seconds`.
import { once } from 'node:events';
import { WebSocket } from 'ws';

export type WsLoadJob =
  | { type: 'open'; url: string; headers: Record<string, string>; connections: number }
  | { type: 'run'; seconds: number; bytes: number; binary: boolean; window: number }
  | { type: 'shut' };

export type WsLoadReply =
  | { type: 'opened' }
  | {
      type: 'result';
      /** Messages echoed: each is one frame to the backend and one back. */
      echoes: number;
      seconds: number;
      /** Echoes of another size or kind than sent, and sockets that closed. */
      errors: number;
    }
  | { type: 'shut' };

let sockets: WebSocket[] = [];

async function open(url: string, headers: Record<string, string>, count: number): Promise<void> {
  sockets = await Promise.all(
    Array.from({ length: count }, async () => {
      const ws = new WebSocket(url.replace(/^http/, 'ws'), { headers, perMessageDeflate: false });
      await once(ws, 'open');
      return ws;
    }),
  );
}

async function run(job: Extract<WsLoadJob, { type: 'run' }>): Promise<WsLoadReply> {
  const payload = job.binary ? Buffer.alloc(job.bytes, 0xa5) : 'x'.repeat(job.bytes);
  let echoes = 0;
  let errors = 0;
  let outstanding = 0;
  let counting = true;
  let seconds = 0;
  const started = process.hrtime.bigint();
  let finish: () => void = () => undefined;
  // Done once the time is up and the messages still in flight are back, so that the next run
  // starts on quiet sockets; or at once if a socket closes.
  const finished = new Promise<void>((resolve) => {
    finish = resolve;
  });
  const send = (ws: WebSocket): void => {
    outstanding++;
    ws.send(payload, { binary: job.binary });
  };
  const listeners = sockets.map((ws) => {
    const onMessage = (data: Buffer, isBinary: boolean): void => {
      outstanding--;
      if (!counting) {
        if (outstanding === 0) finish();
        return;
      }
      if (data.length === job.bytes && isBinary === job.binary) echoes++;
      else errors++;
      send(ws);
    };
    const onClose = (): void => {
      errors++;
      finish();
    };
    ws.on('message', onMessage);
    ws.once('close', onClose);
    for (let i = 0; i < job.window; i++) send(ws);
    return { ws, onMessage, onClose };
  });
  const timer = setTimeout(() => {
    counting = false;
    seconds = Number(process.hrtime.bigint() - started) / 1e9;
    if (outstanding === 0) finish();
  }, job.seconds * 1000);
  await finished;
  clearTimeout(timer);
  for (const { ws, onMessage, onClose } of listeners) {
    ws.off('message', onMessage);
    ws.off('close', onClose);
  }
  return { type: 'result', echoes, seconds, errors };
}

async function shut(): Promise<void> {
  await Promise.all(
    sockets.map(async (ws) => {
      const closed = once(ws, 'close');
      ws.close(1000);
      await closed;
    }),
  );
  sockets = [];
}

async function handle(job: WsLoadJob): Promise<WsLoadReply> {
  switch (job.type) {
    case 'open':
      await open(job.url, job.headers, job.connections);
      return { type: 'opened' };
    case 'run':
      return run(job);
    case 'shut':
      await shut();
      return { type: 'shut' };
  }
}

process.on('message', (job: WsLoadJob) => {
  handle(job).then(
    (reply) => process.send?.(reply),
    (err: unknown) => {
      console.error('bench: WebSocket load generator failed:', err);
      process.exit(1);
    },
  );
});
process.once('disconnect', () => process.exit(0));

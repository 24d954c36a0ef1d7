import { startDemo } from './app.js';
import { DEMO_USERS } from './users.js';

const port = Number(process.env.PORT ?? 3000);
// As in the CLI, an empty variable is the same as an unset one.
const redisUrl = process.env.REDIS_URL === '' ? undefined : process.env.REDIS_URL;
const demo = await startDemo({ port, redisUrl });

console.log(`express-auth-proxy demo on ${demo.url}  (sessions: ${demo.storeKind})`);
console.log(
  `  users: ${Object.entries(DEMO_USERS)
    .map(([u, p]) => `${u} / ${p}`)
    .join(', ')}`,
);
console.log('  Ctrl-C to stop');
if (demo.storeProblem !== undefined) console.error(`demo: ${demo.storeProblem}`);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    demo.close().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error(`demo: ${err instanceof Error ? err.message : String(err)}`);
        process.exit(1);
      },
    );
  });
}

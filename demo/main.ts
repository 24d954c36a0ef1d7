import { startDemo } from './app.js';
import { DEMO_USERS } from './users.js';

const port = Number(process.env.PORT ?? 3000);
const demo = await startDemo({ port, redisUrl: process.env.REDIS_URL });

console.log(`express-auth-proxy demo on ${demo.url}  (sessions: ${demo.storeKind})`);
console.log(
  `  users: ${Object.entries(DEMO_USERS)
    .map(([u, p]) => `${u} / ${p}`)
    .join(', ')}`,
);
console.log('  Ctrl-C to stop');

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void demo.close().then(() => process.exit(0));
  });
}

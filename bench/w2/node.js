// W2 timers on Node.js: N async functions sleep 10 ms (setTimeout) at the
// same time.
'use strict';
const N = Number(process.argv[2] || 100000);
const DELAY = 10;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function sleeper() {
  await sleep(DELAY);
  return true;
}

async function main() {
  const t0 = performance.now();
  const tasks = [];
  for (let i = 0; i < N; i++) tasks.push(sleeper());
  const results = await Promise.all(tasks);
  if (results.length !== N || !results.every(Boolean)) throw new Error('wrong count');
  if (performance.now() - t0 < DELAY) throw new Error('woke up too early');
  console.log(`W2 node ok n=${N}`);
}

main().catch((err) => { console.error(err); process.exit(1); });

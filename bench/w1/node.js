// W1 spawn+gather on Node.js: N async functions, each awaits one
// setImmediate turn and returns its index; Promise.all collects them.
'use strict';
const N = Number(process.argv[2] || 100000);

const sleep0 = () => new Promise((resolve) => setImmediate(resolve));

async function job(i) {
  await sleep0();
  return i;
}

async function main() {
  const tasks = [];
  for (let i = 0; i < N; i++) tasks.push(job(i));
  const results = await Promise.all(tasks);
  for (let i = 0; i < N; i++) if (results[i] !== i) throw new Error('wrong result');
  console.log(`W1 node ok n=${N}`);
}

main().catch((err) => { console.error(err); process.exit(1); });

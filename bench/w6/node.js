// W6 to_thread on Node.js: a CPU-bound checksum loop run twice, first
// serially on the main thread, then in two worker_threads at once. Prints
// the speedup of the second way over the first.
'use strict';
const { Worker, isMainThread, parentPort, workerData } = require('worker_threads');
const N = Number(process.argv[2] || 10000000);

function checksum(seed, n) {
  let x = seed;
  for (let i = 1; i <= n; i++) x = (x * 31 + i) % 1000000007;
  return x;
}

function inThread(seed, n) {
  return new Promise((resolve, reject) => {
    const worker = new Worker(__filename, { workerData: [seed, n] });
    worker.once('message', resolve);
    worker.once('error', reject);
  });
}

async function main() {
  const t0 = performance.now();
  const a = checksum(1, N);
  const b = checksum(2, N);
  const t1 = performance.now();
  const r = await Promise.all([inThread(1, N), inThread(2, N)]);
  const t2 = performance.now();
  if (r[0] !== a || r[1] !== b) throw new Error('threads and serial runs disagree');
  const serial = (t1 - t0) / 1000;
  const threads = (t2 - t1) / 1000;
  console.log(`W6 node ${(serial / threads).toFixed(2)} speedup ` +
    `serial_s=${serial.toFixed(3)} threads_s=${threads.toFixed(3)} checksum=${a},${b}`);
}

if (isMainThread) {
  main().catch((err) => { console.error(err); process.exit(1); });
} else {
  parentPort.postMessage(checksum(workerData[0], workerData[1]));
}

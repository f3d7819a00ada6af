// W5 memory on Node.js: N async functions suspended on one promise (an
// event). Prints VmHWM (peak RSS) once they all wait; given the VmHWM of an
// N=0 run, bytes per task. Usage: node node.js [N [baseline_kB]]
'use strict';
const fs = require('fs');
const N = Number(process.argv[2] || 100000);
const BASE = process.argv[3] === undefined ? null : Number(process.argv[3]);

function vmhwmKb() {
  const status = fs.readFileSync('/proc/self/status', 'utf8');
  return Number(/^VmHWM:\s*(\d+) kB/m.exec(status)[1]);
}

class Event {
  constructor() { this.promise = new Promise((resolve) => { this.set = resolve; }); }
  wait() { return this.promise; }
}

let waiting = 0;

async function waiter(ev, i) {
  waiting++;
  await ev.wait();
  return i;
}

async function main() {
  const ev = new Event();
  const tasks = [];
  for (let i = 0; i < N; i++) tasks.push(waiter(ev, i));
  if (waiting !== N) throw new Error('not every task is waiting');
  const kb = vmhwmKb();
  ev.set();
  const results = await Promise.all(tasks);
  for (let i = 0; i < N; i++) if (results[i] !== i) throw new Error('wrong result');
  if (BASE !== null && N > 0) {
    const per = Math.floor(((kb - BASE) * 1024) / N);
    console.log(`W5 node ${per} bytes/task n=${N} vmhwm_kb=${kb} base_kb=${BASE}`);
  } else {
    console.log(`W5 node ${kb} kB n=${N}`);
  }
}

main().catch((err) => { console.error(err); process.exit(1); });

// W3 queue on Node.js: N integers through a bounded queue of 100 (a small
// promise-based class, as Node has none), one producer and one consumer.
'use strict';
const N = Number(process.argv[2] || 1000000);

class Queue {
  constructor(maxsize) {
    this.maxsize = maxsize;
    this.items = [];
    this.getters = []; // resolve functions of waiting get() calls
    this.putters = []; // resolve functions of waiting put() calls
  }

  async put(item) {
    while (this.items.length >= this.maxsize) {
      await new Promise((resolve) => this.putters.push(resolve));
    }
    this.items.push(item);
    if (this.getters.length > 0) this.getters.shift()();
  }

  async get() {
    while (this.items.length === 0) {
      await new Promise((resolve) => this.getters.push(resolve));
    }
    const item = this.items.shift();
    if (this.putters.length > 0) this.putters.shift()();
    return item;
  }
}

async function producer(q) {
  for (let i = 1; i <= N; i++) await q.put(i);
}

async function consumer(q) {
  let sum = 0;
  for (let i = 0; i < N; i++) sum += await q.get();
  return sum;
}

async function main() {
  const q = new Queue(100);
  const [, sum] = await Promise.all([producer(q), consumer(q)]);
  if (sum !== (N * (N + 1)) / 2) throw new Error('wrong sum');
  console.log(`W3 node ok n=${N} sum=${sum}`);
}

main().catch((err) => { console.error(err); process.exit(1); });

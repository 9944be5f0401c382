// node-new-agent: Node http.get with `agent: new http.Agent({ keepAlive: true })` created
// anew for every request and never destroyed (5 GETs, 50 ms apart, body read to the end).
// Each Agent keeps its own idle socket in its free pool, so the sockets pile up;
// the process exits (process.exit) 0.5 s after the last response. Built-in modules only.
//
//	node node-new-agent.js 127.0.0.1 18227
'use strict';
const http = require('http');
const [host, port] = [process.argv[2], Number(process.argv[3])];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function get(path) {
  return new Promise((resolve, reject) => {
    const agent = new http.Agent({ keepAlive: true });   // BUG on purpose: one per request
    http.get({ host, port, path, agent }, (res) => {
      let n = 0;
      res.on('data', (c) => { n += c.length; });
      res.on('end', () => resolve([res.statusCode, n]));
    }).on('error', reject);
  });
}

(async () => {
  for (let i = 1; i <= 5; i++) {
    const [code, n] = await get(`/item${i}.txt`);
    console.error(`GET /item${i}.txt -> ${code}, ${n} bytes`);
    await sleep(50);
  }
  await sleep(500);
  process.exit(0);
})();

// node-agent-false: Node http.get({..., agent: false}) per request (5 GETs, 50 ms apart),
// body read to the end. `agent: false` gives each request its own one-off Agent with
// default options (keepAlive false). Built-in modules only.
//
//	node node-agent-false.js 127.0.0.1 18225
'use strict';
const http = require('http');
const [host, port] = [process.argv[2], Number(process.argv[3])];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function get(path) {
  return new Promise((resolve, reject) => {
    http.get({ host, port, path, agent: false }, (res) => {
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
})();

// node-fetch: Node 20's global fetch() (undici) in a loop (5 GETs, 50 ms apart), each
// body read with `await r.text()`. undici's global dispatcher pools the connection.
// The script then ends; the idle pooled socket does not keep the process alive, so it
// exits and the kernel closes the socket (undici's own idle timeout, 4 s, never fires).
//
//	node node-fetch.js http://127.0.0.1:18226
'use strict';
const base = process.argv[2];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

(async () => {
  for (let i = 1; i <= 5; i++) {
    const r = await fetch(`${base}/item${i}.txt`);
    const body = await r.text();
    console.error(`GET /item${i}.txt -> ${r.status}, ${body.length} bytes`);
    await sleep(50);
  }
})();

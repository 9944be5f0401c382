// nginx-h2-goaway: Node's http2 client making N sequential GETs over cleartext HTTP/2 with
// prior knowledge (h2c). When the server sends GOAWAY (nginx: keepalive_requests reached)
// the session is no longer used and the next request opens a new session (connection).
//
//	node nginx-h2-goaway.js http://127.0.0.1:18254 10
'use strict';
const http2 = require('http2');
const [base, n] = [process.argv[2], Number(process.argv[3] || 10)];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let session = null;
function getSession() {
  if (session && !session.closed && !session.destroyed && !session.gotGoaway) return session;
  const s = http2.connect(base);
  s.on('goaway', (code, last) => {
    s.gotGoaway = true;
    console.error(`GOAWAY error=${code} last_stream=${last}`);
  });
  s.on('error', (e) => console.error(`session error: ${e.message}`));
  session = s;
  return s;
}

function get(path) {
  return new Promise((resolve, reject) => {
    const req = getSession().request({ ':path': path });
    let status = 0, bytes = 0, id = 0;
    req.on('response', (h) => { status = h[':status']; id = req.id; });
    req.on('data', (d) => { bytes += d.length; });
    req.on('end', () => resolve([status, bytes, id]));
    req.on('error', reject);
    req.end();
  });
}

(async () => {
  for (let i = 1; i <= n; i++) {
    const [status, bytes, id] = await get(`/item${i}.txt`);
    console.error(`GET /item${i}.txt -> ${status}, ${bytes} bytes, stream ${id}`);
    await sleep(50);
  }
  session.close(); // the last session: client GOAWAY, then FIN
})().catch((e) => { console.error(e); process.exit(1); });

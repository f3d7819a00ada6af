// W7/W8 TLS echo server on Node.js with `tls`: serves TLS with the
// certificate and key given (bench/run makes them), on 127.0.0.1 on a free
// port, prints "W7 node listening PORT", and writes back whatever each
// connection sends until it is killed.
// Usage: node bench/w7/node.js CERT.pem KEY.pem
'use strict';
const fs = require('fs');
const tls = require('tls');

const server = tls.createServer({
  cert: fs.readFileSync(process.argv[2]),
  key: fs.readFileSync(process.argv[3]),
  noDelay: true,
}, (socket) => {
  socket.on('data', (data) => socket.write(data));
  socket.on('error', () => socket.destroy());
});
server.on('tlsClientError', () => {});

server.listen(0, '127.0.0.1', () => {
  console.log(`W7 node listening ${server.address().port}`);
});

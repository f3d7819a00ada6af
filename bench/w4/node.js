// W4 TCP echo server on Node.js: listens on 127.0.0.1 on a free port,
// prints "W4 node listening PORT", and writes back whatever each connection
// sends until it is killed.
'use strict';
const net = require('net');

const server = net.createServer({ noDelay: true }, (socket) => {
  socket.on('data', (data) => socket.write(data));
  socket.on('error', () => socket.destroy());
});

server.listen(0, '127.0.0.1', () => {
  console.log(`W4 node listening ${server.address().port}`);
});

// Small network probes the lab's own tests run inside namespaces (`ip netns exec NS node probe.mjs …`).
// Each prints one JSON line. Plain JavaScript so it starts fast without tsx.
//   echo IP PORT                  UDP: answer every datagram with the sender's address:port (like STUN)
//   mapping IP:PORT IP:PORT…      UDP: from one socket, ask each echo; print the address:port each saw
//   rtt IP:PORT COUNT GAP_MS      UDP: COUNT pings GAP_MS apart; print round trips and how many were lost
//   sink IP PORT SECONDS          TCP: accept one sender; print the kbit/s received over SECONDS from its first byte
//   send IP:PORT SECONDS          TCP: send as fast as possible for SECONDS
import { createSocket } from 'node:dgram';
import { connect, createServer } from 'node:net';

const [mode, ...args] = process.argv.slice(2);
const hostPort = (s) => {
  const [host, port] = s.split(':');
  return { host, port: Number(port) };
};
const print = (value) => process.stdout.write(`${JSON.stringify(value)}\n`);

if (mode === 'echo') {
  const socket = createSocket('udp4');
  socket.on('message', (msg, from) => {
    socket.send(Buffer.concat([Buffer.from(`${from.address}:${from.port}|`), msg]), from.port, from.address);
  });
  socket.bind(Number(args[1]), args[0], () => print({ ready: true }));
} else if (mode === 'mapping') {
  const socket = createSocket('udp4');
  const seen = {};
  socket.on('message', (msg) => {
    const [mapped, asked] = msg.toString().split('|');
    seen[asked] = mapped;
  });
  socket.bind(0, () => {
    let tries = 0;
    const ask = () => {
      for (const target of args) {
        const { host, port } = hostPort(target);
        if (!seen[target]) socket.send(target, port, host);
      }
      if (args.every((t) => seen[t]) || ++tries > 10) {
        print(seen);
        socket.close();
      } else setTimeout(ask, 200);
    };
    ask();
  });
} else if (mode === 'rtt') {
  const { host, port } = hostPort(args[0]);
  const count = Number(args[1]);
  const gap = Number(args[2]);
  const socket = createSocket('udp4');
  const sent = new Map();
  const rtts = [];
  socket.on('message', (msg) => {
    const id = msg.toString().split('|')[1];
    const at = sent.get(id);
    if (at !== undefined) rtts.push(performance.now() - at);
  });
  socket.bind(0, () => {
    let i = 0;
    const timer = setInterval(() => {
      const id = String(i++);
      sent.set(id, performance.now());
      socket.send(id, port, host);
      if (i >= count) {
        clearInterval(timer);
        setTimeout(() => {
          rtts.sort((a, b) => a - b);
          print({
            received: rtts.length,
            lost: count - rtts.length,
            medianMs: rtts[Math.floor(rtts.length / 2)] ?? null,
          });
          socket.close();
        }, 1500);
      }
    }, gap);
  });
} else if (mode === 'sink') {
  const seconds = Number(args[2]);
  const server = createServer((c) => {
    let bytes = 0;
    let start = 0;
    c.on('data', (d) => {
      if (!start) start = performance.now();
      else if (performance.now() - start <= seconds * 1000) bytes += d.length;
    });
    setTimeout(
      () => {
        print({ kbps: Math.round((bytes * 8) / 1000 / seconds) });
        c.destroy();
        server.close();
      },
      seconds * 1000 + 500,
    );
  });
  server.listen(Number(args[1]), args[0], () => print({ ready: true }));
} else if (mode === 'send') {
  const { host, port } = hostPort(args[0]);
  const chunk = Buffer.alloc(16_384);
  const socket = connect(port, host, () => {
    const pump = () => {
      while (socket.write(chunk));
    };
    socket.on('drain', pump);
    pump();
  });
  socket.on('error', () => {});
  setTimeout(() => socket.destroy(), Number(args[1]) * 1000);
}

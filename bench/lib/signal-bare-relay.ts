/**
 * The baseline for `bench:signal`: the least a WebSocket relay can do. A client registers
 * with `/ws?id=<id>`; each text message is JSON-parsed, its `to` looked up in a Map, and the
 * text forwarded as is. No validation, no limits, no rooms. Prints `{"port":N}` when ready.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type WebSocket, WebSocketServer } from 'ws';

const clients = new Map<string, WebSocket>();
const server = createServer((_req, res) => {
  res.writeHead(404);
  res.end();
});
const wss = new WebSocketServer({ server, perMessageDeflate: false, clientTracking: false });
wss.on('connection', (ws, req) => {
  const id = new URL(req.url ?? '/', 'http://x').searchParams.get('id') ?? '';
  clients.set(id, ws);
  ws.on('message', (data) => {
    const text = data.toString();
    const msg = JSON.parse(text) as { to: string };
    clients.get(msg.to)?.send(text);
  });
  ws.on('close', () => clients.delete(id));
  ws.on('error', () => {});
});
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`);
});

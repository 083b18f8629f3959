/**
 * A minimal TURN client (RFC 5766 Allocate over UDP with long-term credentials): enough to
 * prove that a username/credential pair is accepted by a real coturn.
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';

const MAGIC = 0x2112a442;

function attr(type: number, value: Buffer): Buffer {
  const head = Buffer.alloc(4);
  head.writeUInt16BE(type, 0);
  head.writeUInt16BE(value.length, 2);
  const pad = Buffer.alloc((4 - (value.length % 4)) % 4);
  return Buffer.concat([head, value, pad]);
}

function message(type: number, attrs: Buffer[], key: Buffer | null): Buffer {
  const body = Buffer.concat(attrs);
  const head = Buffer.alloc(20);
  head.writeUInt16BE(type, 0);
  head.writeUInt16BE(body.length + (key ? 24 : 0), 2);
  head.writeUInt32BE(MAGIC, 4);
  randomBytes(12).copy(head, 8);
  const msg = Buffer.concat([head, body]);
  if (key === null) return msg;
  const mac = createHmac('sha1', key).update(msg).digest();
  return Buffer.concat([msg, attr(0x0008, mac)]);
}

function attributes(msg: Buffer): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  let at = 20;
  while (at + 4 <= msg.length) {
    const type = msg.readUInt16BE(at);
    const len = msg.readUInt16BE(at + 2);
    out.set(type, msg.subarray(at + 4, at + 4 + len));
    at += 4 + len + ((4 - (len % 4)) % 4);
  }
  return out;
}

/** Sends an Allocate and resolves with the response type: 0x0103 success, 0x0113 error. */
export async function turnAllocate(
  host: string,
  port: number,
  username: string,
  credential: string,
): Promise<{ ok: boolean; errorCode: number | null }> {
  const socket = createSocket('udp4');
  const ask = (msg: Buffer) =>
    new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no answer from the TURN server')), 5000);
      socket.once('message', (reply) => {
        clearTimeout(timer);
        resolve(reply);
      });
      socket.send(msg, port, host);
    });
  try {
    const transport = attr(0x0019, Buffer.from([17, 0, 0, 0]));
    const first = await ask(message(0x0003, [transport], null));
    const challenge = attributes(first);
    const realm = challenge.get(0x0014);
    const nonce = challenge.get(0x0015);
    if (realm === undefined || nonce === undefined) throw new Error('the TURN server sent no realm/nonce');
    const key = createHash('md5').update(`${username}:${realm.toString()}:${credential}`).digest();
    const second = await ask(
      message(
        0x0003,
        [transport, attr(0x0006, Buffer.from(username)), attr(0x0014, realm), attr(0x0015, nonce)],
        key,
      ),
    );
    const type = second.readUInt16BE(0);
    const err = attributes(second).get(0x0009);
    return { ok: type === 0x0103, errorCode: err ? (err[2] as number) * 100 + (err[3] as number) : null };
  } finally {
    socket.close();
  }
}

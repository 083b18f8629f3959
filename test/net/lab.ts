/**
 * The network lab: real networks made of Linux network namespaces, veth pairs, nftables NAT
 * and tc, built by the tests themselves and removed afterwards (also when a test fails or the
 * worker exits). Nothing leaves the namespaces made here.
 *
 *   pub  the "internet": the Parley server (https/wss on 198.51.100.10:443, with a
 *        certificate from a CA made for this run) and coturn on 198.51.100.20 (STUN and TURN
 *        on UDP 3478, TURN over TLS on TCP 443, REST credentials with use-auth-secret).
 *   home routers, each on its own WAN link to pub (203.0.113.4n+2/30), LAN 10.n.0.0/24:
 *        'nat'          masquerade: endpoint-independent mapping (the port is kept)
 *        'symmetric'    masquerade fully-random: a new port for every destination
 *        'udp-blocked'  masquerade, and only TCP to port 443 may leave the LAN
 *        every router drops unsolicited inbound traffic, as home routers do.
 *   hosts (the computers the browsers run in), on one or more home LANs; a host with two
 *        links is a laptop that can move from one network to the other.
 *   links: veth by default; a bandwidth cap (tbf) in both directions; or a userspace link
 *        between two TUN devices (tun-link.py) with delay, jitter and loss set per test.
 *
 * Namespace names start with a prefix unique to this run (`pl` + random hex), so parallel
 * test files never collide. Making namespaces needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN);
 * without it `NetLab.create` throws an error saying so.
 */
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type BrowserContext, chromium } from 'playwright-core';
import { CHROME_FLAGS, chromePath } from '../e2e/harness.ts';
import { ROOT } from '../helpers/server-process.ts';

const run = promisify(execFile);

export const SERVER_IP = '198.51.100.10';
export const TURN_IP = '198.51.100.20';
export const SERVER_URL = `https://${SERVER_IP}`;

/** `node -e TCP_OPEN IP PORT`: exits 0 once a TCP connection to IP:PORT opens (tries for 10 s). */
const TCP_OPEN = `
const [ip, port] = process.argv.slice(1);
const deadline = Date.now() + 10000;
const attempt = () => require('node:net').connect(Number(port), ip, function () { this.destroy(); process.exit(0); })
  .on('error', () => Date.now() > deadline ? process.exit(1) : setTimeout(attempt, 100));
attempt();`;

export type RouterKind = 'nat' | 'symmetric' | 'udp-blocked';

export interface HomeOptions {
  kind: RouterKind;
  /** Cap the WAN link at this rate in both directions (tbf), kbit/s. */
  rateKbit?: number;
}

export interface Home {
  name: string;
  ns: string;
  index: number;
  kind: RouterKind;
  /** The router's public address (what the world sees for everything behind it). */
  wanIp: string;
  /** Hosts on this LAN so far (addresses are handed out in order). */
  hosts: number;
}

export interface Attachment {
  home: Home;
  iface: string;
  ip: string;
  gateway: string;
}

export interface Host {
  name: string;
  ns: string;
  links: Attachment[];
  /** The home whose link carries the default route now. */
  current: Home;
}

export interface TunLink {
  /** Change delay (ms), jitter (ms, uniform 0..jitter) and loss (fraction 0..1). */
  set(settings: { delayMs?: number; jitterMs?: number; loss?: number }): Promise<void>;
  stats(): Promise<{ forwarded: number; dropped: number }>;
}

export interface LabBrowser {
  context: BrowserContext;
  close(): Promise<void>;
}

function missing(what: string, install: string): Error {
  return new Error(`The network lab needs ${what}: ${install}`);
}

function commandExists(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Collects a child's output lines and resolves `waitFor` once a line matches. */
class ProcessLog {
  readonly lines: string[] = [];
  private waiters: { re: RegExp; resolve: () => void }[] = [];

  constructor(child: ChildProcess) {
    let partial = '';
    const take = (chunk: Buffer) => {
      const text = partial + chunk.toString();
      const parts = text.split('\n');
      partial = parts.pop() ?? '';
      for (const line of parts) {
        this.lines.push(line);
        this.waiters = this.waiters.filter((w) => {
          if (!w.re.test(line)) return true;
          w.resolve();
          return false;
        });
      }
    };
    child.stdout?.on('data', take);
    child.stderr?.on('data', take);
  }

  waitFor(re: RegExp, timeoutMs: number, what: string): Promise<void> {
    if (this.lines.some((l) => re.test(l))) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${what} did not start within ${timeoutMs} ms:\n${this.lines.join('\n')}`)),
        timeoutMs,
      );
      this.waiters.push({
        re,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }
}

export class NetLab {
  readonly prefix: string;
  readonly dir: string;
  readonly pubNs: string;
  private readonly namespaces: string[] = [];
  private readonly children: ChildProcess[] = [];
  private readonly browsers: LabBrowser[] = [];
  private readonly homes: Home[] = [];
  private closed = false;
  private readonly onExit = () => this.removeNamespacesSync();
  /** The server's log lines (pino JSON) once started. */
  serverLog: string[] = [];
  turnLog: string[] = [];
  /** coturn's shared secret for REST credentials (set by startServices). */
  private turnSecret = '';

  private constructor(prefix: string, dir: string) {
    this.prefix = prefix;
    this.dir = dir;
    this.pubNs = `${prefix}-pub`;
  }

  /**
   * Checks what the lab needs and makes the public namespace. Throws an error naming what is
   * missing (root, iproute2, nftables, openssl, certutil, python3).
   */
  static async create(): Promise<NetLab> {
    if (process.platform !== 'linux') throw missing('Linux network namespaces', 'run the tests on Linux.');
    if (process.getuid?.() !== 0)
      throw missing(
        'root (CAP_SYS_ADMIN and CAP_NET_ADMIN) to create network namespaces',
        'run the tests as root (CI does), e.g. `sudo npm test`.',
      );
    const tools: [string, string][] = [
      ['ip', 'iproute2'],
      ['tc', 'iproute2'],
      ['nft', 'nftables'],
      ['openssl', 'openssl'],
      ['certutil', 'libnss3-tools'],
      ['python3', 'python3'],
      ['turnserver', 'coturn'],
    ];
    for (const [cmd, pkg] of tools)
      if (!commandExists(cmd))
        throw missing(`\`${cmd}\``, `install it with \`sudo apt-get install ${pkg}\`.`);
    const lab = new NetLab(
      `pl${randomBytes(3).toString('hex')}`,
      await mkdtemp(join(tmpdir(), 'parley-netlab-')),
    );
    process.once('exit', lab.onExit);
    try {
      await lab.addNamespace(lab.pubNs);
    } catch (err) {
      await lab.close();
      throw missing(
        'permission to create network namespaces (`ip netns add` failed)',
        `run as root in a machine or container that allows it (${err instanceof Error ? err.message.trim() : err}).`,
      );
    }
    await lab.sh(lab.pubNs, 'ip', 'addr', 'add', `${SERVER_IP}/32`, 'dev', 'lo');
    await lab.sh(lab.pubNs, 'ip', 'addr', 'add', `${TURN_IP}/32`, 'dev', 'lo');
    await lab.sh(lab.pubNs, 'sysctl', '-qw', 'net.ipv4.ip_forward=1');
    return lab;
  }

  /** Runs a command inside a namespace; rejects with its output on failure. */
  async sh(ns: string, ...cmd: string[]): Promise<string> {
    try {
      const { stdout } = await run('ip', ['netns', 'exec', ns, ...cmd]);
      return stdout;
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new Error(`in ${ns}: ${cmd.join(' ')}: ${e.stderr?.trim() || e.message}`);
    }
  }

  private async addNamespace(ns: string): Promise<void> {
    await run('ip', ['netns', 'add', ns]);
    this.namespaces.push(ns);
    await run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  }

  /** A veth pair between two namespaces, addressed and up. */
  private async veth(nsA: string, ifA: string, ipA: string, nsB: string, ifB: string, ipB: string | null) {
    await run('ip', ['link', 'add', ifA, 'netns', nsA, 'type', 'veth', 'peer', ifB, 'netns', nsB]);
    await run('ip', ['-n', nsA, 'addr', 'add', ipA, 'dev', ifA]);
    if (ipB) await run('ip', ['-n', nsB, 'addr', 'add', ipB, 'dev', ifB]);
    await run('ip', ['-n', nsA, 'link', 'set', ifA, 'up']);
    await run('ip', ['-n', nsB, 'link', 'set', ifB, 'up']);
  }

  /** Caps a device's egress at `rateKbit` (token bucket; queued at most ~200 ms, then dropped). */
  private async cap(ns: string, iface: string, rateKbit: number) {
    const burstBytes = Math.max(3_000, Math.round((rateKbit * 1000) / 8 / 50)); // ~20 ms of data
    const limitBytes = Math.round((rateKbit * 1000) / 8 / 5); // ~200 ms of queue
    await this.sh(
      ns,
      'tc',
      'qdisc',
      'replace',
      'dev',
      iface,
      'root',
      'tbf',
      'rate',
      `${rateKbit}kbit`,
      'burst',
      String(burstBytes),
      'limit',
      String(Math.max(limitBytes, burstBytes * 2)),
    );
  }

  /** A home router on its own WAN link to the public network. */
  async addHome(name: string, options: HomeOptions): Promise<Home> {
    const index = this.homes.length + 1;
    const ns = `${this.prefix}-${name}`;
    await this.addNamespace(ns);
    const base = 4 * index;
    const pubIp = `203.0.113.${base + 1}`;
    const wanIp = `203.0.113.${base + 2}`;
    const pubIf = `home${index}`;
    await this.veth(this.pubNs, pubIf, `${pubIp}/30`, ns, 'wan', `${wanIp}/30`);
    await this.sh(ns, 'ip', 'link', 'add', 'lan', 'type', 'bridge');
    await this.sh(ns, 'ip', 'addr', 'add', `10.${index}.0.1/24`, 'dev', 'lan');
    await this.sh(ns, 'ip', 'link', 'set', 'lan', 'up');
    await this.sh(ns, 'ip', 'route', 'add', 'default', 'via', pubIp);
    await this.sh(ns, 'sysctl', '-qw', 'net.ipv4.ip_forward=1');
    if (options.rateKbit) {
      await this.cap(ns, 'wan', options.rateKbit);
      await this.cap(this.pubNs, pubIf, options.rateKbit);
    }
    const masquerade = options.kind === 'symmetric' ? 'masquerade fully-random' : 'masquerade';
    const outbound =
      options.kind === 'udp-blocked'
        ? // Only TCP to port 443 may leave (and ICMP, as such firewalls do); no UDP at all.
          'iifname "lan" oifname "wan" meta l4proto { icmp } accept; iifname "lan" oifname "wan" tcp dport 443 accept;'
        : 'iifname "lan" oifname "wan" accept;';
    const rules = `
table ip nat {
  chain post { type nat hook postrouting priority 100; oifname "wan" ${masquerade}; }
}
table ip filter {
  chain forward {
    type filter hook forward priority 0; policy drop;
    ct state established,related accept;
    ${outbound}
  }
}
`;
    const file = join(this.dir, `${name}.nft`);
    await writeFile(file, rules);
    await this.sh(ns, 'nft', '-f', file);
    const home: Home = { name, ns, index, kind: options.kind, wanIp, hosts: 0 };
    this.homes.push(home);
    return home;
  }

  /**
   * A computer on one or more home LANs (in order: eth0, eth1…). The first is its network
   * now; the others are attached but down until `moveHost`.
   */
  async addHost(name: string, homes: Home[]): Promise<Host> {
    const ns = `${this.prefix}-${name}`;
    await this.addNamespace(ns);
    const links: Attachment[] = [];
    for (const [i, home] of homes.entries()) {
      home.hosts++;
      const iface = `eth${i}`;
      const ip = `10.${home.index}.0.${home.hosts + 1}`;
      const routerIf = `h${home.hosts}`;
      await this.veth(ns, iface, `${ip}/24`, home.ns, routerIf, null);
      await this.sh(home.ns, 'ip', 'link', 'set', routerIf, 'master', 'lan');
      links.push({ home, iface, ip, gateway: `10.${home.index}.0.1` });
      if (i > 0) await this.sh(ns, 'ip', 'link', 'set', iface, 'down');
    }
    const first = links[0];
    if (!first) throw new Error('a host needs at least one home');
    await this.sh(ns, 'ip', 'route', 'add', 'default', 'via', first.gateway, 'dev', first.iface);
    return { name, ns, links, current: first.home };
  }

  /**
   * A computer behind a delay/loss link to its home router (as over a poor Wi-Fi or a
   * mobile link): two TUN devices joined by tun-link.py running in the router's namespace.
   * With `lan: true` the link is part of the home's LAN both ways (the other computers there
   * reach it directly, the router answering ARP for it), so a call between it and a computer
   * on the same LAN goes host to host over this link.
   */
  async addHostOverTun(
    name: string,
    home: Home,
    { lan = false }: { lan?: boolean } = {},
  ): Promise<{ host: Host; link: TunLink }> {
    const ns = `${this.prefix}-${name}`;
    await this.addNamespace(ns);
    home.hosts++;
    const ip = `10.${home.index}.0.${home.hosts + 1}`;
    const routerIf = `t${home.hosts}`;
    const child = spawn(
      'ip',
      ['netns', 'exec', home.ns, 'python3', join(ROOT, 'test/net/tun-link.py'), routerIf, 'hosttun'],
      {
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    );
    this.children.push(child);
    const log = new ProcessLog(child);
    await log.waitFor(/^ready$/, 5_000, 'tun-link.py');
    await this.sh(home.ns, 'ip', 'link', 'set', 'hosttun', 'netns', ns);
    await this.sh(ns, 'ip', 'link', 'set', 'hosttun', 'name', 'eth0');
    await this.sh(ns, 'ip', 'addr', 'add', `${ip}/32`, 'peer', `10.${home.index}.0.1`, 'dev', 'eth0');
    await this.sh(ns, 'ip', 'link', 'set', 'eth0', 'up');
    await this.sh(ns, 'ip', 'route', 'add', 'default', 'dev', 'eth0');
    await this.sh(home.ns, 'ip', 'link', 'set', routerIf, 'up');
    await this.sh(home.ns, 'ip', 'route', 'add', `${ip}/32`, 'dev', routerIf);
    // The router's firewall knows its LAN by name: let this link count as LAN too.
    await this.sh(
      home.ns,
      'nft',
      'add',
      'rule',
      'ip',
      'filter',
      'forward',
      'iifname',
      routerIf,
      'oifname',
      'wan',
      'accept',
    );
    if (lan) {
      for (const [from, to] of [
        [routerIf, 'lan'],
        ['lan', routerIf],
      ] as const)
        await this.sh(
          home.ns,
          'nft',
          ...`add rule ip filter forward iifname ${from} oifname ${to} accept`.split(' '),
        );
      await this.sh(home.ns, 'sysctl', '-qw', 'net.ipv4.conf.lan.proxy_arp=1');
    }
    let pending = Promise.resolve('');
    const command = (line: string, reply: RegExp) => {
      pending = pending.then(async () => {
        const seen = log.lines.length;
        child.stdin?.write(`${line}\n`);
        const deadline = Date.now() + 5_000;
        for (;;) {
          const answer = log.lines.slice(seen).find((l) => reply.test(l));
          if (answer) return answer;
          if (Date.now() > deadline)
            throw new Error(`tun-link.py did not answer "${line}":\n${log.lines.join('\n')}`);
          await new Promise((r) => setTimeout(r, 10));
        }
      });
      return pending;
    };
    const link: TunLink = {
      async set({ delayMs, jitterMs, loss }) {
        const words = [
          delayMs !== undefined ? `delay=${delayMs}` : '',
          jitterMs !== undefined ? `jitter=${jitterMs}` : '',
          loss !== undefined ? `loss=${loss}` : '',
        ].filter(Boolean);
        await command(`set ${words.join(' ')}`, /^ok$/);
      },
      async stats() {
        const line = await command('stats', /^stats /);
        const numbers = Object.fromEntries(
          [...line.matchAll(/(\w+)=(\d+)/g)].map((m) => [m[1], Number(m[2])]),
        ) as { forwarded: number; dropped: number };
        return numbers;
      },
    };
    return {
      host: {
        name,
        ns,
        links: [{ home, iface: 'eth0', ip, gateway: `10.${home.index}.0.1` }],
        current: home,
      },
      link,
    };
  }

  /**
   * The host leaves its current network and joins `home` (which it must be attached to), as a
   * laptop switching Wi-Fi does: the old link goes down (its address and routes with it), the
   * other link comes up with a new default route.
   */
  async moveHost(host: Host, home: Home): Promise<void> {
    const from = host.links.find((l) => l.home === host.current);
    const to = host.links.find((l) => l.home === home);
    if (!from || !to) throw new Error(`${host.name} has no link to ${home.name}`);
    await this.sh(host.ns, 'ip', 'link', 'set', from.iface, 'down');
    await this.sh(host.ns, 'ip', 'addr', 'flush', 'dev', from.iface);
    await this.sh(host.ns, 'ip', 'link', 'set', to.iface, 'up');
    await this.sh(host.ns, 'ip', 'addr', 'replace', `${to.ip}/24`, 'dev', to.iface);
    await this.sh(host.ns, 'ip', 'route', 'replace', 'default', 'via', to.gateway, 'dev', to.iface);
    host.current = home;
  }

  /**
   * The Parley server stops being reachable (its packets are dropped both ways, as behind a
   * failed route: no reset, no close); call the returned function to bring it back. coturn,
   * on its own address, is not touched.
   */
  async blockServer(): Promise<() => Promise<void>> {
    const table = `block${randomBytes(2).toString('hex')}`;
    const rules = `
table inet ${table} {
  chain in { type filter hook input priority 0; ip daddr ${SERVER_IP} tcp dport 443 drop; }
  chain out { type filter hook output priority 0; ip saddr ${SERVER_IP} tcp sport 443 drop; }
}
`;
    const file = join(this.dir, `${table}.nft`);
    await writeFile(file, rules);
    await this.sh(this.pubNs, 'nft', '-f', file);
    return async () => {
      await this.sh(this.pubNs, 'nft', 'delete', 'table', 'inet', table);
    };
  }

  /**
   * The STUN and TURN servers the lab's Parley server hands out, with REST credentials valid
   * for an hour (for pages that do not go through Parley, e.g. a benchmark's baseline).
   */
  iceServers(): { urls: string[]; username?: string; credential?: string }[] {
    const username = `${Math.floor(Date.now() / 1000) + 3600}:lab`;
    const credential = createHmac('sha1', this.turnSecret).update(username).digest('base64');
    return [
      { urls: [`stun:${TURN_IP}:3478`] },
      {
        urls: [`turn:${TURN_IP}:3478?transport=udp`, `turns:${TURN_IP}:443?transport=tcp`],
        username,
        credential,
      },
    ];
  }

  /** Runs a program inside a namespace for the rest of the lab's life. */
  spawnIn(ns: string, cmd: string, args: string[], env: Record<string, string> = {}): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.children.push(child);
    return child;
  }

  private certDir(): { ca: string; cert: string; key: string; nssHome: string } {
    return {
      ca: join(this.dir, 'ca.pem'),
      cert: join(this.dir, 'server.pem'),
      key: join(this.dir, 'server.key'),
      nssHome: join(this.dir, 'home'),
    };
  }

  /**
   * A certificate authority made for this run, a certificate it signs for the server's and
   * coturn's addresses, and an NSS database (what Chromium on Linux reads from
   * `$HOME/.pki/nssdb`) that trusts the CA: the browsers in the lab then load the guest page
   * as a secure context the ordinary way, with no flag that weakens anything.
   */
  private async makeCertificates(): Promise<void> {
    const { ca, cert, key, nssHome } = this.certDir();
    const caKey = join(this.dir, 'ca.key');
    const csr = join(this.dir, 'server.csr');
    const ext = join(this.dir, 'server.ext');
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
    await run('openssl', [
      'req',
      '-x509',
      ...ec,
      '-days',
      '2',
      '-subj',
      '/CN=Parley network lab CA',
      '-keyout',
      caKey,
      '-out',
      ca,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ]);
    await run('openssl', ['req', ...ec, '-subj', '/CN=parley-lab', '-keyout', key, '-out', csr]);
    await writeFile(
      ext,
      `subjectAltName=IP:${SERVER_IP},IP:${TURN_IP}\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n`,
    );
    await run('openssl', [
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      ca,
      '-CAkey',
      caKey,
      '-CAcreateserial',
      '-days',
      '2',
      '-extfile',
      ext,
      '-out',
      cert,
    ]);
    const db = join(nssHome, '.pki', 'nssdb');
    await run('mkdir', ['-p', db]);
    await run('certutil', ['-N', '-d', `sql:${db}`, '--empty-password']);
    await run('certutil', ['-A', '-d', `sql:${db}`, '-n', 'Parley network lab CA', '-t', 'C,,', '-i', ca]);
  }

  /**
   * coturn and the Parley server in the public namespace. The server hands out STUN, TURN
   * over UDP and TURN over TLS on 443, with REST credentials for the shared secret.
   */
  async startServices(): Promise<void> {
    await this.makeCertificates();
    const { cert, key } = this.certDir();
    const secret = randomBytes(12).toString('hex');
    this.turnSecret = secret;
    const turn = this.spawnIn(this.pubNs, 'turnserver', [
      '-n',
      `--listening-ip=${TURN_IP}`,
      `--relay-ip=${TURN_IP}`,
      '--listening-port=3478',
      '--tls-listening-port=443',
      `--cert=${cert}`,
      `--pkey=${key}`,
      '--use-auth-secret',
      `--static-auth-secret=${secret}`,
      '--realm=parley.lab',
      '--no-dtls',
      '--no-cli',
      '--no-tcp-relay',
      '--min-port=49152',
      '--max-port=65000',
      `--pidfile=${join(this.dir, 'turnserver.pid')}`,
      '--log-file=stdout',
      '--simple-log',
      // For experiments, e.g. LAB_TURN_ARGS='-V --denied-peer-ip=10.0.0.0-10.255.255.255'.
      ...(process.env.LAB_TURN_ARGS?.split(' ') ?? []),
    ]);
    const turnLog = new ProcessLog(turn);
    this.turnLog = turnLog.lines;
    const server = this.spawnIn(this.pubNs, process.execPath, ['--import', 'tsx', 'server/main.ts'], {
      HOST: SERVER_IP,
      PORT: '443',
      TLS_CERT: cert,
      TLS_KEY: key,
      LOG_LEVEL: 'info',
      STUN_URLS: `stun:${TURN_IP}:3478`,
      TURN_URLS: `turn:${TURN_IP}:3478?transport=udp,turns:${TURN_IP}:443?transport=tcp`,
      TURN_SECRET: secret,
    });
    const serverLog = new ProcessLog(server);
    this.serverLog = serverLog.lines;
    await Promise.all([
      turnLog.waitFor(/Total General servers/, 15_000, 'coturn'),
      serverLog.waitFor(/"msg":"listening"/, 20_000, 'The Parley server'),
    ]);
    // coturn does not log its listeners at this verbosity: see that its TLS port answers.
    await this.sh(this.pubNs, process.execPath, '-e', TCP_OPEN, TURN_IP, '443');
  }

  /**
   * Chromium running inside `host`'s namespace (a wrapper script is its executable), with
   * fake camera and microphone, trusting this run's CA.
   */
  async launchBrowser(host: Host): Promise<LabBrowser> {
    const wrapper = join(this.dir, `chromium-${host.name}.sh`);
    await writeFile(wrapper, `#!/bin/sh\nexec ip netns exec ${host.ns} ${chromePath()} "$@"\n`, {
      mode: 0o755,
    });
    const userDataDir = await mkdtemp(join(this.dir, `profile-${host.name}-`));
    const context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: wrapper,
      headless: true,
      args: ['--headless=new', ...CHROME_FLAGS],
      ignoreDefaultArgs: ['--disable-extensions', '--mute-audio'],
      viewport: { width: 1000, height: 700 },
      env: { ...process.env, HOME: this.certDir().nssHome } as Record<string, string>,
    });
    await context.grantPermissions(['camera', 'microphone'], { origin: SERVER_URL });
    // Several browsers and a server on 2 cores: give pages time to load.
    context.setDefaultNavigationTimeout(60_000);
    const browser: LabBrowser = { context, close: () => context.close().catch(() => {}) };
    this.browsers.push(browser);
    return browser;
  }

  private removeNamespacesSync(): void {
    for (const child of this.children) if (child.exitCode === null) child.kill('SIGKILL');
    for (const ns of this.namespaces.splice(0)) {
      try {
        execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
      } catch {
        // already gone
      }
    }
  }

  /** Closes the browsers, stops every process and removes every namespace and file. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.browsers.map((b) => b.close()));
    await Promise.all(
      this.children.map(async (child) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        child.kill('SIGTERM');
        const done = new Promise((r) => child.once('exit', r));
        const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
        await done;
        clearTimeout(timer);
      }),
    );
    this.removeNamespacesSync();
    process.removeListener('exit', this.onExit);
    await rm(this.dir, { recursive: true, force: true }).catch(() => {});
  }
}

/**
 * The remote people on the stage: one tile per person and visual source, laid out for how
 * many there are, with the active speaker picked from their audio levels.
 *
 * A person's main tile plays their camera with their microphone (one element: the audio and
 * video of one person stay in sync) and carries their name, muted and camera-off state, and
 * the quality of the connection to them. Every further visual source a person has (a shared
 * screen) is a tile of its own (`visualSources`): one more source is one more tile.
 *
 * Layout (`data-layout` on the container, drawn by app.css): one tile big (`single`); a grid
 * for two or more (`grid`); or the active speaker big and the others in a strip (`speaker`).
 * The small overlay starts in speaker view, bigger windows in the grid; **Grid** / **Speaker**
 * switch between them once there are two tiles or more.
 *
 * A person's main tile also has **Send files** ("Send files to Ana"): files picked there go to
 * that person only (`TilesOptions.sendFiles`; the files panel does the rest).
 *
 * Nothing from the peer goes into innerHTML (see ./ui/dom.ts).
 */
import type { CallMedia } from '../call/media.ts';
import type { RemotePeer } from '../call/session.ts';
import { describeQuality } from '../call/stats.ts';
import { button, el, setAttr, setHidden, setText } from './ui/dom.ts';
import { initial, possessive } from './ui/format.ts';

export type TileLayout = 'single' | 'grid' | 'speaker';

/** Below this audio level (0..1, from the connection's stats) nobody is speaking. */
export const SPEAKING_LEVEL = 0.02;

/** One visual source of a person, as a tile shows it. */
export interface VisualSource {
  /** 'camera' for the person's main tile (it also plays their microphone). */
  source: string;
  stream: MediaStream | null;
  /** What the tile is called, for a person: "Ana", "Ana's screen". */
  label: string;
}

/**
 * The tiles a person has. The camera tile always (it shows the avatar when there is no
 * video, and plays the microphone); a shared screen (`RemotePeer.screen`, see
 * src/call/screen-share.ts) is one more entry here, with **Full screen**.
 */
export function visualSources(peer: RemotePeer): VisualSource[] {
  const sources: VisualSource[] = [{ source: 'camera', stream: peer.stream, label: peer.name }];
  const { screen } = peer;
  if (screen) sources.push({ source: 'screen', stream: screen, label: `${possessive(peer.name)} screen` });
  return sources;
}

/** Which layout, for this many tiles, in this mode (the person's choice, or the default). */
export function chooseLayout(tileCount: number, mode: 'grid' | 'speaker'): TileLayout {
  if (tileCount <= 1) return 'single';
  return mode;
}

/**
 * The loudest person above SPEAKING_LEVEL; the current speaker stays while they still speak
 * unless someone is clearly louder (no flicker between two people talking at once).
 */
export function pickSpeaker(
  levels: ReadonlyMap<string, number | null>,
  current: string | null,
): string | null {
  let loudest: string | null = null;
  let loudestLevel = SPEAKING_LEVEL;
  for (const [id, level] of levels) {
    if (level !== null && level > loudestLevel) {
      loudest = id;
      loudestLevel = level;
    }
  }
  const currentLevel = current !== null ? (levels.get(current) ?? null) : null;
  if (current !== null && currentLevel !== null && currentLevel > SPEAKING_LEVEL) {
    if (loudest === null || loudestLevel < currentLevel * 1.5) return current;
  }
  return loudest ?? (current !== null && levels.has(current) ? current : null);
}

interface Tile {
  readonly peerId: string;
  readonly source: string;
  readonly root: HTMLElement;
  readonly media: HTMLVideoElement | HTMLAudioElement;
  readonly avatar: HTMLElement;
  readonly name: HTMLElement;
  readonly indicators: HTMLElement;
  readonly quality: HTMLElement;
  /** **Send files** to this person only (main tile, when the UI sends files). */
  readonly sendFiles: HTMLButtonElement | null;
  stream: MediaStream | null;
}

export interface TilesOptions {
  media: CallMedia;
  /** The small overlay: start in speaker view. */
  compact: () => boolean;
  /** Autoplay with sound was refused: the UI offers a button that calls `unmuteAll`. */
  soundBlocked: () => void;
  /** The layout or the tiles changed (the UI re-renders what depends on them). */
  changed?: () => void;
  /**
   * A person's **Send files** was pressed: pick files for them only. Called within the click
   * (a file picker needs the user's gesture). Without it, tiles have no such button.
   */
  sendFiles?: (peerId: string) => void;
}

export interface Tiles {
  /** The stage element with the tiles. */
  readonly element: HTMLElement;
  /** The Grid / Speaker buttons (hidden with fewer than two tiles). */
  readonly layoutToggle: HTMLElement;
  update(peer: RemotePeer): void;
  remove(peerId: string): void;
  /** The person speaking now (their key), if anyone. */
  readonly activeSpeaker: string | null;
  readonly layout: TileLayout;
  /** How many people have a tile. */
  readonly people: number;
  unmuteAll(): void;
  /** The call ended: let every stream go. */
  clear(): void;
}

export function mountTiles(options: TilesOptions): Tiles {
  const { media } = options;
  const container = el('div', { class: 'parley-tiles', 'data-layout': 'single' });
  const byKey = new Map<string, Tile>();
  const levels = new Map<string, number | null>();
  let speaker: string | null = null;
  let mode: 'grid' | 'speaker' | null = null;
  let layout: TileLayout = 'single';

  const gridBtn = button('Grid', 'parley-btn parley-layout-btn', () => setMode('grid'));
  const speakerBtn = button('Speaker', 'parley-btn parley-layout-btn', () => setMode('speaker'));
  const layoutToggle = el(
    'div',
    { class: 'parley-layout-toggle', role: 'group', 'aria-label': 'Layout' },
    gridBtn,
    speakerBtn,
  );
  layoutToggle.hidden = true;

  function setMode(next: 'grid' | 'speaker'): void {
    mode = next;
    relayout();
  }

  const keyOf = (peerId: string, source: string) => `${peerId}\n${source}`;

  function tileFor(peerId: string, source: string): Tile {
    const key = keyOf(peerId, source);
    const existing = byKey.get(key);
    if (existing) return existing;
    const main = source === 'camera';
    const mediaEl =
      media === 'video' || !main
        ? el('video', {
            class: main ? 'parley-remote-video' : 'parley-remote-video parley-source-video',
            playsinline: true,
            autoplay: true,
          })
        : el('audio', { class: 'parley-remote-audio', autoplay: true });
    const avatar = el('div', { class: 'parley-avatar', 'aria-hidden': 'true' });
    const name = el('span', { class: 'parley-tile-name' });
    const indicators = el('p', { class: 'parley-indicators', 'aria-live': 'polite' });
    const quality = el(
      'span',
      { class: 'parley-tile-quality', role: 'img', 'data-quality': 'unknown' },
      el('span', { class: 'parley-bars', 'aria-hidden': 'true' }, el('i'), el('i'), el('i')),
    );
    quality.hidden = !main;
    const root = el(
      'div',
      { class: 'parley-tile', 'data-peer': peerId, 'data-source': source, role: 'group' },
      mediaEl,
      avatar,
      name,
      indicators,
      quality,
    );
    let sendFiles: HTMLButtonElement | null = null;
    const pick = options.sendFiles;
    if (main && pick) {
      sendFiles = button('Send files', 'parley-btn parley-tile-send', () => pick(peerId));
      root.append(sendFiles);
    }
    if (!main) {
      // A shared screen can be looked at full screen (the overlay frame allows it).
      const fullBtn = button('Full screen', 'parley-btn parley-fullscreen', () => {
        if (document.fullscreenElement === root) void document.exitFullscreen().catch(() => {});
        else void root.requestFullscreen().catch(() => {});
      });
      root.append(fullBtn);
      root.addEventListener('fullscreenchange', () =>
        setText(fullBtn, document.fullscreenElement === root ? 'Exit full screen' : 'Full screen'),
      );
    }
    const tile: Tile = {
      peerId,
      source,
      root,
      media: mediaEl,
      avatar,
      name,
      indicators,
      quality,
      sendFiles,
      stream: null,
    };
    byKey.set(key, tile);
    container.append(root);
    return tile;
  }

  function play(tile: Tile, stream: MediaStream | null): void {
    if (tile.stream === stream) return;
    tile.stream = stream;
    tile.media.srcObject = stream;
    if (!stream) return;
    // A second source's audio (a shared tab's sound) plays too; the main tile has the mic.
    tile.media.play().catch((err: unknown) => {
      // Only a refused autoplay matters (an interrupted play() is retried by the next one).
      if ((err as { name?: string })?.name !== 'NotAllowedError') return;
      // Autoplay with sound refused (no user gesture yet): play muted, offer sound.
      tile.media.muted = true;
      void tile.media.play().catch(() => {});
      options.soundBlocked();
    });
  }

  function update(peer: RemotePeer): void {
    const sources = visualSources(peer);
    const wanted = new Set(sources.map((s) => s.source));
    for (const tile of [...byKey.values()]) {
      if (tile.peerId === peer.peerId && !wanted.has(tile.source)) drop(tile);
    }
    for (const { source, stream, label } of sources) {
      const tile = tileFor(peer.peerId, source);
      const main = source === 'camera';
      play(tile, stream);
      setText(tile.name, label);
      setAttr(tile.root, 'aria-label', label);
      setText(tile.avatar, initial(peer.name));
      const hasVideo = main
        ? media === 'video' && peer.cameraOn && !!stream?.getVideoTracks().some((t) => !t.muted)
        : !!stream?.getVideoTracks().length;
      setAttr(tile.root, 'data-video', hasVideo ? 'on' : 'off');
      if (!main) continue;
      if (tile.sendFiles) {
        setAttr(tile.sendFiles, 'aria-label', `Send files to ${peer.name}`);
        // Files go over the person's link, open once they are connected.
        tile.sendFiles.disabled = peer.connection !== 'connected';
      }
      const lines: string[] = [];
      if (!peer.micOn) lines.push(`${peer.name} is muted`);
      if (media === 'video' && !peer.cameraOn) lines.push(`${possessive(peer.name)} camera is off`);
      if (peer.connection === 'reconnecting') lines.push(`Reconnecting to ${peer.name}…`);
      // Rebuilt only when they change: this runs on every stats sample (once a second per
      // person), and a live region rewritten with the same words may be read out again.
      const shownLines = [...tile.indicators.children].map((line) => line.textContent);
      if (shownLines.join('\n') !== lines.join('\n') || shownLines.length !== lines.length)
        tile.indicators.replaceChildren(...lines.map((line) => el('span', {}, line)));
      const stats = peer.connection === 'connected' ? peer.stats : null;
      setAttr(tile.quality, 'data-quality', stats?.quality ?? 'unknown');
      setAttr(tile.quality, 'data-limited', stats?.bandwidthLimited ? 'bandwidth' : 'no');
      setAttr(
        tile.quality,
        'aria-label',
        `${peer.name}: ${stats ? describeQuality(stats) : peer.connection === 'reconnecting' ? 'reconnecting' : 'connecting'}${stats?.bandwidthLimited ? ', short of bandwidth' : ''}`,
      );
    }
    levels.set(peer.peerId, peer.connection === 'connected' ? (peer.stats?.remoteAudioLevel ?? null) : null);
    relayout();
  }

  function drop(tile: Tile): void {
    if (document.fullscreenElement === tile.root) void document.exitFullscreen().catch(() => {});
    tile.media.srcObject = null;
    tile.root.remove();
    byKey.delete(keyOf(tile.peerId, tile.source));
  }

  function remove(peerId: string): void {
    for (const tile of [...byKey.values()]) if (tile.peerId === peerId) drop(tile);
    levels.delete(peerId);
    if (speaker === peerId) speaker = null;
    relayout();
  }

  function relayout(): void {
    speaker = pickSpeaker(levels, speaker);
    const count = byKey.size;
    const current = mode ?? (options.compact() ? 'speaker' : 'grid');
    layout = chooseLayout(count, current);
    // In speaker view the big tile is a shared screen if there is one, else who speaks.
    const screenTile = [...byKey.values()].find((t) => t.source !== 'camera');
    const bigKey =
      screenTile !== undefined
        ? keyOf(screenTile.peerId, screenTile.source)
        : keyOf(speaker ?? [...byKey.values()][0]?.peerId ?? '', 'camera');
    for (const [key, tile] of byKey) {
      const speaking = tile.source === 'camera' && tile.peerId === speaker;
      tile.root.classList.toggle('is-speaking', speaking);
      tile.root.classList.toggle('is-big', layout === 'speaker' && key === bigKey);
    }
    setAttr(container, 'data-layout', layout);
    setAttr(container, 'data-count', String(Math.min(count, 9)));
    setHidden(layoutToggle, count < 2);
    setAttr(gridBtn, 'aria-pressed', current === 'grid' ? 'true' : 'false');
    setAttr(speakerBtn, 'aria-pressed', current === 'speaker' ? 'true' : 'false');
    options.changed?.();
  }

  return {
    element: container,
    layoutToggle,
    update,
    remove,
    get activeSpeaker() {
      return speaker;
    },
    get layout() {
      return layout;
    },
    get people() {
      return new Set([...byKey.values()].map((t) => t.peerId)).size;
    },
    unmuteAll() {
      for (const t of byKey.values()) {
        t.media.muted = false;
        void t.media.play().catch(() => {});
      }
    },
    clear() {
      for (const t of byKey.values()) t.media.srcObject = null;
    },
  };
}

/**
 * The content script: one self-contained function that the service worker runs in the page
 * with `chrome.scripting.executeScript({ func: mountOverlay, args: [src] })` when the user
 * starts or joins a call. Nothing of Parley runs on a page before that click.
 *
 * It must not reference anything outside its own body (the function is serialised), must stay
 * under 3 KB minified (mount-overlay.test.ts measures it), and depends on nothing.
 *
 * What it does: a host element with a CLOSED shadow root, styled inline with `!important`
 * (so `* { all: unset !important }` on the page cannot reach it; constructable stylesheets
 * and CSSOM writes are not subject to the page's CSP `style-src`), in the top layer
 * (popover) and at the top z-index, holding a drag handle, the overlay iframe and a resize
 * grip. Position and size live in chrome.storage.local. A MutationObserver puts it back if
 * the page removes it (the iframe then reloads and needs a fresh capability, asked for with
 * `{type: 'remount'}`). When the page itself unloads it says `{type: 'leaving'}`, so the call
 * ends at once. Messages from the service worker: remove, minimize/restore. From the overlay
 * frame (postMessage): 'parley-tab', answered with a RestrictionTarget of the page's
 * root element (or null), so that "Share this tab" leaves the overlay out of the capture.
 * Running it twice in a tab re-targets the existing overlay instead of mounting a second one.
 */
export function mountOverlay(src: string): boolean {
  type Rect = { x: number; y: number; w: number; h: number };
  const g = globalThis as unknown as { parleyOverlay?: (src: string) => void };
  if (g.parleyOverlay) {
    g.parleyOverlay(src);
    return true;
  }
  const KEY = 'overlayRect';
  const BAR = 14;
  const d = document;
  const host = d.createElement('parley-overlay');
  const root = host.attachShadow({ mode: 'closed' });
  const sheet = new CSSStyleSheet();
  sheet.replaceSync(
    `#b{position:absolute;inset:0;display:flex;flex-direction:column;background:#111;border-radius:10px;overflow:hidden;box-shadow:0 6px 24px #0008}#h{height:${BAR}px;flex:none;cursor:move;background:#333;touch-action:none}#h:after{content:"";display:block;margin:5px auto;width:36px;height:4px;border-radius:2px;background:#888}iframe{flex:1;border:0;width:100%;display:block}#g{position:absolute;right:0;bottom:0;width:16px;height:16px;cursor:nwse-resize;touch-action:none}`,
  );
  root.adoptedStyleSheets = [sheet];
  const box = d.createElement('div');
  box.id = 'b';
  const bar = d.createElement('div');
  bar.id = 'h';
  bar.title = 'Drag to move the call';
  const frame = d.createElement('iframe');
  frame.allow = 'camera; microphone; display-capture; autoplay; clipboard-write; fullscreen';
  frame.title = 'Parley call';
  frame.src = src;
  const grip = d.createElement('div');
  grip.id = 'g';
  grip.title = 'Drag to resize the call';
  box.append(bar, frame, grip);
  root.append(box);

  let r: Rect = { w: 380, h: 320, x: innerWidth - 396, y: innerHeight - 336 };
  let mini = false;
  const place = () => {
    const w = mini ? 260 : r.w;
    const h = mini ? 88 : r.h;
    r.x = Math.max(0, Math.min(r.x, innerWidth - w));
    r.y = Math.max(0, Math.min(r.y, innerHeight - h));
    host.style.cssText = `all:initial!important;position:fixed!important;display:block!important;z-index:2147483647!important;pointer-events:auto!important;margin:0!important;padding:0!important;border:0!important;inset:auto!important;left:${r.x}px!important;top:${r.y}px!important;width:${w}px!important;height:${h}px!important;overflow:visible!important;background:none!important`;
    grip.hidden = mini;
  };
  const attach = () => {
    d.documentElement.append(host);
    try {
      // The top layer sits above any z-index the page can set.
      host.popover = 'manual';
      host.showPopover();
    } catch {}
    place();
  };
  const drag = (el: HTMLElement, move: (dx: number, dy: number, s: Rect) => void) => {
    el.onpointerdown = (e) => {
      const s = { ...r };
      el.setPointerCapture(e.pointerId);
      el.onpointermove = (m) => {
        move(m.clientX - e.clientX, m.clientY - e.clientY, s);
        place();
      };
      el.onpointerup = () => {
        el.onpointermove = null;
        chrome.storage.local.set({ [KEY]: r });
      };
    };
  };
  drag(bar, (dx, dy, s) => {
    r.x = s.x + dx;
    r.y = s.y + dy;
  });
  drag(grip, (dx, dy, s) => {
    r.w = Math.max(240, s.w + dx);
    r.h = Math.max(160, s.h + dy);
  });

  const watch = new MutationObserver(() => {
    if (host.isConnected) return;
    // The page removed us: the iframe is gone with its call state, so ask for a new capability.
    frame.src = 'about:blank';
    attach();
    chrome.runtime.sendMessage({ type: 'remount' }).then((next?: string) => {
      if (typeof next === 'string') frame.src = next;
      else remove();
    });
  });
  const onMessage = (m: { parley?: string; minimized?: boolean }, sender: chrome.runtime.MessageSender) => {
    if (sender.id !== chrome.runtime.id || sender.tab) return;
    if (m.parley === 'remove') remove();
    if (m.parley === 'minimize') {
      mini = m.minimized === true;
      place();
    }
  };
  // The page itself is going (navigation, reload, tab closing): no re-mount will follow, so
  // the worker ends the call now (it says bye for us) instead of after its re-attach grace.
  const leave = () => chrome.runtime.sendMessage({ type: 'leaving' }).catch(() => {});
  const remove = () => {
    watch.disconnect();
    removeEventListener('pagehide', leave);
    chrome.runtime.onMessage.removeListener(onMessage);
    host.remove();
    g.parleyOverlay = undefined;
  };
  g.parleyOverlay = (next) => {
    frame.src = next;
  };
  // "Share this tab": the overlay (cross-origin, it cannot see the page) asks for a token of
  // the page's root element, to restrict its tab capture to it. The top layer, where this
  // overlay sits, is not part of the root's rendering, so the call stays out of the share.
  // Once per document: after a remove, the detached frame has no window and nothing answers
  // (nor on a failure: the overlay stops waiting after a few seconds and shares nothing).
  addEventListener('message', (e) => {
    const w = frame.contentWindow;
    if (w && e.source === w && e.data === 'parley-tab')
      (
        globalThis as unknown as { RestrictionTarget: { fromElement(el: Element): Promise<unknown> } }
      ).RestrictionTarget.fromElement(d.documentElement).then((t) => w.postMessage(t, e.origin));
  });
  chrome.runtime.onMessage.addListener(onMessage);
  addEventListener('pagehide', leave);
  attach();
  watch.observe(d, { childList: true, subtree: true });
  chrome.storage.local.get(KEY).then((v) => {
    const saved = v[KEY] as Rect | undefined;
    if (saved && [saved.x, saved.y, saved.w, saved.h].every((n) => typeof n === 'number' && n >= 0)) {
      r = { x: saved.x, y: saved.y, w: Math.max(240, saved.w), h: Math.max(160, saved.h) };
      place();
    }
  });
  return true;
}

/**
 * Platform seam for the background (Firefox build; see background.ts). Firefox runs the
 * background as an event page: no offscreen document (overlays write received files to
 * their own storage there), and the page stops after 30 s without extension activity,
 * whatever its WebSockets do. An extension API call with each keepalive counts as activity.
 */
export function startPlatformHosts(): void {}

export function keepBackgroundAlive(): void {
  void chrome.runtime.getPlatformInfo();
}

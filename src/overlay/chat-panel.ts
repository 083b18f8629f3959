// STUB — owned by the files/chat work (issue #4). Signature is the contract with app.ts.
import type { PanelContext } from './panel-context.ts';

export interface ChatPanel {
  /** Line in the timeline (also used by the files panel for "X sent Y"). */
  announce(text: string): void;
  /** Unread message count, for the badge while the chat or overlay is minimized. */
  onUnreadChange(handler: (count: number) => void): void;
  /** Tell the panel whether the user can currently see it (resets unread when true). */
  setVisible(visible: boolean): void;
  destroy(): void;
}

export function mountChatPanel(host: HTMLElement, _ctx: Omit<PanelContext, 'announce'>): ChatPanel {
  host.textContent = '';
  return { announce() {}, onUnreadChange() {}, setVisible() {}, destroy() {} };
}

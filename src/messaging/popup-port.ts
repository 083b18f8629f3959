/**
 * The popup's port to the service worker, on which the worker says `{ type: 'changed' }` when
 * what the popup shows may have changed (src/background/popup-updates.ts). Its own module so
 * the popup does not load the message schemas for one name.
 */
export const POPUP_PORT_NAME = 'parley-popup';

// STUB — owned by the files work (issue #4): background side of the offscreen document that
// writes received files to the origin private file system. main.ts calls this once at startup.
export function registerOffscreenHost(): void {}

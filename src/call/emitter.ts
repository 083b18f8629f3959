/** A tiny typed event emitter: `on` returns its own unsubscribe function. */
// biome-ignore lint/suspicious/noExplicitAny: handler signatures are checked through the map type
type Handlers<E> = { [K in keyof E]: (...args: any[]) => void };

export class Emitter<E extends Handlers<E>> {
  private readonly handlers = new Map<keyof E, Set<E[keyof E]>>();

  on<K extends keyof E>(event: K, handler: E[K]): () => void {
    let set = this.handlers.get(event);
    if (!set) {
      set = new Set();
      this.handlers.set(event, set);
    }
    set.add(handler);
    return () => {
      set.delete(handler);
    };
  }

  emit<K extends keyof E>(event: K, ...args: Parameters<E[K]>): void {
    for (const handler of [...(this.handlers.get(event) ?? [])]) {
      try {
        (handler as (...a: Parameters<E[K]>) => void)(...args);
      } catch (err) {
        // One faulty listener must not stop the others (or the engine).
        console.error(`Parley: a "${String(event)}" listener failed`, err);
      }
    }
  }

  clear(): void {
    this.handlers.clear();
  }
}

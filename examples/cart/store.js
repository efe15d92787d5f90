// Picks the session store for the cart from the STORE environment variable.
import { MemoryStore } from 'plain-session';

export async function makeStore(kind) {
  if (kind === 'memory') {
    return { store: new MemoryStore(), label: 'in memory, so a restart empties every cart' };
  }
  throw new Error(`STORE=${kind} is not known; use memory`);
}

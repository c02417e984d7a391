// The browser scripts' globals (type-checked with tsconfig.web.json): tus-js-client's browser build, loaded
// by a classic <script> as window.tus, and the player state exposed to the browser tests as window.reel.
import type * as tus from 'tus-js-client';

declare global {
  interface Window {
    tus: typeof tus;
    reel: unknown;
  }
}

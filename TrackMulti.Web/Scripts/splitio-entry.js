// Bundled by the Web build (esbuild) into wwwroot/lib/splitio/splitio.js: the npm package ships no file a page can
// load without a bundler. The "full" entry includes localhost mode, which the page uses when no key is configured.
import { SplitFactory } from '@splitsoftware/splitio-browserjs/full';

window.splitio = { SplitFactory };

/** Runs the `reel` command from source (tests spawn it with `node --import tsx`). */
import { main } from '../../src/cli/main.js';

main(process.argv.slice(2)).catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});

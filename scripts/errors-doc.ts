/** `npm run errors:doc`: writes docs/errors.md, the list of error codes, from the catalogue. */
import { writeFileSync } from 'node:fs';
import { renderErrorsDoc } from '../src/core/errorsDoc.js';

const file = new URL('../docs/errors.md', import.meta.url);
writeFileSync(file, renderErrorsDoc());
console.log(`wrote ${file.pathname}`);

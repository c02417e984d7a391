import { pgliteTemplate, seedPgliteDir } from '../test/helpers/pgliteTemplate.js';
let t = Date.now();
const b = await pgliteTemplate();
console.log('template', Date.now() - t, b.size);

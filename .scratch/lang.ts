import { toBcp47, languageName } from '../src/media/language.js';
for (const t of ['eng','fra','fre','en-us','pt_BR','und','xx-!!','tlh','zho']) { const b = toBcp47(t); console.log(t, b, b && languageName(b)); }

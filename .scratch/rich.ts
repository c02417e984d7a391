import { makeRichClip } from '../test/fixtures/generate.js';
import { probe } from '../src/media/probe.js';
const f = await makeRichClip();
console.log(f, JSON.stringify(await probe(f, { ffprobePath: 'ffprobe' }), null, 1));

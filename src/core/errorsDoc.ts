/** The list of error codes (docs/errors.md), written from the catalogue: pure, `npm run errors:doc` writes it. */
import { catalogue, type ErrorEntry } from './errors.js';

const cell = (text: string) => text.replaceAll('|', '\\|').replaceAll('\n', ' ');

/** One row per code, in catalogue order; a code with several entries lists each status and meaning. */
export function renderErrorsDoc(entries: readonly ErrorEntry[] = catalogue): string {
  const byCode = new Map<string, ErrorEntry[]>();
  for (const e of entries) byCode.set(e.code, [...(byCode.get(e.code) ?? []), e]);
  const rows = [...byCode].map(([code, same]) => {
    const statuses = [...new Set(same.map((e) => String(e.status)))].join(', ');
    const meanings = [
      ...new Set(same.map((e) => e.meaning + (e.permanent ? ' Permanent: not retried.' : ''))),
    ];
    return `| \`${code}\` | ${statuses} | ${cell(meanings.join(' Or: '))} |`;
  });
  return [
    '# Error codes',
    '',
    '<!-- Generated from src/core/errors.ts by `npm run errors:doc`; do not edit by hand. -->',
    '',
    'Every error Reel answers has the body `{error, code, message, statusCode}`: `code` is stable and is',
    'the one to branch on; `message` is a sentence a person can act on and may change. Processing errors',
    'are also the `error` of a failed video. A status written 4xx or 5xx is the one tus or Fastify chose.',
    '',
    '| Code | Status | Meaning |',
    '| --- | --- | --- |',
    ...rows,
    '',
  ].join('\n');
}

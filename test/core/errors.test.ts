import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { catalogue, errors, isReelError } from '../../src/core/errors.js';
import { renderErrorsDoc } from '../../src/core/errorsDoc.js';

const root = path.resolve(import.meta.dirname, '../..');
const CATALOGUE = 'src/core/errors.ts';
const NAME = /REEL_[A-Z0-9_]*/g;

function sourceFiles(dir: string): string[] {
  return readdirSync(path.join(root, dir), { withFileTypes: true }).flatMap((d) => {
    const rel = `${dir}/${d.name}`;
    if (d.isDirectory()) return sourceFiles(rel);
    return /\.(ts|js)$/.test(d.name) ? [rel] : [];
  });
}

/** The text of every string literal and template part of a file (comments and identifiers left out). */
function literals(file: string, text: string): string[] {
  const out: string[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isStringLiteralLike(node) || ts.isTemplateLiteralToken(node)) out.push(node.text);
    node.forEachChild(visit);
  };
  visit(ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true));
  return out;
}

/** Names of settings: the REEL_ names in the settings table (src/config.ts) and in process.env reads. */
function settingNames(files: { file: string; text: string }[]): Set<string> {
  const names = new Set<string>();
  for (const { file, text } of files) {
    const found =
      file === 'src/config.ts'
        ? literals(file, text).join(' ')
        : [...text.matchAll(/process\.env\.(REEL_\w+)/g)].join(' ');
    for (const m of found.matchAll(NAME)) names.add(m[0]);
  }
  for (const code of codes) names.delete(code);
  return names;
}

const codes = new Set(catalogue.map((e) => e.code));

/** Every REEL_ name in a literal that is an error code, or may be one: a catalogued code, a prefix a code is built from, any name that is not a setting. */
function codeLiterals(file: string, text: string, settings: Set<string>): string[] {
  return literals(file, text).flatMap((lit) =>
    [...lit.matchAll(NAME)]
      .map((m) => m[0])
      .filter((name) => codes.has(name) || name === 'REEL_' || !settings.has(name))
      .map((name) => `${file}: ${name} in ${JSON.stringify(lit.slice(0, 80))}`),
  );
}

describe('the error catalogue', () => {
  const files = sourceFiles('src').map((file) => ({
    file,
    text: readFileSync(path.join(root, file), 'utf8'),
  }));
  const settings = settingNames(files);

  it('is the only place that writes an error code: no code literal anywhere else in src/', () => {
    expect(settings.has('REEL_PUBLIC_URL')).toBe(true); // the rule below knows the settings
    const found = files
      .filter((f) => f.file !== CATALOGUE)
      .flatMap((f) => codeLiterals(f.file, f.text, settings));
    expect(found).toEqual([]);
  });

  it('finds a code literal where one is written, and lets settings and comments be', () => {
    const sample = [
      '// throws REEL_VIDEO_NOT_FOUND when absent',
      "const a = 'REEL_VIDEO_NOT_FOUND';",
      // biome-ignore lint/suspicious/noTemplateCurlyInString: the sample builds a code in a template
      'const b = `REEL_${code}`;',
      "const c = { code: 'REEL_SOMETHING_NEW' };",
      "const d = 'at most n bytes (REEL_MAX_UPLOAD_BYTES)';",
    ].join('\n');
    expect(codeLiterals('sample.ts', sample, settings).map((s) => s.split(' ')[1])).toEqual([
      'REEL_VIDEO_NOT_FOUND',
      'REEL_',
      'REEL_SOMETHING_NEW',
    ]);
  });

  it('names every code the browser pages translate', () => {
    const watch = files.find((f) => f.file === 'src/web/assets/watch.js')!;
    const keys = [...watch.text.matchAll(/^\s+(REEL_[A-Z0-9_]+):/gm)].map((m) => m[1]!);
    expect(keys.length).toBeGreaterThan(0);
    expect(keys.filter((k) => !codes.has(k))).toEqual([]);
  });

  it('gives every entry a code, a status and a meaning', () => {
    for (const e of catalogue) {
      expect(e.code).toMatch(/^REEL_[A-Z0-9_…]+$/);
      expect(String(e.status)).toMatch(/^([45]\d\d|4xx|5xx)$/);
      expect(e.meaning.length).toBeGreaterThan(10);
    }
    const err = errors.videoNotFound('v1');
    expect(isReelError(err) && err.code === errors.videoNotFound.code && err.statusCode === 404).toBe(true);
    expect(errors.uploadProtocol(409, 'offset').toBody()).toEqual({
      error: 'Conflict',
      code: errors.uploadProtocol.code,
      message: 'offset',
      statusCode: 409,
    });
    expect(errors.fastifyRefusal('FST_ERR_CTP_INVALID_MEDIA_TYPE', 415, 'no').code).toBe(
      'REEL_FST_ERR_CTP_INVALID_MEDIA_TYPE',
    );
    expect(errors.fastifyRefusal(undefined, 400, 'no').code).toBe(errors.badRequest.code);
  });

  it('is listed in docs/errors.md, up to date (npm run errors:doc writes it)', () => {
    expect(readFileSync(path.join(root, 'docs/errors.md'), 'utf8')).toBe(renderErrorsDoc());
  });
});

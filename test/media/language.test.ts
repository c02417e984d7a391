import { describe, expect, it } from 'vitest';
import { languageName, toBcp47 } from '../../src/media/language.js';

describe('language tags', () => {
  it('turns container tags into BCP 47 and names them in their own language', () => {
    expect(toBcp47('eng')).toBe('en');
    expect(toBcp47('fre')).toBe('fr');
    expect(toBcp47('fra')).toBe('fr');
    expect(toBcp47('pt_BR')).toBe('pt-BR');
    expect(toBcp47('tlh')).toBe('tlh');
    expect(languageName('fr')).toBe('Français');
    expect(languageName('en')).toBe('English');
  });
  it('has no language for undetermined or malformed tags', () => {
    for (const t of ['und', '', '  ', 'xx-!!', undefined, null]) expect(toBcp47(t)).toBeNull();
  });
});

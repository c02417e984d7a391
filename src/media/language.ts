/**
 * Language tags: what containers write (ISO 639-2 `eng`, `fre`/`fra`, or already BCP 47 `en-US`) turned
 * into the BCP 47 tags HLS wants (LANGUAGE="en"), and a display name for a track's NAME.
 */

/**
 * ISO 639-2 (bibliographic and terminology codes) → ISO 639-1, for the languages with a two-letter code
 * that video files commonly carry. A three-letter code not listed stays as it is: it is valid BCP 47.
 */
const ISO639_2_TO_1: Record<string, string> = {
  ara: 'ar',
  bul: 'bg',
  cat: 'ca',
  ces: 'cs',
  cze: 'cs',
  chi: 'zh',
  zho: 'zh',
  dan: 'da',
  deu: 'de',
  ger: 'de',
  ell: 'el',
  gre: 'el',
  eng: 'en',
  spa: 'es',
  est: 'et',
  eus: 'eu',
  baq: 'eu',
  fas: 'fa',
  per: 'fa',
  fin: 'fi',
  fra: 'fr',
  fre: 'fr',
  gle: 'ga',
  glg: 'gl',
  heb: 'he',
  hin: 'hi',
  hrv: 'hr',
  hun: 'hu',
  hye: 'hy',
  arm: 'hy',
  ind: 'id',
  isl: 'is',
  ice: 'is',
  ita: 'it',
  jpn: 'ja',
  kat: 'ka',
  geo: 'ka',
  kor: 'ko',
  lit: 'lt',
  lav: 'lv',
  mkd: 'mk',
  mac: 'mk',
  msa: 'ms',
  may: 'ms',
  nld: 'nl',
  dut: 'nl',
  nor: 'no',
  nob: 'nb',
  nno: 'nn',
  pol: 'pl',
  por: 'pt',
  ron: 'ro',
  rum: 'ro',
  rus: 'ru',
  slk: 'sk',
  slo: 'sk',
  slv: 'sl',
  srp: 'sr',
  sqi: 'sq',
  alb: 'sq',
  swe: 'sv',
  tha: 'th',
  tur: 'tr',
  ukr: 'uk',
  urd: 'ur',
  vie: 'vi',
  cym: 'cy',
  wel: 'cy',
  ben: 'bn',
  tam: 'ta',
  tel: 'te',
  tgl: 'tl',
  fil: 'fil',
  afr: 'af',
  swa: 'sw',
  zul: 'zu',
  mri: 'mi',
  mao: 'mi',
};

/** A container's language tag as BCP 47 (canonical case), or null when absent, undetermined or invalid. */
export function toBcp47(tag: string | null | undefined): string | null {
  const raw = tag?.trim();
  if (!raw || /^(und|unk|zxx|mis|mul|none)$/i.test(raw)) return null;
  const mapped = ISO639_2_TO_1[raw.toLowerCase()] ?? raw.replace(/_/g, '-');
  try {
    return Intl.getCanonicalLocales(mapped)[0] ?? null;
  } catch {
    return null;
  }
}

/** The language's name in itself ("English", "français"), capitalised; the tag when unknown. */
export function languageName(bcp47: string): string {
  try {
    const name = new Intl.DisplayNames([bcp47], { type: 'language' }).of(bcp47);
    if (name && name !== bcp47) return name.charAt(0).toLocaleUpperCase(bcp47) + name.slice(1);
  } catch {
    // an invalid tag: fall through
  }
  return bcp47;
}

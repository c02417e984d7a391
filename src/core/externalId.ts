/**
 * externalId: the caller's own id for a video (a row in its CMS or database), stored as given and found
 * again with GET /v1/videos?externalId=. Any text without control characters (as every tus metadata value)
 * of at most MAX_EXTERNAL_ID characters; not unique. The HTTP schema (http/schemas.ts) and the tus metadata
 * check (uploads/tus.ts) are both built from this.
 */

/** The longest externalId, in characters (Unicode code points, as JSON schema's maxLength counts). */
export const MAX_EXTERNAL_ID = 255;

/** Text without control characters (Unicode Cc: C0, DEL, C1), as a JSON-schema `pattern` (Ajv: the u flag). */
export const PLAIN_TEXT_PATTERN = '^\\P{Cc}*$';

/** What is wrong with this externalId, or undefined when it is one. */
export function externalIdProblem(value: string): string | undefined {
  if (value.length === 0) return 'externalId is empty (leave it out for none).';
  if ([...value].length > MAX_EXTERNAL_ID) return `externalId is longer than ${MAX_EXTERNAL_ID} characters.`;
  if (!new RegExp(PLAIN_TEXT_PATTERN, 'u').test(value))
    return 'externalId contains a control character: send plain text.';
  return undefined;
}

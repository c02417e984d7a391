/**
 * Standard Webhooks signatures (https://www.standardwebhooks.com): every delivery carries `webhook-id`
 * (the event's msg_… id, the same on every retry), `webhook-timestamp` (seconds, the time of this attempt)
 * and `webhook-signature` = `v1,` + base64(HMAC-SHA256(key, `${id}.${timestamp}.${body}`)), where the key
 * is the base64 part of the `whsec_…` secret, decoded. Receivers verify with any Standard Webhooks library
 * (npm `standardwebhooks`: `new Webhook(secret).verify(body, headers)`).
 */
import crypto from 'node:crypto';

const PREFIX = 'whsec_';

/** A new secret: whsec_ + base64 of 32 random bytes. */
export function newWebhookSecret(): string {
  return PREFIX + crypto.randomBytes(32).toString('base64');
}

function keyOf(secret: string): Buffer {
  return Buffer.from(secret.startsWith(PREFIX) ? secret.slice(PREFIX.length) : secret, 'base64');
}

/** The `webhook-signature` value for one attempt. */
export function signWebhook(secret: string, msgId: string, timestampSeconds: number, body: string): string {
  const mac = crypto.createHmac('sha256', keyOf(secret)).update(`${msgId}.${timestampSeconds}.${body}`);
  return `v1,${mac.digest('base64')}`;
}

/** The three Standard Webhooks headers of an attempt made at `now` (ms). */
export function webhookHeaders(
  secret: string,
  msgId: string,
  body: string,
  now = Date.now(),
): { 'webhook-id': string; 'webhook-timestamp': string; 'webhook-signature': string } {
  const ts = Math.floor(now / 1000);
  return {
    'webhook-id': msgId,
    'webhook-timestamp': String(ts),
    'webhook-signature': signWebhook(secret, msgId, ts, body),
  };
}

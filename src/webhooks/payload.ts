/**
 * The body of a webhook delivery: `{type, timestamp, data}`, where data is the video as GET /v1/videos/{id}
 * answers it, made from the row as the change left it (the outbox's snapshot). It is rendered from the
 * stored event alone, so every attempt of every delivery of one event sends the same bytes.
 */
import { toView, type VideoRow } from '../db/videos.js';

/** The events a webhook can subscribe to. */
export const WEBHOOK_EVENTS = [
  'video.created',
  'video.playable',
  'video.ready',
  'video.failed',
  'video.deleted',
] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENTS)[number];

/** Sent only by POST /v1/webhooks/{id}/test, to that webhook. */
export const TEST_EVENT = 'webhook.test';

export interface StoredEvent {
  type: string;
  /** The snapshot: a videos row as to_jsonb wrote it (timestamps as text), or the test event's data. */
  data: unknown;
  createdAt: Date | string;
}

export function renderEventBody(ev: StoredEvent): string {
  const data = ev.type.startsWith('video.') ? toView(ev.data as VideoRow) : ev.data;
  return JSON.stringify({ type: ev.type, timestamp: new Date(ev.createdAt).toISOString(), data });
}

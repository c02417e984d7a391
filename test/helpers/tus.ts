/**
 * Raw tus requests for tests that speak the protocol by hand (to check what a client library would hide):
 * the header sets every tus request needs, and fetch helpers for creation, PATCH, HEAD and DELETE.
 * Tests that send through another transport (rawRequest, a socket) use the header sets alone.
 */

export const TUS_VERSION = '1.0.0';

type Headers = Record<string, string>;

/** Upload-Metadata from names and values (values are base64-encoded, as tus wants). */
export function tusMetadata(meta: Record<string, string>): string {
  return Object.entries(meta)
    .map(([k, v]) => `${k} ${Buffer.from(v).toString('base64')}`)
    .join(',');
}

/** The header sets of tus requests, each with Tus-Resumable; `extra` (say, Authorization) is added. */
export const tusHeaders = {
  /** Any tus request (HEAD, DELETE, OPTIONS). */
  base: (extra: Headers = {}): Headers => ({ 'Tus-Resumable': TUS_VERSION, ...extra }),
  /** Creation: Upload-Length, and Upload-Metadata when given (a string is sent as is). */
  create: (
    length: number | string,
    metadata?: Record<string, string> | string,
    extra: Headers = {},
  ): Headers => ({
    'Tus-Resumable': TUS_VERSION,
    'Upload-Length': String(length),
    ...(metadata === undefined
      ? {}
      : { 'Upload-Metadata': typeof metadata === 'string' ? metadata : tusMetadata(metadata) }),
    ...extra,
  }),
  /** A PATCH (or creation-with-upload's body): Upload-Offset and the tus content type. */
  patch: (offset: number | string, extra: Headers = {}): Headers => ({
    'Tus-Resumable': TUS_VERSION,
    'Upload-Offset': String(offset),
    'Content-Type': 'application/offset+octet-stream',
    ...extra,
  }),
};

export interface TusCreate {
  length: number | string;
  metadata?: Record<string, string> | string;
  /** Creation-with-upload: the first bytes in the creation request. */
  body?: BodyInit;
  headers?: Headers;
}

/** Raw tus requests with fetch. */
export const tusFetch = {
  create(endpoint: string, c: TusCreate): Promise<Response> {
    const headers = tusHeaders.create(c.length, c.metadata, c.headers);
    if (c.body) headers['Content-Type'] = 'application/offset+octet-stream';
    return fetch(endpoint, { method: 'POST', headers, body: c.body });
  },
  patch(url: string, offset: number, body: BodyInit, headers: Headers = {}): Promise<Response> {
    return fetch(url, { method: 'PATCH', headers: tusHeaders.patch(offset, headers), body });
  },
  head(url: string, headers: Headers = {}): Promise<Response> {
    return fetch(url, { method: 'HEAD', headers: tusHeaders.base(headers) });
  },
  delete(url: string, headers: Headers = {}): Promise<Response> {
    return fetch(url, { method: 'DELETE', headers: tusHeaders.base(headers) });
  },
};

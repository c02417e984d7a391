/**
 * @tus/file-store's FileStore, staging tus uploads on the local disk, with one change: a write that fails
 * because the disk is full says so (507, the bytes written so far kept: HEAD reports them and the client
 * resumes once space is freed) instead of the generic "write error" FileStore reports for every failure.
 */
import fs from 'node:fs';
import path from 'node:path';
import { type Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { FileStore } from '@tus/file-store';
import { ERRORS } from '@tus/server';
import { errors } from '../core/errors.js';
import { isDiskFull } from './diskSpace.js';

export class TusFileStore extends FileStore {
  override async write(readable: Readable, id: string, offset: number): Promise<number> {
    const file = path.join(this.directory, id);
    if (path.dirname(file) !== path.resolve(this.directory)) throw ERRORS.FILE_NOT_FOUND;
    const writeable = fs.createWriteStream(file, { flags: 'r+', start: offset });
    let received = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        received += chunk.length;
        done(null, chunk);
      },
    });
    try {
      await pipeline(readable, counter, writeable);
    } catch (err) {
      if (isDiskFull(err)) throw errors.diskFull();
      throw ERRORS.FILE_WRITE_ERROR;
    }
    return offset + received;
  }
}

import type { UploadRecord } from '../../contracts/storage.js';
import type { Principal } from '../../contracts/auth.js';

/** Provided by plugins/upload: what the generate plugin needs to use a client's upload. */
export interface UploadService {
  /** The upload if it exists and `principal`/`clientId` may use it; otherwise undefined. */
  find(name: string, clientId: string, principal: Principal): Promise<UploadRecord | undefined>;
  /** Absolute path of the stored file. */
  pathOf(name: string): string;
  markUsed(name: string, generationId: string): Promise<void>;
  /**
   * Checks bytes exactly as an uploaded file is checked (type from the bytes, header, pixel and frame
   * limits, decoded and re-encoded) and stores them as an upload of clientId. A refusal is the
   * BridgeError an upload would get (400 / 413 / 415), naming `field`.
   */
  ingest?(bytes: Buffer, field: string, clientId: string, principal: Principal): Promise<UploadRecord>;
}

declare module '../../core/services.js' {
  interface ServiceMap {
    /** Stored uploads and who may use them (plugins/upload). */
    uploads: UploadService;
  }
}

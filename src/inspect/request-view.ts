/** A request on a guarded host as every provider adapter reads it: plain data, bytes already decoded. */
export interface HttpRequestView {
  method: string;
  /** Path and query, origin-form. */
  url: string;
  contentType: string | undefined;
  /** The body with Content-Encoding already undone. */
  body: Buffer;
}

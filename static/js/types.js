// types.js — JSDoc type definitions shared by api.js, state.js and their callers (checked by
// `tsc --noEmit -p static/jsconfig.json`, tests/test_js_types.py). Owns: the shapes of request
// options, API errors, stream events and the studio's shared state. Must not: contain code —
// nothing imports it at run time; modules refer to it in JSDoc as `import('./types.js').Name`.

/**
 * Options of `request` / `send`: a JSON body (`json`) or a raw one (`body`), extra headers,
 * an abort signal and the Accept header (JSON unless said otherwise).
 * @typedef {object} RequestOptions
 * @property {any} [json] serialised as the JSON request body
 * @property {BodyInit} [body] sent as it is (when `json` is absent)
 * @property {Record<string, string>} [headers]
 * @property {AbortSignal} [signal]
 * @property {string} [accept]
 */

/**
 * What the server's error bodies carry besides the message (both families, docs/API.md).
 * @typedef {object} ApiErrorDetails
 * @property {string|null} [code] the machine code (`REF_TOO_LARGE`, `SERVER_UNREACHABLE`…)
 * @property {number} [status] the HTTP status (0 when the server did not answer)
 * @property {any} [body] the parsed error body, if any
 * @property {number|null} [retryAfter] seconds to wait before retrying, if known
 */

/**
 * One dispatched server-sent event, as the parser hands it over (data still text).
 * @typedef {object} SSEEvent
 * @property {string} event the event type (`message` when the stream named none)
 * @property {string} data the data lines joined with "\n"
 * @property {string} id the last event id seen
 */

/**
 * One server-sent event with its data JSON-decoded (the text when it is not JSON).
 * @typedef {object} StreamEvent
 * @property {string} event
 * @property {any} data
 */

/**
 * The proxy's state as GET /api/oauth/status reports it.
 * @typedef {object} OAuthState
 * @property {string} status `unknown` until the first answer, then the server's status
 * @property {string[]} models image models the proxy lists
 * @property {string|null} defaultModel the configured default model
 * @property {string|null} [reason] why the proxy is not ready, in its own words
 * @property {string|null} [hint] what the user can do about it
 * @property {{code: string, message?: string, model?: string}[]} [warnings]
 * @property {{id: string, path: string}[]} [modelPaths] the render path of each model
 * @property {Record<string, string>} [knownPaths] render paths learned from earlier images
 * @property {any} [quota] the proxy's usage figures (`primary.usedPercent`, `resetAt`)
 * @property {string} [provider] `oauth` or `offline`
 */

/**
 * @typedef {object} StudioState
 * @property {OAuthState} oauth
 * @property {string} view the visible view (`studio`, `nodes`…)
 * @property {any[]} sessions the session list as GET /api/sessions answers it
 * @property {string|null} sessionId the open session
 * @property {number|null} [liveNodes] node count of the open graph (the picker shows it)
 */

export {};

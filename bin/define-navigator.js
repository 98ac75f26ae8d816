// pg asks whether it runs in a Cloudflare Worker when it is first loaded: where there is no global `navigator`
// (Node 20; Node 21+ defines one), it builds a fetch `Response` to find out, which loads Node's whole HTTP client
// (undici), 40-100 ms of every command's start-up. Node 21+'s own answer, defined early, skips that.
if (typeof globalThis.navigator === 'undefined') {
  const major = process.versions.node.split('.')[0]
  Object.defineProperty(globalThis, 'navigator', {
    value: Object.freeze({userAgent: `Node.js/${major}`}),
    configurable: true,
    writable: true,
  })
}

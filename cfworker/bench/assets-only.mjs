// A Worker that only passes each request to its static assets: the
// platform's own cost of serving a file, beside which make workers-bench
// measures the Go Worker (which fetches the same assets through the same
// binding) and the native host.
export default {
  async fetch(request, env) {
    const path = new URL(request.url).pathname;
    const where = path.startsWith("/models/") ? path : "/wasm" + path;
    return env.ASSETS.fetch(new URL(where, "https://assets.invalid"));
  },
};

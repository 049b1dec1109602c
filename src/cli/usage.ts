export const USAGE = `sgt-proxy — privacy proxy for LLM inference (Stained Glass Transform + output protection)

Usage:
  sgt-proxy serve
      The proxy (what \`npm start\` runs). Configured by environment variables (README,
      "Configuration"); with none it uses the demo SGT and an embedded reference server.

  sgt-proxy reference-server [--host H] [--port N] [--sgt DIR] [--mode echo|paced|scripted]
                             [--replies FILE] [--token-interval-ms N]
                             [--output-protection required|optional|off]
      A vLLM-API-compatible inference server for development and load tests (not an LLM).
      --mode scripted answers with the replies in FILE (docs/reference-server.md).

  sgt-proxy protect --upstream URL [--host H] [--port N] [--output-protection required|optional]
      Output protection in front of an unmodified vLLM: encrypts the text of completions and
      chat completions answers for the client's key (x-client-public-key). Default port 8001.

  sgt-proxy sgt build-demo --out DIR [--hidden N] [--vocab N] [--noise-scale S] [--seed K]
      Writes the demo SGT artifact. --noise-scale 0 gives an identity transform.

  sgt-proxy sgt audit [--sgt DIR] [--prompts FILE] [--json] [--modes prefix,fresh]
                      [--repeats 1,4,16,64,256] [--regression-tokens N]
      Attacks the artifact as a curious inference server would (docs/privacy.md): nearest
      neighbour, repetition averaging, known-plaintext regression, noise-stream recovery,
      linkability; prints content-token and secret recovery per attack and noise mode.
      --sgt defaults like SGP_SGT_PATH (the demo SGT); --prompts: [{"id", "messages", "secrets"?}].

Options:
  -h, --help     this text
  -v, --version  the version
`;

/**
 * The URL of a worker thread's entry module next to `from` (the caller's `import.meta.url`). A
 * Worker loads JavaScript only: when the caller itself runs from TypeScript sources (the test
 * runner), the compiled entry in dist/ is used — `npm ci` builds it, and the test setup rebuilds it.
 */
export function workerScript(from: string, name: string): URL {
  const url = new URL(`./${name}.js`, from);
  if (!from.endsWith('.ts')) return url;
  return new URL(url.href.replace(/\/src\/(?!.*\/src\/)/, '/dist/'));
}

/**
 * Standard normals from uniform 32-bit words: a 128-layer ziggurat (Marsaglia & Tsang's geometry).
 * ~99% of draws cost one word, a compare and a multiply; the rest take the wedge or tail path.
 * Each word is split into independent fields (7 bits layer, 1 bit sign, 24 bits magnitude) rather
 * than reusing the low bits for both the layer and the value, a known weakness of the original code.
 *
 * The word source is the caller's: the keyed noise (keyed.ts) feeds it AES-CTR keystream, the
 * demo weights (../seeded-normal.ts) a seeded xoshiro128**.
 */

export const LAYERS = 128;
const TAIL_START = 3.442619855899; // r: where the base layer's tail begins
const LAYER_AREA = 9.91256303526217e-3; // v: area of each layer under exp(-x²/2)
const MAGNITUDE_BITS = 24;
const MAGNITUDE_SCALE = 2 ** MAGNITUDE_BITS;
const UINT32_SCALE = 2 ** -32;

export interface ZigguratTables {
  /** Magnitudes below this accept immediately (rectangle fully under the curve). */
  readonly accept: Int32Array;
  /** Layer width / 2^24: turns a 24-bit magnitude into an x in the layer. */
  readonly width: Float64Array;
  /** exp(-x²/2) at each layer edge; index LAYERS is the peak (1). */
  readonly density: Float64Array;
}

function density(x: number): number {
  return Math.exp(-0.5 * x * x);
}

/** Layer edges x[0] (virtual base width) > x[1] = r > … > x[127] > x[128] = 0; each layer has area v. */
function buildTables(): ZigguratTables {
  const edge = new Float64Array(LAYERS + 1);
  edge[0] = LAYER_AREA / density(TAIL_START);
  edge[1] = TAIL_START;
  for (let i = 1; i < LAYERS - 1; i++) {
    const xi = edge[i] as number;
    edge[i + 1] = Math.sqrt(-2 * Math.log(LAYER_AREA / xi + density(xi)));
  }
  edge[LAYERS] = 0;
  const accept = new Int32Array(LAYERS);
  const width = new Float64Array(LAYERS);
  const dens = new Float64Array(LAYERS + 1);
  for (let i = 0; i < LAYERS; i++) {
    const outer = edge[i] as number;
    const inner = edge[i + 1] as number;
    accept[i] = Math.floor((inner / outer) * MAGNITUDE_SCALE);
    width[i] = outer / MAGNITUDE_SCALE;
  }
  for (let i = 0; i <= LAYERS; i++) dens[i] = i === LAYERS ? 1 : density(edge[i] as number);
  return { accept, width, density: dens };
}

export const TABLES = buildTables();

/** Where the slow paths draw their extra uniforms from. */
export interface UniformSource {
  /** Uniform in the open interval (0, 1): safe to take the logarithm of; NaN when exhausted. */
  nextOpenUnit(): number;
}

/** u (a uint32 as a number) → uniform in (0, 1). */
export function openUnit(u: number): number {
  return ((u >>> 0) + 0.5) * UINT32_SCALE;
}

/**
 * One normal from the slow paths of a word whose fast path rejected; NaN means "rejected, draw
 * again" (or the source ran out, which the caller tells by the source).
 */
export function slowNormal(source: UniformSource, layer: number, x: number): number {
  if (layer === 0) {
    // Tail beyond r (Marsaglia 1964): exponential proposals accepted against the normal tail.
    for (;;) {
      const ua = source.nextOpenUnit();
      const ub = source.nextOpenUnit();
      if (Number.isNaN(ua) || Number.isNaN(ub)) return Number.NaN;
      const a = -Math.log(ua) / TAIL_START;
      const b = -Math.log(ub);
      if (b + b >= a * a) return TAIL_START + a;
    }
  }
  const dens = TABLES.density;
  const low = dens[layer] as number;
  const high = dens[layer + 1] as number;
  const unit = source.nextOpenUnit();
  if (Number.isNaN(unit)) return Number.NaN;
  const y = low + unit * (high - low);
  return y < density(x) ? x : Number.NaN;
}

/** Reads uniforms from a word array, from `next` on. */
class WordCursor implements UniformSource {
  constructor(
    private readonly words: Int32Array,
    public next: number,
  ) {}

  nextOpenUnit(): number {
    if (this.next >= this.words.length) return Number.NaN;
    return openUnit(this.words[this.next++] as number);
  }
}

/**
 * Fills `out` with normals drawn from `words` in order. Returns the number of words used, or -1
 * when the words ran out first (the caller supplies a longer stream and starts again: the result
 * only depends on the stream, not on how much of it was supplied).
 */
export function normalsFromWords(words: Int32Array, out: Float32Array): number {
  const { accept, width } = TABLES;
  const n = out.length;
  const available = words.length;
  let w = 0;
  for (let i = 0; i < n;) {
    if (w >= available) return -1;
    const u = words[w++] as number;
    const layer = u & (LAYERS - 1);
    const magnitude = u >>> 8;
    let x = magnitude * (width[layer] as number);
    if (magnitude >= (accept[layer] as number)) {
      const cursor = new WordCursor(words, w);
      x = slowNormal(cursor, layer, x);
      if (cursor.next >= available && Number.isNaN(x)) return -1;
      w = cursor.next;
      if (Number.isNaN(x)) continue;
    }
    // Bit 7 is the sign: (u >>> 6) & 2 is 0 or 2, so the factor is +1 or -1.
    out[i++] = x * (1 - ((u >>> 6) & 2));
  }
  return w;
}

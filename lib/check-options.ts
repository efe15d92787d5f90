/**
 * Checking the option objects a program passes in. A misspelt option (`idletimeout`) would otherwise
 * be ignored without a word, and the default used instead, which is how a five-minute timeout
 * quietly becomes thirty. So every unknown key throws a `TypeError` that names the likely fix.
 */

/** Throws a `TypeError` for the first key of `options` that is not in `known`, suggesting the closest known one. */
export function checkKeys(options: object, known: readonly string[], owner: string): void {
  for (const key of Object.keys(options)) {
    if (known.includes(key)) continue;
    const guess = closest(key, known);
    throw new TypeError(
      `${owner}: unknown option ${JSON.stringify(key)}${guess === undefined ? '' : `; did you mean ${guess}?`} The options are: ${known.join(', ')}.`,
    );
  }
}

/** The known name a typo most likely meant: the same letters in another case, or one within a few edits. */
function closest(key: string, known: readonly string[]): string | undefined {
  const lower = key.toLowerCase();
  const sameLetters = known.find((name) => name.toLowerCase() === lower);
  if (sameLetters !== undefined) return sameLetters;
  let best: string | undefined;
  let bestDistance = Math.max(1, Math.floor(key.length / 3)) + 1;
  for (const name of known) {
    const distance = editDistance(lower, name.toLowerCase());
    if (distance < bestDistance) [best, bestDistance] = [name, distance];
  }
  return best;
}

/** Levenshtein distance: the fewest insertions, deletions and substitutions from `a` to `b`. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}

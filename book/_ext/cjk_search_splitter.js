/* Query splitter for the Chinese search (see cjk_search.py). It goes into language_data.js,
 * which the theme loads after searchtools.js, so it replaces Sphinx's default `splitQuery`
 * (and, were the order the other way round, searchtools.js would keep it). Sphinx calls it
 * once the index is loaded. */
var splitQuery = (query) => {
  const HAN = /\p{Script=Han}/u;
  const index = typeof Search !== "undefined" ? Search._index : null;
  const known = (word) =>
    index !== null && (Object.hasOwn(index.terms, word) || Object.hasOwn(index.titleterms, word));
  const terms = [];
  // Sphinx's own split first: at anything that is not a letter, digit, _ or emoji.
  const words = query.split(/[^\p{Letter}\p{Number}_\p{Emoji_Presentation}]+/gu).filter((w) => w);
  for (const word of words) {
    for (const run of word.match(/\p{Script=Han}+|[^\p{Script=Han}]+/gu)) {
      if (!HAN.test(run) || index === null || known(run)) {
        terms.push(run);
        continue;
      }
      // Longest words of the index first, left to right. A character that starts no word of
      // the index is dropped: the index holds no one-character words, so it would match nothing.
      const found = [];
      for (let i = 0; i < run.length; ) {
        let n = Math.min(run.length - i, 16);
        while (n > 1 && !known(run.substring(i, i + n))) n--;
        if (n > 1) found.push(run.substring(i, i + n));
        i += n;
      }
      terms.push(...(found.length ? found : [run]));
    }
  }
  return terms;
};

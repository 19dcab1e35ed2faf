// The path in a `sqlite:` URL, shared by the store (a directory) and the bus (a file).
// `sqlite:relative/path`, `sqlite:/abs/path` and `sqlite:///abs/path` are accepted; `sqlite://name`
// is refused because it would silently become the absolute path /name.

/** The path, or a string explaining what is wrong, as `{ error }`. */
export function sqliteUrlPath(url: string, what: 'file' | 'dir'): { path: string } | { error: string } {
  let rest = url.slice('sqlite:'.length);
  if (rest.startsWith('//')) {
    if (!rest.startsWith('///')) return { error: `use 'sqlite:<relative ${what}>' or 'sqlite:///<absolute ${what}>'` };
    rest = rest.slice(2);
  }
  if (rest === '') return { error: `the ${what === 'dir' ? 'directory' : 'file path'} is missing` };
  return { path: rest };
}

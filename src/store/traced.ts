// Store commits as spans: a transaction that runs inside a traced request or delivery (the kit's
// current span) is recorded as a `store commit` child span, so the lab can time the store hop.
import { currentSpan, withSpan } from '../kit/spans.ts';
import type { Store } from './store.ts';

/** The same store, its transactions recorded as child spans of the current span (when traced). */
export function traceCommits(store: Store): Store {
  const transaction = store.transaction.bind(store);
  const attributes = { 'db.system': store.dialect, 'db.namespace': store.name };
  // The backends are classes with private fields, so the method is replaced on the instance rather
  // than wrapped by a proxy object (their methods must keep `this`).
  store.transaction = (fn) => {
    const parent = currentSpan();
    return parent === undefined
      ? transaction(fn)
      : withSpan(parent, 'store commit', 'INTERNAL', attributes, () => transaction(fn));
  };
  return store;
}

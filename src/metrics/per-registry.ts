// Series an engine registers once per registry: an engine stopped and started again (a reload,
// a runtime toggle) keeps counting into the same series, which prom-client would otherwise
// refuse to register a second time.
import type { Registry } from 'prom-client';

/** `make` called at most once per registry; later calls get the same instance. */
export function perRegistry<T>(make: (registry: Registry) => T): (registry: Registry) => T {
  const instances = new WeakMap<Registry, T>();
  return (registry) => {
    let m = instances.get(registry);
    if (!m) {
      m = make(registry);
      instances.set(registry, m);
    }
    return m;
  };
}

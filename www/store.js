// store.js: a small key-value store in IndexedDB, for what the demo keeps in
// this browser (the personalised model, the user's examples). Nothing here is
// ever sent anywhere.

const DB = "edgenn-demo";
const STORE = "kv";

/** @type {Promise<IDBDatabase> | null} */
let opened = null;

function db() {
  opened ??= new Promise((resolve, reject) => {
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(new Error(`IndexedDB ${DB}: ${req.error?.message ?? "cannot open"}`));
    req.onblocked = () => reject(new Error(`IndexedDB ${DB}: blocked by another tab`));
  });
  opened.catch(() => { opened = null; });
  return opened;
}

/**
 * tx runs one request on the store and resolves with its result once the
 * transaction commits.
 * @template T
 * @param {IDBTransactionMode} mode
 * @param {(s: IDBObjectStore) => IDBRequest<T>} f
 * @returns {Promise<T>}
 */
async function tx(mode, f) {
  const t = (await db()).transaction(STORE, mode);
  const req = f(t.objectStore(STORE));
  return new Promise((resolve, reject) => {
    t.oncomplete = () => resolve(req.result);
    t.onerror = t.onabort = () => reject(new Error(`IndexedDB: ${t.error?.message ?? req.error?.message ?? "transaction failed"}`));
  });
}

/** @param {string} key @returns {Promise<any>} */
export const get = (key) => tx("readonly", (s) => s.get(key));
/** @param {string} key @param {any} value */
export const put = (key, value) => tx("readwrite", (s) => s.put(value, key));
/** @param {string} key */
export const remove = (key) => tx("readwrite", (s) => s.delete(key));

// The React entry (sqlite-sync/react): hooks over a browser database.

export { useQuery, type QueryState } from './use-query.js';

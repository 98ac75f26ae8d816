import {PGlite} from '@electric-sql/pglite'
const p = new PGlite(process.argv[2])
for (const q of process.argv.slice(3)) { const r = await p.query(q); console.table(r.rows) }
await p.close()

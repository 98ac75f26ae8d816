import {createHash, type Hash} from 'node:crypto'
import {type Kysely, sql} from 'kysely'
import {quoteIdent} from '../db/connection.js'
import {type OwnedTable, rowLineExpression, rowOrder} from './owned-tables.js'

// biome-ignore lint/suspicious/noExplicitAny: runs inside the restore transaction on the backup's schema.
type AnyDb = Kysely<any>

/** Rows per block: the server hashes one block at a time, so its memory does not depend on the table's size. */
export const BLOCK_ROWS = 1000

const NEWLINE = 0x0a

/**
 * A table's rows as a backup writes them, in key order, cut into blocks of BLOCK_ROWS lines: the SHA-256 of the hex
 * SHA-256s of the blocks (each block's lines with their "\n"). Computed here from the file's bytes as they are read,
 * and by the database over the restored rows (tableDigest), so a restore compares every table without reading it
 * back.
 */
export class BlockDigest {
  rows = 0
  private readonly blocks = createHash('sha256')
  private block: Hash = createHash('sha256')
  private inBlock = 0

  /** Adds `count` whole lines. */
  add(bytes: Buffer, count: number): void {
    let pos = 0
    let left = count
    while (left > 0) {
      const room = BLOCK_ROWS - this.inBlock
      if (left < room) {
        this.block.update(bytes.subarray(pos))
        this.inBlock += left
        break
      }
      let end = pos
      for (let i = 0; i < room; i++) end = bytes.indexOf(NEWLINE, end) + 1
      this.block.update(bytes.subarray(pos, end))
      this.closeBlock()
      pos = end
      left -= room
    }
    this.rows += count
  }

  digest(): string {
    if (this.inBlock > 0) this.closeBlock()
    return this.blocks.digest('hex')
  }

  private closeBlock(): void {
    this.blocks.update(this.block.digest('hex'))
    this.block = createHash('sha256')
    this.inBlock = 0
  }
}

/** The BlockDigest of a table as it stands in the database, computed by the server; only the digest comes back. */
export async function tableDigest(trx: AnyDb, table: OwnedTable): Promise<{rows: number; digest: string}> {
  const lines = `select ${rowLineExpression(table)} as line, row_number() over (order by ${rowOrder(table)}) - 1 as n
    from ${quoteIdent(table.name)}`
  const blocks = `select n / ${BLOCK_ROWS} as b, count(*) as rows,
      encode(sha256(convert_to(string_agg(line || E'\\n', '' order by n), 'UTF8')), 'hex') as h
    from (${lines}) as l group by 1`
  const {rows} = await sql
    .raw<{rows: string; digest: string}>(
      `select coalesce(sum(rows), 0)::text as rows,
        encode(sha256(convert_to(coalesce(string_agg(h, '' order by b), ''), 'UTF8')), 'hex') as digest
      from (${blocks}) as k`,
    )
    .execute(trx)
  return {rows: Number(rows[0]!.rows), digest: rows[0]!.digest}
}

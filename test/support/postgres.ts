import pg from 'pg'

/**
 * The PostgreSQL server the suite runs against, from AEDB_TEST_DATABASE_URL. Unset: the PostgreSQL half of the
 * suite is skipped (local runs without a server). Set but unreachable: a failure, so CI can never skip it silently.
 */
export async function checkPostgres(): Promise<string | null> {
  const url = process.env.AEDB_TEST_DATABASE_URL
  if (!url) {
    if (process.env.AEDB_TEST_REQUIRE_POSTGRES)
      throw new Error('AEDB_TEST_REQUIRE_POSTGRES is set but AEDB_TEST_DATABASE_URL is not')
    return null
  }
  const client = new pg.Client({connectionString: url, connectionTimeoutMillis: 10_000})
  try {
    await client.connect()
    await client.query('select 1')
  } catch (error) {
    throw new Error(
      `AEDB_TEST_DATABASE_URL is set but the server cannot be reached: ${(error as Error).message}`,
    )
  } finally {
    await client.end().catch(() => {})
  }
  return url
}

/** Runs one statement on the maintenance connection of the test server (CREATE/DROP DATABASE). */
export async function adminQuery(url: string, text: string): Promise<void> {
  const client = new pg.Client({connectionString: url})
  await client.connect()
  try {
    await client.query(text)
  } finally {
    await client.end()
  }
}

export function databaseUrlWithName(url: string, name: string): string {
  const parsed = new URL(url)
  parsed.pathname = `/${name}`
  return parsed.toString()
}

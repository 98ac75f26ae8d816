export interface SqlStatement {
  /** The statement without its `;`, from its first character that is not white space or a comment. */
  text: string
  /** Where `text` starts in the input (a JavaScript string index), so an error position maps back to the input. */
  offset: number
}

export interface SplitStatementsResult {
  statements: SqlStatement[]
  /** Text after the last `;` that holds more than white space and comments (an unfinished statement). */
  rest: SqlStatement | null
  /** True when the input ends inside a quoted string, a quoted name, a dollar-quoted body or a block comment. */
  open: boolean
}

/**
 * Splits SQL at the semicolons that end statements, skipping those inside 'strings' (E'...' with backslash escapes),
 * "quoted names", $tag$ dollar-quoted bodies $tag$, -- line comments and nested block comments. Each statement is sent
 * on its own so that a query can be read through a cursor and an error points at the right line.
 */
export function splitStatements(input: string): SplitStatementsResult {
  const statements: SqlStatement[] = []
  let start = 0
  let i = 0
  let open = false
  while (i < input.length) {
    const ch = input[i]!
    const next = input[i + 1]
    if (ch === ';') {
      pushStatement(statements, input, start, i)
      start = i + 1
      i++
    } else if (ch === '-' && next === '-') {
      const end = input.indexOf('\n', i)
      i = end === -1 ? input.length : end + 1
    } else if (ch === '/' && next === '*') {
      const end = skipBlockComment(input, i)
      open = end === -1
      i = end === -1 ? input.length : end
    } else if (ch === "'" || ch === '"') {
      const escapes = ch === "'" && /[eE]/.test(input[i - 1] ?? '') && !/\w/.test(input[i - 2] ?? '')
      const end = skipQuoted(input, i, ch, escapes)
      open = end === -1
      i = end === -1 ? input.length : end
    } else if (ch === '$' && !/[\w$]/.test(input[i - 1] ?? '')) {
      const tag = /^\$([A-Za-z_][A-Za-z_0-9]*)?\$/.exec(input.slice(i))?.[0]
      if (tag) {
        const end = input.indexOf(tag, i + tag.length)
        open = end === -1
        i = end === -1 ? input.length : end + tag.length
      } else i++
    } else i++
  }
  const tail: SqlStatement[] = []
  pushStatement(tail, input, start, input.length)
  return {statements, rest: tail[0] ?? null, open}
}

function pushStatement(into: SqlStatement[], input: string, start: number, end: number): void {
  const body = input.slice(start, end)
  const lead = leadingNoise(body)
  const text = body.slice(lead).trimEnd()
  if (text !== '') into.push({text, offset: start + lead})
}

/** Length of the white space and comments a piece of SQL starts with. */
export function leadingNoise(text: string): number {
  let i = 0
  for (;;) {
    while (i < text.length && /\s/.test(text[i]!)) i++
    if (text.startsWith('--', i)) {
      const end = text.indexOf('\n', i)
      i = end === -1 ? text.length : end + 1
    } else if (text.startsWith('/*', i)) {
      const end = skipBlockComment(text, i)
      i = end === -1 ? text.length : end
    } else return i
  }
}

/** The index after the comment that opens at `i` (block comments nest in PostgreSQL), or -1 when it never closes. */
function skipBlockComment(text: string, i: number): number {
  let depth = 0
  while (i < text.length) {
    if (text.startsWith('/*', i)) {
      depth++
      i += 2
    } else if (text.startsWith('*/', i)) {
      depth--
      i += 2
      if (depth === 0) return i
    } else i++
  }
  return -1
}

/** The index after the closing quote (a doubled quote stays inside), or -1 when the quote never closes. */
function skipQuoted(text: string, i: number, quote: string, backslashEscapes: boolean): number {
  i++
  while (i < text.length) {
    const ch = text[i]
    if (backslashEscapes && ch === '\\') i += 2
    else if (ch === quote) {
      if (text[i + 1] === quote) i += 2
      else return i + 1
    } else i++
  }
  return -1
}

/** The statement's first keyword, lower case (`select`, `with`, `insert`, ...), skipping comments and `(`. */
export function firstKeyword(text: string): string {
  let rest = text.slice(leadingNoise(text))
  while (rest.startsWith('(')) rest = rest.slice(1).slice(leadingNoise(rest.slice(1)))
  return (/^[A-Za-z]+/.exec(rest)?.[0] ?? '').toLowerCase()
}

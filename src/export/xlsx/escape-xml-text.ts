/**
 * Characters that need more than copying: markup (`& < > "`), carriage return (an XML parser turns a raw CR into a
 * line feed), characters XML 1.0 forbids (C0 controls other than tab and line feed, lone surrogates, U+FFFE and
 * U+FFFF), and a literal `_xHHHH_` (which readers would decode).
 */
const NEEDS_ESCAPE =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching the control characters XML 1.0 forbids is the point
  /[&<>"\r\u0000-\u0008\u000B\u000C\u000E-\u001F\uD800-\uDFFF\uFFFE\uFFFF]|_x[0-9A-Fa-f]{4}_/
const ESCAPED_PATTERN = /_x[0-9A-Fa-f]{4}_/y

/**
 * Text as the content of a spreadsheet `<t>` element or an attribute value. Markup becomes entities. Characters
 * XML 1.0 cannot carry, and carriage returns, become Excel's own `_xHHHH_` escape (ECMA-376 ST_Xstring), which
 * Excel, LibreOffice and exceljs's reader decode back to the character, so nothing is lost (exceljs's writer drops
 * them silently). A literal `_xHHHH_` in the text has its underscore escaped (`_x005F_xHHHH_`) so it reads back
 * as written. Valid surrogate pairs (emoji) are kept as they are.
 */
export function escapeXmlText(text: string): string {
  if (!NEEDS_ESCAPE.test(text)) return text
  return escapeChars(text, true)
}

/** What a string needs before exceljs's writer takes it: every escape of escapeXmlText but markup, which it does itself. */
const NEEDS_EXCEL_ESCAPE =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching the control characters XML 1.0 forbids is the point
  /[\r\u0000-\u0008\u000B\u000C\u000E-\u001F\uD800-\uDFFF\uFFFE\uFFFF]|_x[0-9A-Fa-f]{4}_/

/**
 * Text for a cell that exceljs's writer will write (the legacy layout, the --rejects workbook): Excel's `_xHHHH_`
 * escapes for what XML cannot hold and for a literal `_xHHHH_`, as escapeXmlText writes them, but no entities
 * (exceljs adds those). Without it exceljs drops control characters and writes `_x0041_` as is, which reads back as
 * `A`: a re-import would change the row.
 */
export function escapeExcelString(text: string): string {
  if (!NEEDS_EXCEL_ESCAPE.test(text)) return text
  return escapeChars(text, false)
}

function escapeChars(text: string, markup: boolean): string {
  let out = ''
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    if (markup && code === 0x26) out += '&amp;'
    else if (markup && code === 0x3c) out += '&lt;'
    else if (markup && code === 0x3e) out += '&gt;'
    else if (markup && code === 0x22) out += '&quot;'
    else if (code === 0x5f && startsEscapePattern(text, i)) out += '_x005F_'
    else if (code >= 0xd800 && code <= 0xdbff && isLowSurrogate(text.charCodeAt(i + 1))) {
      out += text[i]! + text[i + 1]!
      i++
    } else if (mustEncode(code)) out += `_x${code.toString(16).toUpperCase().padStart(4, '0')}_`
    else out += text[i]
  }
  return out
}

function startsEscapePattern(text: string, at: number): boolean {
  ESCAPED_PATTERN.lastIndex = at
  return ESCAPED_PATTERN.test(text)
}

function isLowSurrogate(code: number): boolean {
  return code >= 0xdc00 && code <= 0xdfff
}

function mustEncode(code: number): boolean {
  return (
    (code < 0x20 && code !== 0x09 && code !== 0x0a) ||
    (code >= 0xd800 && code <= 0xdfff) ||
    code === 0xfffe ||
    code === 0xffff
  )
}

import {UnsupportedWorkbook} from './read-zip-entries.js'

/** Receives what scanXml finds, in document order, as exceljs's SAX parser (saxes) reports it: names unprefixed. */
export interface XmlHandler {
  open(name: string, attributes: Record<string, string>): void
  close(name: string): void
  text(text: string): void
}

/**
 * Characters and constructs that saxes reports as errors or treats specially (line-end normalisation, CDATA,
 * comments, DOCTYPE, byte-order mark, replaced invalid UTF-8): such a part is left to exceljs.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: the control characters XML 1.0 forbids are what it looks for
const LEFT_TO_EXCELJS = /[\0-\x08\x0B\x0C\x0E-\x1F\r\uFFFE\uFFFF\uFFFD\uFEFF]|<!|<\?(?!xml\s)|\]\]>/
const DECLARATION = /^<\?xml[ \t\n][^?<>]*\?>/
const TAG =
  /<([A-Za-z_][\w.:-]*)((?:[ \t\n]+[A-Za-z_][\w.:-]*[ \t\n]*=[ \t\n]*(?:"[^"<]*"|'[^'<]*'))*)[ \t\n]*(\/?)>/y
const CLOSE = /<\/([A-Za-z_][\w.:-]*)[ \t\n]*>/y
const ENTITY = /&(?:(lt|gt|amp|quot|apos)|#(\d{1,7})|#x([0-9A-Fa-f]{1,6}));/g
const NAMED: Record<string, string> = {lt: '<', gt: '>', amp: '&', quot: '"', apos: "'"}

/**
 * A strict, small XML scanner for the parts of an .xlsx. It accepts only well-formed documents built of elements,
 * attributes, text and the five named and numeric character references; anything else is UnsupportedWorkbook.
 */
export function scanXml(xml: string, handler: XmlHandler): void {
  if (LEFT_TO_EXCELJS.test(xml)) throw new UnsupportedWorkbook('XML construct')
  let at = DECLARATION.exec(xml)?.[0].length ?? 0
  if (at === 0 && xml.startsWith('<?')) throw new UnsupportedWorkbook('XML declaration')
  const stack: string[] = []
  let rootSeen = false
  while (at < xml.length) {
    const lt = xml.indexOf('<', at)
    const textEnd = lt === -1 ? xml.length : lt
    if (textEnd > at) scanText(xml.slice(at, textEnd), stack.length > 0, handler)
    if (lt === -1) break
    if (xml.charCodeAt(lt + 1) === 47 /* / */) {
      CLOSE.lastIndex = lt
      const match = CLOSE.exec(xml)
      if (!match || stack.pop() !== match[1]) throw new UnsupportedWorkbook('XML end tag')
      handler.close(match[1]!)
      at = CLOSE.lastIndex
      continue
    }
    TAG.lastIndex = lt
    const match = TAG.exec(xml)
    if (!match || (stack.length === 0 && rootSeen)) throw new UnsupportedWorkbook('XML tag')
    rootSeen = true
    const name = match[1]!
    handler.open(name, match[2] ? parseAttributes(match[2]) : {})
    if (match[3]) handler.close(name)
    else stack.push(name)
    at = TAG.lastIndex
  }
  if (stack.length > 0 || !rootSeen) throw new UnsupportedWorkbook('XML unclosed')
}

function scanText(raw: string, inElement: boolean, handler: XmlHandler): void {
  if (!inElement) {
    if (!/^[ \t\n]*$/.test(raw)) throw new UnsupportedWorkbook('XML text outside the root')
    return
  }
  handler.text(decodeReferences(raw))
}

/** The attributes of a tag TAG matched (so well-formed: `name="value"` pairs separated by white space). */
function parseAttributes(text: string): Record<string, string> {
  const attributes: Record<string, string> = {}
  let at = 0
  while (true) {
    const equals = text.indexOf('=', at)
    if (equals === -1) return attributes
    const name = text.slice(at, equals).trim()
    let open = equals + 1
    while (text.charCodeAt(open) !== 34 && text.charCodeAt(open) !== 39) open++
    const close = text.indexOf(text[open]!, open + 1)
    const raw = text.slice(open + 1, close)
    // saxes normalises white space in attribute values and refuses repeated attributes: left to exceljs.
    if (name in attributes || raw.includes('\t') || raw.includes('\n'))
      throw new UnsupportedWorkbook('XML attribute')
    attributes[name] = raw.includes('&') ? decodeReferences(raw) : raw
    at = close + 1
  }
}

/** Text with its character references replaced; any other `&` is UnsupportedWorkbook. */
export function decodeReferences(raw: string): string {
  if (!raw.includes('&')) return raw
  const decoded = raw.replace(ENTITY, (_, named: string, decimal: string, hex: string) => {
    if (named) return NAMED[named]!
    const code = decimal ? Number(decimal) : Number.parseInt(hex, 16)
    if (!isXmlChar(code)) throw new UnsupportedWorkbook('XML character reference')
    return String.fromCodePoint(code)
  })
  if (raw.replace(ENTITY, '').includes('&')) throw new UnsupportedWorkbook('XML entity')
  return decoded
}

function isXmlChar(code: number): boolean {
  return (
    code === 0x9 ||
    code === 0xa ||
    code === 0xd ||
    (code >= 0x20 && code <= 0xd7ff) ||
    (code >= 0xe000 && code <= 0xfffd) ||
    (code >= 0x10000 && code <= 0x10ffff)
  )
}

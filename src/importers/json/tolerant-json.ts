/**
 * A JSON reader for what Python's `json.dump` wrote: standard JSON plus the bare tokens `NaN`, `Infinity` and
 * `-Infinity` (stdlib's default `allow_nan=True`), which `JSON.parse` rejects. Duplicate keys keep the last value,
 * as Python does. Keys such as `__proto__` become plain own properties, never prototypes.
 */

export type JsonValue = null | boolean | number | string | JsonValue[] | {[key: string]: JsonValue}

export class JsonSyntaxError extends Error {
  constructor(
    readonly reason: string,
    readonly line: number,
    readonly column: number,
  ) {
    super(`${reason} at line ${line}, column ${column}`)
    this.name = 'JsonSyntaxError'
  }
}

const MAX_DEPTH = 512
const WHITESPACE = new Set([' ', '\t', '\n', '\r'])
const ESCAPES: Record<string, string> = {
  '"': '"',
  '\\': '\\',
  '/': '/',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
}
const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y

export function parseTolerantJson(text: string): JsonValue {
  return new TolerantJsonParser(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text).parseDocument()
}

class TolerantJsonParser {
  private pos = 0

  constructor(private readonly text: string) {}

  parseDocument(): JsonValue {
    this.skipWhitespace()
    const value = this.parseValue(0)
    this.skipWhitespace()
    if (this.pos < this.text.length)
      this.fail(`unexpected ${this.describeHere()} after the end of the document`)
    return value
  }

  private parseValue(depth: number): JsonValue {
    if (depth > MAX_DEPTH) this.fail(`nesting deeper than ${MAX_DEPTH} levels`)
    const ch = this.text[this.pos]
    switch (ch) {
      case '{':
        return this.parseObject(depth)
      case '[':
        return this.parseArray(depth)
      case '"':
        return this.parseString()
      case 't':
        return this.parseWord('true', true)
      case 'f':
        return this.parseWord('false', false)
      case 'n':
        return this.parseWord('null', null)
      case 'N':
        return this.parseWord('NaN', Number.NaN)
      case 'I':
        return this.parseWord('Infinity', Number.POSITIVE_INFINITY)
      case '-':
        if (this.text.startsWith('-Infinity', this.pos))
          return this.parseWord('-Infinity', Number.NEGATIVE_INFINITY)
        return this.parseNumber()
      default:
        if (ch !== undefined && ch >= '0' && ch <= '9') return this.parseNumber()
        return this.fail(`expected a value, found ${this.describeHere()}`)
    }
  }

  private parseObject(depth: number): {[key: string]: JsonValue} {
    const result: {[key: string]: JsonValue} = {}
    this.pos++
    this.skipWhitespace()
    if (this.text[this.pos] === '}') {
      this.pos++
      return result
    }
    for (;;) {
      this.skipWhitespace()
      if (this.text[this.pos] !== '"')
        this.fail(`expected a key in double quotes, found ${this.describeHere()}`)
      const key = this.parseString()
      this.skipWhitespace()
      if (this.text[this.pos] !== ':')
        this.fail(`expected ':' after the key ${JSON.stringify(key)}, found ${this.describeHere()}`)
      this.pos++
      this.skipWhitespace()
      const value = this.parseValue(depth + 1)
      Object.defineProperty(result, key, {value, enumerable: true, writable: true, configurable: true})
      this.skipWhitespace()
      const next = this.text[this.pos]
      if (next === ',') {
        this.pos++
        continue
      }
      if (next === '}') {
        this.pos++
        return result
      }
      this.fail(`expected ',' or '}' after the value of ${JSON.stringify(key)}, found ${this.describeHere()}`)
    }
  }

  private parseArray(depth: number): JsonValue[] {
    const result: JsonValue[] = []
    this.pos++
    this.skipWhitespace()
    if (this.text[this.pos] === ']') {
      this.pos++
      return result
    }
    for (;;) {
      this.skipWhitespace()
      result.push(this.parseValue(depth + 1))
      this.skipWhitespace()
      const next = this.text[this.pos]
      if (next === ',') {
        this.pos++
        continue
      }
      if (next === ']') {
        this.pos++
        return result
      }
      this.fail(`expected ',' or ']' in an array, found ${this.describeHere()}`)
    }
  }

  private parseString(): string {
    const start = this.pos
    this.pos++
    let out = ''
    let chunkStart = this.pos
    for (;;) {
      const code = this.text.charCodeAt(this.pos)
      if (Number.isNaN(code)) {
        this.pos = start
        this.fail('unterminated string')
      }
      if (code === 0x22) {
        out += this.text.slice(chunkStart, this.pos)
        this.pos++
        return out
      }
      if (code < 0x20) this.fail('control character inside a string (it must be escaped)')
      if (code === 0x5c) {
        out += this.text.slice(chunkStart, this.pos)
        const escaped = this.text[this.pos + 1]
        if (escaped === 'u') {
          const hex = this.text.slice(this.pos + 2, this.pos + 6)
          if (!/^[0-9a-fA-F]{4}$/.test(hex))
            this.fail(`invalid \\u escape ${JSON.stringify(this.text.slice(this.pos, this.pos + 6))}`)
          out += String.fromCharCode(Number.parseInt(hex, 16))
          this.pos += 6
        } else if (escaped !== undefined && escaped in ESCAPES) {
          out += ESCAPES[escaped]
          this.pos += 2
        } else {
          this.fail(`invalid escape ${JSON.stringify(`\\${escaped ?? ''}`)} in a string`)
        }
        chunkStart = this.pos
        continue
      }
      this.pos++
    }
  }

  private parseNumber(): number {
    NUMBER.lastIndex = this.pos
    const match = NUMBER.exec(this.text)
    if (!match || match[0] === '-') this.fail(`expected a number, found ${this.describeHere()}`)
    this.pos += match![0].length
    return Number(match![0])
  }

  private parseWord<T extends JsonValue>(word: string, value: T): T {
    if (!this.text.startsWith(word, this.pos)) this.fail(`expected a value, found ${this.describeHere()}`)
    this.pos += word.length
    return value
  }

  private skipWhitespace(): void {
    while (WHITESPACE.has(this.text[this.pos] ?? '')) this.pos++
  }

  private describeHere(): string {
    if (this.pos >= this.text.length) return 'the end of the file'
    const ch = this.text.codePointAt(this.pos)!
    return JSON.stringify(String.fromCodePoint(ch))
  }

  private fail(reason: string): never {
    let line = 1
    let lineStart = 0
    for (let i = 0; i < this.pos && i < this.text.length; i++) {
      if (this.text.charCodeAt(i) === 0x0a) {
        line++
        lineStart = i + 1
      }
    }
    throw new JsonSyntaxError(reason, line, this.pos - lineStart + 1)
  }
}

import {createRequire} from 'node:module'

/**
 * The few exceljs rules the fast reader must apply exactly as exceljs does, taken from exceljs itself rather than
 * rewritten: which number formats are dates, its second XML decoding of sheet names and `t="str"` values, and its
 * table of built-in number formats (ids 14-22 are dates, 45-47 times; ids it has no code for are never dates).
 */
const require = createRequire(import.meta.url)
const utils = require('exceljs/lib/utils/utils.js') as {
  isDateFmt(format: string | undefined): boolean
  xmlDecode(text: string): string
}
const builtInFormats = require('exceljs/lib/xlsx/defaultnumformats.js') as Record<string, {f?: string}>

export const isDateFormat = (format: string | undefined): boolean => utils.isDateFmt(format)
export const decodeXmlAgain = (text: string): string => utils.xmlDecode(text)
export const builtInFormat = (id: number): string | undefined => builtInFormats[id]?.f

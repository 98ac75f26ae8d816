import type JSZip from 'jszip'

/**
 * An .xlsx file's zip, with jszip loaded when the first workbook is opened: an unchanged re-run opens none, and
 * loading jszip (with pako) costs 0.1-0.2 s of start-up.
 */
export async function loadZip(bytes: Buffer): Promise<JSZip> {
  const {default: jszip} = await import('jszip')
  return jszip.loadAsync(bytes)
}

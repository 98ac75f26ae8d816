/** A workbook that cannot be read (not a zip, damaged, a sheet too large), with the sheet when it is one sheet's. */
export class WorkbookReadError extends Error {
  /** The sheet the problem is in, when it is one sheet's. */
  sheet: string | null = null
}

import {readFile, writeFile} from 'node:fs/promises'
import JSZip from 'jszip'

/**
 * Adds a sheet of `rows` data rows (a header and three columns: a number, a text, a number) to an .xlsx by writing
 * its XML straight into the zip, with the `<dimension>` a writer puts there: a huge sheet in seconds, where exceljs
 * would take minutes and gigabytes.
 */
export async function addGeneratedSheet(file: string, name: string, rows: number): Promise<void> {
  const zip = await JSZip.loadAsync(await readFile(file))
  const part = `xl/worksheets/sheet_generated_${Object.keys(zip.files).length}.xml`
  const chunks: string[] = [
    `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><dimension ref="A1:C${rows + 1}"/><sheetData>`,
    '<row r="1"><c r="A1" t="inlineStr"><is><t>Sample</t></is></c><c r="B1" t="inlineStr"><is><t>Label</t></is></c><c r="C1" t="inlineStr"><is><t>Value</t></is></c></row>',
  ]
  for (let r = 2; r <= rows + 1; r++)
    chunks.push(
      `<row r="${r}"><c r="A${r}"><v>${r - 1}</v></c><c r="B${r}" t="inlineStr"><is><t>s${r % 97}</t></is></c><c r="C${r}"><v>${(r * 0.001).toFixed(3)}</v></c></row>`,
    )
  chunks.push('</sheetData></worksheet>')
  zip.file(part, chunks.join(''))
  const rid = `rIdGenerated${Object.keys(zip.files).length}`
  const edit = async (p: string, fn: (xml: string) => string) =>
    zip.file(p, fn(await zip.file(p)!.async('string')))
  await edit('xl/workbook.xml', (xml) =>
    xml.replace(
      /<\/(\w+:)?sheets>/,
      (end) =>
        `<sheet xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships" name="${name}" sheetId="99" r:id="${rid}"/>${end}`,
    ),
  )
  await edit('xl/_rels/workbook.xml.rels', (xml) =>
    xml.replace(
      '</Relationships>',
      `<Relationship Id="${rid}" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="${part.replace('xl/', '')}"/></Relationships>`,
    ),
  )
  await edit('[Content_Types].xml', (xml) =>
    xml.replace(
      '</Types>',
      `<Override PartName="/${part}" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>`,
    ),
  )
  await writeFile(file, await zip.generateAsync({type: 'nodebuffer', compression: 'DEFLATE'}))
}

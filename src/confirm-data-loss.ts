import {createInterface} from 'node:readline/promises'
import {type DataLoss, describeDataLoss} from './db/assess-data-loss.js'

/**
 * Asks on a terminal before `migrate down` destroys rows: lists them and wants the word `drop` typed back.
 * Only for an interactive terminal; scripts pass --force.
 */
export async function confirmDataLoss(location: string, losses: readonly DataLoss[]): Promise<boolean> {
  const lines = [`Reverting would destroy data in ${location}:`]
  for (const loss of losses) lines.push(`  ${loss.migration}: ${describeDataLoss(loss)}`)
  lines.push('Type "drop" to revert anyway, anything else to stop: ')
  const prompt = createInterface({input: process.stdin, output: process.stderr})
  try {
    const answer = await prompt.question(lines.join('\n'))
    return answer.trim() === 'drop'
  } finally {
    prompt.close()
  }
}

import {parentPort} from 'node:worker_threads'
import {type ReadAndParseRequest, readAndParse} from './read-and-parse.js'

/** A worker thread of the ReadAndParsePool: one request at a time, answered with its id. */
parentPort!.on('message', async (message: {id: number; request: ReadAndParseRequest}) => {
  parentPort!.postMessage({id: message.id, outcome: await readAndParse(message.request)})
})

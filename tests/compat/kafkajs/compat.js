// kafkajs 2.2.4 against sluiced, driven by ../kafkajs_test.py, which checks what this prints.
//
// Usage: node compat.js SPEC.json. The spec names the bootstrap address, topic, group and the
// records to send (bytes in base64). This script creates the topic, starts two consumers of one
// group with eachMessage and waits until their assignments split the partitions, then sends the
// records (a plain send, then a gzip batch from an idempotent producer), reads until every record
// arrived plus a grace period for duplicates, and prints one line `RESULT {json}` with the
// producer's acknowledgements and every consumed record. Any failure exits non-zero with the
// reason on stderr; a global timer bounds the whole run.
'use strict'

const fs = require('fs')
const { Kafka, CompressionTypes, Partitioners, logLevel } = require('kafkajs')

const spec = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'))
let phase = 'start'
const timer = setTimeout(() => {
  console.error(`kafkajs: no result within ${spec.budgetMs} ms (phase: ${phase})`)
  process.exit(3)
}, spec.budgetMs)

const b64 = (buf) =>
  (buf === null || buf === undefined ? null : Buffer.from(buf).toString('base64'))
const bytes = (s) => (s === null ? null : Buffer.from(s, 'base64'))
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

async function waitFor(cond, ms, what) {
  const until = Date.now() + ms
  while (!cond()) {
    if (Date.now() > until) throw new Error(`${what}: not within ${ms} ms`)
    await sleep(50)
  }
}

// The spec's header list [[name, base64 or null], ...] as kafkajs takes it: an object whose
// repeated names hold arrays (so duplicates must be adjacent in the list to keep their order).
function headersObject(list) {
  const out = {}
  for (const [name, value] of list) {
    const v = bytes(value)
    if (!(name in out)) out[name] = v
    else if (Array.isArray(out[name])) out[name].push(v)
    else out[name] = [out[name], v]
  }
  return out
}

function headersList(obj) {
  const out = []
  for (const [name, value] of Object.entries(obj || {})) {
    for (const v of Array.isArray(value) ? value : [value]) out.push([name, b64(v)])
  }
  return out
}

function messages(records) {
  return records.map((r) => ({
    partition: r.partition,
    key: bytes(r.key),
    value: bytes(r.value),
    headers: headersObject(r.headers),
    timestamp: String(r.timestamp),
  }))
}

async function main() {
  const kafka = new Kafka({
    clientId: 'compat-kafkajs',
    brokers: [spec.bootstrap],
    logLevel: logLevel.WARN,
    connectionTimeout: 3000,
    requestTimeout: 10000,
    retry: { retries: 3, initialRetryTime: 200, maxRetryTime: 2000 },
  })

  phase = 'createTopics'
  const admin = kafka.admin()
  await admin.connect()
  const created = await admin.createTopics({
    topics: [{ topic: spec.topic, numPartitions: spec.partitions }],
    waitForLeaders: true,
  })
  if (!created) throw new Error(`createTopics returned false: ${spec.topic} already existed`)
  const meta = await admin.fetchTopicMetadata({ topics: [spec.topic] })
  const partitionIds = meta.topics[0].partitions.map((p) => p.partitionId).sort((a, b) => a - b)
  await admin.disconnect()

  phase = 'group join'
  const consumed = []
  const assignments = []
  const consumers = []
  for (let i = 0; i < 2; i++) {
    const consumer = kafka.consumer({
      groupId: spec.group,
      sessionTimeout: 6000,
      heartbeatInterval: 500,
      rebalanceTimeout: 10000,
      maxWaitTimeInMs: 200,
    })
    assignments.push([])
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      assignments[i] = e.payload.memberAssignment[spec.topic] || []
    })
    consumer.on(consumer.events.CRASH, (e) => {
      console.error(`kafkajs: consumer ${i} crashed: ${e.payload.error}`)
      process.exit(1)
    })
    await consumer.connect()
    await consumer.subscribe({ topics: [spec.topic], fromBeginning: true })
    await consumer.run({
      eachMessage: async ({ topic, partition, message }) => {
        consumed.push({
          member: i,
          assigned: assignments[i].slice(),
          topic,
          partition,
          offset: Number(message.offset),
          key: b64(message.key),
          value: b64(message.value),
          headers: headersList(message.headers),
          timestamp: Number(message.timestamp),
        })
      },
    })
    consumers.push(consumer)
  }
  const settled = () => {
    const all = assignments[0].concat(assignments[1])
    return assignments.every((a) => a.length > 0) &&
      JSON.stringify(all.slice().sort((a, b) => a - b)) === JSON.stringify(partitionIds)
  }
  await waitFor(settled, 40000, 'two members splitting the partitions')

  phase = 'produce'
  const producer = kafka.producer({ allowAutoTopicCreation: false,
    createPartitioner: Partitioners.DefaultPartitioner })
  await producer.connect()
  const half = Math.floor(spec.records.length / 2)
  const plain = await producer.send({ topic: spec.topic, acks: -1,
    messages: messages(spec.records.slice(0, half)) })
  await producer.disconnect()
  const idempotent = kafka.producer({ idempotent: true, maxInFlightRequests: 1,
    createPartitioner: Partitioners.DefaultPartitioner })
  await idempotent.connect()
  const gzip = await idempotent.send({ topic: spec.topic, acks: -1,
    compression: CompressionTypes.GZIP, messages: messages(spec.records.slice(half)) })
  await idempotent.disconnect()

  phase = 'consume'
  await waitFor(() => consumed.length >= spec.records.length, 40000,
    `the group reading ${spec.records.length} records (read ${consumed.length})`)
  await sleep(1500) // room for duplicates to show up
  for (const c of consumers) await c.disconnect()
  clearTimeout(timer)
  const result = { partitionIds, plain, gzip, assignments, consumed }
  process.stdout.write('RESULT ' + JSON.stringify(result) + '\n')
}

main().catch((e) => {
  console.error(`kafkajs: failed in phase ${phase}: ${e && e.stack ? e.stack : e}`)
  process.exit(1)
})

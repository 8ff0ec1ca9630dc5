// Counts a cache-tests run as the suite's own results page judges it
// (test-engine/lib/results.mjs, each test on its own, dependencies not
// followed): by kind (required, optimal, check) and by suite file, then
// every required test that did not pass, with its message (the interim
// tests, which need the npm package undici, fail with that message where
// it is missing: they count as not passed).
//
//   node scripts/cache-tests-summary.mjs SUITE_DIR RESULTS.json
import fs from 'fs'
import path from 'path'
import { pathToFileURL } from 'url'

const [suiteDir, resultsFile] = process.argv.slice(2)
const load = p => import(pathToFileURL(path.join(suiteDir, p)))
const tests = (await load('tests/index.mjs')).default
const { determineTestResult, resultTypes } = await load('test-engine/lib/results.mjs')
const results = JSON.parse(fs.readFileSync(resultsFile, 'utf8'))

const passed = new Set([resultTypes.pass, resultTypes.yes])
const kinds = ['required', 'optimal', 'check']
const count = () => Object.fromEntries(kinds.map(k => [k, { pass: 0, total: 0 }]))
const all = count()
const bySuite = []
const failures = []
for (const suite of tests) {
  const c = count()
  for (const t of suite.tests) {
    if (t.browser_only === true) continue // the command-line runner never runs these
    const kind = t.kind ?? 'required'
    const r = results[t.id]
    const err = Array.isArray(r) ? `${r[0]}: ${r[1]}` : (r === undefined ? 'not run' : '')
    const ok = passed.has(determineTestResult(tests, t.id, results, false))
    for (const x of [c[kind], all[kind]]) { x.total++; if (ok) x.pass++ }
    if (!ok && kind === 'required') failures.push(`${suite.id} ${t.id}: ${err}`)
  }
  bySuite.push([suite.id, c])
}
const cell = x => x.total ? `${x.pass}/${x.total}` : '-'
console.log(`| suite | required | optimal | check |\n|---|---|---|---|`)
for (const [id, c] of bySuite) console.log(`| ${id} | ${kinds.map(k => cell(c[k])).join(' | ')} |`)
console.log(`| **all** | ${kinds.map(k => `**${cell(all[k])}**`).join(' | ')} |`)
if (failures.length) console.log(`\nrequired, not passed:\n${failures.join('\n')}`)

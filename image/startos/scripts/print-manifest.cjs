// Evaluates the built package the way `start-cli s9pk pack` does (require javascript/index.js,
// read .manifest), prints it as JSON and checks what Frostbox relies on.
const path = require('path')
const assert = require('assert')

const built = require(path.join(__dirname, '..', 'javascript', 'index.js'))
const m = built.manifest
console.log(JSON.stringify(m, null, 2))

assert.strictEqual(m.id, 'frostbox')
assert.deepStrictEqual(m.volumes, ['main'])
assert.deepStrictEqual([...m.images.main.arch].sort(), ['aarch64', 'x86_64'])
assert.match(m.images.main.source.dockerTag, /^ghcr\.io\/frostr-org\/frostbox:\d+\.\d+\.\d+$/)
assert.match(m.version, /^0\.1\.0:0$/)
assert.ok(m.osVersion, 'osVersion missing')
assert.ok(m.description.short.length <= 80, 'short description > 80 chars')
assert.ok(m.description.long.length <= 500, 'long description > 500 chars')
for (const fn of ['main', 'init', 'uninit', 'createBackup', 'actions']) {
  assert.ok(built[fn] !== undefined, `export ${fn} missing`)
}
console.error(`manifest ok: ${m.id} ${m.version} (os ${m.osVersion}, sdk ${m.sdkVersion})`)

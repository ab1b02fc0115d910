// Native addons (ours, better-sqlite3, zstd-napi) build from source with node-gyp.
// pnpm passes only a short list of variables to build scripts, and node-gyp would
// otherwise try to download Node's headers, which fails offline. Point it at the
// headers installed beside the running node, when they are there.
const fs = require('node:fs')
const path = require('node:path')

function localNodeDir() {
  const prefix = path.resolve(path.dirname(process.execPath), '..')
  return fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h')) ? prefix : undefined
}

module.exports = {
  hooks: {
    updateConfig(config) {
      const nodedir = process.env.npm_config_nodedir || localNodeDir()
      if (!nodedir) return config
      return { ...config, extraEnv: { ...config.extraEnv, npm_config_nodedir: nodedir } }
    },
  },
}

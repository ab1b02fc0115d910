// libuv sizes its thread pool once, when it first starts (the passphrase's scrypt, the
// first async fs call). The pipeline workers' reads ahead and the archiver's parallel
// lstat share it: 4 threads (the default) would serialise their disk waits. Imported
// first by bin/plakar so it runs before anything can start the pool; a user's setting wins.
process.env.UV_THREADPOOL_SIZE ??= '16'

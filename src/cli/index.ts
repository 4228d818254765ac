#!/usr/bin/env node
// The `steadfast` executable. Commands live one per file beside this one; see main.ts.
// `demo-node` (internal: one process of `steadfast demo`) skips the command line and loads only
// what a node needs, so that a node the demo restarts is back in a fraction of the time.
if (process.argv[2] === 'demo-node') {
  const { runDemoNodeFromEnv } = await import('../demo/node-main.js');
  try {
    await runDemoNodeFromEnv(); // serves until SIGTERM or SIGKILL
  } catch (err) {
    process.stderr.write(`steadfast demo-node: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(2);
  }
} else if (process.argv[2] === 'demo-client') {
  // internal: the load of `steadfast demo`, in a process of its own
  const { runDemoClientFromEnv } = await import('../demo/client-main.js');
  try {
    await runDemoClientFromEnv(); // runs until the supervisor goes
  } catch (err) {
    process.stderr.write(`steadfast demo-client: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(2);
  }
} else {
  const { main } = await import('./main.js');
  process.exit(await main(process.argv));
}

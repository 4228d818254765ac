#!/usr/bin/env node
// The `steadfast` executable. Commands live one per file beside this one; see main.ts.
import { main } from './main.js';

main(process.argv).then((code) => process.exit(code));

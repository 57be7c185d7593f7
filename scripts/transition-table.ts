// Writes the state core's transition table (src/engine/core/table.ts) into docs/architecture.md
// between its markers; test/engine/transition-table.test.ts fails when the two differ.
// Usage: node --import tsx scripts/transition-table.ts
import fs from 'node:fs';
import { renderTable } from '../src/engine/core/table.ts';

const file = 'docs/architecture.md';
const doc = fs.readFileSync(file, 'utf8');
const re = /(<!-- transition-table:start -->)[\s\S]*?(<!-- transition-table:end -->)/;
if (!re.test(doc)) throw new Error(`${file} has no transition-table markers`);
fs.writeFileSync(file, doc.replace(re, `$1\n\n${renderTable()}\n\n$2`));
// then `npx prettier --write docs/architecture.md` aligns it (the test ignores alignment)
console.log(`${file}: transition table written`);

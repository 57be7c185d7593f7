// Prints the settings tables from the settings module (src/domain/settings.ts), or writes them into
// docs/settings.md (every setting) and README.md (the ones a first run needs) between their
// markers and formats both files; test/app/settings.test.ts fails when a file's table differs.
// Usage: node --import tsx scripts/settings-table.ts [--write]   (npm run docs:settings)
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { SETTING_NAMES, SETTINGS } from '../src/domain/settings.ts';

const ROOT = path.resolve(import.meta.dirname, '..');

/** The files that hold a table, with what each shows. */
export const TABLE_FILES = {
  'docs/settings.md': () => settingsRows(),
  'README.md': () => readmeRows(),
} as const;

export type TableFile = keyof typeof TABLE_FILES;

const START = '<!-- settings-table:start -->';
const END = '<!-- settings-table:end -->';

/** docs/settings.md: every setting, its reader, default, allowed values and meaning. */
export function settingsRows(): string[][] {
  return [
    ['variable', 'read by', 'default', 'allowed', 'meaning'],
    ...SETTING_NAMES.map((n) => {
      const s = SETTINGS[n];
      const by = s.scope === 'cli' ? 'CLI' : 'server';
      return [`\`${n}\``, s.internal ? `${by} (tests)` : by, s.shown, s.allowed ?? 'any text', s.meaning];
    }),
  ];
}

/** README.md: the settings a first run needs, with their short meaning. */
export function readmeRows(): string[][] {
  return [
    ['variable', 'default', 'meaning'],
    ...SETTING_NAMES.flatMap((n) => {
      const s = SETTINGS[n];
      return s.readme ? [[`\`${n}\``, s.shown, s.readme]] : [];
    }),
  ];
}

export function markdownTable(rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.map((c) => c.replaceAll('|', '\\|')).join(' | ')} |`;
  const [header, ...body] = rows;
  return [line(header!), line(header!.map(() => '---')), ...body.map(line)].join('\n');
}

/** The table between a file's markers, as rows of trimmed cells (alignment ignored). */
export function tableIn(markdown: string, file: string): string[][] {
  const start = markdown.indexOf(START);
  const end = markdown.indexOf(END);
  if (start < 0 || end < start) throw new Error(`${file} has no ${START} ... ${END} markers`);
  return markdown
    .slice(start + START.length, end)
    .split('\n')
    .filter((l) => l.startsWith('|'))
    .map((l) =>
      l
        .slice(1, -1)
        .split(/(?<!\\)\|/)
        .map((c) => c.trim().replaceAll('\\|', '|')),
    )
    .filter((r) => !r.every((c) => /^:?-+:?$/.test(c)));
}

/** Writes the table between the file's markers and formats the file as `npm run format` would. */
async function write(file: TableFile): Promise<void> {
  const full = path.join(ROOT, file);
  const doc = fs.readFileSync(full, 'utf8');
  tableIn(doc, file);
  const replaced = doc.replace(
    new RegExp(`${START}[\\s\\S]*?${END}`),
    `${START}\n\n${markdownTable(TABLE_FILES[file]())}\n\n${END}`,
  );
  const prettier = await import('prettier');
  const options = (await prettier.resolveConfig(full)) ?? {};
  fs.writeFileSync(full, await prettier.format(replaced, { ...options, filepath: full }));
  console.log(`${file}: settings table written`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  if (process.argv.includes('--write')) {
    for (const file of Object.keys(TABLE_FILES) as TableFile[]) await write(file);
  } else {
    console.log(markdownTable(settingsRows()));
  }
}

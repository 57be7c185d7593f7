// What every command needs: the API client, the project, the output format and the paint.
import type { Command } from 'commander';
import { SETTINGS, type Settings } from '../domain/settings.ts';
import { ApiClient } from './client.ts';
import { CliError, EXIT } from './errors.ts';
import { colorWanted, FORMATS, Paint, serialize, write, type Format } from './output.ts';

export interface GlobalOptions {
  url: string;
  token?: string;
  project: string;
  output?: string;
  json?: boolean;
  color: boolean;
}

export class Cli {
  private client: ApiClient | null = null;
  private paintCache: Paint | null = null;
  /** LIFTGATE_URL, LIFTGATE_TOKEN, LIFTGATE_PROJECT: checked by main.ts before a command runs */
  private settings: Pick<Settings, 'LIFTGATE_URL' | 'LIFTGATE_TOKEN' | 'LIFTGATE_PROJECT'> = {
    LIFTGATE_URL: SETTINGS.LIFTGATE_URL.default,
    LIFTGATE_TOKEN: SETTINGS.LIFTGATE_TOKEN.default,
    LIFTGATE_PROJECT: SETTINGS.LIFTGATE_PROJECT.default,
  };

  constructor(private readonly program: Command) {}

  useSettings(settings: Cli['settings']): void {
    this.settings = settings;
  }

  /** the global options; --url, --token and --project win over their settings */
  get opts(): GlobalOptions {
    const o = this.program.opts<Partial<GlobalOptions> & { color: boolean }>();
    return {
      ...o,
      url: o.url ?? this.settings.LIFTGATE_URL,
      token: o.token ?? this.settings.LIFTGATE_TOKEN,
      project: o.project ?? this.settings.LIFTGATE_PROJECT,
    };
  }

  get api(): ApiClient {
    this.client ??= new ApiClient(this.opts.url, this.opts.token);
    return this.client;
  }

  get project(): string {
    return this.opts.project;
  }

  get format(): Format {
    if (this.opts.json) return 'json';
    const f = (this.opts.output ?? 'table') as Format;
    if (!FORMATS.includes(f)) {
      throw new CliError(`--output ${f} is not a format`, EXIT.USAGE, `use one of ${FORMATS.join(', ')}`);
    }
    return f;
  }

  get paint(): Paint {
    this.paintCache ??= new Paint(colorWanted(process.stdout, this.opts.color));
    return this.paintCache;
  }

  /** a path under the current project */
  p(path = ''): string {
    return `/v1/projects/${encodeURIComponent(this.project)}${path}`;
  }

  /** Prints the API's value as JSON or YAML, or the human form as a table. */
  async print(value: unknown, human: () => string): Promise<void> {
    const f = this.format;
    write(f === 'table' ? human() : await serialize(value, f));
  }

  /** One record of a stream (watch, follow): a JSON line, a YAML document, or the human line. */
  async printRecord(value: unknown, human: () => string): Promise<void> {
    const f = this.format;
    if (f === 'json') write(JSON.stringify(value));
    else if (f === 'yaml') write(`---\n${await serialize(value, 'yaml')}`);
    else write(human());
  }
}

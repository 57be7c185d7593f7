// Minimum strength of a password that is also an identifier (OBShell: the password alone selects
// the cluster). zxcvbn estimates how many guesses an attacker who knows common passwords, words,
// keyboard patterns and the context (project and cluster names) needs; we demand score 3
// ("safely unguessable": at least 10^8 guesses), which online guessing through a rate-limited
// API cannot reach. The dictionaries load on first use (about 0.1 s), not at start.
import type { ZxcvbnResult } from '@zxcvbn-ts/core';

export const MIN_SCORE = 3;

let checker: Promise<(password: string, userInputs: string[]) => ZxcvbnResult> | null = null;

function load(): Promise<(password: string, userInputs: string[]) => ZxcvbnResult> {
  checker ??= (async () => {
    const [{ ZxcvbnFactory }, common, en] = await Promise.all([
      import('@zxcvbn-ts/core'),
      import('@zxcvbn-ts/language-common'),
      import('@zxcvbn-ts/language-en'),
    ]);
    const z = new ZxcvbnFactory({
      dictionary: { ...common.dictionary, ...en.dictionary },
      graphs: common.adjacencyGraphs,
      translations: en.translations,
    });
    return (password, userInputs) => z.check(password, userInputs);
  })();
  return checker;
}

export interface StrengthVerdict {
  ok: boolean;
  /** 0..4 */
  score: number;
  /** what to change, in plain words (never the password) */
  advice: string;
}

/** `context`: words an attacker would try first (project id, cluster id and name). */
export async function checkPasswordStrength(password: string, context: string[] = []): Promise<StrengthVerdict> {
  const result = (await load())(password, context);
  const hints = [result.feedback.warning, ...result.feedback.suggestions].filter((s): s is string => Boolean(s));
  return {
    ok: result.score >= MIN_SCORE,
    score: result.score,
    advice: hints.length > 0 ? hints.join(' ') : 'Use a longer password: four or more unrelated words, or 16 random characters.',
  };
}

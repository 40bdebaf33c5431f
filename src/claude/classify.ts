import type { FailureType } from '../domain/failures.js';
import type { ResultEvent } from './events.js';

/**
 * Maps a `result` line that is not a success to a failure type. The CLI reports its subtype
 * as a code and an API failure's HTTP status in `api_error_status` (with `is_error` set even
 * when the subtype says "success"); older lines only carry it as text ("API Error: 401 ...").
 */
export function classifyResult(result: ResultEvent): { type: FailureType; message: string } | undefined {
  const text = (result.result ?? errorsText(result)).slice(0, 500);
  switch (result.subtype) {
    case 'error_max_turns':
      return { type: 'MaxTurnsExceeded', message: `the agent reached its turn limit after ${result.num_turns} turns` };
    case 'error_max_budget_usd':
      return {
        type: 'BudgetExceeded',
        message: `the agent reached its budget (spent $${result.total_cost_usd.toFixed(4)})`,
      };
  }
  if (result.subtype === 'success' && !result.is_error) return undefined;

  const status = result.api_error_status ?? apiErrorStatus(text);
  if (status === 401 || status === 403 || /invalid (x-)?api[- ]key|authentication_error/i.test(text)) {
    return { type: 'ModelAuthFailed', message: `the model endpoint rejected the API key: ${text}` };
  }
  if (status !== undefined && (status === 408 || status === 429 || status === 529 || status >= 500)) {
    return { type: 'ModelUnavailable', message: `the model endpoint failed with HTTP ${status}: ${text}` };
  }
  if (/overloaded|rate.?limit|ECONNREFUSED|ECONNRESET|ETIMEDOUT|fetch failed|network|connection error/i.test(text)) {
    return { type: 'ModelUnavailable', message: `the model endpoint could not be reached: ${text}` };
  }
  return { type: 'AgentFailed', message: `the agent ended with ${result.subtype}${text ? `: ${text}` : ''}` };
}

function apiErrorStatus(text: string): number | undefined {
  const m = /API Error:?\s*(\d{3})/i.exec(text) ?? /\bstatus(?: code)?:?\s*(\d{3})\b/i.exec(text);
  return m?.[1] ? Number(m[1]) : undefined;
}

function errorsText(result: ResultEvent): string {
  return (result.errors ?? []).map((e) => (typeof e === 'string' ? e : JSON.stringify(e))).join('; ');
}

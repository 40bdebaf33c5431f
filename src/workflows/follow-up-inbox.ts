import { ApplicationFailure, condition, currentUpdateInfo, setHandler, workflowInfo } from '@temporalio/workflow';
import type { FollowUpInput, FollowUpResult, TaskStatus } from '../schemas/messages.js';
import type { TurnSummary } from '../schemas/task-spec.js';
import { checkFollowUpInput } from './follow-up-input.js';
import { closeSignal, followUpUpdate } from './messages.js';

/** Prompts are recorded in the status this long at most (the full prompt is in history). */
export const MAX_PROMPT_RECORD = 2_000;

/** A follow-up accepted by the Update and waiting for the turn loop. */
export interface FollowUpTicket {
  input: FollowUpInput;
  /** Its entry in the task's turns, updated as it runs. */
  record: TurnSummary;
  /**
   * Names the turn in the task's live events: the Update's id, which the sender chooses, so a
   * front end can follow its own prompt's stream.
   */
  liveKey: string;
  resolve(result: FollowUpResult): void;
  reject(err: unknown): void;
}

type InboxState = 'starting' | 'open' | 'closing' | 'ended';

/**
 * The follow-up queue and the keep-alive window of one task. It registers the `followUp`
 * Update and the `close` signal as soon as the workflow starts (so a follow-up sent while the
 * first turn runs is accepted and waits), and hands accepted follow-ups to the turn loop when
 * the loop asks for the next one. It never runs a turn itself.
 */
export class FollowUpInbox {
  private state: InboxState = 'starting';
  private closeRequested = false;
  private readonly queue: FollowUpTicket[] = [];
  private endReason = '';

  constructor(private readonly status: TaskStatus) {
    setHandler(closeSignal, () => {
      this.closeRequested = true;
    });
    setHandler(followUpUpdate, (input) => this.enqueue(input), { validator: (input) => this.check(input) });
  }

  /** After the first result: follow-ups may run from now on. */
  open(): void {
    if (this.state === 'starting') this.state = 'open';
  }

  /**
   * The next follow-up to run: one already queued, or the first to arrive within the
   * keep-alive window. Undefined once the window passes without one or `close` arrives; from
   * then on the task is closing, and only follow-ups accepted before are handed out.
   */
  async next(keepAliveMs: number): Promise<FollowUpTicket | undefined> {
    if (this.state === 'open' && this.queue.length === 0 && keepAliveMs > 0 && !this.closeRequested) {
      this.status.openUntil = Date.now() + keepAliveMs;
      this.status.phase = 'open';
      await condition(() => this.closeRequested || this.queue.length > 0, keepAliveMs);
      this.status.openUntil = undefined;
    }
    if (this.state === 'open' && (this.closeRequested || this.queue.length === 0 || keepAliveMs <= 0)) {
      this.state = 'closing';
      this.status.phase = 'closing';
    }
    return this.queue.shift();
  }

  /** Whether a follow-up is waiting to run. */
  get pending(): boolean {
    return this.queue.length > 0;
  }

  get closing(): boolean {
    return this.closeRequested || this.state === 'closing' || this.state === 'ended';
  }

  /** The task is ending: follow-ups still queued are refused, and so is every later one. */
  end(reason: string): void {
    this.state = 'ended';
    this.endReason = reason;
    for (const ticket of this.queue.splice(0)) {
      ticket.reject(
        ApplicationFailure.create({
          type: 'TaskClosed',
          nonRetryable: true,
          message: `the task ended before this follow-up ran${this.endReason ? `: ${this.endReason}` : ''}`,
        }),
      );
    }
  }

  private check(input: unknown): void {
    checkFollowUpInput(input);
    if (this.state === 'closing' || this.state === 'ended' || this.closeRequested) {
      // A typed failure, so a client can tell "closing" apart and continue in a new task.
      throw ApplicationFailure.create({
        type: 'TaskClosing',
        nonRetryable: true,
        message:
          `task ${workflowInfo().workflowId} is ${this.state === 'ended' ? 'finished' : 'closing'} and takes no more follow-ups; ` +
          '`ccflow followup` continues it in a new task',
      });
    }
  }

  private enqueue(input: FollowUpInput): Promise<FollowUpResult> {
    const record: TurnSummary = {
      turn: this.status.turns.length + 1,
      prompt: input.prompt.slice(0, MAX_PROMPT_RECORD),
      numTurns: 0,
      costUsd: 0,
      durationMs: 0,
    };
    this.status.turns.push(record);
    const liveKey = currentUpdateInfo()?.id ?? `turn-${record.turn}`;
    return new Promise<FollowUpResult>((resolve, reject) => {
      if (this.state === 'ended') {
        reject(
          ApplicationFailure.create({
            type: 'TaskClosed',
            nonRetryable: true,
            message: `the task ended before this follow-up ran: ${this.endReason}`,
          }),
        );
        return;
      }
      this.queue.push({ input, record, liveKey, resolve, reject });
    });
  }
}

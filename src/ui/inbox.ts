/** @module The inbox: questions waiting for a human across runs, and answering one (as `drover answer` does). */
import type { QuestionRecord, Store } from '../store/index.js';
import { answerQuestion } from '../workflow/inspect.js';

export interface InboxItem extends QuestionRecord {
  runName: string;
  /** What continues the run once answered: the UI does not drive runs yet, `drover resume` does. */
  resume: string;
}

/** Pending questions of every run, oldest first. */
export async function listInbox(store: Store): Promise<InboxItem[]> {
  const pending = await store.listPendingQuestions();
  const names = new Map<string, string>();
  for (const q of pending) if (!names.has(q.runId)) names.set(q.runId, (await store.getRun(q.runId))?.name ?? q.runId);
  return pending.map((q) => ({ ...q, runName: names.get(q.runId) ?? q.runId, resume: `drover resume ${q.runId}` }));
}

/**
 * Stores a human's answer (the `ask` call's journal entry with it). Throws NotFoundError for an
 * unknown run or question, InputError when the answer is not one of the choices.
 */
export async function answer(store: Store, runId: string, questionId: string, text: string): Promise<InboxItem> {
  const q = await answerQuestion(store, runId, questionId, text);
  return { ...q, runName: (await store.getRun(runId))?.name ?? runId, resume: `drover resume ${runId}` };
}

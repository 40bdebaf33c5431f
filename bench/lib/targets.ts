/** Targets that both a benchmark and its report use. */

/** Recording a turn's change on a 10,000-file repository, p50. */
export const CAPTURE_TARGET_MS = 200;

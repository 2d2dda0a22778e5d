// The statement walker: turns one libpg-query (PostgreSQL 18) raw parse tree into StatementFacts.
//
// Fail closed. Every node type the walker accepts has an entry in a handler table (walk/expression-table.ts
// for expressions and DDL sub-nodes, walk/statement-table.ts for statements) with the complete list of its
// fields, each marked: S (a scalar or a list of names: nothing executes), N/L (a child node / list of child
// nodes: walked), X (walked by the handler's own code) or the type name of an unwrapped struct field (walked
// as that type). A node type missing from the tables, or a field missing from its list, adds a reason to
// `unsupported`, so a parser upgrade that adds a sub-query somewhere we do not look denies the statement
// instead of hiding an access.
//
// The parts, in walk/: state.ts (the state and the helpers every part uses), dispatch.ts (the recursion
// through the tables), scope.ts (column resolution), expressions.ts, queries.ts, from.ts (FROM items),
// dml.ts (data-changing statements), utility.ts (utility statements), and the two tables. The tables ride
// in the state, so no part imports the tables that import it.

import type { Out } from './lineage.ts';
import { stmtAny } from './walk/dispatch.ts';
import { EXPR } from './walk/expression-table.ts';
import { newState as emptyState, type Raw, type WalkState } from './walk/state.ts';
import { STMT } from './walk/statement-table.ts';

export { noun } from './walk/utility.ts';

const HANDLERS = { expressions: EXPR, statements: STMT };

/** The state of one statement's walk. */
export function newState(): WalkState {
  return emptyState(HANDLERS);
}

/** Run a top-level statement's handler. */
export function walkTop(st: WalkState, type: string, body: Raw): Out[] | null {
  return stmtAny(st, { [type]: body }, null, true);
}

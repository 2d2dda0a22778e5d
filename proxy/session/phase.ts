// Where a session is in its life (session.ts): the client's startup packet, the upstream login and setup
// round trip, the relay, closed.
export const PHASE_STARTUP = 0;
export const PHASE_CONNECTING = 1;
export const PHASE_READY = 2;
export const PHASE_CLOSED = 3;

/*
** The operator hub: every signed-in operator's WebSocket, owned by the loop.
**
** Modules publish events (visitor deltas, conversation and callback events)
** with em_hub_publish(); each connected operator console receives the event
** as one JSON text frame. A console whose queue is full is cut off by the
** WebSocket layer, never slowing the others.
*/
#ifndef EM_HUB_H
#define EM_HUB_H

#include <jansson.h>
#include <stdint.h>

struct em_ws;

/* Registers an operator's socket, opened with the sign-in `credential`
** (em_principal.credential); returns the number of sockets this operator
** now has open (presence across several tabs). */
int em_hub_add(struct em_ws *ws, int64_t operator_id, int64_t credential);
/* Closes the sockets opened with a credential that ended (sign-out, expired
** session, revoked token) or, with credential 0, every socket of
** operator_id (the operator was disabled or their sign-ins revoked). Close
** code 4401: the console then finds it is signed out. Returns how many. */
int em_hub_end(int64_t credential, int64_t operator_id);
/* Removes a socket; returns how many remain for that operator. */
int em_hub_remove(struct em_ws *ws);
/* Sends obj to every operator socket (or only to operator_id when > 0).
** Does not take the reference. Returns the number of sockets reached. */
int em_hub_publish(const json_t *obj, int64_t operator_id);
/* Number of connected operator sockets / distinct operators. */
int em_hub_sockets(void);
int em_hub_operators_online(void);

#endif

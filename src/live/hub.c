/*
** Operator hub (see hub.h): a list of operator sockets.
**
** A plain doubly linked list: the number of operator consoles is small (tens),
** and publish must visit each of them anyway.
*/
#include "live/hub.h"

#include "core/alloc.h"
#include "core/json.h"
#include "net/ws.h"

typedef struct hub_entry {
	em_ws *ws;
	int64_t operator_id;
	int64_t credential;
	int ended; /* its sign-in ended: closing, receives nothing more */
	struct hub_entry *prev, *next;
} hub_entry;

static hub_entry *entries;
static int nsockets;

static int count_for(int64_t operator_id)
{
	int n = 0;
	for (hub_entry *e = entries; e; e = e->next)
		n += e->operator_id == operator_id;
	return n;
}

int em_hub_add(em_ws *ws, int64_t operator_id, int64_t credential)
{
	hub_entry *e = em_calloc(1, sizeof *e);
	e->ws = ws;
	e->operator_id = operator_id;
	e->credential = credential;
	e->next = entries;
	if (entries)
		entries->prev = e;
	entries = e;
	nsockets++;
	return count_for(operator_id);
}

int em_hub_remove(em_ws *ws)
{
	for (hub_entry *e = entries; e; e = e->next) {
		if (e->ws != ws)
			continue;
		int64_t op = e->operator_id;
		if (e->prev)
			e->prev->next = e->next;
		else
			entries = e->next;
		if (e->next)
			e->next->prev = e->prev;
		em_free(e);
		nsockets--;
		return count_for(op);
	}
	return 0;
}

int em_hub_end(int64_t credential, int64_t operator_id)
{
	int n = 0;
	for (hub_entry *e = entries, *next; e; e = next) {
		/* Closing may remove the entry at once (em_hub_remove). */
		next = e->next;
		if (e->ended || (credential ? e->credential != credential : e->operator_id != operator_id))
			continue;
		e->ended = 1;
		em_ws_close(e->ws, 4401, "signed out");
		n++;
	}
	return n;
}

int em_hub_publish(const json_t *obj, int64_t operator_id)
{
	size_t len;
	char *text = em_json_dump(obj, &len);
	int n = 0;
	for (hub_entry *e = entries, *next; e; e = next) {
		/* Sending may close a slow socket, which removes its entry. */
		next = e->next;
		if (e->ended || (operator_id > 0 && e->operator_id != operator_id))
			continue;
		if (em_ws_send_text(e->ws, text, len) == 0)
			n++;
	}
	em_free(text);
	return n;
}

int em_hub_sockets(void)
{
	return nsockets;
}

int em_hub_operators_online(void)
{
	int n = 0;
	for (hub_entry *e = entries; e; e = e->next) {
		int first = 1;
		for (hub_entry *f = entries; f != e; f = f->next)
			if (f->operator_id == e->operator_id)
				first = 0;
		n += first;
	}
	return n;
}

/*
** The audit log: who did what, when and from where (sign-ins, operator and
** token changes). Appends are fire-and-forget writes through the store's
** writer; reading pages newest first by row id.
*/
#ifndef EM_AUDIT_H
#define EM_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include "app.h"

#define EM_AUDIT_ACTION_MAX 63
#define EM_AUDIT_TARGET_MAX 255
#define EM_AUDIT_IP_MAX 63
#define EM_AUDIT_DETAIL_MAX 1023
#define EM_AUDIT_PAGE_MAX 200

/* Appends an entry. operator_id 0 = nobody signed in (e.g. a failed sign-in).
** Strings may be NULL; longer ones are cut at the limits above. Never blocks
** and never fails the caller: a full write queue drops the entry with a
** warning in the log. */
void em_audit(em_app *app, int64_t operator_id, const char *action, const char *target, const char *ip,
	      const char *detail);

typedef struct em_audit_entry {
	int64_t id;
	int64_t at;
	char operator_id[32]; /* public id, "" when none */
	char operator_email[256];
	char action[EM_AUDIT_ACTION_MAX + 1];
	char target[EM_AUDIT_TARGET_MAX + 1];
	char ip[EM_AUDIT_IP_MAX + 1];
	char detail[EM_AUDIT_DETAIL_MAX + 1];
} em_audit_entry;

/* Up to limit entries with id < before_id (0 = from the newest), newest
** first; more tells whether older ones exist. done runs exactly once. */
void em_audit_list(em_app *app, int64_t before_id, int limit,
		   void (*done)(int status, const em_audit_entry *e, size_t n, int more, void *arg),
		   void *arg);

#endif

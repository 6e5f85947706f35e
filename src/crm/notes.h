/*
** Notes (see docs/contacts.md "Notes"): what operators write down about a
** contact or an anonymous visitor, with author, time and every earlier text.
**
** A note belongs to a contact, to a visitor (site + vid), or to both: a note
** on a visitor that is linked to a contact carries the contact too, and the
** notes of a visitor linked later are found through visitor.contact_id, so
** they show on the contact without being copied.
**
** The _db functions run inside a store read or write; each takes an
** em_note_op that holds the request's data and receives the answer.
*/
#ifndef EM_NOTES_H
#define EM_NOTES_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

#define EM_NOTE_BODY_MAX_CHARS 10000
#define EM_NOTE_BODY_MAX_BYTES (4 * EM_NOTE_BODY_MAX_CHARS)
#define EM_NOTE_LIST_DEFAULT 50
#define EM_NOTE_LIST_MAX 200
#define EM_NOTE_VID_MAX 63

typedef struct em_note_op {
	/* In. */
	int64_t operator_id;
	int is_admin;
	char contact[32]; /* contact public id; "" = a visitor's notes */
	int64_t site_id;  /* visitor notes: the site, 0 = the visitor's first site */
	char vid[EM_NOTE_VID_MAX + 1];
	char note[32]; /* the note's public id (update, delete, revisions) */
	char *body;    /* owned by the caller */
	int limit;
	int64_t cursor_at, cursor_id; /* cursor_at 0 = from the newest */
	/* Out. */
	json_t *out;   /* the answer's JSON object */
	json_t *event; /* for the operator consoles after COMMIT, or NULL */
	int queued;    /* webhook rows were queued: kick after COMMIT */
} em_note_op;

/* 0, or EM_EINVAL with *why: 1-10000 characters of UTF-8 that are not all
** white space. */
int em_note_body_check(const char *body, size_t len, const char **why);

/* Opaque list cursors "<ms>_<id>"; parse returns 0 or EM_EINVAL. */
void em_notes_cursor(int64_t at, int64_t id, char out[48]);
int em_notes_cursor_parse(const char *s, int64_t *at, int64_t *id);

/* Reads: {"notes":[...], "next_cursor"} of a contact (op->contact) or a
** visitor (op->vid, op->site_id); {"revisions":[...]} of op->note. */
int em_notes_list_db(em_db *db, void *op);
int em_notes_revisions_db(em_db *db, void *op);
/* Writes. create: on op->contact or on the visitor op->vid; update: author
** or admin, the old text becomes a revision; delete: soft, author or admin.
** EM_ENOTFOUND / EM_EPERM as the case may be. */
int em_notes_create_db(em_db *db, void *op);
int em_notes_update_db(em_db *db, void *op);
int em_notes_delete_db(em_db *db, void *op);

/* The live notes of a visitor and of the contact it is linked to (0 =
** none), newest first, at most max; for the visitor profile. */
json_t *em_notes_of_visitor_db(em_db *db, int64_t site_id, const char *vid, int64_t contact_id, int max);

/* Finds a contact by public id, following merges to the surviving contact.
** Returns 0, EM_ENOTFOUND or EM_EIO. site_id may be NULL. */
int em_notes_contact_find_db(em_db *db, const char *public_id, int64_t *id, int64_t *site_id);

#endif

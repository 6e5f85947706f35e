/*
** Unit tests for src/crm/contacts.c: e-mail and phone normalisation with
** the messages a person reads, validation with field paths, and on a real
** temporary store: create, upsert (also through a merged contact), visitor
** links, lifetime value from orders, search, duplicates and merge, and an
** identify that merges visitor rows matching by e-mail, external id or both.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testdir.h"
#include "core/alloc.h"
#include "core/config.h"
#include "core/err.h"
#include "core/json.h"
#include "core/log.h"
#include "crm/contacts.h"
#include "crm/csvio.h"
#include "net/loop.h"
#include "store/store.h"
#include "track/event.h"
#include "track/sessionizer.h"

/* ---- Normalisation ------------------------------------------------------- */

static void email_ok(const char *in, const char *want)
{
	char out[EM_CONTACT_EMAIL_MAX + 2];
	const char *why = NULL;
	int rc = em_contact_email(in, out, sizeof out, &why);
	if (rc)
		fail_msg("'%s' rejected: %s", in, why);
	assert_string_equal(out, want);
}

static void email_bad(const char *in, const char *part)
{
	char out[EM_CONTACT_EMAIL_MAX + 2];
	const char *why = NULL;
	assert_int_equal(em_contact_email(in, out, sizeof out, &why), EM_EINVAL);
	assert_non_null(why);
	if (!strstr(why, part))
		fail_msg("'%s': message '%s' lacks '%s'", in, why, part);
}

static void test_email(void **state)
{
	(void)state;
	email_ok("erika@example.com", "erika@example.com");
	email_ok("  Erika.Mustermann+shop@Example.CO.UK \t", "erika.mustermann+shop@example.co.uk");
	email_ok("o'brien@xn--mller-kva.de", "o'brien@xn--mller-kva.de");
	email_ok("jörg@müller.de", "jörg@müller.de");
	email_bad("", "empty");
	email_bad("   ", "empty");
	email_bad("erika.example.com", "needs an '@'");
	email_bad("a@b@example.com", "exactly one '@'");
	email_bad("@example.com", "nothing before the '@'");
	email_bad("erika@", "nothing after the '@'");
	email_bad("erika@localhost", "needs a dot");
	email_bad("erika@example..com", "empty part");
	email_bad("erika@.example.com", "empty part");
	email_bad("erika@example.com.", "empty part");
	email_bad("erika@-example.com", "'-'");
	email_bad("er ika@example.com", "no spaces");
	email_bad("erika@exa_mple.com", "letters, digits");
	email_bad("\"erika\"@example.com", "none of");
	email_bad("erika.@example.com", "dot");
	email_bad("er..ika@example.com", "dot");
	email_bad("e\x01rika@example.com", "control");
	char longlocal[80];
	memset(longlocal, 'a', 65);
	snprintf(longlocal + 65, sizeof longlocal - 65, "@example.com");
	email_bad(longlocal, "64");
	char huge[300];
	memset(huge, 'a', 60);
	huge[60] = '@';
	memset(huge + 61, 'b', 230);
	snprintf(huge + 291, sizeof huge - 291, ".de");
	email_bad(huge, "254");
}

static void phone_ok(const char *in, const char *want)
{
	char out[EM_CONTACT_PHONE_MAX + 2];
	const char *why = NULL;
	int rc = em_contact_phone(in, out, sizeof out, &why);
	if (rc)
		fail_msg("'%s' rejected: %s", in, why);
	assert_string_equal(out, want);
}

static void phone_bad(const char *in, const char *part)
{
	char out[EM_CONTACT_PHONE_MAX + 2];
	const char *why = NULL;
	assert_int_equal(em_contact_phone(in, out, sizeof out, &why), EM_EINVAL);
	if (!strstr(why, part))
		fail_msg("'%s': message '%s' lacks '%s'", in, why, part);
}

static void test_phone(void **state)
{
	(void)state;
	phone_ok("+4930123456", "+4930123456");
	phone_ok(" +49 30 123 456 ", "+4930123456");
	phone_ok("+49 (0)30 123-456", "+4930123456");
	phone_ok("0049 30/123.456", "+4930123456");
	phone_ok("+1 (415) 555-2671", "+14155552671");
	phone_ok("+683 4002", "+6834002");
	phone_ok("+123456789012345", "+123456789012345");
	phone_bad("", "empty");
	phone_bad("030 123456", "country code");
	phone_bad("(030) 123456", "country code");
	phone_bad("+49 30 CALL", "no letters");
	phone_bad("+49 30 123#456", "only digits");
	phone_bad("+49 30 +123456", "'+' stands only at the start");
	phone_bad("+0 30 123456", "never starts with 0");
	phone_bad("+49 123", "at least 7 digits");
	phone_bad("+1234567890123456", "at most 15 digits");
	phone_bad("+", "no digits");
}

static void test_validate(void **state)
{
	(void)state;
	const char *field, *why;
	em_contact_input in = {0};
	in.name = "Erika";
	in.email = "erika@example.com";
	in.phone = "+49 30 123456";
	assert_int_equal(em_contact_validate(&in, &field, &why), 0);

	in.email = "nope";
	assert_int_equal(em_contact_validate(&in, &field, &why), EM_EINVAL);
	assert_string_equal(field, "email");
	assert_non_null(strstr(why, "'@'"));
	in.email = "";
	assert_int_equal(em_contact_validate(&in, &field, &why), 0); /* "" clears */

	in.phone = "12345";
	assert_int_equal(em_contact_validate(&in, &field, &why), EM_EINVAL);
	assert_string_equal(field, "phone");
	in.phone = NULL;

	json_t *tags = json_pack("[s, s, s]", "vip", "newsletter", "   ");
	in.tags = tags;
	assert_int_equal(em_contact_validate(&in, &field, &why), EM_EINVAL);
	assert_string_equal(field, "tags[2]");
	assert_non_null(strstr(why, "not empty"));
	json_array_set_new(tags, 2, json_integer(3));
	assert_int_equal(em_contact_validate(&in, &field, &why), EM_EINVAL);
	assert_string_equal(field, "tags[2]");
	json_array_set_new(tags, 2, json_string("01234567890123456789012345678901234567890"));
	assert_int_equal(em_contact_validate(&in, &field, &why), EM_EINVAL);
	assert_string_equal(field, "tags[2]");
	assert_non_null(strstr(why, "40"));
	/* Forty characters of umlauts are forty characters, not eighty bytes. */
	json_array_set_new(tags, 2, json_string("ääääääääääääääääääääääääääääääääääääääää"));
	assert_int_equal(em_contact_validate(&in, &field, &why), 0);
	json_decref(tags);
	in.tags = json_object();
	assert_int_equal(em_contact_validate(&in, &field, &why), EM_EINVAL);
	assert_string_equal(field, "tags");
	json_decref((json_t *)in.tags);
	in.tags = NULL;

	json_t *custom = json_pack("{s:s, s:i}", "size", "M", "Bad-Key", 1);
	in.custom = custom;
	assert_int_equal(em_contact_validate(&in, &field, &why), EM_EINVAL);
	assert_string_equal(field, "custom.Bad-Key");
	json_object_del(custom, "Bad-Key");
	json_object_set_new(custom, "nested", json_pack("{s:i}", "a", 1));
	assert_int_equal(em_contact_validate(&in, &field, &why), EM_EINVAL);
	assert_string_equal(field, "custom.nested");
	json_decref(custom);
	in.custom = NULL;

	in.stage = "prospect";
	assert_int_equal(em_contact_validate(&in, &field, &why), EM_EINVAL);
	assert_string_equal(field, "stage");
	in.stage = "won_back";
	in.source = "fax";
	assert_int_equal(em_contact_validate(&in, &field, &why), EM_EINVAL);
	assert_string_equal(field, "source");
	in.source = NULL;

	char name[200];
	memset(name, 'x', 128);
	name[128] = '\0';
	in.name = name;
	assert_int_equal(em_contact_validate(&in, &field, &why), EM_EINVAL);
	assert_string_equal(field, "name");
	in.name = "Tab\tName";
	assert_int_equal(em_contact_validate(&in, &field, &why), EM_EINVAL);
	assert_string_equal(field, "name");
	assert_non_null(strstr(why, "control"));
}

/* ---- On a store ----------------------------------------------------------- */

struct fixture {
	char dir[64];
	em_config cfg;
	em_store *s;
};

static int setup(void **state)
{
	struct fixture *f = em_calloc(1, sizeof *f);
	snprintf(f->dir, sizeof f->dir, "/tmp/emma-test-contacts-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	em_config_defaults(&f->cfg);
	snprintf(f->cfg.data_dir, sizeof f->cfg.data_dir, "%s", f->dir);
	f->cfg.readers = 1;
	char err[256];
	if (em_store_open(&f->s, &f->cfg, err, sizeof err)) {
		fprintf(stderr, "em_store_open: %s\n", err);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	em_store_close(f->s);
	testdir_remove(f->dir);
	em_free(f);
	return 0;
}

static int64_t count(em_db *db, const char *sql, int64_t arg)
{
	em_stmt *st = em_db_prepare(db, sql, "i", arg);
	int64_t n = em_stmt_step(st) == 1 ? em_stmt_int(st, 0) : -1;
	em_stmt_done(st);
	return n;
}

/* A site, an operator, and per visitor: a visitor row, a visit with a
** pageview and an order, a conversation, a visitor note, a callback and a
** consent record. */
static int seed(em_db *db, void *arg)
{
	(void)arg;
	if (em_db_exec(db, "INSERT INTO site (id, key, name, created_at) VALUES (1, 'default', 'Shop', 0)",
		       NULL) ||
	    em_db_exec(
		    db,
		    "INSERT INTO operator (id, public_id, email, role, password_hash, created_at, updated_at)"
		    " VALUES (1, 'op_a', 'a@shop.example', 'admin', 'x', 0, 0)",
		    NULL))
		return EM_EIO;
	const char *vids[] = {"vid-one", "vid-two"};
	for (int i = 0; i < 2; i++) {
		int64_t vrow = i + 1, visit = i + 1;
		if (em_db_exec(db,
			       "INSERT INTO visitor (id, site_id, vid, first_seen, last_seen) VALUES (?, 1, "
			       "?, 1, 2)",
			       "it", vrow, vids[i]) ||
		    em_db_exec(db,
			       "INSERT INTO visit (id, visitor_id, site_id, started_at, last_at) VALUES (?, "
			       "?, 1, 1, 2)",
			       "ii", visit, vrow) ||
		    em_db_exec(db,
			       "INSERT INTO event (visit_id, visitor_id, site_id, ts, type, url) VALUES (?, "
			       "?, 1, 1,"
			       " 'pageview', '/p')",
			       "ii", visit, vrow) ||
		    em_db_exec(db,
			       "INSERT INTO event (visit_id, visitor_id, site_id, ts, type, data) VALUES (?, "
			       "?, 1, 2,"
			       " 'order', json_object('id', ?, 'total', ?))",
			       "iitd", visit, vrow, i ? "O-2" : "O-1", i ? 5.5 : 10.0) ||
		    em_db_exec(db,
			       "INSERT INTO conversation (public_id, site_id, vid, status, created_at, "
			       "updated_at)"
			       " VALUES (?, 1, ?, 'closed', 1, 1)",
			       "tt", i ? "cv2" : "cv1", vids[i]) ||
		    em_db_exec(db,
			       "INSERT INTO note (public_id, site_id, vid, body, created_at, updated_at)"
			       " VALUES (?, 1, ?, 'a note', 1, 1)",
			       "tt", i ? "n2" : "n1", vids[i]) ||
		    em_db_exec(db,
			       "INSERT INTO callback_request (public_id, site_id, vid, phone, due_at, "
			       "created_at,"
			       " updated_at) VALUES (?, 1, ?, '+4930123456', 1, 1, 1)",
			       "tt", i ? "cb2" : "cb1", vids[i]) ||
		    em_db_exec(db,
			       "INSERT INTO consent_record (site_id, vid, purpose, granted, created_at)"
			       " VALUES (1, ?, 'chat', 1, 1)",
			       "t", vids[i]))
			return EM_EIO;
	}
	return 0;
}

struct two {
	int64_t a, b;
	char pa[32], pb[32];
};

static int create_two(em_db *db, void *arg)
{
	struct two *t = arg;
	em_contact_input in = {0};
	json_t *tags = json_pack("[s]", "VIP");
	in.name = "Mia Muster";
	in.email = "Mia@One.example";
	in.tags = tags;
	int rc = em_contacts_create_db(db, 1, &in, 1, &t->a, t->pa);
	json_decref(tags);
	if (rc)
		return rc;
	em_contact_input in2 = {0};
	json_t *tags2 = json_pack("[s, s]", "vip", "b2b");
	in2.email = "mia@two.example";
	in2.phone = "+44 20 7946 0000";
	in2.company = "Muster Ltd";
	in2.stage = "customer";
	in2.owner = "op_a";
	in2.tags = tags2;
	in2.has_consent = 1;
	in2.consent_marketing = 1;
	in2.consent_wording = "Yes, send me news";
	rc = em_contacts_create_db(db, 1, &in2, 1, &t->b, t->pb);
	json_decref(tags2);
	if (rc)
		return rc;
	if ((rc = em_contacts_link_visitor_db(db, 1, "vid-one", t->a)) ||
	    (rc = em_contacts_link_visitor_db(db, 1, "vid-two", t->b)))
		return rc;
	return 0;
}

struct checks {
	struct two *t;
	json_t *a, *b;
	int64_t n[16];
};

static int read_state(em_db *db, void *arg)
{
	struct checks *c = arg;
	c->a = em_contacts_json_db(db, c->t->a);
	c->b = em_contacts_json_db(db, c->t->b);
	int64_t a = c->t->a;
	c->n[0] = count(db, "SELECT count(*) FROM visitor WHERE contact_id = ?", a);
	c->n[1] = count(db, "SELECT count(*) FROM conversation WHERE contact_id = ?", a);
	c->n[2] = count(db, "SELECT count(*) FROM note WHERE contact_id = ?", a);
	c->n[3] = count(db, "SELECT count(*) FROM callback_request WHERE contact_id = ?", a);
	c->n[4] = count(db, "SELECT count(*) FROM consent_record WHERE contact_id = ?", a);
	c->n[5] = count(db, "SELECT count(*) FROM contact_event WHERE contact_id = ?", a);
	c->n[6] = count(db, "SELECT count(*) FROM contact_tag WHERE contact_id = ?", a);
	c->n[7] = count(db, "SELECT count(*) FROM contact_tag WHERE contact_id = ?", c->t->b);
	c->n[8] = count(db, "SELECT coalesce(merged_into, 0) FROM contact WHERE id = ?", c->t->b);
	c->n[9] = count(db, "SELECT count(*) FROM contact_event WHERE contact_id = ? AND type = 'merged'", a);
	c->n[10] = count(db, "SELECT count(*) FROM contact WHERE id = ?", c->t->b);
	return 0;
}

static void test_links_and_lifetime_value(void **state)
{
	struct fixture *f = *state;
	struct two t = {0};
	assert_int_equal(em_store_write_sync(f->s, seed, NULL), 0);
	assert_int_equal(em_store_write_sync(f->s, create_two, &t), 0);
	struct checks c = {.t = &t};
	assert_int_equal(em_store_read_sync(f->s, read_state, &c), 0);
	/* Linking the visitor brought its chat, note, callback and consent, and
	** its order: a lead with an order is a customer. */
	assert_int_equal(c.n[0], 1);
	assert_int_equal(c.n[1], 1);
	assert_int_equal(c.n[2], 1);
	assert_int_equal(c.n[3], 1);
	assert_int_equal(c.n[4], 1);
	assert_string_equal(em_json_str(c.a, "email", ""), "mia@one.example");
	assert_int_equal(json_integer_value(json_object_get(c.a, "orders")), 1);
	assert_true(json_real_value(json_object_get(c.a, "lifetime_value")) == 10.0);
	assert_string_equal(em_json_str(c.a, "stage", ""), "customer");
	assert_string_equal(em_json_str(c.b, "phone", ""), "+442079460000");
	assert_true(json_is_true(json_object_get(json_object_get(c.b, "consent"), "marketing")));
	json_decref(c.a);
	json_decref(c.b);
}

struct merge_arg {
	struct two *t;
	int rc;
};

static int merge_fn(em_db *db, void *arg)
{
	struct merge_arg *m = arg;
	m->rc = em_contacts_merge_db(db, m->t->a, &m->t->b, 1, 1);
	return m->rc;
}

static int merge_self_fn(em_db *db, void *arg)
{
	struct two *t = arg;
	return em_contacts_merge_db(db, t->a, &t->a, 1, 1);
}

static void test_merge(void **state)
{
	struct fixture *f = *state;
	struct two t = {0};
	assert_int_equal(em_store_write_sync(f->s, seed, NULL), 0);
	assert_int_equal(em_store_write_sync(f->s, create_two, &t), 0);
	assert_int_equal(em_store_write_sync(f->s, merge_self_fn, &t), EM_EINVAL);
	struct merge_arg m = {&t, -1};
	assert_int_equal(em_store_write_sync(f->s, merge_fn, &m), 0);
	struct checks c = {.t = &t};
	assert_int_equal(em_store_read_sync(f->s, read_state, &c), 0);
	/* Every visit (through the visitor rows), chat, note, callback, consent
	** record, timeline fact and tag is the target's now. */
	assert_int_equal(c.n[0], 2);
	assert_int_equal(c.n[1], 2);
	assert_int_equal(c.n[2], 2);
	assert_int_equal(c.n[3], 2);
	assert_int_equal(c.n[4], 3); /* two chats' consent plus the marketing consent */
	assert_true(c.n[5] >= 5);
	assert_int_equal(c.n[6], 2); /* vip, b2b */
	assert_int_equal(c.n[7], 0);
	assert_int_equal(c.n[8], t.a);
	assert_int_equal(c.n[9], 1);
	assert_int_equal(c.n[10], 1); /* the source keeps its row */
	/* Both orders, recounted; empty fields filled; the target's kept. */
	assert_int_equal(json_integer_value(json_object_get(c.a, "orders")), 2);
	assert_true(json_real_value(json_object_get(c.a, "lifetime_value")) == 15.5);
	assert_string_equal(em_json_str(c.a, "email", ""), "mia@one.example");
	assert_string_equal(em_json_str(c.a, "name", ""), "Mia Muster");
	assert_string_equal(em_json_str(c.a, "phone", ""), "+442079460000");
	assert_string_equal(em_json_str(c.a, "company", ""), "Muster Ltd");
	assert_string_equal(em_json_str(json_object_get(c.a, "owner"), "id", ""), "op_a");
	assert_true(json_is_true(json_object_get(json_object_get(c.a, "consent"), "marketing")));
	json_decref(c.a);
	json_decref(c.b);
	/* Merging the merged contact again is refused. */
	assert_int_equal(em_store_write_sync(f->s, merge_fn, &m), EM_EINVAL);
}

struct upsert_arg {
	const char *email;
	int64_t id;
	int created;
};

static int upsert_fn(em_db *db, void *arg)
{
	struct upsert_arg *u = arg;
	em_contact_input in = {0};
	in.email = u->email;
	in.name = "Someone Else";
	in.source = "card";
	char pid[32];
	return em_contacts_upsert_db(db, 1, &in, NULL, &u->id, pid, &u->created);
}

static void test_upsert_follows_merge(void **state)
{
	struct fixture *f = *state;
	struct two t = {0};
	assert_int_equal(em_store_write_sync(f->s, seed, NULL), 0);
	assert_int_equal(em_store_write_sync(f->s, create_two, &t), 0);
	struct upsert_arg u = {"MIA@one.example", 0, -1};
	assert_int_equal(em_store_write_sync(f->s, upsert_fn, &u), 0);
	assert_int_equal(u.created, 0);
	assert_int_equal(u.id, t.a);
	struct merge_arg m = {&t, -1};
	assert_int_equal(em_store_write_sync(f->s, merge_fn, &m), 0);
	/* The merged contact's e-mail leads to the contact it was merged into. */
	u = (struct upsert_arg){"mia@two.example", 0, -1};
	assert_int_equal(em_store_write_sync(f->s, upsert_fn, &u), 0);
	assert_int_equal(u.created, 0);
	assert_int_equal(u.id, t.a);
	u = (struct upsert_arg){"new@person.example", 0, -1};
	assert_int_equal(em_store_write_sync(f->s, upsert_fn, &u), 0);
	assert_int_equal(u.created, 1);
	u = (struct upsert_arg){"not-an-address", 0, -1};
	assert_int_equal(em_store_write_sync(f->s, upsert_fn, &u), EM_EINVAL);
}

static int many_fn(em_db *db, void *arg)
{
	(void)arg;
	static const char *names[] = {"Anna Schäfer", "Bert Sonnberg", "Carla Sonne", "Dieter Mond",
				      "Eva Sonntag"};
	for (int i = 0; i < 5; i++) {
		em_contact_input in = {0};
		char email[64], phone[32];
		snprintf(email, sizeof email, "person%d@shop%d.example", i, i);
		snprintf(phone, sizeof phone, "+49301234%03d", i);
		in.name = names[i];
		in.email = email;
		in.phone = phone;
		json_t *tags = json_pack("[s]", i % 2 ? "odd" : "even");
		in.tags = tags;
		int64_t id;
		int rc = em_contacts_create_db(db, 1, &in, 0, &id, NULL);
		json_decref(tags);
		if (rc)
			return rc;
	}
	/* A change of name reaches the index through its trigger. */
	return em_db_exec(db, "UPDATE contact SET name = 'Dieter Sonnenschein' WHERE name = 'Dieter Mond'",
			  NULL);
}

struct search_arg {
	em_contact_query q;
	char names[512];
};

static int search_fn(em_db *db, void *arg)
{
	struct search_arg *s = arg;
	int rc = em_contacts_search_db(db, &s->q);
	if (rc)
		return rc;
	s->names[0] = '\0';
	size_t i;
	json_t *c;
	json_array_foreach(s->q.out, i, c)
	{
		size_t n = strlen(s->names);
		snprintf(s->names + n, sizeof s->names - n, "%s%s", n ? "|" : "", em_json_str(c, "name", ""));
	}
	json_decref(s->q.out);
	return 0;
}

static const char *search(em_store *st, const char *q, const char *tag, int limit, int64_t *cursor)
{
	static struct search_arg s;
	memset(&s, 0, sizeof s);
	s.q.q = q;
	s.q.tag = tag;
	s.q.limit = limit;
	s.q.cursor = cursor ? *cursor : 0;
	assert_int_equal(em_store_read_sync(st, search_fn, &s), 0);
	if (cursor)
		*cursor = s.q.next_cursor;
	return s.names;
}

static void test_search(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(em_store_write_sync(f->s, seed, NULL), 0);
	assert_int_equal(em_store_write_sync(f->s, many_fn, NULL), 0);
	assert_string_equal(search(f->s, "sonn", NULL, 50, NULL),
			    "Eva Sonntag|Dieter Sonnenschein|Carla Sonne|Bert Sonnberg");
	assert_string_equal(search(f->s, "SCHÄF", NULL, 50, NULL), "Anna Schäfer");
	assert_string_equal(search(f->s, "mond", NULL, 50, NULL), "");
	assert_string_equal(search(f->s, "shop3", NULL, 50, NULL), "Dieter Sonnenschein");
	assert_string_equal(search(f->s, "030 1234 002", NULL, 50, NULL), "Carla Sonne");
	assert_string_equal(search(f->s, "pe", NULL, 2, NULL), "Eva Sonntag|Dieter Sonnenschein");
	assert_string_equal(search(f->s, "sonn", "odd", 50, NULL), "Dieter Sonnenschein|Bert Sonnberg");
	assert_string_equal(search(f->s, "", "even", 50, NULL), "Eva Sonntag|Carla Sonne|Anna Schäfer");
	assert_string_equal(search(f->s, "odd", NULL, 50, NULL), "Dieter Sonnenschein|Bert Sonnberg");
	int64_t cur = 0;
	assert_string_equal(search(f->s, "sonn", NULL, 3, &cur),
			    "Eva Sonntag|Dieter Sonnenschein|Carla Sonne");
	assert_true(cur > 0);
	assert_string_equal(search(f->s, "sonn", NULL, 3, &cur), "Bert Sonnberg");
	assert_int_equal(cur, 0);
}

/* Text and tag together (a merge of the trigram index's matches and the
** tag's contacts): the same contacts in the same order, page by page, as a
** plain scan of every contact finds, whether the text or the tag is the
** rarer side (each makes the other stream skip ahead). */
static int merge_data_fn(em_db *db, void *arg)
{
	(void)arg;
	for (int i = 1; i <= 900; i++) {
		em_contact_input in = {0};
		char name[64], email[64];
		snprintf(name, sizeof name, "%s %s %d", i % 3 ? "Person" : "Alpha",
			 i % 97 ? "Plain" : "Zetaberg", i);
		snprintf(email, sizeof email, "p%d@shop.example", i);
		in.name = name;
		in.email = email;
		in.stage = i % 4 ? "lead" : "customer";
		json_t *tags = json_array();
		if (i % 2 == 0)
			json_array_append_new(tags, json_string("common"));
		if (i % 50 == 7)
			json_array_append_new(tags, json_string("rare"));
		in.tags = tags;
		int64_t id;
		int rc = em_contacts_create_db(db, 1, &in, 0, &id, NULL);
		json_decref(tags);
		if (rc)
			return rc;
	}
	return 0;
}

struct merge_case {
	const char *q, *like, *tag, *stage;
	char got[8192], want[8192];
};

static int merge_check_fn(em_db *db, void *arg)
{
	struct merge_case *m = arg;
	m->got[0] = m->want[0] = '\0';
	int64_t cursor = 0;
	do {
		em_contact_query q = {
			.q = m->q, .tag = m->tag, .stage = m->stage, .limit = 7, .cursor = cursor};
		int rc = em_contacts_search_db(db, &q);
		if (rc)
			return rc;
		size_t i;
		json_t *c;
		json_array_foreach(q.out, i, c)
		{
			size_t n = strlen(m->got);
			snprintf(m->got + n, sizeof m->got - n, "%s,", em_json_str(c, "id", ""));
		}
		json_decref(q.out);
		cursor = q.next_cursor;
	} while (cursor);
	em_stmt *st = em_db_prepare(
		db,
		"SELECT public_id FROM contact c WHERE lower(name) LIKE ? AND (? = '' OR stage = ?)"
		" AND EXISTS (SELECT 1 FROM contact_tag WHERE contact_id = c.id AND tag = ?)"
		" ORDER BY id DESC",
		"tttt", m->like, m->stage ? m->stage : "", m->stage ? m->stage : "", m->tag);
	while (em_stmt_step(st) == 1) {
		size_t n = strlen(m->want);
		snprintf(m->want + n, sizeof m->want - n, "%s,", em_stmt_text(st, 0));
	}
	em_stmt_done(st);
	return 0;
}

static void test_search_text_and_tag(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(em_store_write_sync(f->s, seed, NULL), 0);
	assert_int_equal(em_store_write_sync(f->s, merge_data_fn, NULL), 0);
	static struct merge_case cases[] = {
		{.q = "alpha", .like = "%alpha%", .tag = "common", .stage = NULL}, /* both common */
		{.q = "alpha", .like = "%alpha%", .tag = "rare", .stage = NULL},   /* the tag is rarer */
		{.q = "zetab", .like = "%zetab%", .tag = "common", .stage = NULL}, /* the text is rarer */
		{.q = "zetab",
		 .like = "%zetab%",
		 .tag = "rare",
		 .stage = NULL}, /* both rare: nothing in common */
		{.q = "person", .like = "%person%", .tag = "rare", .stage = "customer"},
		{.q = "alpha", .like = "%alpha%", .tag = "nosuchtag", .stage = NULL},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		assert_int_equal(em_store_read_sync(f->s, merge_check_fn, &cases[i]), 0);
		assert_string_equal(cases[i].got, cases[i].want);
	}
	assert_true(strlen(cases[0].want) > 100 * 17); /* 150 contacts: many pages */
	assert_true(strlen(cases[1].want) > 0);
	assert_true(strlen(cases[2].want) > 0);
}

/* A CSV import indexes its new contacts for search in a few large writes
** (migration 012): contacts waiting for the index are left alone by the
** index's update and delete triggers, and once the import is done the index
** holds exactly what the contact table holds (FTS5's integrity check
** compares the two), nothing waits any more, and searches answer as a plain
** scan does. The import's public ids sort by the time they were made. */
struct import_run {
	char *csv;
	em_csv_import *imp;
	int64_t todo_mid, victim, renamed;
	int64_t todo_end, bad_ids, gone, found;
	int integrity;
};

static int import_prepare_fn(em_db *db, void *arg)
{
	return em_csv_import_prepare_db(db, ((struct import_run *)arg)->imp);
}

static int import_parse_fn(em_db *db, void *arg)
{
	return em_csv_import_parse_db(db, ((struct import_run *)arg)->imp);
}

static int import_chunk_fn(em_db *db, void *arg)
{
	return em_csv_import_chunk_db(db, ((struct import_run *)arg)->imp);
}

/* Between two writes of the import: delete one waiting contact, rename
** another (as an operator could meanwhile). */
static int meddle_fn(em_db *db, void *arg)
{
	struct import_run *m = arg;
	m->todo_mid = count(db, "SELECT count(*) FROM contact_search_todo WHERE ? = 0", 0);
	m->victim = count(db, "SELECT id FROM contact WHERE email = 'imp3@import.example' AND ? = 0", 0);
	m->renamed = count(db, "SELECT id FROM contact WHERE email = 'imp4@import.example' AND ? = 0", 0);
	if (em_db_exec(db, "DELETE FROM contact_event WHERE contact_id = ?", "i", m->victim) ||
	    em_db_exec(db, "DELETE FROM contact_tag WHERE contact_id = ?", "i", m->victim) ||
	    em_db_exec(db, "DELETE FROM contact WHERE id = ?", "i", m->victim))
		return EM_EIO;
	em_contact_input upd = {.name = "Zyxwer Renamed"};
	return em_contacts_update_db(db, m->renamed, &upd, 1);
}

static int import_check_fn(em_db *db, void *arg)
{
	struct import_run *m = arg;
	m->todo_end = count(db, "SELECT count(*) FROM contact_search_todo WHERE ? = 0", 0);
	m->gone = count(
		db, "SELECT count(*) FROM contact_search WHERE contact_search MATCH '\"imp3@\"' AND ? = 0",
		0);
	m->found = count(
		db, "SELECT count(*) FROM contact_search WHERE contact_search MATCH '\"imp30\"' AND ? = 0",
		0);
	/* Public ids: ct, 16 characters of the alphabet, the time part (the
	** first 8) in the order of the rows that got them. */
	m->bad_ids =
		count(db,
		      "SELECT count(*) FROM contact a JOIN contact b ON b.id = a.id + 1"
		      " WHERE a.source = 'import' AND b.source = 'import'"
		      " AND substr(b.public_id, 1, 10) < substr(a.public_id, 1, 10) AND ? = 0",
		      0) +
		count(db,
		      "SELECT count(*) FROM contact WHERE source = 'import' AND (length(public_id) != 18"
		      " OR public_id NOT GLOB 'ct[a-z2-7][a-z2-7][a-z2-7][a-z2-7][a-z2-7][a-z2-7][a-z2-7]"
		      "[a-z2-7][a-z2-7][a-z2-7][a-z2-7][a-z2-7][a-z2-7][a-z2-7][a-z2-7][a-z2-7]') AND ? = 0",
		      0);
	m->integrity =
		em_db_exec(db, "INSERT INTO contact_search (contact_search) VALUES ('integrity-check')", "");
	if (m->integrity)
		fprintf(stderr, "integrity-check: %s\n", em_db_errmsg(db));
	return 0;
}

static void test_import_search_index(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(em_store_write_sync(f->s, seed, NULL), 0);
	struct import_run m = {0};
	em_buf b;
	em_buf_init(&b, 1 << 20);
	em_buf_puts(&b, "name,email,phone,tags\r\n");
	for (int i = 1; i <= 4500; i++)
		em_buf_printf(&b, "%s %d,imp%d@import.example,+4930555%05d,%s\r\n",
			      i % 1000 ? "Person" : "Qwertz", i, i, i, i % 2 ? "odd" : "even");
	/* A later row for a person the import created: applied on top. */
	em_buf_puts(&b, "Umbenannt Later,imp10@import.example,,\r\n");
	m.csv = em_buf_steal(&b, NULL);
	m.imp = em_csv_import_new(1, 0, 1, m.csv, strlen(m.csv));
	assert_int_equal(em_store_read_sync(f->s, import_prepare_fn, &m), 0);
	int writes = 0;
	while (!em_csv_import_finished(m.imp)) {
		if (!em_csv_import_ready(m.imp)) {
			assert_int_equal(em_store_read_sync(f->s, import_parse_fn, &m), 0);
			continue;
		}
		assert_int_equal(em_store_write_sync(f->s, import_chunk_fn, &m), 0);
		if (++writes == 1)
			assert_int_equal(em_store_write_sync(f->s, meddle_fn, &m), 0);
		assert_true(writes < 100);
	}
	json_t *rep = em_csv_import_report(m.imp);
	assert_int_equal(json_integer_value(json_object_get(rep, "created")), 4500);
	assert_int_equal(json_integer_value(json_object_get(rep, "updated")), 1);
	json_decref(rep);
	assert_int_equal(em_store_write_sync(f->s, import_check_fn, &m), 0); /* integrity-check: a write */
	assert_int_equal(m.todo_mid, EM_CSV_CHUNK_ROWS); /* the first write's contacts waited */
	assert_true(m.victim > 0 && m.renamed > 0);
	assert_int_equal(m.todo_end, 0);
	assert_int_equal(m.bad_ids, 0);
	assert_int_equal(m.integrity, 0);
	static struct merge_case cases[] = {
		{.q = "qwertz", .like = "%qwertz%", .tag = "even", .stage = NULL},
		{.q = "person 4", .like = "%person 4%", .tag = "odd", .stage = NULL},
		{.q = "zyxwer", .like = "%zyxwer%", .tag = "even", .stage = NULL},
		{.q = "umbenannt", .like = "%umbenannt%", .tag = "even", .stage = NULL},
		{.q = "person 3", .like = "%person 3%", .tag = "odd", .stage = NULL},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		assert_int_equal(em_store_read_sync(f->s, merge_check_fn, &cases[i]), 0);
		assert_string_equal(cases[i].got, cases[i].want);
	}
	assert_true(strlen(cases[0].want) > 3 * 17); /* Qwertz 2000 and 4000 */
	assert_true(strlen(cases[1].want) > 100 * 17);
	assert_int_equal(strlen(cases[2].want), 19); /* the renamed one */
	assert_int_equal(strlen(cases[3].want), 19); /* renamed by its later row */
	assert_int_equal(m.gone, 0);		     /* imp3 was deleted while it waited */
	assert_int_equal(m.found, 111);		     /* imp30, imp300..309, imp3000..3099 */
	em_csv_import_free(m.imp);
	em_free(m.csv);
}

static int waiting_count_fn(em_db *db, void *arg)
{
	struct import_run *m = arg;
	m->todo_end = count(db, "SELECT count(*) FROM contact_search_todo WHERE ? = 0", 0);
	m->found = count(
		db, "SELECT count(*) FROM contact_search WHERE contact_search MATCH '\"cut1@\"' AND ? = 0",
		0);
	return 0;
}

/* An import cut short (the server killed between two writes) leaves its
** contacts waiting for the search index; the start-up step indexes them. */
static void test_import_cut_short_is_indexed_later(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(em_store_write_sync(f->s, seed, NULL), 0);
	struct import_run m = {0};
	em_buf b;
	em_buf_init(&b, 1 << 20);
	em_buf_puts(&b, "name,email,tags\r\n");
	for (int i = 1; i <= EM_CSV_CHUNK_ROWS + 10; i++)
		em_buf_printf(&b, "Cut Short %d,cut%d@import.example,cut\r\n", i, i);
	m.csv = em_buf_steal(&b, NULL);
	m.imp = em_csv_import_new(1, 0, 1, m.csv, strlen(m.csv));
	assert_int_equal(em_store_read_sync(f->s, import_prepare_fn, &m), 0);
	while (!em_csv_import_ready(m.imp))
		assert_int_equal(em_store_read_sync(f->s, import_parse_fn, &m), 0);
	assert_int_equal(em_store_write_sync(f->s, import_chunk_fn, &m), 0); /* the first write only */
	em_csv_import_free(m.imp);
	em_free(m.csv);

	assert_int_equal(em_store_read_sync(f->s, waiting_count_fn, &m), 0);
	assert_int_equal(m.todo_end, EM_CSV_CHUNK_ROWS);
	assert_int_equal(m.found, 0);
	int statements = 0;
	assert_int_equal(em_store_write_sync(f->s, em_csv_index_waiting_db, &statements), 0);
	assert_int_equal(statements, 1);
	assert_int_equal(em_store_read_sync(f->s, waiting_count_fn, &m), 0);
	assert_int_equal(m.todo_end, 0);
	assert_int_equal(m.found, 1);
	struct merge_case c = {.q = "cut short 12", .like = "%cut short 12%", .tag = "cut", .stage = NULL};
	assert_int_equal(em_store_read_sync(f->s, merge_check_fn, &c), 0);
	assert_string_equal(c.got, c.want);
	assert_int_equal(strlen(c.want), 111 * 19); /* 12, 120..129, 1200..1299 */
}

/* What an import stores, read back: text that JSON or SQL would have to
** escape (quotes, backslashes, braces, non-ASCII) arrives byte for byte,
** tags lowercased once each, the owner, a custom field and the "created"
** fact with the row's stage. */
struct stored {
	char row[1024], tags[256], event[256];
	int64_t owner, todo;
};

static int custom_field_fn(em_db *db, void *arg)
{
	(void)arg;
	return em_db_exec(db,
			  "INSERT INTO custom_field (site_id, key, label, type)"
			  " VALUES (1, 'size', 'Size', 'number')",
			  "");
}

static int stored_fn(em_db *db, void *arg)
{
	struct stored *out = arg;
	em_stmt *st = em_db_prepare(
		db,
		"SELECT name || '|' || email || '|' || phone || '|' || company || '|' || stage"
		" || '|' || source || '|' || custom, coalesce(owner_id, 0),"
		" (SELECT group_concat(tag, '|') FROM (SELECT tag FROM contact_tag WHERE contact_id = c.id"
		" ORDER BY tag)),"
		" (SELECT group_concat(type || ' ' || detail, '|') FROM contact_event"
		" WHERE contact_id = c.id)"
		" FROM contact c WHERE email = ?",
		"t", "zoe@import.example");
	if (em_stmt_step(st) == 1) {
		snprintf(out->row, sizeof out->row, "%s", em_stmt_text(st, 0));
		out->owner = em_stmt_int(st, 1);
		snprintf(out->tags, sizeof out->tags, "%s", em_stmt_text(st, 2) ? em_stmt_text(st, 2) : "");
		snprintf(out->event, sizeof out->event, "%s", em_stmt_text(st, 3) ? em_stmt_text(st, 3) : "");
	}
	em_stmt_done(st);
	out->todo = count(db, "SELECT count(*) FROM contact_search_todo WHERE ? = 0", 0);
	return 0;
}

static void test_import_stores_text_exactly(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(em_store_write_sync(f->s, seed, NULL), 0);
	assert_int_equal(em_store_write_sync(f->s, custom_field_fn, NULL), 0);
	struct import_run m = {0};
	m.csv = em_strdup("name,email,phone,company,stage,tags,owner,size\r\n"
			  "\"Zoë \"\"Q\"\" \\ {x}\",Zoe@Import.Example,+49 30 1234567,"
			  "\"Ünïcode, [\"\"{}\"\"] Co\",customer,"
			  "\"VIP;Tag \"\"q\"\";back\\slash;vip; Ärger \",a@shop.example,42\r\n"
			  "Plain,plain@import.example,,,,,,\r\n");
	m.imp = em_csv_import_new(1, 0, 1, m.csv, strlen(m.csv));
	assert_int_equal(em_store_read_sync(f->s, import_prepare_fn, &m), 0);
	for (int writes = 0; !em_csv_import_finished(m.imp); writes++) {
		assert_true(writes < 10);
		if (!em_csv_import_ready(m.imp))
			assert_int_equal(em_store_read_sync(f->s, import_parse_fn, &m), 0);
		else
			assert_int_equal(em_store_write_sync(f->s, import_chunk_fn, &m), 0);
	}
	json_t *rep = em_csv_import_report(m.imp);
	assert_int_equal(json_integer_value(json_object_get(rep, "created")), 2);
	assert_int_equal(json_integer_value(json_object_get(rep, "skipped")), 0);
	json_decref(rep);
	struct stored got = {0};
	assert_int_equal(em_store_read_sync(f->s, stored_fn, &got), 0);
	assert_string_equal(got.row, "Zoë \"Q\" \\ {x}|zoe@import.example|+49301234567|"
				     "Ünïcode, [\"{}\"] Co|customer|import|{\"size\":42}");
	assert_int_equal(got.owner, 1);
	assert_string_equal(got.tags, "back\\slash|tag \"q\"|vip|Ärger");
	assert_string_equal(got.event, "created {\"source\":\"import\",\"stage\":\"customer\"}");
	assert_int_equal(got.todo, 0);
	em_csv_import_free(m.imp);
	em_free(m.csv);
}

/* ---- Identify merges visitor rows ---------------------------------------- */

/* A visitor row with one visit of n pageview events from first_seen on. */
static int64_t ident_visitor(em_db *db, const char *vid, const char *email, const char *external_id,
			     int64_t visits, int64_t first_seen, int64_t merged_into, int n)
{
	em_db_exec(db,
		   "INSERT INTO visitor (site_id, vid, first_seen, last_seen, visits, email, external_id, "
		   "merged_into) VALUES (1, ?, ?, ?, ?, ?, ?, nullif(?, 0))",
		   "tiiitti", vid, first_seen, first_seen, visits, email, external_id, merged_into);
	int64_t id = em_db_last_id(db);
	em_db_exec(db, "INSERT INTO visit (visitor_id, site_id, started_at, last_at) VALUES (?, 1, ?, ?)",
		   "iii", id, first_seen, first_seen);
	int64_t visit = em_db_last_id(db);
	for (int i = 0; i < n; i++)
		em_db_exec(db,
			   "INSERT INTO event (visit_id, visitor_id, site_id, ts, type, url) "
			   "VALUES (?, ?, 1, ?, 'pageview', '/p')",
			   "iii", visit, id, first_seen + i);
	return id;
}

struct ident {
	int64_t x, y, z, w, m;
	int merged, visits;
	int64_t id, first_seen;
	int64_t n[8];
};

static int ident_seed(em_db *db, void *arg)
{
	struct ident *t = arg;
	if (em_db_exec(db, "INSERT INTO site (id, key, name, created_at) VALUES (1, 'default', 'Shop', 0)",
		       NULL))
		return EM_EIO;
	t->x = ident_visitor(db, "vx", "mia@x.example", "ext-7", 2, 100, 0, 2);	 /* both */
	t->y = ident_visitor(db, "vy", NULL, "ext-7", 1, 50, 0, 1);		 /* external id */
	t->z = ident_visitor(db, "vz", "mia@x.example", NULL, 3, 200, 0, 1);	 /* e-mail */
	t->w = ident_visitor(db, "vw", NULL, NULL, 4, 10, 0, 1);		 /* neither */
	t->m = ident_visitor(db, "vm", "mia@x.example", "ext-7", 8, 5, t->w, 1); /* merged before */
	return 0;
}

/* An identify of a new visitor, site 1, at 1000. */
static int ident_run(em_db *db, struct ident *t, const char *vid, const char *email, const char *external_id)
{
	em_track_batch *b = em_track_batch_new();
	b->site_id = 1;
	snprintf(b->vid, sizeof b->vid, "%s", vid);
	b->device = b->browser = b->os = b->country = "";
	em_track_event *ev = em_track_batch_add(b);
	ev->type = EM_EV_IDENTIFY;
	ev->ts_ms = 1000;
	ev->email = email;
	ev->external_id = external_id;
	int rc = em_sessionize(db, b);
	t->merged = b->res.merged;
	t->visits = b->res.visits;
	t->id = b->res.visitor_id;
	t->first_seen = b->res.first_seen;
	em_track_batch_free(b);
	return rc;
}

static int ident_both(em_db *db, void *arg)
{
	return ident_run(db, arg, "vnew", "mia@x.example", "ext-7");
}

static int ident_external_only(em_db *db, void *arg)
{
	return ident_run(db, arg, "vnew2", NULL, "ext-9");
}

static int ident_read(em_db *db, void *arg)
{
	struct ident *t = arg;
	t->n[0] = count(db, "SELECT count(*) FROM visitor WHERE merged_into = ?", t->id);
	t->n[1] = count(db, "SELECT count(*) FROM visit WHERE visitor_id = ?", t->id);
	t->n[2] = count(db, "SELECT count(*) FROM event WHERE visitor_id = ?", t->id);
	t->n[3] = count(db,
			"SELECT count(*) FROM event e JOIN visit v ON v.id = e.visit_id "
			"WHERE e.visitor_id <> v.visitor_id AND e.id > ?",
			0);
	t->n[4] = count(db, "SELECT visits FROM visitor WHERE id = ?", t->id);
	t->n[5] = count(db, "SELECT coalesce(merged_into, 0) FROM visitor WHERE id = ?", t->m);
	t->n[6] = count(db, "SELECT count(*) FROM visitor WHERE contact_id IS NOT NULL AND id <> ?", t->m);
	t->n[7] = count(db, "SELECT count(*) FROM visitor WHERE merged_into IS NOT NULL AND id <> ?", t->m);
	return 0;
}

static void test_identify_merges_visitors(void **state)
{
	struct fixture *f = *state;
	struct ident t = {0};
	em_sessionize_reset();
	assert_int_equal(em_store_write_sync(f->s, ident_seed, &t), 0);
	assert_int_equal(em_store_write_sync(f->s, ident_both, &t), 0);
	/* x (both ids), y (external id) and z (e-mail) are merged, x once; w
	** (neither) and m (merged before) are not. */
	assert_int_equal(t.merged, 1);
	assert_int_equal(t.visits, 1 + 2 + 1 + 3);
	assert_int_equal(t.first_seen, 50);
	assert_int_equal(em_store_read_sync(f->s, ident_read, &t), 0);
	assert_int_equal(t.n[0], 3);
	assert_int_equal(t.n[1], 1 + 3);
	assert_int_equal(t.n[2], 1 + 2 + 1 + 1);
	assert_int_equal(t.n[3], 0); /* every event's visitor is its visit's */
	assert_int_equal(t.n[4], 7);
	assert_int_equal(t.n[5], t.w);
	/* The identify's e-mail linked the new row and those merged into it. */
	assert_int_equal(t.n[6], 4);

	/* An external id alone: visitors without an e-mail (w) do not match
	** through the missing one. */
	assert_int_equal(em_store_write_sync(f->s, ident_external_only, &t), 0);
	assert_int_equal(t.merged, 0);
	assert_int_equal(t.visits, 1);
	assert_int_equal(em_store_read_sync(f->s, ident_read, &t), 0);
	assert_int_equal(t.n[7], 3);
	em_sessionize_reset();
}

int main(void)
{
	em_log_set_level(EM_LOG_ERROR);
	if (em_loop_init())
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_email),
		cmocka_unit_test(test_phone),
		cmocka_unit_test(test_validate),
		cmocka_unit_test_setup_teardown(test_links_and_lifetime_value, setup, teardown),
		cmocka_unit_test_setup_teardown(test_merge, setup, teardown),
		cmocka_unit_test_setup_teardown(test_upsert_follows_merge, setup, teardown),
		cmocka_unit_test_setup_teardown(test_search, setup, teardown),
		cmocka_unit_test_setup_teardown(test_search_text_and_tag, setup, teardown),
		cmocka_unit_test_setup_teardown(test_import_search_index, setup, teardown),
		cmocka_unit_test_setup_teardown(test_import_cut_short_is_indexed_later, setup, teardown),
		cmocka_unit_test_setup_teardown(test_import_stores_text_exactly, setup, teardown),
		cmocka_unit_test_setup_teardown(test_identify_merges_visitors, setup, teardown),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	em_loop_close();
	return rc;
}

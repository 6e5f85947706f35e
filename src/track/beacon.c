/*
** Tracker batch validation (see beacon.h).
**
** Every string is length-checked and copied into the batch's arena, so the
** JSON document can be released at once; nothing of a rejected batch reaches
** the store.
*/
#include "track/beacon.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "core/json.h"

#define NAME_MAX_LEN 100
#define DATA_MAX 4096
#define DAY_MS (24LL * 3600 * 1000)
#define TOO_LARGE "batch larger than 65536 bytes"

__attribute__((format(printf, 5, 6))) static int fail(em_beacon_error *err, int status, const char *code,
						      const char *field, const char *fmt, ...)
{
	va_list ap;
	err->status = status;
	snprintf(err->code, sizeof err->code, "%s", code);
	snprintf(err->field, sizeof err->field, "%s", field ? field : "");
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof err->message, fmt, ap);
	va_end(ap);
	return EM_EINVAL;
}

int em_beacon_vid_ok(const char *vid)
{
	size_t n = strlen(vid);
	if (n == 0 || n > 63)
		return 0;
	for (const char *p = vid; *p; p++) {
		char c = *p;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

/* "path.key", made only when a check fails. */
static const char *fpath(char *out, size_t n, const char *path, const char *key)
{
	snprintf(out, n, "%s.%s", path, key);
	return out;
}

/* Reads an optional string member, checking its type and length. */
static int get_str(json_t *ev, const char *key, size_t max, int required, const char **out, em_track_batch *b,
		   const char *path, em_beacon_error *err)
{
	char field[64];
	json_t *v = json_object_get(ev, key);
	if (!v || json_is_null(v)) {
		*out = NULL;
		if (required)
			return fail(err, 422, "invalid_field", fpath(field, sizeof field, path, key),
				    "%s is required", key);
		return 0;
	}
	if (!json_is_string(v))
		return fail(err, 422, "invalid_field", fpath(field, sizeof field, path, key),
			    "%s must be a string", key);
	size_t n = json_string_length(v);
	if (n > max) {
		char msg[64];
		snprintf(msg, sizeof msg, "%zu", max);
		return fail(err, 422, "invalid_field", fpath(field, sizeof field, path, key),
			    "longer than %s bytes", msg);
	}
	if (required && n == 0)
		return fail(err, 422, "invalid_field", fpath(field, sizeof field, path, key),
			    "%s must not be empty", key);
	*out = em_arena_strndup(&b->mem, json_string_value(v), n);
	return 0;
}

static int get_num(json_t *ev, const char *key, double min, double max, int required, double *out,
		   const char *path, em_beacon_error *err)
{
	char field[64];
	json_t *v = json_object_get(ev, key);
	if (!v || json_is_null(v)) {
		if (required)
			return fail(err, 422, "invalid_field", fpath(field, sizeof field, path, key),
				    "%s is required", key);
		return 1; /* absent */
	}
	if (!json_is_number(v))
		return fail(err, 422, "invalid_field", fpath(field, sizeof field, path, key),
			    "%s must be a number", key);
	double d = json_number_value(v);
	if (d < min || d > max)
		return fail(err, 422, "invalid_field", fpath(field, sizeof field, path, key),
			    "%s is out of range", key);
	*out = d;
	return 0;
}

int em_beacon_url_ok(const char *u)
{
	return !strncmp(u, "http://", 7) || !strncmp(u, "https://", 8) || u[0] == '/';
}

int64_t em_beacon_event_time(double ts, int64_t now_ms)
{
	int64_t t = ts >= 0 ? (int64_t)ts : now_ms;
	if (t > now_ms)
		return now_ms;
	return t < now_ms - DAY_MS ? now_ms - DAY_MS : t;
}

static int parse_event(json_t *ev, int idx, int64_t now_ms, em_track_batch *b, em_beacon_error *err)
{
	char path[32] = "events[";
	char *p = path + 7;
	if (idx >= 10)
		*p++ = (char)('0' + idx / 10 % 10);
	*p++ = (char)('0' + idx % 10);
	*p++ = ']';
	*p = '\0';
	if (!json_is_object(ev))
		return fail(err, 422, "invalid_field", path, "each event must be an object%s", "");
	const char *type;
	if (get_str(ev, "type", 16, 1, &type, b, path, err))
		return EM_EINVAL;
	em_track_event *e = em_track_batch_add(b);
	e->type = em_ev_type_from_name(type);
	if (!e->type) {
		char field[64];
		snprintf(field, sizeof field, "%s.type", path);
		return fail(err, 422, "invalid_field", field, "unknown event type '%s'", type);
	}
	double ts = 0;
	int rc = get_num(ev, "ts", 0, EM_BEACON_TS_MAX, 0, &ts, path, err);
	if (rc < 0)
		return rc;
	e->ts_ms = em_beacon_event_time(rc == 0 ? ts : -1, now_ms);
	if (get_str(ev, "url", EM_BEACON_URL_MAX, e->type == EM_EV_PAGEVIEW, &e->url, b, path, err))
		return EM_EINVAL;
	if (e->url && !em_beacon_url_ok(e->url)) {
		char field[64];
		snprintf(field, sizeof field, "%s.url", path);
		return fail(err, 422, "invalid_field", field, "url must start with http://, https:// or /%s",
			    "");
	}
	double d;
	json_t *v;
	switch (e->type) {
	case EM_EV_PAGEVIEW:
		if (get_str(ev, "title", EM_BEACON_TITLE_MAX, 0, &e->title, b, path, err) ||
		    get_str(ev, "ref", EM_BEACON_URL_MAX, 0, &e->ref, b, path, err))
			return EM_EINVAL;
		break;
	case EM_EV_PING:
		if (get_num(ev, "active_s", 0, 3600, 1, &d, path, err))
			return EM_EINVAL;
		e->active_s = (int)d;
		break;
	case EM_EV_EVENT:
		if (get_str(ev, "name", NAME_MAX_LEN, 1, &e->name, b, path, err))
			return EM_EINVAL;
		v = json_object_get(ev, "props");
		if (v && !json_is_null(v)) {
			if (!json_is_object(v)) {
				char field[64];
				snprintf(field, sizeof field, "%s.props", path);
				return fail(err, 422, "invalid_field", field, "props must be an object%s",
					    "");
			}
			char *s = json_dumps(v, JSON_COMPACT);
			size_t n = s ? strlen(s) : 0;
			if (n > DATA_MAX) {
				free(s);
				char field[64];
				snprintf(field, sizeof field, "%s.props", path);
				return fail(err, 422, "invalid_field", field,
					    "props larger than 4096 bytes%s", "");
			}
			e->data = em_arena_strndup(&b->mem, s, n);
			free(s);
		}
		break;
	case EM_EV_SEARCH: {
		if (get_str(ev, "query", 256, 1, &e->name, b, path, err))
			return EM_EINVAL;
		double results = -1;
		if (get_num(ev, "results", 0, 1e9, 0, &results, path, err) < 0)
			return EM_EINVAL;
		char buf[64];
		snprintf(buf, sizeof buf, "{\"results\":%lld}", (long long)results);
		e->data = em_arena_strdup(&b->mem, buf);
		break;
	}
	case EM_EV_CART: {
		const char *action, *sku;
		if (get_str(ev, "action", 8, 1, &action, b, path, err))
			return EM_EINVAL;
		e->cart_action = !strcmp(action, "add")	     ? 1
				 : !strcmp(action, "remove") ? 2
				 : !strcmp(action, "set")    ? 3
							     : 0;
		if (!e->cart_action) {
			char field[64];
			snprintf(field, sizeof field, "%s.action", path);
			return fail(err, 422, "invalid_field", field,
				    "action must be add, remove or set, not '%s'", action);
		}
		if (get_str(ev, "sku", 100, e->cart_action != 3, &sku, b, path, err))
			return EM_EINVAL;
		double qty = 1, price = 0;
		if (get_num(ev, "qty", 0, 1e6, 0, &qty, path, err) < 0 ||
		    get_num(ev, "price", 0, 1e9, 0, &price, path, err) < 0 ||
		    get_num(ev, "total", 0, 1e12, 0, &e->total, path, err) < 0)
			return EM_EINVAL;
		e->amount = qty * price;
		json_t *line = json_pack("{s:s, s:s?, s:f, s:f}", "action", action, "sku", sku, "qty", qty,
					 "price", price);
		char *s = json_dumps(line, JSON_COMPACT | JSON_REAL_PRECISION(12));
		e->data = em_arena_strdup(&b->mem, s);
		free(s);
		json_decref(line);
		break;
	}
	case EM_EV_ORDER: {
		const char *id;
		if (get_str(ev, "id", 100, 1, &id, b, path, err) ||
		    get_num(ev, "total", 0, 1e12, 1, &e->total, path, err))
			return EM_EINVAL;
		e->name = id;
		v = json_object_get(ev, "items");
		if (v && !json_is_null(v) && (!json_is_array(v) || json_array_size(v) > 100)) {
			char field[64];
			snprintf(field, sizeof field, "%s.items", path);
			return fail(err, 422, "invalid_field", field,
				    "items must be an array of at most 100 lines%s", "");
		}
		json_t *order = json_pack("{s:s, s:f, s:O?}", "id", id, "total", e->total, "items", v);
		char *s = json_dumps(order, JSON_COMPACT | JSON_REAL_PRECISION(12));
		size_t n = s ? strlen(s) : 0;
		json_decref(order);
		if (n > DATA_MAX * 4) {
			free(s);
			char field[64];
			snprintf(field, sizeof field, "%s.items", path);
			return fail(err, 422, "invalid_field", field, "order larger than 16384 bytes%s", "");
		}
		e->data = em_arena_strndup(&b->mem, s, n);
		free(s);
		break;
	}
	case EM_EV_IDENTIFY:
		if (get_str(ev, "email", 254, 0, &e->email, b, path, err) ||
		    get_str(ev, "external_id", 128, 0, &e->external_id, b, path, err) ||
		    get_str(ev, "name", 128, 0, &e->person_name, b, path, err))
			return EM_EINVAL;
		if (e->email && (!strchr(e->email, '@') || strchr(e->email, ' '))) {
			char field[64];
			snprintf(field, sizeof field, "%s.email", path);
			return fail(err, 422, "invalid_field", field, "'%s' is not an e-mail address",
				    e->email);
		}
		if (!e->email && !e->external_id && !e->person_name)
			return fail(err, 422, "invalid_field", path,
				    "identify needs email, external_id or name%s", "");
		break;
	case EM_EV_CONSENT:
		v = json_object_get(ev, "granted");
		if (!json_is_boolean(v)) {
			char field[64];
			snprintf(field, sizeof field, "%s.granted", path);
			return fail(err, 422, "invalid_field", field, "granted must be true or false%s", "");
		}
		e->granted = json_is_true(v);
		break;
	}
	return 0;
}

int em_beacon_parse(const char *body, size_t len, int64_t now_ms, em_track_batch *b, em_beacon_error *err)
{
	if (len <= EM_BEACON_MAX_BYTES && em_beacon_parse_fast(body, len, now_ms, b))
		return 0;
	/* What the fast reader filled is forgotten. */
	em_track_batch_clear(b);
	return em_beacon_parse_json(body, len, now_ms, b, err);
}

int em_beacon_parse_json(const char *body, size_t len, int64_t now_ms, em_track_batch *b,
			 em_beacon_error *err)
{
	memset(err, 0, sizeof *err);
	if (len > EM_BEACON_MAX_BYTES)
		return fail(err, 413, "too_large", NULL, TOO_LARGE "%s", "");
	char msg[200];
	json_t *root = em_json_parse(body, len, msg, sizeof msg);
	if (!root)
		return fail(err, 400, "invalid_json", NULL, "%s", msg);
	int rc = EM_EINVAL;
	const char *site, *vid;
	if (!json_is_object(root)) {
		fail(err, 400, "invalid_json", NULL, "expected a JSON object%s", "");
		goto out;
	}
	if (get_str(root, "site", 64, 1, &site, b, "batch", err))
		goto out;
	snprintf(err->field, sizeof err->field, "%s", "");
	snprintf(b->site_key, sizeof b->site_key, "%s", site);
	if (get_str(root, "vid", 63, 0, &vid, b, "batch", err))
		goto out;
	if (vid && !em_beacon_vid_ok(vid)) {
		fail(err, 422, "invalid_field", "vid",
		     "vid must be 1-63 characters of A-Z, a-z, 0-9, _ and -%s", "");
		goto out;
	}
	snprintf(b->vid, sizeof b->vid, "%s", vid ? vid : "");
	json_t *events = json_object_get(root, "events");
	if (!json_is_array(events) || json_array_size(events) == 0) {
		fail(err, 422, "invalid_field", "events", "events must be a non-empty array%s", "");
		goto out;
	}
	if (json_array_size(events) > EM_TRACK_MAX_EVENTS) {
		fail(err, 422, "invalid_field", "events", "at most 100 events per batch%s", "");
		goto out;
	}
	em_track_batch_reserve(b, (int)json_array_size(events));
	for (size_t i = 0; i < json_array_size(events); i++)
		if (parse_event(json_array_get(events, i), (int)i, now_ms, b, err))
			goto out;
	rc = 0;
out:
	/* Field paths of the root members read better without the "batch." prefix. */
	if (rc && !strncmp(err->field, "batch.", 6))
		memmove(err->field, err->field + 6, strlen(err->field + 6) + 1);
	json_decref(root);
	return rc;
}

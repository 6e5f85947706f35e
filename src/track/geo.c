/*
** GeoIP country lookups with libmaxminddb (see geo.h).
**
** Addresses are parsed with inet_pton and looked up by sockaddr, which
** avoids the resolver call MMDB_lookup_string makes for every address.
*/
#include "track/geo.h"

#include <arpa/inet.h>
#include <errno.h>
#include <maxminddb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "core/err.h"
#include "core/log.h"

static MMDB_s db;
static int is_open;

int em_geo_open(const char *path, char *err, size_t errlen)
{
	em_geo_close();
	if (!path || !*path)
		return 0;
	errno = 0;
	int rc = MMDB_open(path, MMDB_MODE_MMAP, &db);
	if (rc != MMDB_SUCCESS) {
		int e = errno;
		if (rc == MMDB_FILE_OPEN_ERROR && e)
			snprintf(err, errlen, "track.geoip_db: %s: %s", path, strerror(e));
		else
			snprintf(err, errlen, "track.geoip_db: %s: %s", path, MMDB_strerror(rc));
		return EM_EINVAL;
	}
	is_open = 1;
	em_info("geoip database open", "path=%s type=%s nodes=%u", path,
		db.metadata.database_type ? db.metadata.database_type : "-", db.metadata.node_count);
	return 0;
}

void em_geo_close(void)
{
	if (is_open)
		MMDB_close(&db);
	is_open = 0;
}

int em_geo_enabled(void)
{
	return is_open;
}

/* Copies a two-letter code found at path (NULL-terminated key list). */
static int code_at(MMDB_entry_s *entry, const char *const *path, char out[3])
{
	MMDB_entry_data_s d;
	if (MMDB_aget_value(entry, &d, path) != MMDB_SUCCESS || !d.has_data ||
	    d.type != MMDB_DATA_TYPE_UTF8_STRING || d.data_size != 2)
		return 0;
	for (int i = 0; i < 2; i++) {
		char c = d.utf8_string[i];
		if (c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		if (c < 'A' || c > 'Z')
			return 0;
		out[i] = c;
	}
	out[2] = '\0';
	return 1;
}

int em_geo_country(const char *ip, char out[3])
{
	out[0] = '\0';
	if (!is_open || !ip || !*ip)
		return 0;
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof ss);
	struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, ip, &v4->sin_addr) == 1)
		v4->sin_family = AF_INET;
	else if (inet_pton(AF_INET6, ip, &v6->sin6_addr) == 1)
		v6->sin6_family = AF_INET6;
	else
		return 0;
	int mmerr = 0;
	MMDB_lookup_result_s res = MMDB_lookup_sockaddr(&db, (struct sockaddr *)&ss, &mmerr);
	if (mmerr != MMDB_SUCCESS || !res.found_entry)
		return 0;
	static const char *const country[] = {"country", "iso_code", NULL};
	static const char *const registered[] = {"registered_country", "iso_code", NULL};
	if (code_at(&res.entry, country, out) || code_at(&res.entry, registered, out))
		return 1;
	out[0] = '\0';
	return 0;
}

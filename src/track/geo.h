/*
** GeoIP: the country of a client address, from a MaxMind DB file
** (track.geoip_db; GeoLite2-Country, GeoIP2-City and other files with the
** same "country.iso_code" layout). Optional: with no file configured every
** lookup finds nothing and costs nothing.
**
** The file is memory-mapped once at start-up and only read afterwards, so
** lookups may run on any thread (the loop for beacons and --tail, the
** import-log command's own thread).
*/
#ifndef EM_GEO_H
#define EM_GEO_H

#include <stddef.h>

/* Opens path (NULL or "" = off, returns 0). On failure returns EM_EINVAL
** and writes "track.geoip_db: PATH: reason" into err. A second open
** replaces the first. */
int em_geo_open(const char *path, char *err, size_t errlen);
void em_geo_close(void);
/* 1 when a database is open. */
int em_geo_enabled(void);
/* Writes the ISO 3166-1 alpha-2 code of ip's country (upper case) into out
** and returns 1; returns 0 with out = "" when there is no database, ip is
** not an address, or the database has no country for it. Uses the
** registered country when the location is unknown. */
int em_geo_country(const char *ip, char out[3]);

#endif

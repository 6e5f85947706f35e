/*
** Fixed-width little-endian integers in byte buffers, for Emma's own file
** formats (the ingest journal and its batch records): the same bytes on
** every machine, no alignment needed.
*/
#ifndef EM_CORE_LE_H
#define EM_CORE_LE_H

#include <stdint.h>

static inline void em_le_put32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static inline void em_le_put64(unsigned char *p, uint64_t v)
{
	em_le_put32(p, (uint32_t)v);
	em_le_put32(p + 4, (uint32_t)(v >> 32));
}

static inline uint32_t em_le_get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t em_le_get64(const unsigned char *p)
{
	return (uint64_t)em_le_get32(p) | (uint64_t)em_le_get32(p + 4) << 32;
}

#endif

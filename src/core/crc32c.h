/*
** CRC-32C (Castagnoli, the iSCSI and ext4 checksum), for Emma's own file
** formats. With SSE4.2 the processor computes it, eight bytes per
** instruction; elsewhere a table does, a byte at a time, with the same
** result.
*/
#ifndef EM_CORE_CRC32C_H
#define EM_CORE_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Continues crc (0 to start) over n bytes: em_crc32c(em_crc32c(0, a, x), b, y)
** equals the CRC of a and b one after the other. */
uint32_t em_crc32c(uint32_t crc, const void *data, size_t n);

/* The table's result, whatever the processor offers (for tests). */
uint32_t em_crc32c_sw(uint32_t crc, const void *data, size_t n);

#endif

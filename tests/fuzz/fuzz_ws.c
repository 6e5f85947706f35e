/*
** libFuzzer target: raw bytes through the server-side WebSocket frame parser.
**
** em_ws_fuzz_frames() (src/net/ws.c) feeds the bytes to wslay as if a client
** had sent them on an upgraded connection, with the real message cap and
** close handling, and discards what the server would send back.
*/
#include <stddef.h>
#include <stdint.h>

#include "net/ws.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	em_ws_fuzz_frames(data, size);
	return 0;
}

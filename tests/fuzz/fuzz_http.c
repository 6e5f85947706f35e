/*
** libFuzzer target: raw bytes through the HTTP/1.1 request parser.
**
** em_http_fuzz_parse() (src/net/http.c) runs the same llhttp settings and
** header/body caps as a real connection, without a socket. Anything it
** does with hostile input (pipelining, chunked bodies, oversized headers)
** must end in a clean error, never in a crash, a leak or undefined behaviour.
*/
#include <stddef.h>
#include <stdint.h>

#include "net/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	em_http_fuzz_parse(data, size);
	return 0;
}

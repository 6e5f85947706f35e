/*
** Private to src/net/: the libuv loop behind loop.h.
*/
#ifndef EM_LOOP_INT_H
#define EM_LOOP_INT_H

#include <uv.h>

uv_loop_t *em__uv_loop(void);

#endif

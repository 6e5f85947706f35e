/*
** The event loop as the rest of Emma sees it.
**
** One loop thread owns all sockets and live state. Other threads (the store
** writer, thread-pool readers) hand work back to it with em_loop_post(). No
** module outside src/net/ includes uv.h; this header is what they get instead.
*/
#ifndef EM_LOOP_H
#define EM_LOOP_H

#include <stdint.h>

int em_loop_init(void);
/* Runs until em_loop_stop() and every handle is closed. */
int em_loop_run(void);
/* Runs the loop once without blocking (for tests that pump it). */
int em_loop_run_once(void);
void em_loop_stop(void);
/* Runs the loop, blocking for events, until *flag becomes nonzero (the
** command line waits for store callbacks this way). */
void em_loop_run_until(volatile int *flag);
void em_loop_close(void);
/* Nonzero when called on the loop thread. */
int em_loop_is_loop_thread(void);

/* Runs every callback posted so far (shutdown, after worker threads stopped). */
void em_loop_drain(void);

/* Loop thread only: fn(arg) runs once at the end of this loop turn, after
** the I/O callbacks and before the loop next blocks. A pair registered again
** before it ran runs once. Lets a module gather what one turn produced and
** hand it on in one step (the store wakes its writer this way). */
void em_loop_at_turn_end(void (*fn)(void *arg), void *arg);

/* Thread-safe: fn(arg) runs on the loop thread soon, in posting order. */
void em_loop_post(void (*fn)(void *arg), void *arg);

/* work(arg) runs on the libuv thread pool, then done(arg) on the loop.
** Returns 0, or a negative code in which case neither callback runs. */
int em_loop_work(void (*work)(void *arg), void (*done)(void *arg), void *arg);

/* Timers (loop thread only). em_timer_stop() frees the timer; fn may call it. */
typedef struct em_timer em_timer;
em_timer *em_timer_start(uint64_t timeout_ms, uint64_t repeat_ms, void (*fn)(void *arg), void *arg);
void em_timer_stop(em_timer *t);

/* Signals (loop thread only): fn runs on the loop when signum arrives. */
int em_loop_on_signal(int signum, void (*fn)(int signum, void *arg), void *arg);

/* Cached loop time in ms (monotonic), updated once per iteration. */
uint64_t em_loop_now(void);

#endif

/*
** The loop thread and its cross-thread mailbox (see loop.h).
**
** em_loop_post() appends to a mutex-protected FIFO and wakes the loop with
** uv_async_send(); libuv coalesces wake-ups, so the async callback drains the
** whole FIFO each time. Callers bound their own queues (the store's queue_max),
** so the mailbox only ever holds work some bounded producer created.
*/
#include "net/loop.h"

#include <pthread.h>
#include <stdlib.h>
#include <uv.h>

#include "core/alloc.h"
#include "core/err.h"
#include "net/loop_int.h"

struct post {
	void (*fn)(void *);
	void *arg;
	struct post *next;
};

static uv_loop_t loop_storage;
static uv_loop_t *loop;
static uv_async_t wake;
static pthread_mutex_t mbox_mu = PTHREAD_MUTEX_INITIALIZER;
static struct post *mbox_head, *mbox_tail;
static pthread_t loop_thread;

/* End-of-turn callbacks (em_loop_at_turn_end): run from a check handle right
** after the I/O callbacks and from a prepare handle before the loop blocks,
** so work registered by timers or posted callbacks does not wait for the
** next event either. Neither handle keeps the loop alive. */
#define TURN_END_MAX 8
static struct turn_end {
	void (*fn)(void *);
	void *arg;
} turn_end[TURN_END_MAX];
static int nturn_end, turn_pos; /* entries before turn_pos ran in this pass */
static int running;		/* inside uv_run: a turn end will come */
static uv_check_t turn_check;
static uv_prepare_t turn_prepare;

/* In the order registered; what a callback registers runs in the same pass. */
static void run_turn_end(void)
{
	while (turn_pos < nturn_end) {
		struct turn_end t = turn_end[turn_pos++];
		t.fn(t.arg);
	}
	nturn_end = turn_pos = 0;
}

static void on_turn_check(uv_check_t *h)
{
	(void)h;
	run_turn_end();
}

static void on_turn_prepare(uv_prepare_t *h)
{
	(void)h;
	run_turn_end();
}

void em_loop_at_turn_end(void (*fn)(void *), void *arg)
{
	for (int i = turn_pos; i < nturn_end; i++)
		if (turn_end[i].fn == fn && turn_end[i].arg == arg)
			return;
	if (!running || nturn_end == TURN_END_MAX) {
		/* Outside the loop (start-up, the command line, tests that block
		** between pumps) no turn end may come soon; without room, now
		** rather than late. */
		fn(arg);
		return;
	}
	turn_end[nturn_end].fn = fn;
	turn_end[nturn_end].arg = arg;
	nturn_end++;
}

uv_loop_t *em__uv_loop(void)
{
	return loop;
}

static void drain(uv_async_t *h)
{
	(void)h;
	for (;;) {
		pthread_mutex_lock(&mbox_mu);
		struct post *p = mbox_head;
		mbox_head = mbox_tail = NULL;
		pthread_mutex_unlock(&mbox_mu);
		if (!p)
			return;
		while (p) {
			struct post *next = p->next;
			p->fn(p->arg);
			em_free(p);
			p = next;
		}
	}
}

void em_loop_drain(void)
{
	drain(&wake);
}

int em_loop_init(void)
{
	if (loop)
		return 0;
	if (uv_loop_init(&loop_storage))
		return EM_EIO;
	loop = &loop_storage;
	uv_async_init(loop, &wake, drain);
	uv_check_init(loop, &turn_check);
	uv_prepare_init(loop, &turn_prepare);
	uv_check_start(&turn_check, on_turn_check);
	uv_prepare_start(&turn_prepare, on_turn_prepare);
	uv_unref((uv_handle_t *)&turn_check);
	uv_unref((uv_handle_t *)&turn_prepare);
	loop_thread = pthread_self();
	return 0;
}

int em_loop_run(void)
{
	loop_thread = pthread_self();
	running++;
	int rc = uv_run(loop, UV_RUN_DEFAULT);
	running--;
	run_turn_end();
	return rc ? EM_EAGAIN : 0;
}

int em_loop_run_once(void)
{
	running++;
	int rc = uv_run(loop, UV_RUN_NOWAIT);
	running--;
	run_turn_end();
	return rc;
}

void em_loop_run_until(volatile int *flag)
{
	running++;
	while (!*flag)
		uv_run(loop, UV_RUN_ONCE);
	running--;
	run_turn_end();
}

void em_loop_stop(void)
{
	uv_stop(loop);
}

static void close_walk(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

static void close_signals(void);

void em_loop_close(void)
{
	if (!loop)
		return;
	drain(&wake);
	run_turn_end();
	close_signals();
	uv_walk(loop, close_walk, NULL);
	uv_run(loop, UV_RUN_DEFAULT);
	uv_loop_close(loop);
	loop = NULL;
}

int em_loop_is_loop_thread(void)
{
	return pthread_equal(pthread_self(), loop_thread);
}

void em_loop_post(void (*fn)(void *), void *arg)
{
	struct post *p = em_malloc(sizeof *p);
	p->fn = fn;
	p->arg = arg;
	p->next = NULL;
	pthread_mutex_lock(&mbox_mu);
	if (mbox_tail)
		mbox_tail->next = p;
	else
		mbox_head = p;
	mbox_tail = p;
	pthread_mutex_unlock(&mbox_mu);
	uv_async_send(&wake);
}

struct work {
	uv_work_t req;
	void (*work)(void *);
	void (*done)(void *);
	void *arg;
};

static void on_work(uv_work_t *r)
{
	struct work *w = r->data;
	w->work(w->arg);
}

static void on_work_done(uv_work_t *r, int status)
{
	(void)status;
	struct work *w = r->data;
	if (w->done)
		w->done(w->arg);
	em_free(w);
}

int em_loop_work(void (*work)(void *), void (*done)(void *), void *arg)
{
	struct work *w = em_calloc(1, sizeof *w);
	w->work = work;
	w->done = done;
	w->arg = arg;
	w->req.data = w;
	if (uv_queue_work(loop, &w->req, on_work, on_work_done)) {
		em_free(w);
		return EM_EIO;
	}
	return 0;
}

struct em_timer {
	uv_timer_t h;
	void (*fn)(void *);
	void *arg;
};

static void on_timer(uv_timer_t *h)
{
	em_timer *t = h->data;
	t->fn(t->arg);
}

static void on_timer_close(uv_handle_t *h)
{
	em_free(h->data);
}

em_timer *em_timer_start(uint64_t timeout_ms, uint64_t repeat_ms, void (*fn)(void *), void *arg)
{
	em_timer *t = em_calloc(1, sizeof *t);
	t->fn = fn;
	t->arg = arg;
	uv_timer_init(loop, &t->h);
	t->h.data = t;
	uv_timer_start(&t->h, on_timer, timeout_ms, repeat_ms);
	return t;
}

void em_timer_stop(em_timer *t)
{
	if (!t)
		return;
	uv_timer_stop(&t->h);
	uv_close((uv_handle_t *)&t->h, on_timer_close);
}

struct sig {
	uv_signal_t h;
	void (*fn)(int, void *);
	void *arg;
};

static void on_signal(uv_signal_t *h, int signum)
{
	struct sig *s = h->data;
	s->fn(signum, s->arg);
}

static void on_sig_close(uv_handle_t *h)
{
	em_free(h->data);
}

#define MAX_SIGNALS 8
static struct sig *signals[MAX_SIGNALS];
static int nsignals;

int em_loop_on_signal(int signum, void (*fn)(int, void *), void *arg)
{
	struct sig *s = em_calloc(1, sizeof *s);
	s->fn = fn;
	s->arg = arg;
	uv_signal_init(loop, &s->h);
	s->h.data = s;
	/* Signal handles must not keep the loop alive on their own at shutdown. */
	uv_unref((uv_handle_t *)&s->h);
	if (nsignals == MAX_SIGNALS || uv_signal_start(&s->h, on_signal, signum)) {
		uv_close((uv_handle_t *)&s->h, on_sig_close);
		return EM_EIO;
	}
	signals[nsignals++] = s;
	return 0;
}

uint64_t em_loop_now(void)
{
	return uv_now(loop);
}

/* Signal handles are ours to free: close them with their callback before the
** generic walk closes everything else. */
static void close_signals(void)
{
	for (int i = 0; i < nsignals; i++)
		uv_close((uv_handle_t *)&signals[i]->h, on_sig_close);
	nsignals = 0;
}

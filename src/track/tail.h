/*
** `emma serve --tail FILE[:FORMAT]`: follows a web server's access log live.
**
** One thread per followed file reads new complete lines, turns page views
** into batches and commits them together with the file position they end at
** (table tail_offset), so after a crash or restart reading resumes exactly
** after the last stored line: nothing twice, nothing missed. Rotation by
** rename (logrotate's default) and by copytruncate are both followed.
*/
#ifndef EM_TAIL_H
#define EM_TAIL_H

#include <stddef.h>

#include "app.h"

typedef struct em_tail em_tail;

/* spec is FILE or FILE:FORMAT (combined, common, or an nginx log_format).
** Starts the thread. On failure writes why into err. */
int em_tail_start(em_app *app, const char *spec, em_tail **out, char *err, size_t errlen);
/* Stops and joins the thread (at shutdown, before the store closes). */
void em_tail_stop(em_tail *t);

#endif

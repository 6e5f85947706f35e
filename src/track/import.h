/*
** `emma import-log`: reads access-log files and stores their page views as
** visitors and visits. Reading and parsing overlap with the store's commits:
** while one chunk of lines is being committed the next one is parsed.
*/
#ifndef EM_IMPORT_H
#define EM_IMPORT_H

#include "store/store.h"
#include "track/logimport.h"

/* Imports each file ("-" = standard input). progress: draw a progress line on
** stderr. Returns 0, or a negative code with err set (a file that cannot be
** read stops the import; what was read before it is stored). */
int em_import_files(em_store *s, em_logsource *src, char **files, int nfiles, int progress, char *err,
		    size_t errlen);

#endif

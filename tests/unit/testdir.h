/*
** Temporary data directories of the unit tests: each case makes one with
** mkdtemp() and removes it, with everything in it, in its teardown.
*/
#ifndef EM_TEST_TESTDIR_H
#define EM_TEST_TESTDIR_H

#include <ftw.h>
#include <stdio.h>

static int testdir_rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Removes dir and everything below it (depth first, links not followed). */
static inline void testdir_remove(const char *dir)
{
	nftw(dir, testdir_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

#endif

/*
** Status codes shared by every Emma module.
**
** Functions return int: 0 on success, a negative EM_E* code on failure, in the
** spirit of libuv's negative errno values. em_strerror() names a code for logs.
*/
#ifndef EM_ERR_H
#define EM_ERR_H

enum {
	EM_OK = 0,
	EM_EINVAL = -1,	   /* bad argument or input */
	EM_ENOMEM = -2,	   /* a bounded resource is exhausted */
	EM_EAGAIN = -3,	   /* try again later (queue full, not ready) */
	EM_ETOOBIG = -4,   /* input exceeds a configured maximum */
	EM_ENOTFOUND = -5, /* no such object */
	EM_EEXIST = -6,	   /* object already exists / conflict */
	EM_EIO = -7,	   /* storage or socket I/O failed */
	EM_EPERM = -8,	   /* not allowed */
	EM_EAUTH = -9,	   /* not authenticated */
	EM_ECLOSED = -10,  /* peer or subsystem is closed */
	EM_ECORRUPT = -11, /* stored data is inconsistent */
	EM_ERANGE = -12,   /* value outside the permitted range */
};

const char *em_strerror(int code);

#endif

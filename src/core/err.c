/*
** Names for the EM_E* status codes.
*/
#include "core/err.h"

const char *em_strerror(int code)
{
	switch (code) {
	case EM_OK: return "ok";
	case EM_EINVAL: return "invalid argument";
	case EM_ENOMEM: return "out of resources";
	case EM_EAGAIN: return "try again";
	case EM_ETOOBIG: return "too big";
	case EM_ENOTFOUND: return "not found";
	case EM_EEXIST: return "already exists";
	case EM_EIO: return "i/o error";
	case EM_EPERM: return "not permitted";
	case EM_EAUTH: return "not authenticated";
	case EM_ECLOSED: return "closed";
	case EM_ECORRUPT: return "corrupt data";
	case EM_ERANGE: return "out of range";
	}
	return "unknown error";
}
